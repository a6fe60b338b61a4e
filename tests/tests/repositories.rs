//! Repositories end to end: `--git`, `.amika/config.toml`, setup scripts, and a
//! repository's default snapshot, through `amika-ctl` against a real daemon, with real git
//! repositories made by each test.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use amika_tests::{storage_tests, Backend, Daemon};
use serde_json::Value;

storage_tests!(
    the_seed_page_flow_with_a_repository_and_its_default_snapshot,
    a_url_is_cloned_by_the_daemon_and_setup_cannot_be_snapshotted_mid_run,
);

/// A setup script that appends a line to a marker file, so a test can count its runs.
const MARKER_SCRIPT: &str = "#!/bin/sh\n\
    echo \"setup ran in $(pwd) as $(id -un) with AMIKA_AGENT_CWD=$AMIKA_AGENT_CWD\"\n\
    echo ran >> /home/amika/setup-marker\n";

/// Runs git in `dir` with a fixed identity and none of the host's configuration.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "amika test")
        .env("GIT_AUTHOR_EMAIL", "test@amika.invalid")
        .env("GIT_COMMITTER_NAME", "amika test")
        .env("GIT_COMMITTER_EMAIL", "test@amika.invalid")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Makes a repository `name` under `parent` with one commit: a README, and the given
/// `.amika/config.toml` and `.amika/setup.sh` when present.
fn make_repo(parent: &Path, name: &str, config: Option<&str>, script: Option<&str>) -> PathBuf {
    let dir = parent.join(name);
    std::fs::create_dir_all(dir.join(".amika")).unwrap();
    git(&dir, &["init", "--quiet", "--initial-branch=main"]);
    std::fs::write(dir.join("README"), "committed\n").unwrap();
    if let Some(config) = config {
        std::fs::write(dir.join(".amika/config.toml"), config).unwrap();
    }
    if let Some(script) = script {
        let path = dir.join(".amika/setup.sh");
        std::fs::write(&path, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "--quiet", "-m", "first"]);
    git(
        &dir,
        &[
            "remote",
            "add",
            "origin",
            &format!("https://git.example.com/team/{name}.git"),
        ],
    );
    dir
}

fn commit_all(dir: &Path, message: &str) {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "--quiet", "-m", message]);
}

