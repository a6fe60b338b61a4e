//! The `debian` and `coder` presets: built on first use from the Debian archive and npm,
//! then reused.
//!
//! This needs the network and takes minutes; it is the slowest test of the suite.

use std::time::Instant;

use amika_tests::{storage_tests, Backend, Daemon};

storage_tests!(a_build_interrupted_by_a_crash_leaves_nothing);

#[test]
fn the_debian_and_coder_presets_build_once_and_work() {
    let daemon = Daemon::start_with(&[], "8G");

    let started = Instant::now();
    daemon.ctl_ok(&["sandbox", "create", "--name", "deb", "--preset", "debian"]);
    eprintln!("debian preset built and booted in {:?}", started.elapsed());
    let id = daemon.exec_ok("deb", &["bash", "-c", "id amika"]);
    assert!(id.starts_with("uid=1000(amika) gid=1000(amika)"), "{id}");
    assert!(daemon
        .exec_ok("deb", &["apt-get", "--version"])
        .starts_with("apt "));
    let home = daemon.exec_ok("deb", &["sh", "-c", "echo $HOME; pwd; ls -d workspace"]);
    assert_eq!(home, "/home/amika\n/home/amika\nworkspace\n");

    let started = Instant::now();
    daemon.ctl_ok(&["sandbox", "create", "--name", "code", "--preset", "coder"]);
    eprintln!("coder preset built and booted in {:?}", started.elapsed());
    assert_eq!(daemon.exec_ok("code", &["id", "-un"]), "amika\n");
    assert!(daemon
        .exec_ok("code", &["git", "--version"])
        .starts_with("git version"));
    assert!(daemon
        .exec_ok("code", &["node", "--version"])
        .starts_with('v'));
    let pnpm = daemon.exec_ok("code", &["pnpm", "--version"]);
    assert!(pnpm.starts_with("9."), "{pnpm}");
    daemon.exec_ok("code", &["python3", "-m", "venv", "/tmp/v"]);
    daemon.exec_ok("code", &["/tmp/v/bin/python", "-c", "print(1)"]);
    daemon.exec_ok("code", &["sudo", "-n", "true"]);
    assert_eq!(daemon.exec_ok("code", &["sudo", "-n", "id", "-u"]), "0\n");
    let shell = daemon.exec_ok("code", &["getent", "passwd", "amika"]);
    assert!(shell.trim_end().ends_with(":/usr/bin/zsh"), "{shell}");

    let started = Instant::now();
    daemon.ctl_ok(&["sandbox", "create", "--name", "code2", "--preset", "coder"]);
    let second = started.elapsed();
    eprintln!("a second coder sandbox was created in {second:?}");
    assert!(
        second.as_secs_f64() < 5.0,
        "a second coder sandbox took {second:?}"
    );
    daemon.exec_ok("code2", &["pnpm", "--version"]);

    let images = daemon.ctl_json(&["image", "list"]);
    let coder: Vec<_> = images
        .as_array()
        .expect("image list is an array")
        .iter()
        .filter(|image| image["name"] == "coder")
        .collect();
    assert_eq!(coder.len(), 1, "{images}");
    assert_eq!(coder[0]["state"], "ready");
    let again = daemon.ctl_json(&["image", "build", "--preset", "coder"]);
    assert_eq!(
        again["id"], coder[0]["id"],
        "a ready preset image is reused"
    );
}

fn a_build_interrupted_by_a_crash_leaves_nothing(backend: Backend) {
    let mut daemon = match backend {
        Backend::Btrfs => Daemon::start_with(&[], "8G"),
        Backend::Zfs => Daemon::start_on(backend),
    };
    let mut create = std::process::Command::new(amika_tests::bin_dir().join("amika-ctl"))
        .arg("--socket")
        .arg(daemon.socket())
        .args(["sandbox", "create", "--name", "cut", "--preset", "debian"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until debootstrap is at work for this daemon, then crash the daemon.
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    while !building(&daemon) {
        assert!(
            Instant::now() < deadline,
            "the build never started:\n{}",
            daemon.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_secs(2));
    daemon.kill();
    let _ = create.wait();
    // The build's processes die with the daemon.
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    while building(&daemon) {
        assert!(Instant::now() < deadline, "the build outlived the daemon");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    daemon.start_again();
    assert_eq!(daemon.ctl_json(&["image", "list"]), serde_json::json!([]));
    assert!(
        daemon.trees("images").is_empty(),
        "no half-built tree is left"
    );
    assert_eq!(daemon.hidden_trees(), Vec::<String>::new());
    daemon.ctl_fails(&["sandbox", "show", "cut"], 1);
}

/// Whether a debootstrap writing into this daemon's pool is running.
fn building(daemon: &Daemon) -> bool {
    let pool = daemon.pool();
    let pool = pool.to_string_lossy();
    std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
        std::fs::read(entry.path().join("cmdline")).is_ok_and(|cmdline| {
            let cmdline = String::from_utf8_lossy(&cmdline);
            cmdline.contains("debootstrap") && cmdline.contains(pool.as_ref())
        })
    })
}
