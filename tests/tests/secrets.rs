//! Secrets through the real client and daemon: values go in once and never come back out,
//! bad targets are refused with a fix, and `extract` finds a user's agent credentials.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use amika_tests::{raw_request, Daemon};
use serde_json::Value;

const OPENAI: &str = "sk-proj-0123456789abcdefghijklmnop";
const ANTHROPIC: &str = "sk-ant-api03-zyxwvutsrqponmlkjihg";

/// Runs `amika-ctl` with only the given environment and `input` on stdin.
fn ctl_as_user(daemon: &Daemon, env: &[(&str, &str)], args: &[&str], input: &str) -> Output {
    daemon.ctl_in_env(Some(env), args, input.as_bytes())
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn names(list: &Value) -> Vec<&str> {
    let list = list.as_array().expect("a JSON array");
    list.iter().map(|s| s["name"].as_str().unwrap()).collect()
}

fn no_secrets(daemon: &Daemon) -> bool {
    let list = daemon.ctl_json(&["secret", "list"]);
    list.as_array().expect("a JSON array").is_empty()
}

fn words(line: &str) -> Vec<&str> {
    line.split(' ').collect()
}

fn set_from_stdin(daemon: &Daemon, args: &[&str], value: &str) -> Output {
    let mut full = vec!["-o", "json", "secret", "set"];
    full.extend_from_slice(args);
    full.push("--value-stdin");
    daemon.ctl_with_input(&full, value.as_bytes())
}

#[test]
fn secrets_are_stored_listed_and_deleted_without_their_values() {
    let daemon = Daemon::start();
    let out = set_from_stdin(&daemon, &["openai", "--env", "OPENAI_API_KEY"], OPENAI);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["name"], "openai");
    assert_eq!(shown["env"], serde_json::json!(["OPENAI_API_KEY"]));
    assert_eq!(shown["preview"], amika_api::secret::mask(OPENAI));
    assert!(
        !text(&out.stdout).contains("0123456789"),
        "set echoed the value"
    );

    let work = tempfile::tempdir().unwrap();
    let token = work.path().join("token");
    std::fs::write(&token, format!("{ANTHROPIC}\n")).unwrap();
    let file = token.to_str().unwrap();
    let mut args = words("secret set claude --file ~/.claude/key --from-file");
    args.push(file);
    let shown = daemon.ctl_json(&args);
    assert_eq!(shown["file"], ".claude/key", "the ~/ prefix is dropped");
    assert_eq!(
        shown["preview"],
        amika_api::secret::mask(ANTHROPIC),
        "one newline dropped"
    );

    let list = daemon.ctl_json(&["secret", "list"]);
    assert_eq!(names(&list), ["claude", "openai"]);
    let listed = list.to_string();
    assert!(
        !listed.contains("0123456789") && !listed.contains("zyxwvu"),
        "{listed}"
    );
    let table = daemon.ctl_ok(&["secret", "list"]);
    assert!(table.starts_with("NAME"), "{table}");
    assert!(table.contains("env:OPENAI_API_KEY"), "{table}");
    assert!(!table.contains("0123456789"), "{table}");

    // Setting again replaces the targets in place.
    let out = set_from_stdin(&daemon, &["openai", "--git-host", "GitHub.com"], OPENAI);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let replaced: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(replaced["env"], serde_json::json!([]));
    assert_eq!(replaced["git_host"], "github.com");

    let deleted = daemon.ctl_json(&["secret", "delete", "openai"]);
    assert_eq!(deleted[0]["deleted"], true);
    assert_eq!(names(&daemon.ctl_json(&["secret", "list"])), ["claude"]);
    let stderr = daemon.ctl_fails(&["secret", "delete", "openai"], 1);
    assert!(stderr.contains("secret 'openai' not found"), "{stderr}");

    let db = std::fs::metadata(daemon.state_dir().join("amika.db")).unwrap();
    assert_eq!(
        db.permissions().mode() & 0o777,
        0o600,
        "the database holds values"
    );
    let log = daemon.log();
    assert!(log.contains("secret stored"), "{log}");
    assert!(
        !log.contains("0123456789") && !log.contains("zyxwvu"),
        "a value reached the log"
    );
}

