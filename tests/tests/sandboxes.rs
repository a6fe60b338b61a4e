//! Sandboxes on the storage side: create from the minimal preset, list, show, delete, and
//! the naming rules.

use amika_tests::{raw_request, storage_tests, Backend, Daemon};

storage_tests!(
    create_list_show_delete_from_the_minimal_preset,
    invalid_and_duplicate_names_are_refused,
    the_daemon_refuses_bad_names_even_without_the_client_check,
);

fn create_list_show_delete_from_the_minimal_preset(backend: Backend) {
    let daemon = Daemon::start_on(backend);
    let created = daemon.ctl_json(&[
        "sandbox", "create", "--name", "base-box", "--preset", "minimal",
    ]);
    assert_eq!(created["name"], "base-box");
    assert_eq!(created["base"]["kind"], "image");
    assert_eq!(created["base"]["name"], "minimal");

    let tree = daemon
        .pool()
        .join("sandboxes")
        .join(created["id"].as_str().unwrap());
    let passwd = std::fs::read_to_string(tree.join("etc/passwd")).unwrap();
    assert!(passwd.contains("amika:x:1000:1000"), "{passwd}");
    assert!(tree.join("home/amika/workspace").is_dir());

    let list = daemon.ctl_json(&["sandbox", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let shown = daemon.ctl_json(&["sandbox", "show", "base-box"]);
    assert_eq!(shown["id"], created["id"]);
    let text = daemon.ctl_ok(&["sandbox", "list"]);
    assert!(text.contains("base-box"), "{text}");

    // The preset is built once and reused.
    daemon.ctl_ok(&["sandbox", "create", "--name", "second"]);
    let images = daemon.ctl_json(&["image", "list"]);
    assert_eq!(images.as_array().unwrap().len(), 1, "{images}");

    daemon.ctl_ok(&["sandbox", "delete", "base-box", "second"]);
    assert!(daemon.trees("sandboxes").is_empty());
    let list = daemon.ctl_json(&["sandbox", "list"]);
    assert_eq!(
        list,
        serde_json::json!([]),
        "an empty list is an empty array"
    );
}

#[test]
fn generated_names_are_color_city() {
    let daemon = Daemon::start();
    let created = daemon.ctl_json(&["sandbox", "create"]);
    let name = created["name"].as_str().unwrap();
    let parts: Vec<&str> = name.split('-').collect();
    assert_eq!(parts.len(), 2, "{name}");
    assert!(parts
        .iter()
        .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase())));
}

fn invalid_and_duplicate_names_are_refused(backend: Backend) {
    let daemon = Daemon::start_on(backend);
    for bad in ["Bad_Name", "-lead", "trail-", "a.b", &"x".repeat(64)] {
        let flag = format!("--name={bad}");
        let stderr = daemon.ctl_fails(&["sandbox", "create", &flag], 2);
        assert!(stderr.contains("name"), "{bad}: {stderr}");
    }
    daemon.ctl_ok(&["sandbox", "create", "--name", "taken"]);
    let stderr = daemon.ctl_fails(&["sandbox", "create", "--name", "taken"], 1);
    assert!(
        stderr.contains("taken") && stderr.contains("already exists"),
        "{stderr}"
    );
    assert_eq!(
        daemon.trees("sandboxes").len(),
        1,
        "the refused create left no tree"
    );
}

fn the_daemon_refuses_bad_names_even_without_the_client_check(backend: Backend) {
    let daemon = Daemon::start_on(backend);
    let (status, body) = raw_request(
        &daemon.socket(),
        "POST",
        "/v1/sandboxes",
        r#"{"name":"../etc"}"#,
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains(r#""code":"invalid_request""#), "{body}");
    assert!(daemon.trees("sandboxes").is_empty());
}

#[test]
fn deleting_several_reports_each_and_fails_if_any_failed() {
    let daemon = Daemon::start();
    daemon.ctl_ok(&["sandbox", "create", "--name", "one"]);
    let out = daemon.ctl(&["-o", "json", "sandbox", "delete", "one", "missing"]);
    assert_eq!(out.status.code(), Some(1));
    let results: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(results[0]["name"], "one");
    assert_eq!(results[0]["deleted"], true);
    assert_eq!(results[1]["deleted"], false);
    assert_eq!(results[1]["error"]["code"], "not_found");
}

#[test]
fn unknown_image_and_preset_are_clear_errors() {
    let daemon = Daemon::start();
    let stderr = daemon.ctl_fails(&["sandbox", "create", "--image", "nope"], 1);
    assert!(stderr.contains("image 'nope' not found"), "{stderr}");
    let stderr = daemon.ctl_fails(&["sandbox", "create", "--preset", "nope"], 1);
    assert!(stderr.contains("unknown preset 'nope'"), "{stderr}");
}
