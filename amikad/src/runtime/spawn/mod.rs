//! Starting a sandbox's init from the daemon.
//!
//! The daemon is multi-threaded, and a process cloned from it inherits whatever locks the
//! other threads held at that instant (the allocator's among them). So everything the child
//! needs is made before the clone: C strings, the readiness pipe and `/dev/null`. Between
//! clone and exec the child makes only plain system calls: it joins the sandbox's cgroups,
//! enters a new cgroup namespace (so the sandbox sees its own cgroup as the root), points its
//! standard streams at `/dev/null` and executes the daemon binary again as [`init`], which
//! builds the sandbox and reports on the readiness pipe (protocol in [`init`]).
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

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use amika_api::NetworkMode;
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sched::{self, CloneFlags};
use nix::sys::signal::{kill, pthread_sigmask, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{pipe2, Pid};

use super::init;

/// The executable to give [`InitSpec::exe`] in the daemon: the running binary itself, even if
/// the file on disk has since been replaced by an upgrade.
pub const SELF_EXE: &str = "/proc/self/exe";

/// How long init may take to set up the sandbox before it is killed.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Stack of the cloned child until it executes init; it only makes a few system calls.
const CHILD_STACK_SIZE: usize = 256 * 1024;

/// Longest failure report read from the readiness pipe.
const MAX_REPORT: usize = 4096;

/// First byte of a report written by the cloned child before it could execute init, followed
/// by the errno (four bytes, little-endian) and the failed step. It cannot format the errno
/// itself: that would allocate.
const EARLY_FAILURE: u8 = 1;

/// Exit status of the cloned child when it fails before executing init.
const EARLY_EXIT: i32 = 127;

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
    /// `cgroup.procs` files of the sandbox's cgroups (one per v1 hierarchy, or one for v2).
    /// The child joins each before it makes its cgroup namespace.
    pub cgroup_procs: Vec<PathBuf>,
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
        "starting sandbox init"
    );
    let (read_end, write_end) = pipe2(OFlag::O_CLOEXEC).map_err(|e| SpawnError::Prepare {
        what: "create the readiness pipe",
        source: e.into(),
    })?;
    let write_end = above_stdio(write_end)?;
    let null = open_null()?;
    let plan = ChildPlan::new(spec, write_end.as_raw_fd(), null.as_raw_fd())?;

    let pid = clone_child(&plan, clone_flags(spec.network))?;
    // Only the child's copy is left, so end-of-file on the pipe means init is gone.
    drop(write_end);
    drop(null);

    let report = read_report(read_end, Instant::now() + READY_TIMEOUT);
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

/// Namespaces the child is cloned into.
fn clone_flags(network: NetworkMode) -> CloneFlags {
    let mut flags = CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC;
    if network == NetworkMode::None {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    flags
}

/// Moves `fd` to a number above the standard streams, which the child replaces.
fn above_stdio(fd: OwnedFd) -> Result<OwnedFd, SpawnError> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    let raw =
        fcntl(fd.as_raw_fd(), FcntlArg::F_DUPFD_CLOEXEC(3)).map_err(|e| SpawnError::Prepare {
            what: "move a descriptor above the standard streams",
            source: e.into(),
        })?;
    // SAFETY: fcntl just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// `/dev/null` for the child's standard streams.
fn open_null() -> Result<OwnedFd, SpawnError> {
    let file = File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| SpawnError::Prepare {
            what: "open /dev/null",
            source: e,
        })?;
    above_stdio(file.into())
}

/// Everything the cloned child uses, made before the clone.
struct ChildPlan {
    exe: CString,
    argv: Vec<CString>,
    procs: Vec<CString>,
    ready_fd: RawFd,
    null_fd: RawFd,
}

impl ChildPlan {
    fn new(spec: &InitSpec, ready_fd: RawFd, null_fd: RawFd) -> Result<ChildPlan, SpawnError> {
        let line = init::command_line(&spec.root, &spec.hostname, spec.network, ready_fd);
        let argv = line
            .iter()
            .map(|arg| c_string("init argument", arg))
            .collect::<Result<_, _>>()?;
        let procs = spec
            .cgroup_procs
            .iter()
            .map(|p| c_string("cgroup.procs path", p.as_os_str()))
            .collect::<Result<_, _>>()?;
        Ok(ChildPlan {
            exe: c_string("init executable", spec.exe.as_os_str())?,
            argv,
            procs,
            ready_fd,
            null_fd,
        })
    }
}

