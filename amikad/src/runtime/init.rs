//! The sandbox's PID 1.
//!
//! `amikad` re-executes itself with [`ARG`] to become the first process of a new sandbox
//! (see [`super::spawn`]). It starts single-threaded in fresh pid, mount, uts, ipc and cgroup
//! namespaces, builds the filesystem the sandbox sees ([`super::mounts`]), sets the host name,
//! raises loopback when the sandbox has a network of its own, pivots into the tree and drops
//! the capability bounding set. It then reports on the readiness pipe and spends the rest of
//! its life reaping: every orphan in the namespace becomes its child. SIGTERM or SIGINT stops
//! the sandbox: the signal is passed on to every other process, and init exits once none is
//! left.
//!
//! Readiness protocol, on the pipe whose number is the last argument: a single
//! [`READY`] byte when everything is in place, or one line naming the failed step and its
//! path followed by exit status 1. The pipe is closed either way, so nothing started in the
//! sandbox later can inherit it.
//!
//! No step may start a thread: mount namespace and signal handling assume a single one.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use amika_api::NetworkMode;
use nix::errno::Errno;
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
use nix::sys::stat::{umask, Mode};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{sethostname, Pid};

use super::{caps, mounts};

/// The hidden first argument that selects this program.
pub const ARG: &str = "__amika-init";

/// The byte init writes on the readiness pipe once the sandbox is set up.
pub const READY: u8 = 0;

/// The program name init runs under; `main.rs` ignores it.
const PROGRAM: &str = "amikad";

/// Exit status for a command line `spawn` would never produce.
const USAGE_EXIT: i32 = 2;

/// One failed set-up step: what was being done, to which path if any, and why.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// A step that acts on a path, named as the host sees it before the pivot.
    #[error("{step} {}: {source}", path.display())]
    Path {
        /// The step, as a short verb phrase ("mount proc on").
        step: &'static str,
        /// The path the step acted on.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: io::Error,
    },
    /// A step that concerns the process or its namespaces rather than a path.
    #[error("{step}: {source}")]
    Process {
        /// The step, as a short verb phrase ("set the host name").
        step: &'static str,
        /// What went wrong.
        #[source]
        source: io::Error,
    },
}

impl StepError {
    /// A failure of `step` on `path`.
    pub fn at(step: &'static str, path: &Path, source: impl Into<io::Error>) -> StepError {
        StepError::Path {
            step,
            path: path.to_path_buf(),
            source: source.into(),
        }
    }

    /// A failure of `step`, which has no path of its own.
    pub fn process(step: &'static str, source: impl Into<io::Error>) -> StepError {
        StepError::Process {
            step,
            source: source.into(),
        }
    }
}

/// What init is told to do, decoded from its command line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Plan {
    root: PathBuf,
    hostname: String,
    network: NetworkMode,
    identity: Option<PathBuf>,
    ready_fd: RawFd,
}

/// The full command line (program name included) that starts init on `root`.
///
/// `ready_fd` is the write end of the readiness pipe; the caller must leave it open, without
/// close-on-exec, in the process that executes this command line.
pub fn command_line(
    root: &Path,
    hostname: &str,
    network: NetworkMode,
    identity: Option<&Path>,
    ready_fd: RawFd,
) -> Vec<OsString> {
    vec![
        PROGRAM.into(),
        ARG.into(),
        root.as_os_str().to_owned(),
        hostname.into(),
        network.as_str().into(),
        identity.map_or_else(|| NO_IDENTITY.into(), |d| d.as_os_str().to_owned()),
        ready_fd.to_string().into(),
    ]
}

/// The identity argument when there is no directory to bind from.
const NO_IDENTITY: &str = "-";

/// Entry point: `args` are the arguments after [`ARG`], as [`command_line`] lays them out.
pub fn main(args: Vec<OsString>) -> ! {
    let plan = match parse(args) {
        Ok(plan) => plan,
        Err(why) => {
            eprintln!("amikad {ARG}: {why}");
            std::process::exit(USAGE_EXIT);
        }
    };
    // SAFETY: `parse` checked that the descriptor is open; spawn handed it to this process
    // alone, and nothing else here wraps it.
    let mut ready = unsafe { File::from_raw_fd(plan.ready_fd) };

    if let Err(e) = prepare(&plan) {
        // Nobody else can be told; if the daemon is gone the write fails and that is fine.
        let _ = writeln!(ready, "{e}");
        std::process::exit(1);
    }
    if ready.write_all(&[READY]).is_err() {
        // The daemon gave up waiting and will kill the namespace; leave first.
        std::process::exit(1);
    }
    drop(ready);
    supervise()
}

