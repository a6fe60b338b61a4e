//! The daemon as a process: status, restarts, the state-directory lock, crash recovery and
//! an unreachable socket.

use amika_tests::{ctl_at, storage_tests, Backend, Daemon};

storage_tests!(
    state_survives_a_restart,
    a_crash_between_clone_and_row_leaves_neither_tree_nor_row,
    a_crash_mid_delete_finishes_the_delete_on_restart,
);

#[test]
fn status_reports_the_embedded_loop_pool() {
    let daemon = Daemon::start();
    let status = daemon.ctl_json(&["status"]);
    assert_eq!(status["backend"], "btrfs");
    assert_eq!(status["pool_origin"], "embedded-loop");
    assert!(
        status["size_bytes"].as_u64().unwrap() > 900 << 20,
        "{status}"
    );
    assert!(status["free_bytes"].as_u64().unwrap() > 0);
    assert!(daemon.state_dir().join("pool.img").exists());
    let text = daemon.ctl_ok(&["status"]);
    assert!(text.contains("btrfs"), "{text}");
}

fn state_survives_a_restart(backend: Backend) {
    let mut daemon = Daemon::start_on(backend);
    daemon.ctl_ok(&["sandbox", "create", "--name", "keeper"]);
    daemon.ctl_ok(&["sandbox", "stop", "keeper"]);
    let exit = daemon.stop();
    assert!(exit.success(), "SIGTERM ends the daemon cleanly: {exit}");
    // Unmount too, as a reboot would, so that the restart exercises mounting the pool again.
    daemon.unmount_pool();
    daemon.start_again();
    let shown = daemon.ctl_json(&["sandbox", "show", "keeper"]);
    assert_eq!(shown["state"], "stopped");
    assert_eq!(daemon.trees("sandboxes").len(), 1);
    daemon.ctl_ok(&["sandbox", "start", "keeper"]);
    assert_eq!(daemon.exec_ok("keeper", &["hostname"]).trim(), "keeper");
}

#[test]
fn a_second_daemon_on_the_same_state_dir_is_refused() {
    let daemon = Daemon::start();
    let out = daemon
        .command(&daemon.state_dir().join("other.sock"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("another amikad"), "{stderr}");
    // The first daemon is unharmed.
    daemon.ctl_ok(&["status"]);
}

fn a_crash_between_clone_and_row_leaves_neither_tree_nor_row(backend: Backend) {
    let mut daemon = Daemon::start_on_with_env(
        backend,
        &[("AMIKA_FAILPOINTS", "sandbox-create:after-clone")],
    );
    let out = daemon.ctl(&["sandbox", "create", "--name", "doomed"]);
    assert!(!out.status.success(), "the daemon died mid-create");
    assert!(!daemon.wait_for_exit().success());
    assert_eq!(
        daemon.trees("sandboxes").len(),
        1,
        "the crash left the clone behind"
    );

    daemon.start_again();
    assert!(
        daemon.trees("sandboxes").is_empty(),
        "the orphan clone was removed"
    );
    daemon.ctl_fails(&["sandbox", "show", "doomed"], 1);
    let list = daemon.ctl_json(&["sandbox", "list"]);
    assert_eq!(list, serde_json::json!([]));
    // The name is free again.
    daemon.ctl_ok(&["sandbox", "create", "--name", "doomed"]);
}

fn a_crash_mid_delete_finishes_the_delete_on_restart(backend: Backend) {
    let mut daemon = Daemon::start_on_with_env(
        backend,
        &[("AMIKA_FAILPOINTS", "sandbox-delete:after-tree")],
    );
    daemon.ctl_ok(&["sandbox", "create", "--name", "going"]);
    assert!(!daemon.ctl(&["sandbox", "delete", "going"]).status.success());
    daemon.wait_for_exit();
    daemon.start_again();
    daemon.ctl_fails(&["sandbox", "show", "going"], 1);
    assert!(daemon.trees("sandboxes").is_empty());
}

#[test]
fn an_unreachable_daemon_is_exit_code_3() {
    let dir = tempfile::tempdir().unwrap();
    let out = ctl_at(&dir.path().join("none.sock"), &["status"]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("none.sock"), "{stderr}");
}

/// This turns the option on for the whole host, until the next boot: it only makes cgroup
/// moves cheaper for every later test, and the bench measures it on purpose.
#[test]
fn cgroup_favordynmods_puts_the_option_on_a_cgroup_mount() {
    let daemon = Daemon::start_with_args(&["--cgroup-favordynmods"]);
    let log = daemon.log();
    assert!(
        log.contains("cgroup favordynmods turned on")
            || log.contains("cgroup favordynmods already on"),
        "{log}"
    );
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let carried = mountinfo.lines().any(|line| {
        let (_, fs) = line.split_once(" - ").unwrap_or_default();
        let mut fields = fs.split(' ');
        let fstype = fields.next().unwrap_or_default();
        let options = fields.nth(1).unwrap_or_default();
        fstype.starts_with("cgroup") && options.split(',').any(|o| o == "favordynmods")
    });
    assert!(
        carried,
        "no cgroup mount carries favordynmods:\n{mountinfo}"
    );
    // Sandboxes still start and run.
    daemon.ctl_ok(&["sandbox", "create", "--name", "quick"]);
    assert_eq!(daemon.exec_ok("quick", &["echo", "ok"]), "ok\n");
}
