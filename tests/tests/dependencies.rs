//! Deleting what sandboxes were booted from: a snapshot or an image goes for the user at
//! once, the sandboxes cloned from it keep running, and once the last of them is deleted the
//! pool holds nothing of it. On ZFS, where a clone needs its origin, this is the collection
//! of kept datasets; on btrfs, where clones are independent, the same steps must hold too.

use amika_tests::{storage_tests, Backend, Daemon};

storage_tests!(
    a_snapshot_deleted_under_two_sandboxes_is_freed_with_the_last_of_them,
    an_image_deleted_under_its_sandboxes_is_freed_with_the_last_of_them,
);

/// Asserts that the pool holds no tree of any kind but images, and nothing kept for a clone.
fn assert_only_images_left(daemon: &Daemon) {
    for area in ["sandboxes", "snapshots", "staging"] {
        assert_eq!(
            daemon.trees(area),
            Vec::<String>::new(),
            "{area} left behind"
        );
    }
    assert_eq!(
        daemon.hidden_trees(),
        Vec::<String>::new(),
        "trees kept for clones after the last clone went"
    );
}

fn a_snapshot_deleted_under_two_sandboxes_is_freed_with_the_last_of_them(backend: Backend) {
    let daemon = Daemon::start_on(backend);
    daemon.ctl_json(&["sandbox", "create", "--name", "origin"]);
    daemon.exec_ok("origin", &["sh", "-c", "echo kept > ~/kept"]);
    daemon.snapshot("origin", "shared", "full");
    // The sandbox the snapshot came from goes first: the snapshot must not need it.
    daemon.ctl_ok(&["sandbox", "delete", "origin"]);
    for name in ["first", "second"] {
        daemon.ctl_json(&["sandbox", "create", "--name", name, "--snapshot", "shared"]);
    }

    daemon.ctl_ok(&["snapshot", "delete", "shared"]);
    let listed = daemon.ctl_json(&["snapshot", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 0, "{listed}");
    assert!(daemon.trees("snapshots").is_empty());
    daemon.ctl_fails(&["snapshot", "show", "shared"], 1);
    if backend == Backend::Zfs {
        // Kept out of sight for the clones, not destroyed: the case this test is about.
        assert!(
            !daemon.hidden_trees().is_empty(),
            "no dataset was kept for the clones"
        );
    }
    for name in ["first", "second"] {
        assert_eq!(daemon.exec_ok(name, &["cat", "/home/amika/kept"]), "kept\n");
    }

    daemon.ctl_ok(&["sandbox", "delete", "first"]);
    // The other sandbox still has all of its tree, and writes to it.
    assert_eq!(
        daemon.exec_ok(
            "second",
            &[
                "sh",
                "-c",
                "cat ~/kept && echo more >> ~/kept && cat ~/kept"
            ]
        ),
        "kept\nkept\nmore\n"
    );
    daemon.ctl_ok(&["sandbox", "delete", "second"]);
    assert_only_images_left(&daemon);

    // The name is free again, and a new snapshot of it is independent of the old one.
    daemon.ctl_json(&["sandbox", "create", "--name", "again"]);
    daemon.snapshot("again", "shared", "full");
    daemon.ctl_ok(&["sandbox", "delete", "again"]);
    daemon.ctl_ok(&["snapshot", "delete", "shared"]);
    assert_only_images_left(&daemon);
}

fn an_image_deleted_under_its_sandboxes_is_freed_with_the_last_of_them(backend: Backend) {
    let daemon = Daemon::start_on(backend);
    for name in ["one", "two"] {
        daemon.ctl_json(&["sandbox", "create", "--name", name, "--preset", "minimal"]);
    }
    let image = daemon.ctl_json(&["image", "show", "minimal"]);
    let old_id = image["id"].as_str().unwrap().to_owned();

    daemon.ctl_ok(&["image", "delete", "minimal"]);
    daemon.ctl_fails(&["image", "show", "minimal"], 1);
    assert!(daemon.trees("images").is_empty());
    if backend == Backend::Zfs {
        let kept = format!("images/{old_id}");
        assert_eq!(
            daemon.hidden_trees(),
            vec![kept.clone(), format!("{kept}@sealed")]
        );
    }
    for name in ["one", "two"] {
        assert_eq!(daemon.exec_ok(name, &["sh", "-c", "echo alive"]), "alive\n");
    }

    // A new sandbox of the preset builds a fresh image beside what the old one keeps.
    daemon.ctl_json(&[
        "sandbox", "create", "--name", "three", "--preset", "minimal",
    ]);
    let rebuilt = daemon.ctl_json(&["image", "show", "minimal"]);
    assert_ne!(rebuilt["id"].as_str().unwrap(), old_id);

    for name in ["one", "two", "three"] {
        daemon.ctl_ok(&["sandbox", "delete", name]);
    }
    assert_eq!(
        daemon.trees("images"),
        vec![rebuilt["id"].as_str().unwrap().to_owned()]
    );
    assert_only_images_left(&daemon);
    daemon.ctl_ok(&["image", "delete", "minimal"]);
    assert!(daemon.trees("images").is_empty());
    assert_only_images_left(&daemon);
}
