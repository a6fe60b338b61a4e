//! A harness for integration tests: a real `amikad` on fresh storage in a temporary
//! directory, driven through the real `amika-ctl` over the real socket. The storage is a
//! loop-backed btrfs pool of the daemon's own, or a dataset of its own in the ZFS test pool;
//! [`storage_tests!`] runs one test body on each.
//!
//! Tests must run as root (the daemon mounts and makes subvolumes). The binaries are the ones
//! `cargo build --bins` put beside the test executable; `make test` builds them first.

pub mod zfs;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a daemon may take to become ready.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Size of each test daemon's pool image: small, sparse, and enough for busybox trees.
const TEST_POOL_SIZE: &str = "1G";

/// The directory holding the workspace's built binaries.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the executable has a path");
    let dir = exe.parent().expect("the executable has a directory");
    // Test executables live in target/<profile>/deps, other binaries in target/<profile>.
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().expect("deps has a parent").to_owned()
    } else {
        dir.to_owned()
    }
}

/// The path of a built workspace binary, `amikad` or `amika-ctl`.
pub fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first with `cargo build --bins` (make test does)",
        path.display()
    );
    path
}

/// The storage a test daemon runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded pool: a sparse btrfs image in the state directory, loop-mounted.
    Btrfs,
    /// `--storage zfs:POOL/NAME`: a dataset of its own in the ZFS test pool.
    Zfs,
}

/// Generates, for each named function taking a [`Backend`], a test `btrfs::NAME` and a test
/// `zfs::NAME` that run it on each backend: one test body, both storages.
#[macro_export]
macro_rules! storage_tests {
    ($($name:ident),+ $(,)?) => {
        mod btrfs {
            $(#[test]
            fn $name() {
                super::$name($crate::Backend::Btrfs)
            })+
        }
        mod zfs {
            $(#[test]
            fn $name() {
                super::$name($crate::Backend::Zfs)
            })+
        }
    };
}

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the integration tests need root: amikad mounts a btrfs pool and creates subvolumes"
    );
}

/// A running test daemon and its private state directory.
pub struct Daemon {
    dir: tempfile::TempDir,
    child: Option<Child>,
    extra_env: Vec<(String, String)>,
    extra_args: Vec<String>,
    pool_size: String,
    /// The daemon's ZFS dataset, on [`Backend::Zfs`].
    dataset: Option<String>,
    /// The dataset this harness made and destroys at the end: the daemon's, or its parent.
    owned_dataset: Option<String>,
    /// Where the daemon's ZFS dataset is mounted.
    zfs_root: PathBuf,
}

impl Daemon {
    /// Starts a daemon on a fresh embedded pool and waits until it serves.
    pub fn start() -> Daemon {
        Self::start_with_env(&[])
    }

    /// Starts a daemon on fresh storage of `backend`.
    pub fn start_on(backend: Backend) -> Daemon {
        Self::start_on_with_env(backend, &[])
    }

    /// Starts a daemon with extra environment variables (for example armed failpoints).
    pub fn start_with_env(env: &[(&str, &str)]) -> Daemon {
        Self::start_with(env, TEST_POOL_SIZE)
    }

    /// Starts a daemon on `backend` with extra environment variables.
    pub fn start_on_with_env(backend: Backend, env: &[(&str, &str)]) -> Daemon {
        Self::start_full(backend, env, &[], TEST_POOL_SIZE)
    }

    /// Starts a daemon with extra environment variables and a pool of `pool_size` (`4G`).
    pub fn start_with(env: &[(&str, &str)], pool_size: &str) -> Daemon {
        Self::start_full(Backend::Btrfs, env, &[], pool_size)
    }

    /// Starts a daemon with extra flags, for example `--config PATH`.
    pub fn start_with_args(args: &[&str]) -> Daemon {
        Self::start_full(Backend::Btrfs, &[], args, TEST_POOL_SIZE)
    }

    /// A daemon, not yet started, for ZFS dataset `PARENT/zfs` of the test pool, which does
    /// not exist: the daemon is to make it. `PARENT` is made here, mounted in the daemon's
    /// temporary directory when `parent_mounted` (so that its child inherits a mount point
    /// below it) and with no mount point otherwise. Start it with [`Daemon::start_again`], or run
    /// [`Daemon::command`] by hand.
    pub fn on_missing_zfs_dataset(parent_mounted: bool) -> Daemon {
        require_root();
        let mut daemon = Self::unstarted(&[], &[], TEST_POOL_SIZE);
        let parent = daemon.unique_dataset();
        let parent_dir = daemon.dir.path().join("parent");
        match parent_mounted {
            true => zfs::create_dataset(&parent, &parent_dir),
            false => zfs::create_unmounted_dataset(&parent),
        }
        daemon.zfs_root = parent_dir.join("zfs");
        daemon.dataset = Some(format!("{parent}/zfs"));
        daemon.owned_dataset = Some(parent);
        daemon
    }

