//! Starting a process inside a cgroup v2 cgroup rather than moving it there afterwards:
//! `clone3` with `CLONE_INTO_CGROUP`.
//!
//! Moving a process by writing `cgroup.procs` takes the kernel's threadgroup lock for writing,
//! which waits for an RCU grace period unless the hierarchy carries `favordynmods` or another
//! move happened just before: 8 to 30 ms on the machine of `docs/benchmarks.md`, once for a
//! sandbox's init and once for every exec. A process born in the cgroup is never moved, so it
//! takes that lock only for reading, as any fork does.
//!
//! Only cgroup v2 can be named this way, and only from Linux 5.7 on. The callers keep the
//! `cgroup.procs` files as well and move the process the old way whenever [`fork_into`]
//! fails, so an older kernel or a refusal costs the wait, never the sandbox.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use nix::unistd::Pid;

/// From <linux/sched.h>: the child starts in the cgroup named by `CloneArgs::cgroup`.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `struct clone_args` as of Linux 5.7, the first version with the `cgroup` field.
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Which side of [`fork_into`] the caller is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forked {
    /// The new process.
    Child,
    /// The caller, with the new process's pid.
    Parent(Pid),
}

/// Opens a cgroup v2 directory for [`fork_into`].
pub fn open_cgroup(dir: &Path) -> io::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let fd = nix::fcntl::open(dir, flags, Mode::empty())?;
    // SAFETY: open just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Forks, as `fork(2)` does, with the child in the cgroup `cgroup` (from [`open_cgroup`]) and
/// in new namespaces for `flags`; the child's exit is reported to the parent by `SIGCHLD`.
///
/// # Safety
///
/// As with `fork(2)`: only the calling thread exists in the child, so in a process with other
/// threads the child may only make async-signal-safe calls until it executes a program or
/// exits. The child runs on a copy of the caller's stack.
pub unsafe fn fork_into(cgroup: BorrowedFd<'_>, flags: CloneFlags) -> Result<Forked, Errno> {
    let mut args = CloneArgs {
        // The namespace flags are all positive: no sign to carry into the upper bits.
        flags: u64::from(flags.bits() as u32) | CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup.as_raw_fd() as u64,
        ..CloneArgs::default()
    };
    // SAFETY: `args` is a valid clone_args of the size given, alive for the call. Without a
    // stack the child continues here on a copy of this one, as after fork; the caller has
    // agreed to what the child may do.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match ret {
        -1 => Err(Errno::last()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(Pid::from_raw(pid as i32))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    use crate::runtime::test_support::{require_root, v2_cgroup_of, TestCgroup};
    use nix::sys::signal::{kill, Signal};
    use nix::sys::wait::waitpid;

    #[test]
    fn the_child_starts_in_the_cgroup_without_being_moved() {
        require_root("cgroups are made and joined");
        let cgroup = TestCgroup::create_v2("clone3");
        let dir = open_cgroup(&cgroup.path).unwrap();
        // SAFETY: the child only waits for a signal, which is async-signal-safe.
        match unsafe { fork_into(dir.as_fd(), CloneFlags::empty()) }.unwrap() {
            Forked::Child => loop {
                // SAFETY: pause takes no arguments.
                unsafe { libc::pause() };
            },
            Forked::Parent(child) => {
                let seen = v2_cgroup_of(child.as_raw());
                kill(child, Signal::SIGKILL).unwrap();
                waitpid(child, None).unwrap();
                assert_eq!(seen, Some(format!("/{}", cgroup.name)));
            }
        }
    }

    #[test]
    fn a_cgroup_v1_directory_is_refused_so_that_callers_fall_back() {
        require_root("cgroups are made");
        let v1 = Path::new("/sys/fs/cgroup/pids");
        if !v1.join("cgroup.procs").exists() {
            // A pure cgroup v2 host has no v1 directory to refuse.
            return;
        }
        let dir = open_cgroup(v1).unwrap();
        // SAFETY: a refused clone3 makes no child; should one appear, it exits at once.
        match unsafe { fork_into(dir.as_fd(), CloneFlags::empty()) } {
            // SAFETY: _exit ends the child without running anything of the test process.
            Ok(Forked::Child) => unsafe { libc::_exit(0) },
            Ok(Forked::Parent(child)) => {
                waitpid(child, None).unwrap();
                panic!("clone3 accepted a cgroup v1 directory");
            }
            Err(errno) => assert!(matches!(errno, Errno::EBADF | Errno::EINVAL), "{errno}"),
        }
    }
}