/// `value` as a C string, or an error naming it.
fn c_string(what: &'static str, value: &OsStr) -> Result<CString, SpawnError> {
    CString::new(value.as_bytes()).map_err(|_| SpawnError::Nul {
        what,
        value: value.to_string_lossy().into_owned(),
    })
}

/// Clones the child that becomes init, with every signal blocked in it.
fn clone_child(plan: &ChildPlan, flags: CloneFlags) -> Result<Pid, SpawnError> {
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
    let child = Box::new(|| -> isize { child_main(plan, &argv, &envp) });
    // SAFETY: without CLONE_VM the child runs on its own copy of `stack` and of the heap, so
    // nothing it does can disturb the parent. `child_main` makes only async-signal-safe
    // system calls on data prepared above and never returns: it executes init or exits.
    // Its stack use is a few small frames, far below CHILD_STACK_SIZE.
    let cloned = unsafe { sched::clone(child, &mut stack, flags, Some(libc::SIGCHLD)) };
    // Restoring a mask that was just read back cannot fail.
    let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&saved), None);

    cloned.map_err(|e| SpawnError::Prepare {
        what: "clone the sandbox init into new namespaces",
        source: e.into(),
    })
}

/// The cloned child, up to executing init. Allocation, locks and anything else that is not
/// async-signal-safe are forbidden here.
fn child_main(plan: &ChildPlan, argv: &[*const libc::c_char], envp: &[*const libc::c_char]) -> ! {
    let ready = plan.ready_fd;
    for path in &plan.procs {
        if let Err(errno) = join_cgroup(path) {
            early_failure(ready, errno, b"join cgroup ", path.as_bytes());
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

/// What came back on the readiness pipe.
#[derive(Debug, PartialEq, Eq)]
enum Report {
    /// Init is set up.
    Ready,
    /// Init or the child before it reported this failure.
    Failed(String),
    /// The pipe closed without a word: the process died.
    Vanished,
    /// Nothing decisive arrived in time.
    TimedOut,
}

/// Reads the readiness pipe until a verdict or `deadline`.
fn read_report(pipe: OwnedFd, deadline: Instant) -> io::Result<Report> {
    let mut received = Vec::new();
    let mut file = File::from(pipe);
    loop {
        if !wait_readable(&file, deadline)? {
            return Ok(Report::TimedOut);
        }
        let mut chunk = [0u8; 512];
        let n = match file.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        received.extend_from_slice(&chunk[..n]);
        if n == 0 || received[0] == init::READY || received.len() >= MAX_REPORT {
            return Ok(decode_report(&received));
        }
    }
}

/// Whether `file` became readable (or reached end-of-file) before `deadline`.
fn wait_readable(file: &File, deadline: Instant) -> io::Result<bool> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let millis = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX);
        let mut poll = libc::pollfd {
            fd: file.as_fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd, which lives across the call.
        let rc = unsafe { libc::poll(&mut poll, 1, millis) };
        match rc {
            0 => return Ok(false),
            n if n > 0 => return Ok(true),
            _ if Errno::last() == Errno::EINTR => continue,
            _ => return Err(io::Error::last_os_error()),
        }
    }
}

/// Turns the bytes read from the readiness pipe into a verdict.
fn decode_report(bytes: &[u8]) -> Report {
    match bytes.split_first() {
        None => Report::Vanished,
        Some((&init::READY, _)) => Report::Ready,
        Some((&EARLY_FAILURE, rest)) if rest.len() >= 4 => {
            let (errno, step) = rest.split_at(4);
            let errno = i32::from_le_bytes([errno[0], errno[1], errno[2], errno[3]]);
            let step = String::from_utf8_lossy(step);
            Report::Failed(format!("{step}: {}", io::Error::from_raw_os_error(errno)))
        }
        Some(_) => Report::Failed(String::from_utf8_lossy(bytes).trim_end().to_string()),
    }
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

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::symlink;
    use std::path::Path;
    use std::process::Command;
    use std::thread::sleep;

    use nix::sys::wait::WaitPidFlag;
    use nix::unistd::Uid;
    use tempfile::TempDir;

    use super::*;

    /// Busybox applets the tests run inside a sandbox.
    const APPLETS: &[&str] = &[
        "sh", "ps", "hostname", "sleep", "cat", "ip", "ls", "grep", "touch",
    ];

    /// CAP_SYS_ADMIN's bit in a capability mask.
    const CAP_SYS_ADMIN: u32 = 21;

    /// The `amikad` binary next to the test executable: unit tests cannot ask Cargo for it.
    fn amikad_binary() -> PathBuf {
        let test_exe = std::env::current_exe().expect("locate the test executable");
        // target/<profile>/deps/<test> -> target/<profile>/amikad
        let bin = test_exe
            .parent()
            .and_then(Path::parent)
            .expect("the test executable lives in target/<profile>/deps")
            .join("amikad");
        assert!(
            bin.is_file(),
            "{} is missing: run `cargo build --bins` before these tests",
            bin.display()
        );
        bin
    }

    fn require_root() {
        assert!(
            Uid::effective().is_root(),
            "these tests create namespaces and mounts: run them as root"
        );
    }

    /// A minimal root filesystem: busybox, its applets, and the usual top-level directories.
    fn busybox_tree() -> TempDir {
        let tree = tempfile::tempdir().expect("create a temporary tree");
        for dir in ["bin", "etc", "proc", "dev", "sys", "tmp"] {
            fs::create_dir(tree.path().join(dir)).expect("create a tree directory");
        }
        fs::copy("/bin/busybox", tree.path().join("bin/busybox")).expect("copy /bin/busybox");
        for applet in APPLETS {
            symlink("busybox", tree.path().join("bin").join(applet)).expect("link an applet");
        }
        tree
    }

    fn spec(root: &Path, network: NetworkMode) -> InitSpec {
        InitSpec {
            exe: amikad_binary(),
            root: root.to_path_buf(),
            hostname: "teal-lisbon".into(),
            network,
            cgroup_procs: Vec::new(),
        }
    }

    /// A started init, killed and reaped when dropped so no test leaves one behind.
    struct Running {
        init: InitProcess,
        reaped: bool,
    }

    impl Running {
        fn start(spec: &InitSpec) -> Running {
            require_root();
            let init = start_init(spec).expect("start the sandbox init");
            Running {
                init,
                reaped: false,
            }
        }

        fn pid(&self) -> i32 {
            self.init.pid
        }

        /// Runs `args` inside every namespace of the sandbox and returns its output.
        fn run(&self, args: &[&str]) -> String {
            let out = Command::new("nsenter")
                .args(["-t", &self.pid().to_string(), "-a"])
                .args(args)
                .output()
                .expect("run nsenter");
            assert!(
                out.status.success(),
                "{args:?} in the sandbox failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).expect("output is UTF-8")
        }

        /// Waits up to `limit` for init to exit and reaps it.
        fn wait_exit(&mut self, limit: Duration) -> Option<WaitStatus> {
            let deadline = Instant::now() + limit;
            let pid = Pid::from_raw(self.pid());
            while Instant::now() < deadline {
                match waitpid(pid, Some(WaitPidFlag::WNOHANG)).expect("waitpid") {
                    WaitStatus::StillAlive => sleep(Duration::from_millis(10)),
                    status => {
                        self.reaped = true;
                        return Some(status);
                    }
                }
            }
            None
        }
    }

    impl Drop for Running {
        fn drop(&mut self) {
            if !self.reaped {
                let _ = kill_and_reap(Pid::from_raw(self.pid()));
            }
        }
    }

    /// Whether the host's mount table mentions `path`.
    fn host_mounts_mention(path: &Path) -> bool {
        let table = fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo");
        table.contains(path.to_str().expect("UTF-8 temp path"))
    }

    /// Host pids (other than `init` itself) in `init`'s pid namespace, with their state.
    fn namespace_members(init: i32) -> Vec<(i32, char)> {
        let ns = |pid: &str| fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
        let wanted = ns(&init.to_string()).expect("read init's pid namespace");
        let mut members = Vec::new();
        for entry in fs::read_dir("/proc").expect("list /proc").flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(pid) = name.parse::<i32>() else {
                continue;
            };
            if pid == init || ns(&name).as_ref() != Some(&wanted) {
                continue;
            }
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat.rsplit_once(") ").and_then(|(_, r)| r.chars().next());
            members.push((pid, state.unwrap_or('?')));
        }
        members
    }

    /// The bounding set of `pid`, from its status file.
    fn bounding_set(pid: i32) -> u64 {
        let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
        let hex = status
            .lines()
            .find_map(|l| l.strip_prefix("CapBnd:"))
            .expect("CapBnd line");
        u64::from_str_radix(hex.trim(), 16).expect("hex CapBnd")
    }

    #[test]
    fn sandbox_has_its_own_hostname_pids_and_network() {
        let tree = busybox_tree();
        let init = Running::start(&spec(tree.path(), NetworkMode::None));

        assert_eq!(init.run(&["/bin/hostname"]).trim(), "teal-lisbon");

        let ps = init.run(&["/bin/ps"]);
        let procs: Vec<&str> = ps.lines().skip(1).collect();
        assert_eq!(procs.len(), 2, "only init and ps should run:\n{ps}");
        assert!(
            procs[0].trim_start().starts_with("1 "),
            "init is PID 1:\n{ps}"
        );
        assert!(procs[0].contains(init::ARG), "PID 1 is init:\n{ps}");
        assert!(procs[1].contains("ps"), "the other process is ps:\n{ps}");

        let dev = init.run(&["/bin/cat", "/proc/net/dev"]);
        let links: Vec<&str> = dev
            .lines()
            .skip(2)
            .filter_map(|l| l.split(':').next())
            .collect();
        assert_eq!(links.iter().map(|l| l.trim()).collect::<Vec<_>>(), ["lo"]);
        let flags = init.run(&["/bin/cat", "/sys/class/net/lo/flags"]);
        let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).unwrap();
        assert_eq!(flags & libc::IFF_UP as u32, libc::IFF_UP as u32, "lo is up");

        let bounding = bounding_set(init.pid());
        assert_eq!(
            bounding & (1 << CAP_SYS_ADMIN),
            0,
            "init lost CAP_SYS_ADMIN"
        );
        assert_ne!(bounding & 1, 0, "init keeps CAP_CHOWN");

        let fds = init.run(&["/bin/ls", "/proc/1/fd"]);
        assert_eq!(fds.split_whitespace().collect::<Vec<_>>(), ["0", "1", "2"]);

        let start_time = process_start_time(init.pid()).expect("read the start time");
        assert_eq!(start_time, init.init.start_time);
        assert!(
            !host_mounts_mention(tree.path()),
            "sandbox mounts leaked to the host"
        );
        drop(init);
        assert!(
            !host_mounts_mention(tree.path()),
            "sandbox mounts outlived init"
        );
    }

    #[test]
    fn sandbox_sees_minimal_dev_fresh_tmp_and_protected_kernel_files() {
        let tree = busybox_tree();
        fs::write(tree.path().join("tmp/left-behind"), "x").unwrap();
        let init = Running::start(&spec(tree.path(), NetworkMode::Host));

        let script = "set -e
            for d in null zero full random urandom tty; do test -c /dev/$d; done
            test -L /dev/ptmx; test -c /dev/pts/ptmx; test -d /dev/shm; test -L /dev/fd
            test ! -e /tmp/left-behind; touch /tmp/new
            test ! -s /proc/kcore
            ! echo other > /proc/sys/kernel/hostname 2>/dev/null
            ! touch /sys/amika 2>/dev/null
            grep -q ' /sys sysfs ro' /proc/mounts
            test ! -e /home
            echo ok";
        assert_eq!(init.run(&["/bin/sh", "-c", script]).trim(), "ok");
        assert!(tree.path().join("tmp/left-behind").exists());
        assert!(!tree.path().join("tmp/new").exists(), "/tmp is a tmpfs");
    }

    #[test]
    fn sigterm_stops_the_sandbox_and_init_exits_cleanly() {
        let tree = busybox_tree();
        let mut init = Running::start(&spec(tree.path(), NetworkMode::None));
        // An orphan that init must stop before it may exit.
        init.run(&["/bin/sh", "-c", "sleep 30 >/dev/null 2>&1 &"]);

        kill(Pid::from_raw(init.pid()), Signal::SIGTERM).expect("send SIGTERM");
        let status = init.wait_exit(Duration::from_secs(1));
        assert!(
            matches!(status, Some(WaitStatus::Exited(_, 0))),
            "init should exit 0 within a second, got {status:?}"
        );
    }

    #[test]
    fn orphaned_grandchild_is_reaped_by_init() {
        let tree = busybox_tree();
        let init = Running::start(&spec(tree.path(), NetworkMode::None));
        init.run(&["/bin/sh", "-c", "sleep 1 >/dev/null 2>&1 &"]);
        let orphans = namespace_members(init.pid());
        assert!(!orphans.is_empty(), "the background sleep should still run");

        let deadline = Instant::now() + Duration::from_secs(5);
        let mut left = orphans;
        while !left.is_empty() && Instant::now() < deadline {
            sleep(Duration::from_millis(50));
            left = namespace_members(init.pid());
        }
        assert!(
            left.is_empty(),
            "processes left in the sandbox (pid, state): {left:?}"
        );
    }

    #[test]
    fn tree_whose_proc_is_a_symlink_is_refused() {
        require_root();
        let tree = busybox_tree();
        fs::remove_dir(tree.path().join("proc")).unwrap();
        symlink("etc", tree.path().join("proc")).unwrap();

        let err = start_init(&spec(tree.path(), NetworkMode::None)).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, SpawnError::Init(_)), "{message}");
        assert!(
            message.contains("/proc") && message.contains("symlink"),
            "{message}"
        );
        assert!(!host_mounts_mention(tree.path()));
    }

    #[test]
    fn tree_without_mount_points_gets_them() {
        let tree = busybox_tree();
        for dir in ["proc", "dev", "sys", "tmp"] {
            fs::remove_dir(tree.path().join(dir)).unwrap();
        }
        let init = Running::start(&spec(tree.path(), NetworkMode::None));
        assert_eq!(init.run(&["/bin/cat", "/proc/1/comm"]).trim(), "amikad");
        assert!(tree.path().join("proc").is_dir());
    }

    #[test]
    fn init_joins_its_cgroup_and_sees_it_as_the_root() {
        // cgroup v1 has a pids hierarchy of its own; v2 has one tree.
        let v1 = Path::new("/sys/fs/cgroup/pids");
        let base = if v1.is_dir() {
            v1
        } else {
            Path::new("/sys/fs/cgroup")
        };
        let name = format!("amika-spawn-test-{}", std::process::id());
        let cgroup = base.join(&name);
        fs::create_dir(&cgroup).expect("create a test cgroup");

        let tree = busybox_tree();
        let mut spec = spec(tree.path(), NetworkMode::None);
        spec.cgroup_procs = vec![cgroup.join("cgroup.procs")];
        let init = Running::start(&spec);

        let host_view = fs::read_to_string(format!("/proc/{}/cgroup", init.pid())).unwrap();
        assert!(host_view.contains(&format!("/{name}\n")), "{host_view}");
        let inside = init.run(&["/bin/cat", "/proc/1/cgroup"]);
        assert!(
            !inside.contains(&name),
            "the sandbox sees its cgroup as /:\n{inside}"
        );

        drop(init);
        fs::remove_dir(&cgroup).expect("remove the test cgroup");
    }

    #[test]
    fn failures_before_init_runs_name_the_step() {
        require_root();
        let tree = busybox_tree();
        let mut missing_exe = spec(tree.path(), NetworkMode::None);
        missing_exe.exe = PathBuf::from("/nonexistent/amikad");
        let message = start_init(&missing_exe).unwrap_err().to_string();
        assert!(message.contains("execute /nonexistent/amikad"), "{message}");
        assert!(message.contains("No such file"), "{message}");

        let mut missing_cgroup = spec(tree.path(), NetworkMode::None);
        missing_cgroup.cgroup_procs = vec![PathBuf::from("/nonexistent/cgroup.procs")];
        let message = start_init(&missing_cgroup).unwrap_err().to_string();
        assert!(
            message.contains("join cgroup /nonexistent/cgroup.procs"),
            "{message}"
        );
    }

    #[test]
    fn start_time_is_read_after_the_command_name() {
        let fields: Vec<String> = (3..=22).map(|n| n.to_string()).collect();
        let stat = format!("42 (a) b (c)) {} 23 24", fields.join(" "));
        assert_eq!(parse_start_time(&stat), Some(22));
        assert_eq!(parse_start_time("42 (short) S 1"), None);
        assert!(process_start_time(std::process::id() as i32).is_ok());
    }

    #[test]
    fn reports_decode_into_verdicts() {
        assert_eq!(decode_report(&[]), Report::Vanished);
        assert_eq!(decode_report(&[init::READY]), Report::Ready);
        let mut early = vec![EARLY_FAILURE];
        early.extend_from_slice(&libc::ENOENT.to_le_bytes());
        early.extend_from_slice(b"execute /x");
        let Report::Failed(message) = decode_report(&early) else {
            panic!("an early failure is a failure");
        };
        assert!(message.starts_with("execute /x: No such file"), "{message}");
        let late = decode_report(b"mount proc on /t/proc: Permission denied\n");
        assert_eq!(
            late,
            Report::Failed("mount proc on /t/proc: Permission denied".into())
        );
    }
}