/// `amika-ctl -o json ARGS` run inside `dir`; expects success.
fn json_in(daemon: &Daemon, dir: &Path, args: &[&str]) -> Value {
    let mut full = vec!["-o", "json"];
    full.extend_from_slice(args);
    let out = daemon.ctl_in_dir(dir, &full);
    assert!(
        out.status.success(),
        "amika-ctl {args:?} in {} failed: {}\nlog:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr),
        daemon.log()
    );
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

/// Waits for a sandbox's setup script with `sandbox logs --follow`; returns its output.
fn follow_setup(daemon: &Daemon, sandbox: &str) -> Output {
    daemon.ctl(&["sandbox", "logs", sandbox, "--setup", "--follow"])
}

fn marker_runs(daemon: &Daemon, sandbox: &str) -> usize {
    let out = daemon.exec(sandbox, &["cat", "/home/amika/setup-marker"]);
    String::from_utf8_lossy(&out.stdout).lines().count()
}

fn the_seed_page_flow_with_a_repository_and_its_default_snapshot(backend: Backend) {
    let daemon = Daemon::start_on(backend);
    let work = tempfile::tempdir_in("/var/tmp").unwrap();
    let config = "[lifecycle]\nsetup_script = \".amika/setup.sh\"\n";
    let repo = make_repo(work.path(), "webapp", Some(config), Some(MARKER_SCRIPT));

    // Step 1: a base sandbox with the setup script skipped.
    let base = json_in(
        &daemon,
        &repo,
        &[
            "sandbox",
            "create",
            "--name",
            "base-box",
            "--preset",
            "minimal",
            "--git",
            "--no-setup",
        ],
    );
    assert_eq!(base["base"]["chosen_by"], "flag");
    assert_eq!(base["setup"], "none");
    assert_eq!(base["repository"]["path"], "/home/amika/workspace/webapp");
    assert_eq!(base["repository"]["branch"], "main");
    let readme = daemon.exec_ok("base-box", &["cat", "/home/amika/workspace/webapp/README"]);
    assert_eq!(readme, "committed\n");
    assert_eq!(
        marker_runs(&daemon, "base-box"),
        0,
        "--no-setup ran the script"
    );
    // A session starts in the repository and knows where it is.
    let pwd = daemon.exec_ok("base-box", &["sh", "-c", "pwd; echo $AMIKA_AGENT_CWD"]);
    assert_eq!(
        pwd,
        "/home/amika/workspace/webapp\n/home/amika/workspace/webapp\n"
    );

    // Step 2: configure it (a dependency cache that git ignores), then capture it.
    daemon.exec_ok(
        "base-box",
        &[
            "sh",
            "-c",
            "mkdir -p node_modules && echo cached > node_modules/dep",
        ],
    );
    let snapshot = daemon.snapshot("base-box", "webapp-base", "scrub_and_delete");
    assert_eq!(snapshot["state"], "active", "{snapshot}");
    assert_eq!(snapshot["repository"], base["repository"]["id"]);

    let listed = daemon.ctl_json(&["repo", "snapshots", "webapp"]);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["webapp-base"]);

    // Step 3: the repository default; a plain create boots from it and runs setup once.
    daemon.ctl_ok(&["repo", "set-default-snapshot", "webapp", "webapp-base"]);
    let shown = daemon.ctl_json(&["repo", "show", "webapp"]);
    assert_eq!(shown["default_snapshot"]["snapshot"], "webapp-base");
    assert_eq!(shown["default_snapshot"]["source"], "state-store");

    let booted = json_in(
        &daemon,
        &repo,
        &["sandbox", "create", "--name", "dev-1", "--git"],
    );
    assert_eq!(booted["base"]["chosen_by"], "repo-default");
    assert_eq!(booted["base"]["name"], "webapp-base");
    let log = follow_setup(&daemon, "dev-1");
    assert!(log.status.success(), "{log:?}");
    let log = String::from_utf8_lossy(&log.stdout).into_owned();
    assert!(
        log.contains(
            "setup ran in /home/amika/workspace/webapp as amika with \
             AMIKA_AGENT_CWD=/home/amika/workspace/webapp"
        ),
        "{log}"
    );
    assert_eq!(marker_runs(&daemon, "dev-1"), 1);
    let show = daemon.ctl_json(&["sandbox", "show", "dev-1"]);
    assert_eq!(show["setup"], "ok");
    assert_eq!(show["setup_exit_code"], 0);
    let dep = daemon.exec_ok("dev-1", &["cat", "node_modules/dep"]);
    assert_eq!(
        dep, "cached\n",
        "the snapshot's cache survived the new checkout"
    );
    let in_file = daemon.exec_ok("dev-1", &["cat", "/var/log/amika/setup.log"]);
    assert_eq!(in_file, log);

    // --no-snapshot opts out of the default.
    let plain = json_in(
        &daemon,
        &repo,
        &[
            "sandbox",
            "create",
            "--name",
            "dev-2",
            "--git",
            "--no-snapshot",
            "--no-setup",
        ],
    );
    assert_eq!(plain["base"]["chosen_by"], "preset");
    assert_eq!(plain["base"]["kind"], "image");

    // With the state-store default cleared, [sandbox] snapshot in the file applies.
    daemon.ctl_ok(&["repo", "clear-default-snapshot", "webapp"]);
    let config = "[sandbox]\nsnapshot = \"webapp-base\"\n\n[lifecycle]\n\
                  setup_script = \".amika/setup.sh\"\n";
    std::fs::write(repo.join(".amika/config.toml"), config).unwrap();
    commit_all(&repo, "default snapshot in the file");
    let from_file = json_in(
        &daemon,
        &repo,
        &[
            "sandbox",
            "create",
            "--name",
            "dev-3",
            "--git",
            "--no-setup",
        ],
    );
    assert_eq!(from_file["base"]["chosen_by"], "config");
    assert_eq!(from_file["base"]["name"], "webapp-base");
    let shown = daemon.ctl_json(&["repo", "show", "webapp"]);
    assert_eq!(shown["default_snapshot"]["source"], "config");

    // Both set: the state store wins over the file.
    let second = daemon.snapshot("dev-1", "webapp-base-2", "full");
    assert_eq!(second["state"], "active", "{second}");
    daemon.ctl_ok(&["repo", "set-default-snapshot", "webapp", "webapp-base-2"]);
    let both = json_in(
        &daemon,
        &repo,
        &[
            "sandbox",
            "create",
            "--name",
            "dev-4",
            "--git",
            "--no-setup",
        ],
    );
    assert_eq!(both["base"]["chosen_by"], "repo-default");
    assert_eq!(both["base"]["name"], "webapp-base-2");

    // A default that names a deleted snapshot is an error naming the repository and fix.
    daemon.ctl_ok(&["sandbox", "delete", "dev-4", "--force"]);
    daemon.ctl_ok(&["snapshot", "delete", "webapp-base-2"]);
    let out = daemon.ctl_in_dir(&repo, &["sandbox", "create", "--name", "dev-5", "--git"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("webapp") && err.contains("webapp-base-2") && err.contains("--no-snapshot"),
        "{err}"
    );
    assert!(
        daemon.trees("sandboxes").len() == 3,
        "a refused create left a tree"
    );
}

#[test]
fn no_clean_branches_and_an_unreadable_repository() {
    let daemon = Daemon::start();
    let work = tempfile::tempdir_in("/var/tmp").unwrap();
    let repo = make_repo(work.path(), "tool", None, None);
    git(&repo, &["checkout", "--quiet", "-b", "feature"]);
    std::fs::write(repo.join("FEATURE"), "only on feature\n").unwrap();
    commit_all(&repo, "feature work");
    git(&repo, &["checkout", "--quiet", "main"]);

    // --no-clean carries an uncommitted change, an untracked file and a deletion.
    std::fs::write(repo.join("README"), "edited, not committed\n").unwrap();
    std::fs::write(repo.join("NOTES"), "untracked\n").unwrap();
    std::fs::create_dir(repo.join("docs")).unwrap();
    std::fs::write(repo.join("docs/plan.md"), "nested and untracked\n").unwrap();
    let dirty = json_in(
        &daemon,
        &repo,
        &[
            "sandbox",
            "create",
            "--name",
            "dirty",
            "--git",
            "--no-clean",
        ],
    );
    assert_eq!(dirty["repository"]["branch"], "main");
    let files = daemon.exec_ok("dirty", &["sh", "-c", "cat README NOTES docs/plan.md; ls"]);
    assert_eq!(
        files,
        "edited, not committed\nuntracked\nnested and untracked\nNOTES\nREADME\ndocs\n"
    );
    // Without it, only what is committed.
    let clean = json_in(
        &daemon,
        &repo,
        &["sandbox", "create", "--name", "clean", "--git"],
    );
    assert_eq!(clean["repository"]["branch"], "main");
    let files = daemon.exec_ok("clean", &["sh", "-c", "cat README; ls"]);
    assert_eq!(files, "committed\nREADME\n");

    // --branch checks out another branch; --new-branch makes one.
    let feature = json_in(
        &daemon,
        &repo,
        &[
            "sandbox", "create", "--name", "feat", "--git", "--branch", "feature",
        ],
    );
    assert_eq!(feature["repository"]["branch"], "feature");
    assert_eq!(
        daemon.exec_ok("feat", &["cat", "FEATURE"]),
        "only on feature\n"
    );
    let topic = json_in(
        &daemon,
        &repo,
        &[
            "sandbox",
            "create",
            "--name",
            "topic",
            "--git",
            "--new-branch",
            "topic",
        ],
    );
    assert_eq!(topic["repository"]["branch"], "topic");
    assert_eq!(
        daemon.exec_ok("topic", &["cat", ".git/HEAD"]),
        "ref: refs/heads/topic\n"
    );
    // The clone's remotes are the host's network remotes.
    let config = daemon.exec_ok("topic", &["cat", ".git/config"]);
    assert!(
        config.contains("https://git.example.com/team/tool.git"),
        "{config}"
    );

    // A repository the caller cannot read is refused by the client; nothing reaches the
    // daemon.
    let private = work.path().join("private");
    std::fs::create_dir(&private).unwrap();
    let secret_repo = make_repo(&private, "secret", None, None);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let requests_before = daemon.log().matches("POST").count();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(amika_tests::binary("amika-ctl"))
        .arg("--socket")
        .arg(daemon.socket())
        .args(["sandbox", "create", "--name", "stolen", "--git"])
        .arg(&secret_repo)
        .current_dir("/")
        .env("HOME", "/")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot read"), "{err}");
    assert!(err.contains(secret_repo.to_str().unwrap()), "{err}");
    assert_eq!(daemon.log().matches("POST").count(), requests_before);
}

#[test]
fn setup_failures_config_errors_and_warnings() {
    let daemon = Daemon::start();
    let work = tempfile::tempdir_in("/var/tmp").unwrap();

    // A failing setup script: setup-failed with its exit code and its output; the sandbox
    // keeps running.
    let failing = "#!/bin/sh\necho about to fail\necho to stderr >&2\nexit 3\n";
    let config = "[lifecycle]\nsetup_script = \".amika/setup.sh\"\n";
    let repo = make_repo(work.path(), "broken", Some(config), Some(failing));
    let created = json_in(
        &daemon,
        &repo,
        &["sandbox", "create", "--name", "fails", "--git"],
    );
    assert_eq!(created["setup"], "setup-running");
    let follow = follow_setup(&daemon, "fails");
    assert_eq!(follow.status.code(), Some(1), "{follow:?}");
    assert_eq!(
        String::from_utf8_lossy(&follow.stdout),
        "about to fail\nto stderr\n"
    );
    assert!(String::from_utf8_lossy(&follow.stderr).contains("code 3"));
    let show = daemon.ctl_json(&["sandbox", "show", "fails"]);
    assert_eq!(show["setup"], "setup-failed");
    assert_eq!(show["setup_exit_code"], 3);
    assert_eq!(show["state"], "running");

    // --setup-script from the client wins over the file.
    let script = work.path().join("mine.sh");
    std::fs::write(&script, "echo from the client\n").unwrap();
    let script_arg = script.to_str().unwrap();
    json_in(
        &daemon,
        &repo,
        &[
            "sandbox",
            "create",
            "--name",
            "mine",
            "--git",
            "--setup-script",
            script_arg,
        ],
    );
    let follow = follow_setup(&daemon, "mine");
    assert!(follow.status.success(), "{follow:?}");
    assert_eq!(String::from_utf8_lossy(&follow.stdout), "from the client\n");

    // A malformed file is an error with its line, and leaves nothing behind.
    let bad = make_repo(
        work.path(),
        "malformed",
        Some("[sandbox]\npreset = \"minimal\"\nsnapshot = \n"),
        None,
    );
    let out = daemon.ctl_in_dir(&bad, &["sandbox", "create", "--name", "never", "--git"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(".amika/config.toml line 3"), "{err}");
    assert!(daemon
        .ctl_fails(&["sandbox", "show", "never"], 1)
        .contains("never"));

    // An unknown key is a warning in the result, and the rest of the file still applies.
    let typo = make_repo(
        work.path(),
        "typo",
        Some("[sandbox]\npreset = \"minimal\"\nsnapshott = \"x\"\n[env]\nMODE = \"dev\"\n"),
        None,
    );
    let out = daemon.ctl_in_dir(&typo, &["sandbox", "create", "--name", "typo", "--git"]);
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning:") && err.contains("snapshott"),
        "{err}"
    );
    let show = daemon.ctl_json(&["sandbox", "show", "typo"]);
    assert_eq!(show["base"]["chosen_by"], "config");
    assert_eq!(daemon.exec_ok("typo", &["sh", "-c", "echo $MODE"]), "dev\n");

    // A clone that fails still gives a sandbox, with the reason on its setup track, and the
    // client exits 1 so that a script does not carry on without the repository.
    let unreachable = "git://127.0.0.1:9/nothing.git";
    let out = daemon.ctl(&[
        "-o",
        "json",
        "sandbox",
        "create",
        "--name",
        "noclone",
        "--git",
        unreachable,
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["setup"], "git-failed");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("noclone") && err.contains("without its repository"),
        "{err}"
    );
    let show = daemon.ctl_json(&["sandbox", "show", "noclone"]);
    assert_eq!(show["setup"], "git-failed");
    assert!(
        show["setup_error"].as_str().unwrap().contains("cloning"),
        "{show}"
    );
}

/// A `git daemon` serving `base` on a free local port, ended on drop. `git daemon` runs
/// `git-daemon` as a child, so both are put in a process group of their own and the group is
/// killed: killing `git` alone would leave the server running.
struct GitServer {
    child: Child,
    port: u16,
}

impl GitServer {
    fn start(base: &Path) -> GitServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new("git")
            .args([
                "daemon",
                "--export-all",
                "--reuseaddr",
                "--listen=127.0.0.1",
                &format!("--port={port}"),
                &format!("--base-path={}", base.display()),
            ])
            .arg(base)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start git daemon");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return GitServer { child, port };
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        kill_group(&mut child);
        panic!("git daemon did not listen on port {port}");
    }
}

