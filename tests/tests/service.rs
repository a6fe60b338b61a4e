//! amikad as a system service: its systemd units, socket activation with readiness
//! notification, the detached mode, who may use the socket, and the configuration file.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use amika_tests::{binary, ctl_at, Daemon};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{Group, Pid, User};
use serde_json::Value;

/// How long a daemon may take to start or stop.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Test users, made on first use: one in group `amika`, one outside it.
const MEMBER: &str = "amika-test-in";
const OUTSIDER: &str = "amika-test-out";

fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("amika-service-")
        .tempdir_in("/var/tmp")
        .expect("create a temporary directory in /var/tmp")
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A daemon started by a test itself rather than by the harness: killed and its pool
/// unmounted when the test ends, however it ends.
struct Loose {
    pid: i32,
    child: Option<Child>,
    state_dir: PathBuf,
}

impl Loose {
    /// Waits for the daemon to exit after a signal; returns its exit code.
    fn wait(&mut self) -> i32 {
        match self.child.take() {
            Some(mut child) => {
                let status = child.wait().expect("wait for amikad");
                status.code().unwrap_or(-1)
            }
            None => match wait_gone(self.pid) {
                WaitStatus::Exited(_, code) => code,
                other => panic!("amikad ended with {other:?}"),
            },
        }
    }
}

impl Drop for Loose {
    fn drop(&mut self) {
        if self.child.is_some() || Path::new(&format!("/proc/{}", self.pid)).exists() {
            let _ = kill(Pid::from_raw(self.pid), Signal::SIGKILL);
            if let Some(mut child) = self.child.take() {
                let _ = child.wait();
            } else {
                let _ = waitpid(Pid::from_raw(self.pid), None);
            }
        }
        let _ = Command::new("umount")
            .arg(self.state_dir.join("pool"))
            .status();
    }
}

/// Waits until `pid`, a detached daemon adopted by this process as its subreaper, exits.
fn wait_gone(pid: i32) -> WaitStatus {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {}
            Ok(status) => return status,
            Err(e) => panic!("cannot wait for pid {pid}: {e}"),
        }
        assert!(Instant::now() < deadline, "pid {pid} still runs");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Receives notifications until one has the line `wanted`; returns every one received.
fn notifications_until(socket: &UnixDatagram, wanted: &str) -> Vec<String> {
    socket.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut seen = Vec::new();
    let mut buf = vec![0; 4096];
    while !seen.iter().any(|m: &String| m.lines().any(|l| l == wanted)) {
        match socket.recv(&mut buf) {
            Ok(n) => seen.push(text(&buf[..n])),
            Err(e) => panic!("no {wanted} notification ({e}); received {seen:?}"),
        }
    }
    seen
}

#[test]
fn the_systemd_units_pass_verification() {
    let units = Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd");
    let service = fs::read_to_string(units.join("amikad.service")).unwrap();
    let socket = fs::read_to_string(units.join("amikad.socket")).unwrap();
    for line in [
        "Type=notify",
        "ExecStart=/usr/local/bin/amikad",
        "Restart=on-failure",
    ] {
        assert!(
            service.lines().any(|l| l == line),
            "amikad.service lacks {line}"
        );
    }
    for line in [
        "ListenStream=/run/amika/amikad.sock",
        "SocketMode=0660",
        "SocketGroup=amika",
    ] {
        assert!(
            socket.lines().any(|l| l == line),
            "amikad.socket lacks {line}"
        );
    }

    // verify insists that ExecStart exists: point it at the binary just built.
    let dir = scratch();
    let rewritten = service.replace(
        "ExecStart=/usr/local/bin/amikad",
        &format!("ExecStart={}", binary("amikad").display()),
    );
    fs::write(dir.path().join("amikad.service"), rewritten).unwrap();
    fs::write(dir.path().join("amikad.socket"), socket).unwrap();
    let out = run(Command::new("systemd-analyze")
        .arg("verify")
        .arg(dir.path().join("amikad.service"))
        .arg(dir.path().join("amikad.socket")));
    // An unknown or misplaced key is only a warning on stderr, so that must be empty too.
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}\n{}",
        out.status,
        text(&out.stderr)
    );
}

