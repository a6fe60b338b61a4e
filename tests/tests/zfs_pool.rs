//! Starting on ZFS: the dataset is named by flag or configuration file, made when missing,
//! and a pool or dataset the daemon cannot use stops it with the fix.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use amika_tests::{binary, ctl_at, zfs, Backend, Daemon};

#[test]
fn status_reports_the_zfs_dataset() {
    let daemon = Daemon::start_on(Backend::Zfs);
    let status = daemon.ctl_json(&["status"]);
    assert_eq!(status["backend"], "zfs");
    assert_eq!(status["pool"], daemon.dataset().unwrap());
    assert_eq!(status["pool_origin"], "explicit");
    assert!(status["free_bytes"].as_u64().unwrap() > 0, "{status}");
    let text = daemon.ctl_ok(&["status"]);
    assert!(text.contains("zfs"), "{text}");
}

#[test]
fn a_missing_dataset_is_made_below_a_mounted_parent() {
    let mut daemon = Daemon::on_missing_zfs_dataset(true);
    daemon.start_again();
    let dataset = daemon.dataset().unwrap().to_owned();
    let mounted = zfs::zfs(&["get", "-H", "-o", "value", "mountpoint", &dataset]).unwrap();
    assert_eq!(mounted.trim(), daemon.pool().to_str().unwrap());

    let sandbox = daemon.ctl_json(&["sandbox", "create", "--name", "fresh"]);
    let tree = daemon
        .pool()
        .join("sandboxes")
        .join(sandbox["id"].as_str().unwrap());
    daemon.exec_ok("fresh", &["sh", "-c", "echo here > /home/amika/note"]);
    assert_eq!(
        std::fs::read_to_string(tree.join("home/amika/note")).unwrap(),
        "here\n",
        "the sandbox's dataset is mounted where the daemon says its tree is"
    );
}

#[test]
fn a_dataset_without_a_mount_point_is_refused_with_the_fix() {
    let daemon = Daemon::on_missing_zfs_dataset(false);
    let out = daemon
        .command(&daemon.socket())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let dataset = daemon.dataset().unwrap();
    assert!(stderr.contains(dataset), "{stderr}");
    assert!(stderr.contains("zfs set mountpoint="), "{stderr}");
    assert!(!daemon.socket().exists(), "nothing served");
}

#[test]
fn a_pool_that_is_not_imported_is_refused_with_the_fix() {
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let out = Command::new(binary("amikad"))
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .arg("--socket")
        .arg(dir.path().join("amikad.sock"))
        .args([
            "--config",
            "/dev/null",
            "--storage",
            "zfs:amika-no-such-pool/box",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("amika-no-such-pool"), "{stderr}");
    assert!(stderr.contains("zpool import"), "{stderr}");
}

#[test]
fn the_configuration_file_selects_zfs() {
    // Made here but started by hand, from a file that names the dataset.
    let daemon = Daemon::on_missing_zfs_dataset(true);
    let config = daemon.state_dir().join("amikad.toml");
    std::fs::create_dir_all(daemon.state_dir()).unwrap();
    let dataset = daemon.dataset().unwrap();
    std::fs::write(&config, format!("storage = \"zfs:{dataset}\"\n")).unwrap();
    let socket = daemon.socket();
    let child = Command::new(binary("amikad"))
        .arg("--state-dir")
        .arg(daemon.state_dir())
        .arg("--socket")
        .arg(&socket)
        .arg("--config")
        .arg(&config)
        .args(["--default-preset", "minimal"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Stopped(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let out = ctl_at(&socket, &["-o", "json", "status"]);
        if out.status.success() {
            break serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap();
        }
        assert!(child.0.try_wait().unwrap().is_none(), "amikad exited");
        assert!(Instant::now() < deadline, "amikad not ready in time");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(child.terminate().success(), "SIGTERM ends it cleanly");
    assert_eq!(status["backend"], "zfs");
    assert_eq!(status["pool"], dataset);
}

/// A daemon started by hand, ended with SIGTERM when the test is done with it, or killed if
/// the test fails first, so that its dataset can be destroyed.
struct Stopped(std::process::Child);

impl Stopped {
    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        self.0.wait().unwrap()
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_crash_between_the_capture_snapshot_and_its_clone_leaves_nothing() {
    let mut daemon = Daemon::start_on_with_env(
        Backend::Zfs,
        &[("AMIKA_FAILPOINTS", "zfs-capture:after-snapshot")],
    );
    daemon.ctl_json(&["sandbox", "create", "--name", "held"]);
    daemon.exec_ok("held", &["sh", "-c", "echo mine > ~/mine"]);
    let _ = daemon.ctl(&[
        "snapshot",
        "create",
        "--sandbox",
        "held",
        "--name",
        "cut",
        "--mode",
        "full",
        "--no-interactive",
    ]);
    assert!(
        !daemon.wait_for_exit().success(),
        "the failpoint killed the daemon"
    );

    daemon.start_again();
    let snap = daemon.ctl_json(&["snapshot", "show", "cut"]);
    assert_eq!(snap["state"], "failed", "{snap}");
    assert!(daemon.trees("staging").is_empty());
    assert_eq!(
        daemon.hidden_trees(),
        Vec::<String>::new(),
        "the capture snapshot was left"
    );
    assert_eq!(
        daemon.exec_ok("held", &["cat", "/home/amika/mine"]),
        "mine\n"
    );
    // The source can go now: nothing pins it.
    daemon.ctl_ok(&["sandbox", "delete", "held"]);
    assert!(daemon.trees("sandboxes").is_empty());
    assert_eq!(daemon.hidden_trees(), Vec::<String>::new());
}
