//! The helper's course: read the spec, enter the sandbox, fork, and stay behind as the
//! command's parent, passing signals on and waiting for its exit status.

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use nix::fcntl::FcntlArg;
use nix::sched::CloneFlags;
use nix::sys::signal::{kill, killpg, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{ForkResult, Pid};

use super::child;
use super::error::HelperError;
use super::launch::Launch;
use super::namespaces::{self, InitHandles};
use super::spec::ExecSpec;
use crate::runtime::clone_into::{self, Forked};

/// Signals the helper passes on to the command.
const FORWARDED: [Signal; 7] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// Far above anything `execve` accepts; only guards against reading a wrong file whole.
const MAX_SPEC_BYTES: u64 = 16 << 20;

/// Runs the command for the spec named by `args`; returns the exit status to pass on.
pub(super) fn run(args: &[OsString]) -> Result<i32, HelperError> {
    // Blocked from the start: a signal that arrives during setup waits and reaches the command
    // instead of killing the helper half-way.
    let mut signals = SigSet::empty();
    FORWARDED.iter().for_each(|s| signals.add(*s));
    signals.add(Signal::SIGCHLD);
    signals
        .thread_block()
        .map_err(HelperError::os("block signals"))?;
    // An inherited "ignore" would make the kernel reap the child before we can read its status.
    default_disposition(libc::SIGCHLD);

    let spec = read_spec(args)?;
    let launch = Launch::new(&spec)?;
    let init = InitHandles::open(spec.init_pid)?;
    // On cgroup v2 the command is started in the sandbox's cgroup and the helper stays out, so
    // neither waits for the kernel's cgroup lock (see `clone_into`). The cgroup.procs files
    // are opened all the same while host paths still resolve, in case the kernel refuses.
    let cgroup_dir = spec
        .cgroup_dir
        .as_deref()
        .and_then(|dir| clone_into::open_cgroup(dir).ok());
    let procs = match cgroup_dir {
        Some(_) => namespaces::open_procs(&spec.cgroup_procs)?,
        None => {
            for procs in &spec.cgroup_procs {
                namespaces::join_cgroup(procs)?;
            }
            Vec::new()
        }
    };
    let entered = init.enter(cgroup_dir.is_some())?;
    // The child sees its parent as pid 0 when the parent lives outside its pid namespace.
    let parent_seen = if entered.pid {
        Pid::from_raw(0)
    } else {
        nix::unistd::getpid()
    };

    match fork_command(cgroup_dir.as_ref(), &procs)? {
        ForkResult::Child => {
            if entered.cgroup_deferred {
                if let Err(err) = init.enter_cgroup_namespace() {
                    super::say(format_args!("{err}"));
                    std::process::exit(super::EXIT_SETUP_FAILED);
                }
            }
            child::start_command(&spec, &launch, &init.root, parent_seen)
        }
        ForkResult::Parent { child } => {
            drop(init);
            supervise(child, spec.tty, &signals)
        }
    }
}

/// Forks the command: into `cgroup_dir` when there is one, else (or when the kernel refuses)
/// as a plain fork, after moving the helper into the cgroups of `procs` if it is not there.
fn fork_command(
    cgroup_dir: Option<&OwnedFd>,
    procs: &[(PathBuf, File)],
) -> Result<ForkResult, HelperError> {
    if let Some(dir) = cgroup_dir {
        // SAFETY: the helper is single-threaded (it runs straight from `main`, before any
        // runtime or thread exists), so the child may do anything the parent could.
        match unsafe { clone_into::fork_into(dir.as_fd(), CloneFlags::empty()) } {
            Ok(Forked::Child) => return Ok(ForkResult::Child),
            Ok(Forked::Parent(child)) => return Ok(ForkResult::Parent { child }),
            // An older kernel: moved in the old way below.
            Err(_) => namespaces::join_opened(procs)?,
        }
    }
    // SAFETY: as above, single-threaded.
    unsafe { nix::unistd::fork() }.map_err(HelperError::os("fork"))
}

/// Takes the spec from the memfd whose number is the only argument.
fn read_spec(args: &[OsString]) -> Result<ExecSpec, HelperError> {
    let [fd_arg] = args else {
        return Err(HelperError::Usage);
    };
    let fd: i32 = fd_arg
        .to_str()
        .and_then(|s| s.parse().ok())
        .ok_or(HelperError::Usage)?;
    if fd < 3 {
        return Err(HelperError::Usage);
    }
    nix::fcntl::fcntl(fd, FcntlArg::F_GETFD)
        .map_err(|e| HelperError::ReadSpec(io::Error::from(e)))?;
    // SAFETY: the descriptor is open (checked just above), came from our own command line and
    // nothing else in this fresh process owns it.
    let file = unsafe { File::from_raw_fd(fd) };
    let len = file.metadata().map_err(HelperError::ReadSpec)?.len();
    if len > MAX_SPEC_BYTES {
        let msg = format!("descriptor {fd} holds {len} bytes");
        return Err(HelperError::ReadSpec(io::Error::new(
            io::ErrorKind::InvalidData,
            msg,
        )));
    }
    let mut bytes = vec![0; len as usize];
    // Positional reads: the offset is shared with anyone else holding the same memfd.
    file.read_exact_at(&mut bytes, 0)
        .map_err(HelperError::ReadSpec)?;
    Ok(ExecSpec::decode(&bytes)?)
}

/// Sets a signal back to its default action; errors (for signals libc reserves) are ignored.
pub(super) fn default_disposition(signal: libc::c_int) {
    // SAFETY: installing SIG_DFL runs no code of ours in signal context.
    unsafe { libc::signal(signal, libc::SIG_DFL) };
}

/// The parent's side: passes signals on and waits for the command.
fn supervise(child: Pid, tty: bool, signals: &SigSet) -> Result<i32, HelperError> {
    loop {
        let signal = signals
            .wait()
            .map_err(HelperError::os("wait for signals"))?;
        if signal != Signal::SIGCHLD {
            forward(child, signal, tty);
            continue;
        }
        match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, signal, _)) => return Ok(128 + signal as i32),
            Ok(_) => {}
            Err(source) => {
                return Err(HelperError::Os {
                    what: "wait for the command",
                    source,
                })
            }
        }
    }
}

/// Sends `signal` to the command: to its whole process group unless it owns a terminal, where
/// the terminal itself signals the foreground job and the shell decides for the rest.
fn forward(child: Pid, signal: Signal, tty: bool) {
    // The child leads its own group once it has called setsid; before that the group does
    // not exist yet and the child alone is signalled.
    if !tty && killpg(child, signal).is_ok() {
        return;
    }
    let _ = kill(child, signal);
}
