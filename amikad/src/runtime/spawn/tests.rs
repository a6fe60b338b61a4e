//! Tests of starting an init. All but the parsing ones create namespaces and mounts, and so
//! run as root with the built `amikad` binary as init.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;
use std::thread::sleep;

use nix::sys::wait::WaitPidFlag;

use super::report::{decode_report, Report, EARLY_FAILURE};
use super::*;
use crate::runtime::init;
use crate::runtime::test_support::{
    amikad_binary, busybox_tree, cap_mask, process_state, require_root, v2_cgroup_of, TestCgroup,
    CAP_SYS_ADMIN,
};

/// Why most of these tests need root.
const ROOT: &str = "these tests create namespaces and mounts";

fn spec(root: &Path, network: NetworkMode) -> InitSpec {
    InitSpec {
        exe: amikad_binary(),
        root: root.to_path_buf(),
        hostname: "teal-lisbon".into(),
        network,
        identity: None,
        cgroup_procs: Vec::new(),
        cgroup_dir: None,
    }
}

/// A started init, killed and reaped when dropped so no test leaves one behind.
struct Running {
    init: InitProcess,
    reaped: bool,
}

impl Running {
    fn start(spec: &InitSpec) -> Running {
        require_root(ROOT);
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
        members.push((pid, process_state(pid).unwrap_or('?')));
    }
    members
}

/// The bounding set of `pid`, from its status file.
fn bounding_set(pid: i32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    cap_mask(&status, "CapBnd")
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
    require_root(ROOT);
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
    let cgroup = TestCgroup::create("spawn");
    let tree = busybox_tree();
    let mut spec = spec(tree.path(), NetworkMode::None);
    spec.cgroup_procs = vec![cgroup.procs()];
    let init = Running::start(&spec);

    let host_view = fs::read_to_string(format!("/proc/{}/cgroup", init.pid())).unwrap();
    let name = &cgroup.name;
    assert!(host_view.contains(&format!("/{name}\n")), "{host_view}");
    let inside = init.run(&["/bin/cat", "/proc/1/cgroup"]);
    assert!(
        !inside.contains(name.as_str()),
        "the sandbox sees its cgroup as /:\n{inside}"
    );
    // Init goes first, so that the cgroup is empty when it is removed.
    drop(init);
}

#[test]
fn init_starts_in_a_cgroup_v2_directory_without_joining() {
    let cgroup = TestCgroup::create_v2("spawn");
    let tree = busybox_tree();
    let mut spec = spec(tree.path(), NetworkMode::None);
    // No cgroup.procs file to fall back on: only a start inside the cgroup puts it there.
    spec.cgroup_dir = Some(cgroup.path.clone());
    let init = Running::start(&spec);

    assert_eq!(v2_cgroup_of(init.pid()), Some(format!("/{}", cgroup.name)));
    let inside = init.run(&["/bin/cat", "/proc/1/cgroup"]);
    assert!(
        inside.lines().any(|l| l == "0::/"),
        "the sandbox sees its cgroup as /:\n{inside}"
    );
    drop(init);
}

#[test]
fn a_cgroup_directory_the_kernel_refuses_falls_back_to_joining() {
    let cgroup = TestCgroup::create("spawn-fallback");
    let tree = busybox_tree();
    let not_a_cgroup = tempfile::tempdir().unwrap();
    let mut spec = spec(tree.path(), NetworkMode::None);
    spec.cgroup_procs = vec![cgroup.procs()];
    // Not a cgroup at all: clone3 refuses it, as an older kernel refuses the flag.
    spec.cgroup_dir = Some(not_a_cgroup.path().to_owned());
    let init = Running::start(&spec);
    let host_view = fs::read_to_string(format!("/proc/{}/cgroup", init.pid())).unwrap();
    assert!(
        host_view.contains(&format!("/{}\n", cgroup.name)),
        "{host_view}"
    );
    drop(init);
}

#[test]
fn failures_before_init_runs_name_the_step() {
    require_root(ROOT);
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
