//! Secrets and snapshots: the seed page's flow, the capture modes, a scrub that fails
//! closed, symlink attacks, and crashes at every step of a capture.

use amika_tests::{storage_tests, Backend, Daemon};

storage_tests!(
    the_seed_flow_scrubs_secrets_and_boots_clean_sandboxes,
    full_keeps_everything_and_scrub_keeps_the_source_running,
    a_copied_secret_fails_the_scrub_and_leaves_the_source_untouched,
    a_symlinked_secret_directory_never_reaches_the_host,
    deleting_a_snapshot_is_idempotent_and_spares_its_sandboxes,
    a_crash_after_the_capture_rolls_back,
    a_crash_after_the_scrub_rolls_back,
    a_crash_after_sealing_rolls_back,
    a_crash_after_activation_finishes_deleting_the_source,
);

/// A value no image contains by chance.
const TOKEN: &str = "amk-test-7f3c9e1b2d4a6f80c5e7a9b1d3f5e7a9";
const TOKEN_FILE: &str = "/home/amika/.config/tool/token";

fn store_secret(daemon: &Daemon) {
    let out = daemon.ctl_with_input(
        &[
            "secret",
            "set",
            "tool-token",
            "--env",
            "TOOL_TOKEN",
            "--file",
            ".config/tool/token",
            "--git-host",
            "git.example.com",
            "--value-stdin",
        ],
        TOKEN.as_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A running sandbox with the secret injected, configured through exec the way a user would:
/// a file of their own and a repository whose remote carries the token.
fn configured_base(daemon: &Daemon, name: &str) {
    store_secret(daemon);
    daemon.ctl_json(&[
        "sandbox",
        "create",
        "--name",
        name,
        "--secret",
        "tool-token",
    ]);
    let setup = format!(
        "echo configured > ~/configured.txt && mkdir -p ~/workspace/app/.git && \
         printf '[remote \"origin\"]\\n\\turl = https://amika:{TOKEN}@git.example.com/o/app.git\\n' \
         > ~/workspace/app/.git/config"
    );
    daemon.exec_ok(name, &["sh", "-c", &setup]);
}

fn snapshot(daemon: &Daemon, sandbox: &str, name: &str, mode: &str) -> serde_json::Value {
    daemon.snapshot(sandbox, name, mode)
}

fn env_of(daemon: &Daemon, sandbox: &str) -> String {
    daemon.exec_ok(sandbox, &["env"])
}

fn the_seed_flow_scrubs_secrets_and_boots_clean_sandboxes(backend: Backend) {
    let daemon = Daemon::start_on(backend);
    configured_base(&daemon, "base-box");
    // The secret is really there before the snapshot.
    assert_eq!(daemon.exec_ok("base-box", &["cat", TOKEN_FILE]), TOKEN);
    assert!(env_of(&daemon, "base-box").contains(&format!("TOOL_TOKEN={TOKEN}")));
    let environment = daemon.exec_ok("base-box", &["cat", "/etc/environment"]);
    assert!(environment.contains("TOOL_TOKEN="), "{environment}");
    let preview = daemon.ctl_json(&["snapshot", "scrub-preview", "--sandbox", "base-box"]);
    assert_eq!(preview["files"][0], TOKEN_FILE);
    assert_eq!(preview["variables"][0], "TOOL_TOKEN");
    assert!(
        !preview.to_string().contains(TOKEN),
        "the preview never shows values"
    );

    let snap = snapshot(&daemon, "base-box", "base-snap", "scrub_and_delete");
    assert_eq!(snap["state"], "active", "{snap}");
    assert_eq!(snap["mode"], "scrub_and_delete");
    assert_eq!(snap["source"]["name"], "base-box");
    assert_eq!(snap["base"]["name"], "minimal");
    daemon.ctl_fails(&["sandbox", "show", "base-box"], 1);

    for name in ["child-a", "child-b"] {
        let child = daemon.ctl_json(&[
            "sandbox",
            "create",
            "--name",
            name,
            "--snapshot",
            "base-snap",
        ]);
        assert_eq!(child["base"]["kind"], "snapshot");
        assert_eq!(child["base"]["name"], "base-snap");
        assert_eq!(
            daemon.exec_ok(name, &["cat", "/home/amika/configured.txt"]),
            "configured\n"
        );
        assert_eq!(daemon.exec_ok(name, &["hostname"]).trim(), name);
        let gone = daemon.exec(name, &["cat", TOKEN_FILE]);
        assert!(
            !gone.status.success(),
            "the secret file is gone from {name}"
        );
        let environment = daemon.exec_ok(name, &["cat", "/etc/environment"]);
        assert_eq!(
            environment, "LANG=C.UTF-8\n",
            "baseline kept, block removed"
        );
        assert!(!env_of(&daemon, name).contains("TOOL_TOKEN"));
        let git = daemon.exec_ok(name, &["cat", "/home/amika/workspace/app/.git/config"]);
        assert!(
            git.contains("url = https://git.example.com/o/app.git"),
            "{git}"
        );
        assert!(!daemon
            .exec(name, &["cat", "/home/amika/.git-credentials"])
            .status
            .success());
        let grep = daemon.exec(name, &["grep", "-r", TOKEN, "/home", "/etc"]);
        assert!(
            !grep.status.success(),
            "the token appears nowhere in {name}"
        );
    }
    let ids: Vec<String> = ["child-a", "child-b"]
        .iter()
        .map(|n| daemon.exec_ok(n, &["cat", "/etc/machine-id"]))
        .collect();
    assert_ne!(ids[0], ids[1], "each boot gets its own machine id");
}

fn full_keeps_everything_and_scrub_keeps_the_source_running(backend: Backend) {
    let daemon = Daemon::start_on(backend);
    configured_base(&daemon, "src");

    let full = snapshot(&daemon, "src", "everything", "full");
    assert_eq!(full["state"], "active", "{full}");
    assert_eq!(
        daemon.ctl_json(&["sandbox", "show", "src"])["state"],
        "running"
    );
    daemon.ctl_json(&[
        "sandbox",
        "create",
        "--name",
        "from-full",
        "--snapshot",
        "everything",
    ]);
    assert_eq!(daemon.exec_ok("from-full", &["cat", TOKEN_FILE]), TOKEN);

    let scrubbed = snapshot(&daemon, "src", "clean", "scrub");
    assert_eq!(scrubbed["state"], "active", "{scrubbed}");
    assert_eq!(
        daemon.ctl_json(&["sandbox", "show", "src"])["state"],
        "running"
    );
    assert_eq!(
        daemon.exec_ok("src", &["cat", TOKEN_FILE]),
        TOKEN,
        "source keeps its secret"
    );
    assert!(env_of(&daemon, "src").contains("TOOL_TOKEN="));
    daemon.ctl_json(&[
        "sandbox",
        "create",
        "--name",
        "from-clean",
        "--snapshot",
        "clean",
    ]);
    assert!(!daemon
        .exec("from-clean", &["cat", TOKEN_FILE])
        .status
        .success());

    let listed = daemon.ctl_json(&["snapshot", "list", "--sandbox", "src"]);
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
}

fn a_copied_secret_fails_the_scrub_and_leaves_the_source_untouched(backend: Backend) {
    let daemon = Daemon::start_on(backend);
    configured_base(&daemon, "leaky");
    daemon.exec_ok(
        "leaky",
        &["sh", "-c", &format!("echo 'key: {TOKEN}' > ~/notes.txt")],
    );

    let out = daemon.ctl(&[
        "-o",
        "json",
        "snapshot",
        "create",
        "--sandbox",
        "leaky",
        "--name",
        "leak",
        "--mode",
        "scrub_and_delete",
        "--no-interactive",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let shown = daemon.ctl_json(&["snapshot", "show", "leak"]);
    assert_eq!(shown["state"], "failed");
    let error = shown["error"].as_str().unwrap();
    assert!(
        error.contains("/home/amika/notes.txt") && error.contains("tool-token"),
        "{error}"
    );
    assert!(!error.contains(TOKEN), "the error never shows the value");
    assert!(
        !daemon.log().contains(TOKEN),
        "the daemon log never shows the value"
    );

    assert_eq!(
        daemon.ctl_json(&["sandbox", "show", "leaky"])["state"],
        "running"
    );
    assert_eq!(daemon.exec_ok("leaky", &["cat", TOKEN_FILE]), TOKEN);
    assert!(
        daemon.trees("staging").is_empty(),
        "the capture was thrown away"
    );
    assert!(daemon.trees("snapshots").is_empty());
}

fn a_symlinked_secret_directory_never_reaches_the_host(backend: Backend) {
    let daemon = Daemon::start_on(backend);
    store_secret(&daemon);
    let host = tempfile::tempdir_in("/var/tmp").unwrap();
    let host_dir = host.path().to_str().unwrap().to_owned();
    std::fs::create_dir_all(host.path().join("tool")).unwrap();
    std::fs::write(host.path().join("tool/token"), "host file\n").unwrap();
    let host_untouched = || {
        assert_eq!(
            std::fs::read_to_string(host.path().join("tool/token")).unwrap(),
            "host file\n"
        );
        assert_eq!(
            std::fs::read_dir(host.path()).unwrap().count(),
            1,
            "nothing new on the host"
        );
    };

    // The sandbox points the secret's directory at a host path, and that is captured.
    daemon.ctl_json(&["sandbox", "create", "--name", "trap"]);
    let link = format!("rm -rf ~/.config && ln -s {host_dir} ~/.config");
    daemon.exec_ok("trap", &["sh", "-c", &link]);
    snapshot(&daemon, "trap", "dangling", "full");

    // Injection resolves the link inside the sandbox, where it leads nowhere: refused.
    let stderr = daemon.ctl_fails(
        &[
            "sandbox",
            "create",
            "--name",
            "victim",
            "--snapshot",
            "dangling",
            "--secret",
            "tool-token",
        ],
        1,
    );
    assert!(
        stderr.contains(TOKEN_FILE) && stderr.contains("symlink"),
        "{stderr}"
    );
    assert!(!stderr.contains(TOKEN));
    host_untouched();

    // Where the same path exists inside the sandbox, the secret lands there and only there.
    let mirror = format!("mkdir -p {host_dir}/tool");
    daemon.ctl_ok(&[
        "sandbox", "exec", "trap", "--user", "root", "--", "sh", "-c", &mirror,
    ]);
    snapshot(&daemon, "trap", "mirrored", "full");
    daemon.ctl_json(&[
        "sandbox",
        "create",
        "--name",
        "victim",
        "--snapshot",
        "mirrored",
        "--secret",
        "tool-token",
    ]);
    assert_eq!(daemon.exec_ok("victim", &["cat", TOKEN_FILE]), TOKEN);
    host_untouched();

    // Re-planted before the scrub, the link still leads nowhere outside.
    let replant = format!("rm -rf ~/.config; ln -s {host_dir} ~/.config");
    daemon.exec_ok("victim", &["sh", "-c", &replant]);
    let scrubbed = snapshot(&daemon, "victim", "after", "scrub");
    assert_eq!(scrubbed["state"], "active", "{scrubbed}");
    host_untouched();
    daemon.ctl_json(&[
        "sandbox",
        "create",
        "--name",
        "clean",
        "--snapshot",
        "after",
    ]);
    let planted = format!("{host_dir}/tool/token");
    assert!(
        !daemon.exec("clean", &["cat", &planted]).status.success(),
        "scrubbed inside"
    );
}

fn deleting_a_snapshot_is_idempotent_and_spares_its_sandboxes(backend: Backend) {
    let daemon = Daemon::start_on(backend);
    daemon.ctl_json(&["sandbox", "create", "--name", "origin"]);
    daemon.exec_ok("origin", &["sh", "-c", "echo kept > ~/kept"]);
    snapshot(&daemon, "origin", "short-lived", "full");
    daemon.ctl_json(&[
        "sandbox",
        "create",
        "--name",
        "booted",
        "--snapshot",
        "short-lived",
    ]);
    daemon.ctl_ok(&["snapshot", "delete", "short-lived"]);
    daemon.ctl_ok(&["snapshot", "delete", "short-lived"]);
    assert!(daemon.trees("snapshots").is_empty());
    assert_eq!(
        daemon.exec_ok("booted", &["cat", "/home/amika/kept"]),
        "kept\n"
    );
}

fn crash_at(backend: Backend, step: &str, mode: &str) -> (Daemon, serde_json::Value) {
    let mut daemon = Daemon::start_on_with_env(backend, &[("AMIKA_FAILPOINTS", step)]);
    configured_base(&daemon, "crashy");
    let _ = daemon.ctl(&[
        "-o",
        "json",
        "snapshot",
        "create",
        "--sandbox",
        "crashy",
        "--name",
        "crashed",
        "--mode",
        mode,
        "--no-interactive",
        "--no-wait",
    ]);
    assert!(
        !daemon.wait_for_exit().success(),
        "the failpoint {step} killed the daemon"
    );
    daemon.start_again();
    let snap = daemon.ctl_json(&["snapshot", "show", "crashed"]);
    assert!(
        daemon.trees("staging").is_empty(),
        "no staging tree after a crash at {step}"
    );
    (daemon, snap)
}

fn assert_rolled_back(backend: Backend, step: &str) {
    let (daemon, snap) = crash_at(backend, step, "scrub_and_delete");
    assert_eq!(snap["state"], "failed", "{step}: {snap}");
    assert!(
        snap["error"].as_str().unwrap().contains("daemon stopped"),
        "{snap}"
    );
    assert!(daemon.trees("snapshots").is_empty(), "{step}");
    assert_eq!(daemon.hidden_trees(), Vec::<String>::new(), "{step}");
    let source = daemon.ctl_json(&["sandbox", "show", "crashy"]);
    assert_eq!(
        source["state"], "running",
        "{step}: the source is back: {source}"
    );
    assert_eq!(
        daemon.exec_ok("crashy", &["cat", TOKEN_FILE]),
        TOKEN,
        "{step}"
    );
    assert_eq!(
        daemon.exec_ok("crashy", &["cat", "/home/amika/configured.txt"]),
        "configured\n"
    );
}

fn a_crash_after_the_capture_rolls_back(backend: Backend) {
    assert_rolled_back(backend, "capture:after-capture");
}

fn a_crash_after_the_scrub_rolls_back(backend: Backend) {
    assert_rolled_back(backend, "capture:after-scrub");
}

fn a_crash_after_sealing_rolls_back(backend: Backend) {
    assert_rolled_back(backend, "capture:after-seal");
}

fn a_crash_after_activation_finishes_deleting_the_source(backend: Backend) {
    let (daemon, snap) = crash_at(backend, "capture:after-active", "scrub_and_delete");
    assert_eq!(snap["state"], "active", "{snap}");
    daemon.ctl_fails(&["sandbox", "show", "crashy"], 1);
    assert!(daemon.trees("sandboxes").is_empty());
    daemon.ctl_json(&[
        "sandbox",
        "create",
        "--name",
        "after",
        "--snapshot",
        "crashed",
    ]);
    assert!(!daemon.exec("after", &["cat", TOKEN_FILE]).status.success());

    // What the snapshot kept of its source goes with the last of them.
    daemon.ctl_ok(&["sandbox", "delete", "after"]);
    daemon.ctl_ok(&["snapshot", "delete", "crashed"]);
    assert!(daemon.trees("snapshots").is_empty());
    assert_eq!(daemon.hidden_trees(), Vec::<String>::new());
}
