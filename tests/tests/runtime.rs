//! Running sandboxes: namespaces, limits, exec, life cycle, and surviving a daemon restart.

use amika_tests::{storage_tests, Backend, Daemon};

storage_tests!(
    stop_start_and_delete_move_through_the_states,
    a_daemon_restart_keeps_a_running_sandbox_running,
    a_symlink_planted_in_the_sandbox_is_never_followed_by_the_daemon,
);

fn created(daemon: &Daemon, args: &[&str]) -> serde_json::Value {
    let mut full = vec!["sandbox", "create"];
    full.extend_from_slice(args);
    let sandbox = daemon.ctl_json(&full);
    assert_eq!(sandbox["state"], "running", "{sandbox}");
    sandbox
}

#[test]
fn a_sandbox_sees_only_its_own_processes_and_its_own_name() {
    let daemon = Daemon::start();
    created(&daemon, &["--name", "lonely"]);
    let ps = daemon.exec_ok("lonely", &["ps", "-o", "pid,args"]);
    let processes: Vec<&str> = ps.lines().skip(1).collect();
    assert!(processes.len() <= 2, "only init and ps are visible:\n{ps}");
    assert!(
        processes.iter().any(|p| p.trim_start().starts_with("1 ")),
        "{ps}"
    );
    assert_eq!(daemon.exec_ok("lonely", &["hostname"]).trim(), "lonely");
    assert_eq!(
        daemon.exec_ok("lonely", &["cat", "/etc/hostname"]).trim(),
        "lonely"
    );
    let id = daemon.exec_ok("lonely", &["id", "-u"]);
    assert_eq!(id.trim(), "1000", "exec runs as amika by default");
    let out = daemon.ctl(&[
        "sandbox", "exec", "lonely", "--user", "root", "--", "id", "-u",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
}

#[test]
fn network_none_has_only_loopback() {
    let daemon = Daemon::start();
    created(&daemon, &["--name", "offline", "--network", "none"]);
    let dev = daemon.exec_ok("offline", &["cat", "/proc/net/dev"]);
    let interfaces: Vec<&str> = dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(interfaces, vec!["lo"], "{dev}");
}

#[test]
fn exec_carries_exit_codes_stdin_and_separate_streams() {
    let daemon = Daemon::start();
    created(&daemon, &["--name", "streams"]);
    let out = daemon.exec("streams", &["sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));

    let out = daemon.exec("streams", &["sh", "-c", "echo out; echo err >&2"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");

    let out = daemon.ctl_with_input(&["sandbox", "exec", "streams", "--", "cat"], b"piped in\n");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "piped in\n");

    let out = daemon.exec("streams", &["no-such-command"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-command"));
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[test]
fn a_hundred_megabytes_of_output_arrive_whole_and_the_daemon_stays_flat() {
    let daemon = Daemon::start();
    created(&daemon, &["--name", "chatty"]);
    daemon.exec_ok("chatty", &["true"]);
    let before = rss_kib(daemon.pid());
    let out = daemon.exec("chatty", &["head", "-c", "100000000", "/dev/zero"]);
    assert!(out.status.success());
    assert_eq!(out.stdout.len(), 100_000_000);
    let after = rss_kib(daemon.pid());
    assert!(
        after < before + 32 * 1024,
        "daemon RSS grew from {before} KiB to {after} KiB"
    );
}

#[test]
fn a_memory_limit_kills_the_hog_and_the_sandbox_survives() {
    let daemon = Daemon::start();
    created(&daemon, &["--name", "small", "--memory", "48M"]);
    // busybox sort holds its whole input in memory: one 200 MB line.
    let out = daemon.exec(
        "small",
        &["sh", "-c", "head -c 200000000 /dev/zero | sort >/dev/null"],
    );
    assert!(!out.status.success(), "the hog was stopped");
    assert_eq!(
        daemon.ctl_json(&["sandbox", "show", "small"])["state"],
        "running"
    );
    daemon.exec_ok("small", &["true"]);
}

#[test]
fn a_pids_limit_is_enforced() {
    let daemon = Daemon::start();
    created(&daemon, &["--name", "few", "--pids", "10"]);
    let out = daemon.exec(
        "few",
        &[
            "sh",
            "-c",
            "for i in $(seq 1 30); do sleep 3 & done 2>&1; wait",
        ],
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        all.contains("fork") || all.contains("Resource temporarily unavailable"),
        "the 30 background sleeps hit the limit: {all}"
    );
}

fn stop_start_and_delete_move_through_the_states(backend: Backend) {
    let daemon = Daemon::start_on(backend);
    let sandbox = created(&daemon, &["--name", "cycle"]);
    let pid = sandbox["pid"].as_i64().unwrap();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());

    let stopped = daemon.ctl_json(&["sandbox", "stop", "cycle"]);
    assert_eq!(stopped[0]["name"], "cycle", "{stopped}");
    assert_eq!(
        daemon.ctl_json(&["sandbox", "show", "cycle"])["state"],
        "stopped"
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "init is gone"
    );
    let stderr = daemon.ctl_fails(&["sandbox", "exec", "cycle", "--", "true"], 1);
    assert!(stderr.contains("not running"), "{stderr}");

    daemon.ctl_ok(&["sandbox", "start", "cycle"]);
    assert_eq!(
        daemon.ctl_json(&["sandbox", "show", "cycle"])["state"],
        "running"
    );
    daemon.exec_ok("cycle", &["true"]);

    daemon.ctl_ok(&["sandbox", "delete", "cycle"]);
    assert!(daemon.trees("sandboxes").is_empty());
}

fn a_daemon_restart_keeps_a_running_sandbox_running(backend: Backend) {
    let mut daemon = Daemon::start_on(backend);
    let sandbox = created(&daemon, &["--name", "durable"]);
    daemon.exec_ok("durable", &["sh", "-c", "echo kept > /tmp/marker"]);
    assert!(daemon.stop().success());
    daemon.start_again();
    let shown = daemon.ctl_json(&["sandbox", "show", "durable"]);
    assert_eq!(shown["state"], "running");
    assert_eq!(shown["pid"], sandbox["pid"], "the same init was adopted");
    assert_eq!(daemon.exec_ok("durable", &["cat", "/tmp/marker"]), "kept\n");
    // The adopted sandbox can still be stopped cleanly.
    daemon.ctl_ok(&["sandbox", "stop", "durable"]);
    assert_eq!(
        daemon.ctl_json(&["sandbox", "show", "durable"])["state"],
        "stopped"
    );
}

fn a_symlink_planted_in_the_sandbox_is_never_followed_by_the_daemon(backend: Backend) {
    let daemon = Daemon::start_on(backend);
    created(&daemon, &["--name", "sly"]);
    let host = tempfile::tempdir_in("/var/tmp").unwrap();
    let host_file = host.path().join("hostname");
    std::fs::write(&host_file, "host content\n").unwrap();
    // /etc/hostname is bound over from outside the tree while the sandbox runs, so root
    // inside moves /etc aside and makes a new one whose hostname is a link to a host path.
    let link = format!(
        "mv /etc /etc.moved && mkdir /etc && cp -a /etc.moved/* /etc/ && \
         rm -f /etc/hostname && ln -s {} /etc/hostname",
        host_file.display()
    );
    let out = daemon.ctl(&[
        "sandbox", "exec", "sly", "--user", "root", "--", "sh", "-c", &link,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A restart rewrites the identity files: the link must be replaced, not followed.
    daemon.ctl_ok(&["sandbox", "stop", "sly"]);
    daemon.ctl_ok(&["sandbox", "start", "sly"]);
    assert_eq!(
        std::fs::read_to_string(&host_file).unwrap(),
        "host content\n"
    );
    assert_eq!(
        daemon.exec_ok("sly", &["cat", "/etc/hostname"]).trim(),
        "sly"
    );
}

#[test]
fn capabilities_that_could_reach_the_host_are_gone() {
    let daemon = Daemon::start();
    created(&daemon, &["--name", "tame"]);
    let out = daemon.ctl(&[
        "sandbox",
        "exec",
        "tame",
        "--user",
        "root",
        "--",
        "sh",
        "-c",
        "mount -t tmpfs none /mnt 2>&1; grep CapBnd /proc/self/status",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    let bounding = text
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .expect("CapBnd line");
    for (bit, name) in [
        (16, "SYS_MODULE"),
        (17, "SYS_RAWIO"),
        (19, "SYS_PTRACE"),
        (21, "SYS_ADMIN"),
        (25, "SYS_TIME"),
    ] {
        assert_eq!(
            bounding & (1 << bit),
            0,
            "CAP_{name} must be dropped: {text}"
        );
    }
    assert!(!text.contains("tmpfs on /mnt"));
}

#[test]
fn a_client_that_disconnects_leaves_no_process_behind() {
    let daemon = Daemon::start();
    created(&daemon, &["--name", "orphan"]);
    daemon.exec_ok("orphan", &["true"]);
    let fds_before = open_fds(daemon.pid());
    let mut client = std::process::Command::new(amika_tests::bin_dir().join("amika-ctl"))
        .arg("--socket")
        .arg(daemon.socket())
        .args([
            "sandbox",
            "exec",
            "orphan",
            "--",
            "sh",
            "-c",
            "sleep 301 & sleep 302",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let running = |daemon: &Daemon| daemon.exec_ok("orphan", &["ps", "-o", "args"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !running(&daemon).contains("sleep 302") {
        assert!(
            std::time::Instant::now() < deadline,
            "the command never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    client.kill().unwrap();
    client.wait().unwrap();

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let ps = running(&daemon);
        if !ps.contains("sleep 30") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "left behind:\n{ps}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // The daemon lets go of the session's pipes and connection as its tasks notice the end,
    // a moment after the processes are gone; a descriptor still held after that is a leak.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let fds_after = open_fds(daemon.pid());
        if fds_after <= fds_before {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon holds {fds_after} descriptors, {fds_before} before the session"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

#[test]
fn the_event_stream_reports_state_changes() {
    use std::io::BufRead;
    let daemon = Daemon::start();
    let mut events = std::process::Command::new(amika_tests::bin_dir().join("amika-ctl"))
        .arg("--socket")
        .arg(daemon.socket())
        .args(["-o", "json", "events"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Give the subscription a moment to be in place before anything happens.
    std::thread::sleep(std::time::Duration::from_millis(300));
    created(&daemon, &["--name", "watched"]);
    daemon.ctl_ok(&["sandbox", "stop", "watched"]);

    let mut lines = std::io::BufReader::new(events.stdout.take().unwrap()).lines();
    let mut states = Vec::new();
    while states.len() < 3 {
        let line = lines.next().expect("an event line").unwrap();
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        // Building the preset on the way publishes image events too.
        if event["kind"] != "sandbox" {
            continue;
        }
        assert_eq!(event["name"], "watched");
        states.push(event["state"].as_str().unwrap().to_owned());
    }
    events.kill().unwrap();
    events.wait().unwrap();
    assert_eq!(states, ["running", "stopping", "stopped"]);
}

#[test]
fn proc_leads_only_into_the_sandbox() {
    let daemon = Daemon::start();
    created(&daemon, &["--name", "walled"]);
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let as_root = |script: &str| {
        let out = daemon.ctl(&[
            "sandbox", "exec", "walled", "--user", "root", "--", "sh", "-c", script,
        ]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    // init's /proc entries are closed even to root in the sandbox; whatever is readable
    // through /proc/1/root is the sandbox's own tree, never the host's.
    let through_init = as_root("cat /proc/1/root/etc/hostname 2>/dev/null || echo denied");
    assert!(
        through_init == "walled" || through_init == "denied",
        "{through_init}"
    );
    let visible: u32 = as_root("ls /proc | grep -c '^[0-9]'").parse().unwrap();
    assert!(
        visible <= 4,
        "only the sandbox's own processes are in /proc: {visible}"
    );
    assert_eq!(as_root("cat /proc/sys/kernel/hostname"), "walled");
    assert_ne!(
        as_root("echo x > /proc/sys/kernel/hostname; echo rc=$?"),
        "rc=0"
    );
    let host_after = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(host_after, host_name, "the host's hostname is untouched");
}