    /// Starts a daemon on `backend` with extra environment variables, extra flags and, on
    /// btrfs, a pool of `pool_size`.
    pub fn start_full(
        backend: Backend,
        env: &[(&str, &str)],
        args: &[&str],
        pool_size: &str,
    ) -> Daemon {
        require_root();
        let mut daemon = Self::unstarted(env, args, pool_size);
        if backend == Backend::Zfs {
            let dataset = daemon.unique_dataset();
            daemon.dataset = Some(dataset.clone());
            daemon.owned_dataset = Some(dataset.clone());
            zfs::create_dataset(&dataset, &daemon.zfs_root);
        }
        daemon.launch();
        daemon
    }

    /// A dataset name in the test pool that no other test uses: the temporary directory's
    /// random suffix makes it unique.
    fn unique_dataset(&self) -> String {
        let leaf = self.dir.path().file_name().expect("a named directory");
        format!("{}/{}", zfs::pool(), leaf.to_string_lossy())
    }

    fn unstarted(env: &[(&str, &str)], args: &[&str], pool_size: &str) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("amika-test-")
            .tempdir_in("/var/tmp")
            .expect("create a temporary directory in /var/tmp");
        let dir_path = dir.path().to_owned();
        Daemon {
            dir,
            child: None,
            extra_env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            extra_args: args.iter().map(|a| a.to_string()).collect(),
            pool_size: pool_size.to_owned(),
            dataset: None,
            owned_dataset: None,
            zfs_root: dir_path.join("zfs"),
        }
    }

    /// The backend this daemon runs on.
    pub fn backend(&self) -> Backend {
        match self.dataset {
            Some(_) => Backend::Zfs,
            None => Backend::Btrfs,
        }
    }

    /// The daemon's ZFS dataset, on [`Backend::Zfs`].
    pub fn dataset(&self) -> Option<&str> {
        self.dataset.as_deref()
    }

    /// The state directory.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The API socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("amikad.sock")
    }

    /// Where the pool is mounted: the embedded btrfs pool, or the ZFS dataset's mount point.
    pub fn pool(&self) -> PathBuf {
        match self.dataset {
            Some(_) => self.zfs_root.clone(),
            None => self.state_dir().join("pool"),
        }
    }

    /// Unmounts the pool while the daemon is stopped, as a reboot would, so that the next
    /// start must mount it again.
    pub fn unmount_pool(&self) {
        assert!(self.child.is_none(), "stop the daemon first");
        let unmounted = match &self.dataset {
            Some(dataset) => zfs::zfs(&["unmount", dataset]).map(drop),
            None => Command::new("umount")
                .arg(self.pool())
                .status()
                .map_err(|e| e.to_string())
                .and_then(|s| s.success().then_some(()).ok_or(s.to_string())),
        };
        if let Err(e) = unmounted {
            panic!("cannot unmount {}: {e}", self.pool().display());
        }
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("amikad.log")).unwrap_or_default()
    }

    /// The command that starts a daemon on this state directory serving `socket`, for tests
    /// that start a second one by hand.
    pub fn command(&self, socket: &Path) -> Command {
        let mut cmd = Command::new(binary("amikad"));
        cmd.arg("--state-dir")
            .arg(self.state_dir())
            .arg("--socket")
            .arg(socket);
        match &self.dataset {
            Some(dataset) => cmd.arg("--storage").arg(format!("zfs:{dataset}")),
            None => cmd.arg("--pool-size").arg(&self.pool_size),
        };
        cmd.args(&self.extra_args)
            .env("AMIKA_LOG", "info,amikad=debug");
        // A configuration file installed on the host must not change what a test sees.
        if !self.extra_args.iter().any(|a| a == "--config") {
            cmd.arg("--config").arg("/dev/null");
        }
        // The product's default preset takes minutes to build; tests that want it ask.
        if !self.extra_args.iter().any(|a| a == "--default-preset") {
            cmd.args(["--default-preset", "minimal"]);
        }
        cmd
    }

    fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("amikad.log"))
            .expect("open the daemon log");
        let mut cmd = self.command(&self.socket());
        cmd.envs(self.extra_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log);
        let mut child = cmd.spawn().expect("spawn amikad");
        let deadline = Instant::now() + START_TIMEOUT;
        while std::os::unix::net::UnixStream::connect(self.socket()).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "amikad exited with {status} during start-up:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "amikad not ready in time:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(child);
    }

    /// Stops the daemon with SIGTERM and waits for it; returns its exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("daemon is running");
        signal(&child, nix::sys::signal::Signal::SIGTERM);
        child.wait().expect("wait for amikad")
    }

    /// Kills the daemon with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(&child, nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
        }
    }

    /// Waits for a daemon that is expected to die on its own (an armed failpoint).
    pub fn wait_for_exit(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("daemon is running");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().expect("wait for amikad") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("amikad did not die at its failpoint:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the daemon again on the same state directory, without the extra environment.
    pub fn restart(&mut self) {
        self.kill();
        self.extra_env.clear();
        self.launch();
    }

    /// Starts it again after [`Daemon::stop`] or a crash, without the extra environment.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "daemon still running");
        self.extra_env.clear();
        self.launch();
    }

    /// Runs `amika-ctl` against this daemon.
    pub fn ctl(&self, args: &[&str]) -> Output {
        ctl_at(&self.socket(), args)
    }

    /// Runs `amika-ctl` against this daemon with `dir` as its working directory, as a user
    /// inside a repository would.
    pub fn ctl_in_dir(&self, dir: &Path, args: &[&str]) -> Output {
        Command::new(binary("amika-ctl"))
            .arg("--socket")
            .arg(self.socket())
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .expect("run amika-ctl")
    }

    /// The daemon's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("daemon is running").id()
    }

    /// Runs `amika-ctl` with `input` on its stdin.
    pub fn ctl_with_input(&self, args: &[&str], input: &[u8]) -> Output {
        self.ctl_in_env(None, args, input)
    }

    /// Runs `amika-ctl` with `input` on its stdin and, when `env` is given, only that
    /// environment, as a user with a home of their own would.
    pub fn ctl_in_env(&self, env: Option<&[(&str, &str)]>, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write;
        let mut command = Command::new(binary("amika-ctl"));
        if let Some(env) = env {
            command.env_clear().envs(env.iter().copied());
        }
        let mut child = command
            .arg("--socket")
            .arg(self.socket())
            .args(args)
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run amika-ctl");
        let mut stdin = child.stdin.take().expect("stdin");
        // A client that refuses its arguments exits without reading: its status tells.
        let _ = stdin.write_all(input);
        drop(stdin);
        child.wait_with_output().expect("wait for amika-ctl")
    }

    /// Captures `sandbox` as snapshot `name` in `mode` without prompting, waits for the
    /// outcome, and returns the snapshot's JSON.
    pub fn snapshot(&self, sandbox: &str, name: &str, mode: &str) -> Value {
        self.ctl_json(&[
            "snapshot",
            "create",
            "--sandbox",
            sandbox,
            "--name",
            name,
            "--mode",
            mode,
            "--no-interactive",
        ])
    }

    /// Runs a command in `sandbox` through `amika-ctl sandbox exec`; returns the output.
    pub fn exec(&self, sandbox: &str, command: &[&str]) -> Output {
        let mut args = vec!["sandbox", "exec", sandbox, "--"];
        args.extend_from_slice(command);
        self.ctl(&args)
    }

    /// Like [`Daemon::exec`] but expects exit 0 and returns stdout.
    pub fn exec_ok(&self, sandbox: &str, command: &[&str]) -> String {
        let out = self.exec(sandbox, command);
        assert!(
            out.status.success(),
            "exec {command:?} in {sandbox} failed with {}:\nstdout: {}\nstderr: {}\nlog:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `amika-ctl` and expects success; returns stdout.
    pub fn ctl_ok(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        assert!(
            out.status.success(),
            "amika-ctl {args:?} failed with {}:\nstdout: {}\nstderr: {}\ndaemon log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    /// Runs `amika-ctl -o json` and expects success; returns the parsed JSON.
    pub fn ctl_json(&self, args: &[&str]) -> Value {
        let mut full = vec!["-o", "json"];
        full.extend_from_slice(args);
        let stdout = self.ctl_ok(&full);
        serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("amika-ctl {args:?} printed invalid JSON ({e}): {stdout}"))
    }

    /// Runs `amika-ctl` and expects failure with `code`; returns stderr.
    pub fn ctl_fails(&self, args: &[&str], code: i32) -> String {
        let out = self.ctl(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(code),
            "amika-ctl {args:?} should exit {code}; stdout: {} stderr: {stderr}",
            String::from_utf8_lossy(&out.stdout)
        );
        stderr
    }

    /// Ids of the trees of one area (`images`, `sandboxes`, `snapshots`, `staging`) present
    /// in the pool, as `ls` or `zfs list` shows them; on ZFS, without the trees kept only for
    /// the clones that depend on them (see [`Daemon::hidden_trees`]).
    pub fn trees(&self, area: &str) -> Vec<String> {
        if let Some(dataset) = &self.dataset {
            return zfs::trees(dataset, area);
        }
        let mut ids: Vec<String> = std::fs::read_dir(self.pool().join(area))
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    }

    /// What the pool keeps that no live tree shows: on ZFS, deleted trees kept for their
    /// clones and capture snapshots (`zfs list -t all` names below the dataset). A btrfs
    /// clone never depends on its origin, so there it is always empty.
    pub fn hidden_trees(&self) -> Vec<String> {
        match &self.dataset {
            Some(dataset) => zfs::hidden(dataset),
            None => Vec::new(),
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Running sandboxes keep the pool busy; end them through the daemon first.
        if self.child.is_some() {
            let out = self.ctl(&["-o", "json", "sandbox", "list"]);
            let list: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
            for sandbox in list.as_array().into_iter().flatten() {
                if let Some(name) = sandbox["name"].as_str() {
                    let _ = self.ctl(&["sandbox", "delete", "--force", name]);
                }
            }
        }
        self.kill();
        // The daemon leaves its pool mounted on purpose; a test must not leave it behind.
        match &self.owned_dataset {
            Some(dataset) => zfs::destroy_dataset(dataset),
            None => {
                let _ = Command::new("umount").arg(self.pool()).status();
            }
        }
    }
}

fn signal(child: &Child, sig: nix::sys::signal::Signal) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, sig);
}

/// Runs `amika-ctl` against any socket path, from `/`: a create run inside a git checkout
/// (as the tests are) would otherwise bring that repository along.
pub fn ctl_at(socket: &Path, args: &[&str]) -> Output {
    Command::new(binary("amika-ctl"))
        .arg("--socket")
        .arg(socket)
        .args(args)
        .current_dir("/")
        .stdin(Stdio::null())
        .output()
        .expect("run amika-ctl")
}

/// Sends one HTTP request straight to the socket, bypassing the client's own checks.
/// Returns the status code and the body.
pub fn raw_request(socket: &Path, method: &str, path: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::os::unix::net::UnixStream::connect(socket).expect("connect");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: amika\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Helpers to write tar archives for import tests, including ones a well-behaved archiver
/// would refuse to make.
pub mod archive {
    /// Fills the numeric fields every real archiver writes: owner and modification time.
    fn stamp(header: &mut tar::Header, owner: u64) {
        header.set_uid(owner);
        header.set_gid(owner);
        header.set_mtime(1_700_000_000);
    }

    /// Appends a regular file entry with an arbitrary (unchecked) path.
    pub fn raw_file(builder: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        stamp(&mut header, 0);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        builder.append(&header, data).expect("append raw entry");
    }

    /// Appends a symlink entry with an arbitrary target.
    pub fn raw_symlink(builder: &mut tar::Builder<Vec<u8>>, path: &str, target: &str) {
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        header.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
        header.set_size(0);
        header.set_mode(0o777);
        stamp(&mut header, 0);
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_cksum();
        builder
            .append(&header, &[][..])
            .expect("append raw symlink");
    }

    /// Appends a directory entry.
    pub fn dir(builder: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32) {
        let mut header = tar::Header::new_gnu();
        header.set_path(path).expect("valid path");
        header.set_size(0);
        header.set_mode(mode);
        stamp(&mut header, 0);
        header.set_entry_type(tar::EntryType::Directory);
        header.set_cksum();
        builder.append(&header, &[][..]).expect("append dir");
    }

    /// Appends a regular file with owner and mode.
    pub fn file(builder: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8], mode: u32, uid: u64) {
        let mut header = tar::Header::new_gnu();
        header.set_path(path).expect("valid path");
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        stamp(&mut header, uid);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        builder.append(&header, data).expect("append file");
    }
}