#[test]
fn socket_activation_starts_the_daemon_on_the_first_connection() {
    let dir = scratch();
    let socket = dir.path().join("amikad.sock");
    let state_dir = dir.path().join("state");
    let notify_path = dir.path().join("notify");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    let log = fs::File::create(dir.path().join("activate.log")).unwrap();

    let child = Command::new("systemd-socket-activate")
        .arg("-l")
        .arg(&socket)
        .arg("--fdname=amikad.socket")
        .arg(format!("--setenv=NOTIFY_SOCKET={}", notify_path.display()))
        .arg("--setenv=AMIKA_LOG=info,amikad=debug")
        .arg(binary("amikad"))
        .args(["--config", "/dev/null", "--pool-size", "1G", "--state-dir"])
        .arg(&state_dir)
        // The socket the daemon would bind itself: it must not, since it was given one.
        .arg("--socket")
        .arg(dir.path().join("unused.sock"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("run systemd-socket-activate (package systemd)");
    let mut daemon = Loose {
        pid: child.id() as i32,
        child: Some(child),
        state_dir: state_dir.clone(),
    };
    let deadline = Instant::now() + TIMEOUT;
    while !socket.exists() {
        assert!(
            Instant::now() < deadline,
            "systemd-socket-activate never listened"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !state_dir.exists(),
        "amikad started before anyone connected"
    );

    // The first client waits in the socket's backlog while the daemon starts.
    let out = ctl_at(&socket, &["-o", "json", "status"]);
    let activate_log = || fs::read_to_string(dir.path().join("activate.log")).unwrap();
    assert!(out.status.success(), "status failed:\n{}", activate_log());
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["state_dir"], state_dir.display().to_string());
    let seen = notifications_until(&notify, "READY=1");
    assert!(
        seen.iter().any(|m| m.starts_with("STATUS=")),
        "no STATUS= before READY=1: {seen:?}"
    );
    assert!(!dir.path().join("unused.sock").exists());

    kill(Pid::from_raw(daemon.pid), Signal::SIGTERM).unwrap();
    notifications_until(&notify, "STOPPING=1");
    assert_eq!(daemon.wait(), 0, "{}", activate_log());
    assert!(
        socket.exists(),
        "the socket belongs to the activator, not to amikad"
    );
}

fn daemonized(dir: &Path, state_dir: &Path, name: &str) -> (Command, PathBuf, PathBuf, PathBuf) {
    let pid_file = dir.join(format!("run/{name}.pid"));
    let log_file = dir.join(format!("{name}.log"));
    let socket = dir.join(format!("{name}.sock"));
    let mut cmd = Command::new(binary("amikad"));
    cmd.args(["--config", "/dev/null", "--pool-size", "1G", "--daemonize"])
        .arg("--pid-file")
        .arg(&pid_file)
        .arg("--log-file")
        .arg(&log_file)
        .arg("--state-dir")
        .arg(state_dir)
        .arg("--socket")
        .arg(&socket);
    (cmd, pid_file, log_file, socket)
}

#[test]
fn daemonize_returns_once_serving_and_stops_cleanly_on_sigterm() {
    // The detached daemon is orphaned on purpose; adopting it lets this test reap it.
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let dir = scratch();
    let state_dir = dir.path().join("state");
    let (mut cmd, pid_file, log_file, socket) = daemonized(dir.path(), &state_dir, "amikad");

    let out = run(&mut cmd);
    assert!(
        out.status.success(),
        "amikad --daemonize: {}\n{}",
        out.status,
        text(&out.stderr)
    );
    // Ready means ready: no retry is needed.
    UnixStream::connect(&socket).expect("the socket serves once the parent has exited");
    let pid: i32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut daemon = Loose {
        pid,
        child: None,
        state_dir,
    };
    assert_eq!(
        fs::read_to_string(format!("/proc/{pid}/comm"))
            .unwrap()
            .trim(),
        "amikad"
    );
    let status: Value = serde_json::from_slice(&ctl_at(&socket, &["-o", "json", "status"]).stdout)
        .expect("status answers");
    assert_eq!(status["backend"], "btrfs");
    let log = fs::read_to_string(&log_file).unwrap();
    assert!(log.contains("amikad ready"), "{log}");

    kill(Pid::from_raw(pid), Signal::SIGTERM).unwrap();
    assert_eq!(daemon.wait(), 0);
    assert!(!socket.exists(), "the socket was removed");
    assert!(!pid_file.exists(), "the pid file was removed");
    let log = fs::read_to_string(&log_file).unwrap();
    assert!(log.contains("amikad stopped"), "{log}");
}

#[test]
fn a_daemonized_start_up_failure_exits_non_zero_with_the_reason() {
    let first = Daemon::start();
    let dir = scratch();
    let (mut cmd, pid_file, _, _) = daemonized(dir.path(), &first.state_dir(), "second");
    let out = run(&mut cmd);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("another amikad") && stderr.contains(&format!("pid {}", first.pid())),
        "{stderr}"
    );
    assert!(!pid_file.exists(), "a failed daemon leaves no pid file");
    first.ctl_ok(&["status"]);
}

fn ensure_group(name: &str) {
    if Group::from_name(name).unwrap().is_none() {
        let out = run(Command::new("groupadd").args(["--system", name]));
        // Another test run may have made it meanwhile.
        assert!(
            out.status.success() || Group::from_name(name).unwrap().is_some(),
            "groupadd {name}: {}",
            text(&out.stderr)
        );
    }
}

fn ensure_user(name: &str, member: bool) -> User {
    if User::from_name(name).unwrap().is_none() {
        let out = run(Command::new("useradd").args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            name,
        ]));
        assert!(
            out.status.success(),
            "useradd {name}: {}",
            text(&out.stderr)
        );
    }
    if member {
        let out = run(Command::new("usermod").args(["-aG", "amika", name]));
        assert!(
            out.status.success(),
            "usermod {name}: {}",
            text(&out.stderr)
        );
    } else {
        // Not a member, whatever an earlier run left behind.
        let _ = run(Command::new("gpasswd").args(["-d", name, "amika"]));
    }
    User::from_name(name).unwrap().expect("the user exists")
}

