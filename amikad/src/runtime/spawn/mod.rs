//! Starting a sandbox's init from the daemon.
//!
//! The daemon is multi-threaded, and a process cloned from it inherits whatever locks the
//! other threads held at that instant (the allocator's among them). So everything the child
//! needs is made before the clone (the `setup` module): C strings, the readiness pipe and
//! `/dev/null`. Between clone and exec the child (the `child` module) makes only plain system
//! calls: it joins the sandbox's cgroups (on cgroup v2 it is born in its cgroup instead, see
//! [`clone_into`](super::clone_into)), enters a new cgroup namespace (so the sandbox sees its
//! own cgroup as the root), points its standard streams at `/dev/null` and executes the
//! daemon binary again as [`init`](super::init), which builds the sandbox and reports on the
//! readiness pipe (protocol in [`init`](super::init); read by the `report` module).
//!
//! Pid, mount, uts and ipc namespaces, and a network namespace for [`NetworkMode::None`],
//! come from the clone itself, so the child is PID 1 of its namespace from its first
//! instruction. Every signal stays blocked from before the clone until init chooses the ones
//! it waits for: no handler of the daemon's can run in the child, and a SIGTERM sent early is
//! kept rather than lost.
//!
//! [`start_init`] blocks for up to ten seconds; call it off the async runtime. The init it
//! returns is the daemon's child, and the caller must reap it with `waitpid` (from any thread
//! of the daemon) once it exits, or a zombie stays behind. On failure, `start_init` has
//! already killed and reaped it.

use std::io;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use amika_api::NetworkMode;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{pipe2, Pid};

use self::report::Report;
use self::setup::ChildPlan;

mod child;
mod report;
mod setup;
#[cfg(test)]
mod tests;

/// The executable to give [`InitSpec::exe`] in the daemon: the running binary itself, even if
/// the file on disk has since been replaced by an upgrade.
pub const SELF_EXE: &str = "/proc/self/exe";

/// How long init may take to set up the sandbox before it is killed.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// What to start: a sandbox tree, its identity and network, and the cgroups it runs in.
#[derive(Debug, Clone)]
pub struct InitSpec {
    /// The binary to execute as init; the daemon passes [`SELF_EXE`], tests the built `amikad`.
    pub exe: PathBuf,
    /// Host path of the sandbox's root filesystem.
    pub root: PathBuf,
    /// Host name inside the sandbox.
    pub hostname: String,
    /// Whether the sandbox shares the host's network or has only loopback.
    pub network: NetworkMode,
    /// A host directory of identity files for init to bind over the tree's `/etc`.
    pub identity: Option<PathBuf>,
    /// `cgroup.procs` files of the sandbox's cgroups (one per v1 hierarchy, or one for v2).
    /// The child joins each before it makes its cgroup namespace, unless it was started in
    /// [`InitSpec::cgroup_dir`].
    pub cgroup_procs: Vec<PathBuf>,
    /// On cgroup v2, the sandbox's cgroup directory, to start init in directly; when that
    /// fails (a kernel before 5.7), init is moved in through `cgroup_procs` instead.
    pub cgroup_dir: Option<PathBuf>,
}

/// A running init, identified so that a later reuse of its pid is not mistaken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitProcess {
    /// Host pid of init. It is the calling process's child and must be reaped by it.
    pub pid: i32,
    /// Start time of init in clock ticks since boot, as [`process_start_time`] reads it.
    pub start_time: u64,
}

/// Why a sandbox's init could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// A path or name cannot be passed to a program because it holds a NUL byte.
    #[error("{what} {value:?} contains a NUL byte")]
    Nul {
        /// Which argument it is.
        what: &'static str,
        /// The argument, lossily converted for display.
        value: String,
    },
    /// A resource the daemon needs to start init was not available.
    #[error("cannot {what}: {source}")]
    Prepare {
        /// What the daemon was doing.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Init (or the child about to become init) reported a failure or died; the message names
    /// the failed step and its path.
    #[error("sandbox init failed: {0}")]
    Init(String),
    /// Init did not report within the allowed time; it has been killed.
    #[error("sandbox init was not ready within {} seconds", .0.as_secs())]
    Timeout(Duration),
}