#[test]
fn bad_secrets_are_refused_with_the_fix() {
    let daemon = Daemon::start();
    // Each value is distinctive, so an error that quoted it would be caught.
    let refused = |line: &str, value: &str, says: &str| {
        let out = set_from_stdin(&daemon, &words(line), value);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(1), "{line}: {stderr}");
        assert!(stderr.contains(says), "{line}: {stderr}");
        let echoed = stdout.contains("zqv") || stderr.contains("zqv");
        assert!(!echoed, "{stdout}{stderr}");
    };
    let value = "zqv-0123456789";
    refused("k --env 1BAD", value, "variable name '1BAD'");
    refused("k --file /etc/shadow", value, "relative to the sandbox");
    refused("k --file a/../../etc", value, "'..'");
    refused("k --git-host https://x.org", value, "plain host name");
    refused("k --env K", "\n", "the value is empty");
    refused("k --env K", "zqv-one\nzqv-two\n", "line break");

    // Usage errors come before stdin is read, so these get none.
    let stderr = daemon.ctl_fails(&["secret", "set", "k", "--value-stdin"], 2);
    assert!(stderr.contains("--env"), "{stderr}");
    let bad_name = ["secret", "set", "Bad_Name", "--env", "K", "--value-stdin"];
    assert!(daemon.ctl_fails(&bad_name, 2).contains("lower-case"));
    daemon.ctl_fails(&words("secret set k --env K --value-stdin --from-env K"), 2);
    let unset = words("secret set k --env K --from-env AMIKA_TEST_UNSET_VAR");
    let stderr = daemon.ctl_fails(&unset, 1);
    assert!(stderr.contains("UNSET_VAR is not set"), "{stderr}");

    let (status, body) = raw_request(&daemon.socket(), "PUT", "/v1/secrets/k", r#"{"value":"v"}"#);
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("--env") && body.contains("--git-host"),
        "{body}"
    );
    let (status, body) = raw_request(&daemon.socket(), "GET", "/v1/secrets/k", "");
    assert_eq!(status, 400, "{body}");
    assert!(no_secrets(&daemon));
}

fn fake_home(dir: &Path) {
    let write = |relative: &str, content: &str| {
        let path = dir.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    };
    write(
        ".claude/.credentials.json",
        "{\"claudeAiOauth\":{\"accessToken\":\"oat-secret-1\"}}",
    );
    write(
        ".codex/auth.json",
        "{\"OPENAI_API_KEY\":\"sk-codex-secret-2\"}\n",
    );
    // A directory where a credentials file should be: found, but unreadable.
    std::fs::create_dir_all(dir.join(".local/share/opencode/auth.json")).unwrap();
}

#[test]
fn extract_offers_the_callers_credentials_and_stores_them_once_agreed() {
    let daemon = Daemon::start();
    let home = tempfile::tempdir().unwrap();
    fake_home(home.path());
    let home_str = home.path().to_str().unwrap();
    let env = [("HOME", home_str), ("ANTHROPIC_API_KEY", ANTHROPIC)];

    let out = ctl_as_user(&daemon, &env, &["-o", "json", "secret", "extract"], "");
    assert_eq!(out.status.code(), Some(2), "JSON mode must not ask");

    let out = ctl_as_user(&daemon, &env, &["secret", "extract"], "n\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    for name in ["claude-credentials", "codex-auth", "anthropic-api-key"] {
        assert!(stdout.contains(name), "{name} not offered: {stdout}");
    }
    assert!(
        stdout.contains("file:.claude/.credentials.json"),
        "{stdout}"
    );
    assert!(stdout.contains("env:ANTHROPIC_API_KEY"), "{stdout}");
    assert!(
        !stdout.contains("secret-1") && !stdout.contains("zyxwvu"),
        "{stdout}"
    );
    assert!(stderr.contains("Store these 3 secrets? [y/N]"), "{stderr}");
    assert!(
        stderr.contains("skipped") && stderr.contains("opencode/auth.json"),
        "{stderr}"
    );
    assert!(no_secrets(&daemon));

    let out = ctl_as_user(&daemon, &env, &["secret", "extract"], "y\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("stored anthropic-api-key"));
    let list = daemon.ctl_json(&["secret", "list"]);
    assert_eq!(
        names(&list),
        ["anthropic-api-key", "claude-credentials", "codex-auth"]
    );
    assert_eq!(list[0]["env"], serde_json::json!(["ANTHROPIC_API_KEY"]));
    assert_eq!(list[2]["file"], ".codex/auth.json");

    let args = ["-o", "json", "secret", "extract", "--yes"];
    let out = ctl_as_user(&daemon, &env, &args, "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stored: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stored.as_array().unwrap().len(), 3);
    assert!(!stored.to_string().contains("secret-2"), "{stored}");

    let empty = tempfile::tempdir().unwrap();
    let env = [("HOME", empty.path().to_str().unwrap())];
    let out = ctl_as_user(&daemon, &env, &["secret", "extract"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("no agent credentials found"));
    let out = ctl_as_user(&daemon, &env, &args, "");
    assert_eq!(text(&out.stdout).trim(), "[]");
}
