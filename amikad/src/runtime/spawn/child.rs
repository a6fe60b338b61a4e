//! The cloned child, from the clone until it executes init: only async-signal-safe system
//! calls on data prepared in advance, and failures reported as raw bytes on the readiness
//! pipe.

use std::os::fd::{AsFd, RawFd};

use nix::errno::Errno;
use nix::sched::{self, CloneFlags};
use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow};
use nix::unistd::Pid;

use super::report::EARLY_FAILURE;
use super::setup::ChildPlan;
use super::SpawnError;
use crate::runtime::clone_into::{self, Forked};

/// Stack of the cloned child until it executes init; it only makes a few system calls.
const CHILD_STACK_SIZE: usize = 256 * 1024;

/// Exit status of the cloned child when it fails before executing init.
const EARLY_EXIT: i32 = 127;

/// Clones the child that becomes init, with every signal blocked in it.
pub(super) fn clone_child(plan: &ChildPlan, flags: CloneFlags) -> Result<Pid, SpawnError> {
    let argv: Vec<*const libc::c_char> = plan
        .argv
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    // Init needs no environment, and the daemon's must not show in the sandbox's /proc/1.
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    let mut stack = vec![0u8; CHILD_STACK_SIZE];

    let mut saved = SigSet::empty();
    pthread_sigmask(
        SigmaskHow::SIG_SETMASK,
        Some(&SigSet::all()),
        Some(&mut saved),
    )
    .map_err(|e| SpawnError::Prepare {
        what: "block signals around the clone",
        source: e.into(),
    })?;
    let mut refused = None;
    let born_inside = match &plan.cgroup {
        // SAFETY: the child makes only async-signal-safe system calls on data prepared above
        // and never returns: it executes init or exits.
        Some(cgroup) => match unsafe { clone_into::fork_into(cgroup.as_fd(), flags) } {
            Ok(Forked::Child) => child_main(plan, &argv, &envp, Cgroup::BornInside),
            Ok(Forked::Parent(pid)) => Some(pid),
            // Refused (an older kernel): cloned below and moved in by the child instead.
            Err(errno) => {
                refused = Some(errno);
                None
            }
        },
        None => None,
    };
    let cloned = match born_inside {
        Some(pid) => Ok(pid),
        None => {
            let child = Box::new(|| -> isize { child_main(plan, &argv, &envp, Cgroup::Join) });
            // SAFETY: without CLONE_VM the child runs on its own copy of `stack` and of the
            // heap, so nothing it does can disturb the parent. `child_main` makes only
            // async-signal-safe system calls on data prepared above and never returns: it
            // executes init or exits. Its stack use is a few small frames, far below
            // CHILD_STACK_SIZE.
            unsafe { sched::clone(child, &mut stack, flags, Some(libc::SIGCHLD)) }
        }
    };
    // Restoring a mask that was just read back cannot fail.
    let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&saved), None);
    if let Some(errno) = refused {
        tracing::debug!(%errno, "starting init inside its cgroup was refused; it moves in");
    }

    cloned.map_err(|e| SpawnError::Prepare {
        what: "clone the sandbox init into new namespaces",
        source: e.into(),
    })
}

/// Whether the child still has to move itself into its cgroups.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cgroup {
    /// It was started in its cgroup v2 cgroup.
    BornInside,
    /// It writes itself into each `cgroup.procs` file.
    Join,
}

/// The cloned child, up to executing init. Allocation, locks and anything else that is not
/// async-signal-safe are forbidden here.
fn child_main(
    plan: &ChildPlan,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    cgroup: Cgroup,
) -> ! {
    let ready = plan.ready_fd;
    if cgroup == Cgroup::Join {
        for path in &plan.procs {
            if let Err(errno) = join_cgroup(path) {
                early_failure(ready, errno, b"join cgroup ", path.as_bytes());
            }
        }
    }
    // SAFETY: unshare takes flags only.
    if unsafe { libc::unshare(libc::CLONE_NEWCGROUP) } != 0 {
        early_failure(
            ready,
            Errno::last_raw(),
            b"enter a new cgroup namespace",
            b"",
        );
    }

    // Descriptors opened by other threads without O_CLOEXEC must not reach the sandbox.
    // Kernels before 5.11 lack this flag; every descriptor the daemon opens through the
    // standard library is close-on-exec anyway, so a failure here is not fatal.
    // SAFETY: close_range changes descriptor flags only and touches no memory.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    // SAFETY: F_SETFD with 0 clears close-on-exec on a descriptor this process owns.
    if unsafe { libc::fcntl(ready, libc::F_SETFD, 0) } != 0 {
        early_failure(
            ready,
            Errno::last_raw(),
            b"keep the readiness pipe open",
            b"",
        );
    }
    for stdio in 0..3 {
        // SAFETY: dup2 between two descriptor numbers; `null_fd` is open and above 2.
        if unsafe { libc::dup2(plan.null_fd, stdio) } < 0 {
            early_failure(ready, Errno::last_raw(), b"redirect a standard stream", b"");
        }
    }

    // SAFETY: all three pointers are NUL-terminated C strings or null-terminated arrays of
    // them, prepared before the clone and alive until execve replaces this process.
    unsafe { libc::execve(plan.exe.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    early_failure(ready, Errno::last_raw(), b"execute ", plan.exe.as_bytes())
}

/// Moves the calling process into the cgroup whose `cgroup.procs` file is `path`.
fn join_cgroup(path: &std::ffi::CStr) -> Result<(), i32> {
    // SAFETY: `path` is a NUL-terminated C string that outlives the call.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Errno::last_raw());
    }
    // "0" stands for the writing process itself.
    // SAFETY: writes one byte from a static buffer to a descriptor this process owns.
    let written = unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) };
    let errno = Errno::last_raw();
    // SAFETY: closes the descriptor opened above, which nothing else uses.
    unsafe { libc::close(fd) };
    if written == 1 {
        Ok(())
    } else {
        Err(errno)
    }
}

/// Reports a failure of the cloned child on the readiness pipe and exits.
fn early_failure(fd: RawFd, errno: i32, step: &[u8], detail: &[u8]) -> ! {
    let mut head = [EARLY_FAILURE, 0, 0, 0, 0];
    head[1..].copy_from_slice(&errno.to_le_bytes());
    for part in [&head[..], step, detail] {
        write_all_raw(fd, part);
    }
    // SAFETY: _exit ends the process without running any of the parent's exit handlers.
    unsafe { libc::_exit(EARLY_EXIT) }
}

/// Writes `bytes` to `fd` with plain write calls, giving up on any error but EINTR.
fn write_all_raw(fd: RawFd, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: the pointer and length describe the live slice `bytes`.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n > 0 {
            bytes = &bytes[n as usize..];
        } else if n == 0 || Errno::last_raw() != libc::EINTR {
            return;
        }
    }
}
