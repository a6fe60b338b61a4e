//! A stand-in sandbox and ways to run the helper in it. The sandbox is a busybox tree started
//! under `unshare`, in place of the daemon's own init so that only the exec module is under
//! test; the helper is the built `amikad` binary.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tempfile::TempDir;

use crate::runtime::exec::ExecSpec;
use crate::runtime::test_support::{amikad_binary, busybox_tree, require_root, wait_for};

/// The children of `pid`, oldest first.
fn children(pid: i32) -> Vec<i32> {
    let path = format!("/proc/{pid}/task/{pid}/children");
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// The command line of `pid`, NUL-separated; empty once it is gone.
fn cmdline(pid: i32) -> Vec<u8> {
    std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default()
}

/// Pids of live host processes whose command line is exactly `argv`.
pub(super) fn processes_running(argv: &[&str]) -> Vec<i32> {
    let wanted = nul_joined(argv);
    let entries = std::fs::read_dir("/proc").expect("read /proc");
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| cmdline(*pid) == wanted)
        .collect()
}

/// A command line as /proc shows it: each argument followed by a NUL.
fn nul_joined(argv: &[&str]) -> Vec<u8> {
    argv.iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect()
}

/// A busybox tree with an unprivileged user `amika` (1000) and its home directory.
fn user_tree() -> TempDir {
    let tree = busybox_tree();
    let root = tree.path();
    std::fs::create_dir_all(root.join("home/amika")).unwrap();
    std::fs::write(root.join("bin/not-executable"), "#!/bin/sh\n").unwrap();
    let passwd = "root:x:0:0:root:/root:/bin/sh\namika:x:1000:1000::/home/amika:/bin/sh\n";
    std::fs::write(root.join("etc/passwd"), passwd).unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\namika:x:1000:\n").unwrap();
    std::os::unix::fs::chown(root.join("home/amika"), Some(1000), Some(1000)).unwrap();
    tree
}

/// A busybox tree running `sleep` as pid 1 of fresh namespaces; killed on drop.
pub(super) struct Sandbox {
    _tree: TempDir,
    unshare: Child,
    init: i32,
}

impl Sandbox {
    /// Own network namespace (loopback only), like a sandbox with network `none`.
    pub(super) fn start() -> Sandbox {
        Sandbox::start_with(&["--net"])
    }

    /// Starts with `unshare`'s namespace options plus `extra`.
    pub(super) fn start_with(extra: &[&str]) -> Sandbox {
        require_root("the exec tests enter namespaces");
        let tree = user_tree();
        let unshare = Command::new("unshare")
            .args(["--fork", "--pid", "--mount", "--uts", "--ipc", "--cgroup"])
            .args(extra)
            .arg("--mount-proc")
            .arg("--root")
            .arg(tree.path())
            .args(["/bin/busybox", "sh", "-c"])
            .arg("hostname amika-test && exec /bin/busybox sleep 600")
            .stdin(Stdio::null())
            .spawn()
            .expect("run unshare from util-linux");
        let mut sandbox = Sandbox {
            _tree: tree,
            unshare,
            init: 0,
        };
        let unshare_pid = sandbox.unshare.id() as i32;
        sandbox.init = wait_for("the sandbox's init", || {
            let pid = *children(unshare_pid).first()?;
            (cmdline(pid) == nul_joined(&["/bin/busybox", "sleep", "600"])).then_some(pid)
        });
        sandbox
    }

    /// A spec for `command` as `uid` (whose group is the same number) in `/home/amika`.
    pub(super) fn spec(&self, uid: u32, command: &[&str]) -> ExecSpec {
        ExecSpec {
            init_pid: self.init,
            cgroup_procs: Vec::new(),
            cgroup_dir: None,
            uid,
            gid: uid,
            groups: vec![uid],
            workdir: PathBuf::from("/home/amika"),
            env: vec![("PATH".to_owned(), "/bin".to_owned())],
            command: command.iter().map(OsString::from).collect(),
            tty: false,
            exe: amikad_binary(),
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Looked up again in case start-up gave up before naming the init.
        let inits = children(self.unshare.id() as i32);
        // unshare goes first so it has no chance to complain about its child's death.
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
        // Killing pid 1 of the namespace takes every process inside with it.
        for pid in inits.into_iter().chain([self.init]).filter(|pid| *pid > 0) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// A helper that is killed and reaped on drop if a test gives up on it.
pub(super) struct Helper(pub(super) Child);

impl Helper {
    /// Starts the helper for `spec` with the given standard streams.
    pub(super) fn start(spec: &ExecSpec, stdin: Stdio, stdout: Stdio, stderr: Stdio) -> Helper {
        let mut command = spec.command();
        command.stdin(stdin).stdout(stdout).stderr(stderr);
        Helper(command.spawn().expect("spawn the exec helper"))
    }

    /// Starts the helper with its standard streams on `/dev/null`.
    pub(super) fn spawn(spec: &ExecSpec) -> Helper {
        Helper::start(spec, Stdio::null(), Stdio::null(), Stdio::null())
    }

    pub(super) fn pid(&self) -> i32 {
        self.0.id() as i32
    }

    /// Waits for the helper's exit, for up to the test timeout.
    pub(super) fn wait(&mut self) -> ExitStatus {
        wait_for("the helper to finish", || {
            self.0.try_wait().expect("wait for the helper")
        })
    }

    /// The command the helper forked, once it has executed `argv`.
    pub(super) fn command_pid(&self, argv: &[&str]) -> i32 {
        let argv = nul_joined(argv);
        wait_for("the command to start", || {
            let pid = *children(self.pid()).first()?;
            (cmdline(pid) == argv).then_some(pid)
        })
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What a finished helper left behind.
pub(super) struct Output {
    pub(super) code: i32,
    pub(super) stdout: String,
    pub(super) stderr: String,
}

/// The helper's exit code; it must not have died of a signal.
pub(super) fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .unwrap_or_else(|| panic!("the helper died of signal {:?}", status.signal()))
}

/// Reads `stream` to its end on a thread of its own.
pub(super) fn drain(stream: Option<impl Read + Send + 'static>) -> thread::JoinHandle<String> {
    let mut stream = stream.expect("a piped stream");
    thread::spawn(move || {
        let mut text = String::new();
        stream
            .read_to_string(&mut text)
            .expect("read the command's output");
        text
    })
}

/// Runs `spec` with `input` on stdin and collects both output streams.
pub(super) fn run(spec: &ExecSpec, input: &[u8]) -> Output {
    let mut helper = Helper::start(spec, Stdio::piped(), Stdio::piped(), Stdio::piped());
    let mut stdin = helper.0.stdin.take().expect("a piped stdin");
    let input = input.to_vec();
    let writer = thread::spawn(move || stdin.write_all(&input));
    let stdout = drain(helper.0.stdout.take());
    let stderr = drain(helper.0.stderr.take());
    let code = exit_code(helper.wait());
    let _ = writer.join();
    Output {
        code,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// Runs `spec` with no input and returns its stdout; it must succeed without a word on stderr.
pub(super) fn run_ok(spec: &ExecSpec) -> String {
    let out = run(spec, b"");
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    assert_eq!(out.stderr, "");
    out.stdout
}