/// Runs `ctl` as `user`, with the user's own groups and nothing of root's.
fn ctl_as(user: &User, ctl: &Path, socket: &Path, args: &[&str]) -> Output {
    run(Command::new("setpriv")
        .arg(format!("--reuid={}", user.uid))
        .arg(format!("--regid={}", user.gid))
        .arg("--init-groups")
        .arg(ctl)
        .arg("--socket")
        .arg(socket)
        .args(args)
        .current_dir("/")
        .env("HOME", "/"))
}

fn open_to_all(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// A directory every user may enter, holding a copy of `amika-ctl` every user may run and
/// files only root may read.
struct Workspace {
    dir: tempfile::TempDir,
    ctl: PathBuf,
    tarball: PathBuf,
    token: PathBuf,
}

fn workspace() -> Workspace {
    let dir = scratch();
    open_to_all(dir.path(), 0o755);
    let ctl = dir.path().join("amika-ctl");
    fs::copy(binary("amika-ctl"), &ctl).unwrap();
    open_to_all(&ctl, 0o755);

    let mut builder = tar::Builder::new(Vec::new());
    amika_tests::archive::dir(&mut builder, "etc/", 0o755);
    amika_tests::archive::file(&mut builder, "etc/hostname", b"secret-host\n", 0o644, 0);
    let tarball = dir.path().join("root-only.tar");
    fs::write(&tarball, builder.into_inner().unwrap()).unwrap();
    open_to_all(&tarball, 0o600);
    let token = dir.path().join("root-only-token");
    fs::write(&token, "not-for-you\n").unwrap();
    open_to_all(&token, 0o600);
    Workspace {
        dir,
        ctl,
        tarball,
        token,
    }
}

/// Neither kind of user gets a file they cannot read on the host through the API: the client
/// reads every file with its caller's permissions, and nothing it sends is a host path.
fn assert_no_root_only_reads(user: &User, ws: &Workspace, socket: &Path) {
    let tarball = ws.tarball.to_str().unwrap();
    let token = ws.token.to_str().unwrap();
    for args in [
        vec!["image", "import", "stolen", tarball],
        vec![
            "secret",
            "set",
            "stolen",
            "--env",
            "STOLEN",
            "--from-file",
            token,
        ],
    ] {
        let out = ctl_as(user, &ws.ctl, socket, &args);
        let stderr = text(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?} as {}: {stderr}",
            user.name
        );
        assert!(
            stderr.contains("ermission denied") && stderr.contains(ws.dir.path().to_str().unwrap()),
            "{args:?} as {}: {stderr}",
            user.name
        );
    }
}