/// Decodes the command line, refusing anything `command_line` would not have written.
fn parse(args: Vec<OsString>) -> Result<Plan, String> {
    let [root, hostname, network, identity, fd]: [OsString; 5] = args
        .try_into()
        .map_err(|a: Vec<OsString>| format!("expected 5 arguments, got {}", a.len()))?;
    let identity = (identity != NO_IDENTITY).then(|| PathBuf::from(identity));
    let hostname = String::from_utf8(hostname.into_vec())
        .map_err(|_| "the host name is not UTF-8".to_string())?;
    let network = match network.to_str() {
        Some("host") => NetworkMode::Host,
        Some("none") => NetworkMode::None,
        _ => return Err(format!("unknown network mode {network:?}")),
    };
    let ready_fd: RawFd = fd
        .to_str()
        .and_then(|s| s.parse().ok())
        .filter(|fd| *fd > 2)
        .ok_or_else(|| format!("bad readiness descriptor {fd:?}"))?;
    // SAFETY: F_GETFD only reads the descriptor's flags; an unknown number yields EBADF.
    if unsafe { libc::fcntl(ready_fd, libc::F_GETFD) } < 0 {
        return Err(format!("readiness descriptor {ready_fd} is not open"));
    }
    Ok(Plan {
        root: PathBuf::from(root),
        hostname,
        network,
        identity,
        ready_fd,
    })
}

/// Every set-up step, in order; the first failure ends init.
fn prepare(plan: &Plan) -> Result<(), StepError> {
    // The daemon's umask would otherwise decide the modes of directories made in the tree.
    umask(Mode::from_bits_truncate(0o022));
    // Keeps sandbox processes, root included, out of init's /proc entries and memory.
    // SAFETY: PR_SET_DUMPABLE takes an integer and no pointers.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        let err = io::Error::last_os_error();
        return Err(StepError::process("mark init not dumpable", err));
    }

    mounts::build(&plan.root, plan.network, plan.identity.as_deref())?;
    sethostname(&plan.hostname).map_err(|e| StepError::process("set the host name", e))?;
    if plan.network == NetworkMode::None {
        loopback_up().map_err(|e| StepError::process("bring up the loopback interface", e))?;
    }
    mounts::pivot(&plan.root)?;
    caps::drop_bounding_set().map_err(|e| StepError::process("drop the capability bounding set", e))
}

/// Sets the `IFF_UP` flag on `lo`, which a new network namespace starts without.
fn loopback_up() -> io::Result<()> {
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: ifreq is plain old data, for which all zero bytes are a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo") {
        *dst = *src as libc::c_char;
    }

    // SAFETY: SIOCGIFFLAGS reads the NUL-terminated name from `req` and writes the flags
    // into it; `req` lives across the call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel has just filled the flags member of the union.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: SIOCSIFFLAGS only reads `req`, which lives across the call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether any child is left after reaping every one that has exited.
#[derive(Debug, PartialEq, Eq)]
enum Children {
    Some,
    None,
}

/// PID 1's loop: wait for signals, reap, and stop when asked.
fn supervise() -> ! {
    let mut waited = SigSet::empty();
    for sig in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
    ] {
        waited.add(sig);
    }
    // spawn blocked every signal; from here on only these stay blocked, to be taken with
    // sigwait. Setting the mask cannot fail for a valid set, so an error is not expected.
    let _ = waited.thread_set_mask();

    let mut stopping = false;
    loop {
        // SIGCHLD and SIGHUP need nothing beyond the reaping below.
        if let Ok(Signal::SIGTERM | Signal::SIGINT) = waited.wait() {
            stopping = true;
            // In a pid namespace, -1 reaches every process but init. ESRCH just means
            // nobody else is left.
            let _ = kill(Pid::from_raw(-1), Signal::SIGTERM);
        }
        if reap_all() == Children::None && stopping {
            std::process::exit(0);
        }
    }
}

/// Reaps every child that has exited, without blocking.
fn reap_all() -> Children {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => return Children::Some,
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(Errno::ECHILD) => return Children::None,
            Err(_) => return Children::Some,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_round_trips_through_parse() {
        let null = File::open("/dev/null").expect("open /dev/null");
        let fd = null.as_raw_fd();
        let identity = Path::new("/state/identity/x");
        let line = command_line(
            Path::new("/pool/a b"),
            "red-oslo",
            NetworkMode::None,
            Some(identity),
            fd,
        );
        assert_eq!(line[1], ARG);

        let plan = parse(line[2..].to_vec()).expect("parse");
        let expected = Plan {
            root: PathBuf::from("/pool/a b"),
            hostname: "red-oslo".into(),
            network: NetworkMode::None,
            identity: Some(identity.to_owned()),
            ready_fd: fd,
        };
        assert_eq!(plan, expected);
    }

    #[test]
    fn parse_refuses_malformed_command_lines() {
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(parse(args(&["/r", "h", "none", "-"])).is_err());
        assert!(parse(args(&["/r", "h", "bridge", "-", "9"])).is_err());
        assert!(parse(args(&["/r", "h", "host", "-", "1"])).is_err());
        assert!(parse(args(&["/r", "h", "host", "-", "x"])).is_err());
        // Far above any descriptor a test process has open.
        assert!(parse(args(&["/r", "h", "host", "-", "1000000"])).is_err());
    }
}