/// Starts the init of the sandbox described by `spec` and waits until it is ready.
pub fn start_init(spec: &InitSpec) -> Result<InitProcess, SpawnError> {
    tracing::debug!(
        root = %spec.root.display(),
        hostname = %spec.hostname,
        network = spec.network.as_str(),
        exe = %spec.exe.display(),
        cgroups = ?spec.cgroup_procs,
        cgroup_dir = ?spec.cgroup_dir,
        "starting sandbox init"
    );
    let (read_end, write_end) = pipe2(OFlag::O_CLOEXEC).map_err(|e| SpawnError::Prepare {
        what: "create the readiness pipe",
        source: e.into(),
    })?;
    let write_end = setup::above_stdio(write_end)?;
    let null = setup::open_null()?;
    let plan = ChildPlan::new(spec, write_end.as_raw_fd(), null.as_raw_fd())?;

    let pid = child::clone_child(&plan, setup::clone_flags(spec.network))?;
    // Only the child's copy is left, so end-of-file on the pipe means init is gone.
    drop(write_end);
    drop(null);

    let report = report::read_report(read_end, Instant::now() + READY_TIMEOUT);
    let started = finish(pid, report)?;
    tracing::debug!(pid = started.pid, root = %spec.root.display(), "sandbox init ready");
    Ok(started)
}

/// The start time of process `pid`: field 22 of `/proc/<pid>/stat`, in clock ticks since
/// boot. Together with the pid it names one process even after the pid is reused.
pub fn process_start_time(pid: i32) -> io::Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path)?;
    parse_start_time(&stat).ok_or_else(|| {
        let why = format!("{path} has no readable start time");
        io::Error::new(io::ErrorKind::InvalidData, why)
    })
}

/// Field 22 of a `/proc/<pid>/stat` line. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted from the last `)`, after which field 3 begins.
fn parse_start_time(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_ascii_whitespace().nth(22 - 3)?.parse().ok()
}

/// Returns the started init, or kills and reaps it and returns why it failed.
fn finish(pid: Pid, report: io::Result<Report>) -> Result<InitProcess, SpawnError> {
    let error = match report {
        Ok(Report::Ready) => match process_start_time(pid.as_raw()) {
            Ok(start_time) => {
                let pid = pid.as_raw();
                return Ok(InitProcess { pid, start_time });
            }
            Err(source) => SpawnError::Prepare {
                what: "read the start time of the sandbox init",
                source,
            },
        },
        Ok(Report::Failed(message)) => SpawnError::Init(message),
        Ok(Report::TimedOut) => SpawnError::Timeout(READY_TIMEOUT),
        Ok(Report::Vanished) => {
            let status = kill_and_reap(pid);
            let why = format!("it exited before reporting ({})", describe(status));
            return Err(SpawnError::Init(why));
        }
        Err(source) => SpawnError::Prepare {
            what: "read the readiness pipe",
            source,
        },
    };
    // The reported failure says more than how the killed process ended.
    let _ = kill_and_reap(pid);
    Err(error)
}

/// Kills `pid` (and with it its whole pid namespace) and waits for it.
fn kill_and_reap(pid: Pid) -> nix::Result<WaitStatus> {
    // Already dead is fine: the zombie is still there to reap.
    let _ = kill(pid, Signal::SIGKILL);
    loop {
        match waitpid(pid, None) {
            Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}

/// A wait status in words.
fn describe(status: nix::Result<WaitStatus>) -> String {
    match status {
        Ok(WaitStatus::Exited(_, code)) => format!("exit status {code}"),
        Ok(WaitStatus::Signaled(_, signal, _)) => format!("killed by {signal}"),
        Ok(other) => format!("{other:?}"),
        Err(e) => format!("cannot reap it: {e}"),
    }
}