/// Kills `child` and every process of its group, and reaps `child`.
fn kill_group(child: &mut Child) {
    let group = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
    let _ = child.wait();
}

impl Drop for GitServer {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

fn a_url_is_cloned_by_the_daemon_and_setup_cannot_be_snapshotted_mid_run(backend: Backend) {
    let daemon = Daemon::start_on(backend);
    let work = tempfile::tempdir_in("/var/tmp").unwrap();
    let slow = "#!/bin/sh\necho started\nsleep 60\n";
    let config = "[lifecycle]\nsetup_script = \".amika/setup.sh\"\n";
    make_repo(work.path(), "served", Some(config), Some(slow));
    let server = GitServer::start(work.path());

    let url = format!("git://127.0.0.1:{}/served", server.port);
    let created = daemon.ctl_json(&["sandbox", "create", "--name", "cloned", "--git", &url]);
    assert_eq!(
        created["repository"]["path"],
        "/home/amika/workspace/served"
    );
    assert_eq!(created["repository"]["branch"], "main");
    assert_eq!(created["setup"], "setup-running");
    let readme = daemon.exec_ok("cloned", &["cat", "README"]);
    assert_eq!(readme, "committed\n");
    let repos = daemon.ctl_json(&["repo", "list"]);
    assert_eq!(repos[0]["key"], "127.0.0.1/served");

    // A snapshot of a sandbox whose setup is still running is refused.
    let err = daemon.ctl_fails(
        &[
            "snapshot",
            "create",
            "--sandbox",
            "cloned",
            "--name",
            "half-done",
            "--mode",
            "full",
            "--no-interactive",
        ],
        1,
    );
    assert!(err.contains("setup script"), "{err}");

    // A daemon restart mid-setup cannot know how the script ended, and says so.
    let mut daemon = daemon;
    daemon.restart();
    let show = daemon.ctl_json(&["sandbox", "show", "cloned"]);
    assert_eq!(show["setup"], "setup-failed");
    assert!(
        show["setup_error"].as_str().unwrap().contains("restarted"),
        "{show}"
    );
}