#[test]
fn members_of_group_amika_are_served_and_others_refused_with_the_fix() {
    // The group must exist before the daemon binds, so that the socket is given to it.
    ensure_group("amika");
    let member = ensure_user(MEMBER, true);
    let outsider = ensure_user(OUTSIDER, false);
    let amika = Group::from_name("amika").unwrap().unwrap();
    let ws = workspace();
    let daemon = Daemon::start();
    let socket = daemon.socket();
    open_to_all(socket.parent().unwrap(), 0o755);
    let meta = fs::metadata(&socket).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o660);
    assert_eq!(meta.gid(), amika.gid.as_raw());

    let as_member = |args: &[&str]| ctl_as(&member, &ws.ctl, &socket, args);
    let out = as_member(&["sandbox", "create", "--name", "member-box"]);
    assert!(
        out.status.success(),
        "create as member: {}",
        text(&out.stderr)
    );
    let out = as_member(&["sandbox", "exec", "member-box", "--", "echo", "hello"]);
    assert!(
        out.status.success(),
        "exec as member: {}",
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout).trim(), "hello");
    assert_no_root_only_reads(&member, &ws, &socket);
    let images = daemon.ctl_json(&["image", "list"]);
    assert!(!images.to_string().contains("stolen"), "{images}");
    let secrets = daemon.ctl_json(&["secret", "list"]);
    assert!(!secrets.to_string().contains("stolen"), "{secrets}");

    // The socket's mode keeps an outsider away before the daemon is even asked.
    let out = ctl_as(&outsider, &ws.ctl, &socket, &["status"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    // With the mode opened up by mistake, the daemon's own check still refuses, every
    // request, with the fix.
    open_to_all(&socket, 0o666);
    for args in [
        &["status"][..],
        &["sandbox", "list"],
        &["sandbox", "exec", "member-box", "--", "id"],
    ] {
        let out = ctl_as(&outsider, &ws.ctl, &socket, args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "add the user to the group: usermod -aG amika {OUTSIDER}"
            )),
            "{args:?}: {stderr}"
        );
    }
    assert_no_root_only_reads(&outsider, &ws, &socket);
    let log = daemon.log();
    assert!(
        log.lines()
            .any(|l| l.contains("refused a caller") && l.contains(OUTSIDER)),
        "{log}"
    );
    // The member is still served, and root always.
    assert!(as_member(&["status"]).status.success());
    daemon.ctl_ok(&["status"]);
}

#[test]
fn an_unknown_key_in_the_config_file_stops_the_daemon_naming_it() {
    let dir = scratch();
    let config = dir.path().join("amikad.toml");
    fs::write(&config, "log_level = \"info\"\npool_sise = \"2G\"\n").unwrap();
    let state_dir = dir.path().join("state");
    let out = run(Command::new(binary("amikad"))
        .arg("--config")
        .arg(&config)
        .arg("--state-dir")
        .arg(&state_dir)
        .arg("--socket")
        .arg(dir.path().join("amikad.sock")));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("pool_sise") && stderr.contains("line 2"),
        "{stderr}"
    );
    assert!(stderr.contains(config.to_str().unwrap()), "{stderr}");
    assert!(
        !state_dir.exists(),
        "nothing was done with a bad configuration"
    );
}

#[test]
fn a_config_file_named_on_the_command_line_must_exist() {
    let dir = scratch();
    let missing = dir.path().join("absent.toml");
    let out = run(Command::new(binary("amikad"))
        .arg("--config")
        .arg(&missing)
        .arg("--state-dir")
        .arg(dir.path().join("state")));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(missing.to_str().unwrap()), "{stderr}");
}

#[test]
fn flags_override_the_config_file_and_its_default_limits_apply() {
    let dir = scratch();
    let config = dir.path().join("amikad.toml");
    let from_file = dir.path().join("from-file");
    fs::write(
        &config,
        format!(
            "state_dir = \"{0}/state\"\nsocket = \"{0}/amikad.sock\"\npool_size = \"3G\"\n\n\
             [default_limits]\nmemory = \"256M\"\npids = 300\n",
            from_file.display()
        ),
    )
    .unwrap();
    let daemon = Daemon::start_with_args(&["--config", config.to_str().unwrap()]);

    // The harness's --state-dir, --socket and --pool-size flags won.
    assert!(!from_file.exists(), "the file's paths were used");
    let status = daemon.ctl_json(&["status"]);
    assert!(
        status["size_bytes"].as_u64().unwrap() < 2 << 30,
        "the file's pool size was used: {status}"
    );

    // A create without limits gets the file's; one with its own keeps them, field by field.
    daemon.ctl_ok(&["sandbox", "create", "--name", "defaulted"]);
    let shown = daemon.ctl_json(&["sandbox", "show", "defaulted"]);
    assert_eq!(shown["limits"]["memory_bytes"], 256 << 20, "{shown}");
    assert_eq!(shown["limits"]["pids"], 300, "{shown}");
    assert_eq!(shown["limits"]["cpus"], Value::Null, "{shown}");
    daemon.ctl_ok(&[
        "sandbox", "create", "--name", "explicit", "--memory", "128M",
    ]);
    let shown = daemon.ctl_json(&["sandbox", "show", "explicit"]);
    assert_eq!(shown["limits"]["memory_bytes"], 128 << 20, "{shown}");
    assert_eq!(shown["limits"]["pids"], 300, "{shown}");
}
