//! The forked child: takes the sandbox's root, a session and the command's identity, then
//! becomes the command or exits with a setup or exec status.

use std::fs::File;
use std::os::fd::AsRawFd;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, FdFlag};
use nix::sys::signal::{SigSet, Signal};
use nix::unistd::{Gid, Pid, Uid};

use super::error::{io_errno, HelperError};
use super::helper::default_disposition;
use super::launch::Launch;
use super::spec::ExecSpec;
use super::{say, EXIT_CANNOT_EXECUTE, EXIT_NOT_FOUND, EXIT_SETUP_FAILED};
use crate::runtime::caps;

/// The child's side: becomes the command or exits with a setup or exec status.
pub(super) fn start_command(spec: &ExecSpec, launch: &Launch, root: &File, parent_seen: Pid) -> ! {
    if let Err(err) = prepare_child(spec, root, parent_seen) {
        say(format_args!("{err}"));
        std::process::exit(EXIT_SETUP_FAILED);
    }
    let program = spec.command[0].to_string_lossy();
    let (code, reason) = match launch.exec_first() {
        Errno::ENOENT if !program.contains('/') => (EXIT_NOT_FOUND, "command not found"),
        Errno::ENOENT => (EXIT_NOT_FOUND, "no such file or directory"),
        Errno::EACCES => (EXIT_CANNOT_EXECUTE, "permission denied"),
        Errno::ENOEXEC => (EXIT_CANNOT_EXECUTE, "cannot execute: exec format error"),
        other => (EXIT_CANNOT_EXECUTE, other.desc()),
    };
    say(format_args!("{program}: {reason}"));
    std::process::exit(code)
}

/// Everything between fork and exec, in the order the kernel's rules require.
fn prepare_child(spec: &ExecSpec, root: &File, parent_seen: Pid) -> Result<(), HelperError> {
    // Marked rather than closed: the root descriptor is still needed below.
    cloexec_from_3().map_err(HelperError::os("mark inherited descriptors close-on-exec"))?;

    // Joining the mount namespace does not move us into the init's root, which may be a
    // chroot or a pivoted tree; its /proc root link names exactly that directory.
    nix::unistd::fchdir(root.as_raw_fd()).map_err(HelperError::os("enter the sandbox root"))?;
    nix::unistd::chroot(".").map_err(HelperError::os("enter the sandbox root"))?;

    nix::unistd::setsid().map_err(HelperError::os("start a session"))?;
    if spec.tty {
        // SAFETY: TIOCSCTTY takes an integer argument and no pointers.
        let rc = unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) };
        Errno::result(rc).map_err(HelperError::os("take the terminal"))?;
    }

    drop_privileges(spec)?;

    // Set only now: any change of credentials clears the parent-death signal.
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
        .map_err(HelperError::os("set the parent-death signal"))?;
    if nix::unistd::getppid() != parent_seen {
        // The helper died before the signal was armed; nobody is left to report to.
        std::process::exit(EXIT_SETUP_FAILED);
    }

    // After dropping privileges, so a directory the user cannot enter is reported as such.
    if let Err(errno) = nix::unistd::chdir(&spec.workdir) {
        let dir = spec.workdir.display();
        say(format_args!(
            "cannot enter {dir}: {}; starting in /",
            errno.desc()
        ));
        nix::unistd::chdir("/").map_err(HelperError::os("enter /"))?;
    }

    reset_signals().map_err(HelperError::os("reset the signal mask"))
}

/// Limits capabilities for good, then switches to the command's user and groups.
fn drop_privileges(spec: &ExecSpec) -> Result<(), HelperError> {
    caps::drop_bounding_set().map_err(|e| HelperError::Os {
        what: "drop capabilities",
        source: io_errno(&e),
    })?;
    caps::clear_inheritable().map_err(|e| HelperError::Os {
        what: "clear inheritable capabilities",
        source: io_errno(&e),
    })?;
    let groups: Vec<Gid> = spec.groups.iter().map(|g| Gid::from_raw(*g)).collect();
    nix::unistd::setgroups(&groups).map_err(HelperError::os("set supplementary groups"))?;
    nix::unistd::setgid(Gid::from_raw(spec.gid)).map_err(HelperError::os("set the group id"))?;
    nix::unistd::setuid(Uid::from_raw(spec.uid)).map_err(HelperError::os("set the user id"))
}

/// Marks every descriptor above stderr close-on-exec, so none of the daemon's reach the command.
fn cloexec_from_3() -> Result<(), Errno> {
    // SAFETY: close_range takes plain integers; CLOEXEC only sets a flag.
    let rc = unsafe { libc::close_range(3, libc::c_uint::MAX, libc::CLOSE_RANGE_CLOEXEC as i32) };
    if rc == 0 {
        return Ok(());
    }
    // Kernels before 5.11 lack the flag: mark each open descriptor instead.
    let entries = std::fs::read_dir("/proc/self/fd").map_err(|e| io_errno(&e))?;
    for entry in entries.flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if fd > 2 {
            // The directory's own descriptor is in the list and gone by now: ignore EBADF.
            let _ = nix::fcntl::fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
        }
    }
    Ok(())
}

/// Default dispositions and an empty mask, as a freshly started program expects.
fn reset_signals() -> Result<(), Errno> {
    // Handlers vanish at exec on their own, but "ignore" (SIGPIPE, in any Rust program)
    // survives it.
    for signal in 1..=libc::SIGRTMAX() {
        if signal != libc::SIGKILL && signal != libc::SIGSTOP {
            default_disposition(signal);
        }
    }
    SigSet::empty().thread_set_mask()
}
