//! Image import: tar files in every compression, directories, and archives that try to
//! escape the tree.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use amika_tests::{archive, storage_tests, Backend, Daemon};

storage_tests!(
    imported_tar_keeps_owners_modes_and_links,
    directory_import_keeps_hard_links_and_symlinks,
    escaping_entries_are_refused_and_leave_nothing,
    a_symlinked_directory_never_redirects_a_later_entry_to_the_host,
    images_can_be_deleted_and_duplicates_are_refused,
);

fn small_rootfs_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    archive::dir(&mut b, "etc/", 0o755);
    archive::file(&mut b, "etc/motd", b"hello from a tar\n", 0o644, 0);
    archive::dir(&mut b, "home/", 0o755);
    archive::dir(&mut b, "home/amika/", 0o750);
    archive::file(&mut b, "home/amika/notes", b"mine\n", 0o600, 1000);
    archive::file(&mut b, "usr-bin-tool", b"#!/bin/sh\n", 0o4755, 0);
    archive::raw_symlink(&mut b, "motd-link", "/etc/motd");
    b.into_inner().unwrap()
}

fn image_tree(daemon: &Daemon, name: &str) -> std::path::PathBuf {
    let image = daemon.ctl_json(&["image", "show", name]);
    daemon
        .pool()
        .join("images")
        .join(image["id"].as_str().unwrap())
}

fn imported_tar_keeps_owners_modes_and_links(backend: Backend) {
    let daemon = Daemon::start_on(backend);
    let work = tempfile::tempdir().unwrap();
    let tar_path = work.path().join("root.tar");
    std::fs::write(&tar_path, small_rootfs_tar()).unwrap();

    let image = daemon.ctl_json(&["image", "import", "plain", tar_path.to_str().unwrap()]);
    assert_eq!(image["name"], "plain");
    assert_eq!(image["state"], "ready");

    let tree = image_tree(&daemon, "plain");
    assert_eq!(
        std::fs::read(tree.join("etc/motd")).unwrap(),
        b"hello from a tar\n"
    );
    let notes = std::fs::metadata(tree.join("home/amika/notes")).unwrap();
    assert_eq!((notes.uid(), notes.mode() & 0o7777), (1000, 0o600));
    let tool = std::fs::metadata(tree.join("usr-bin-tool")).unwrap();
    assert_eq!(
        tool.permissions().mode() & 0o7777,
        0o4755,
        "setuid bit kept"
    );
    assert_eq!(
        std::fs::read_link(tree.join("motd-link")).unwrap().to_str(),
        Some("/etc/motd")
    );
    assert_eq!(
        std::fs::metadata(tree.join("home/amika")).unwrap().mode() & 0o7777,
        0o750
    );

    let listed = daemon.ctl_json(&["image", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
}

#[test]
fn gzip_and_zstd_archives_import() {
    let daemon = Daemon::start();
    let work = tempfile::tempdir().unwrap();
    let raw = small_rootfs_tar();

    let gz_path = work.path().join("root.tar.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &raw).unwrap();
    std::fs::write(&gz_path, gz.finish().unwrap()).unwrap();
    daemon.ctl_ok(&["image", "import", "gz", gz_path.to_str().unwrap()]);

    let zst_path = work.path().join("root.tar.zst");
    let status = std::process::Command::new("zstd")
        .arg("-q")
        .arg("-o")
        .arg(&zst_path)
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            std::io::Write::write_all(child.stdin.as_mut().unwrap(), &raw)?;
            drop(child.stdin.take());
            child.wait()
        })
        .expect("the zstd command is needed for this test (package zstd)");
    assert!(status.success());
    daemon.ctl_ok(&["image", "import", "zst", zst_path.to_str().unwrap()]);

    for name in ["gz", "zst"] {
        let tree = image_tree(&daemon, name);
        assert_eq!(
            std::fs::read(tree.join("etc/motd")).unwrap(),
            b"hello from a tar\n"
        );
    }
}

fn directory_import_keeps_hard_links_and_symlinks(backend: Backend) {
    let daemon = Daemon::start_on(backend);
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(src.path().join("bin")).unwrap();
    std::fs::write(src.path().join("bin/tool"), b"tool").unwrap();
    std::fs::hard_link(src.path().join("bin/tool"), src.path().join("bin/alias")).unwrap();
    std::os::unix::fs::symlink("tool", src.path().join("bin/link")).unwrap();

    daemon.ctl_ok(&["image", "import", "fromdir", src.path().to_str().unwrap()]);
    let tree = image_tree(&daemon, "fromdir");
    let a = std::fs::metadata(tree.join("bin/tool")).unwrap();
    let b = std::fs::metadata(tree.join("bin/alias")).unwrap();
    assert_eq!(a.ino(), b.ino(), "hard link kept as a hard link");
    assert_eq!(
        std::fs::read_link(tree.join("bin/link")).unwrap().to_str(),
        Some("tool")
    );

    let sandbox = daemon.ctl_json(&[
        "sandbox", "create", "--name", "from-dir", "--image", "fromdir",
    ]);
    assert_eq!(sandbox["base"]["name"], "fromdir");
    let sandbox_tree = daemon
        .pool()
        .join("sandboxes")
        .join(sandbox["id"].as_str().unwrap());
    assert_eq!(
        std::fs::read(sandbox_tree.join("bin/tool")).unwrap(),
        b"tool"
    );
}

fn assert_refused(daemon: &Daemon, name: &str, tar: Vec<u8>, entry: &str) {
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("evil.tar");
    std::fs::write(&path, tar).unwrap();
    let stderr = daemon.ctl_fails(&["image", "import", name, path.to_str().unwrap()], 1);
    assert!(
        stderr.contains(entry),
        "the error names the entry {entry}: {stderr}"
    );
    assert!(daemon.trees("images").is_empty(), "no tree left behind");
    let images = daemon.ctl_json(&["image", "list"]);
    assert_eq!(images.as_array().unwrap().len(), 0, "no row left behind");
}

fn escaping_entries_are_refused_and_leave_nothing(backend: Backend) {
    let daemon = Daemon::start_on(backend);

    let mut b = tar::Builder::new(Vec::new());
    archive::file(&mut b, "ok", b"fine", 0o644, 0);
    archive::raw_file(&mut b, "../escape", b"evil");
    assert_refused(&daemon, "dotdot", b.into_inner().unwrap(), "../escape");

    let mut b = tar::Builder::new(Vec::new());
    archive::raw_file(&mut b, "/etc/amika-evil", b"evil");
    assert_refused(
        &daemon,
        "absolute",
        b.into_inner().unwrap(),
        "/etc/amika-evil",
    );

    let mut b = tar::Builder::new(Vec::new());
    archive::raw_symlink(&mut b, "up", "../../..");
    assert_refused(&daemon, "link-out", b.into_inner().unwrap(), "up");
    assert!(!std::path::Path::new("/etc/amika-evil").exists());
}

fn a_symlinked_directory_never_redirects_a_later_entry_to_the_host(backend: Backend) {
    let daemon = Daemon::start_on(backend);
    let host = tempfile::tempdir().unwrap();
    let host_dir = host.path().to_str().unwrap().to_owned();

    let mut b = tar::Builder::new(Vec::new());
    archive::raw_symlink(&mut b, "hostdir", &host_dir);
    archive::file(&mut b, "hostdir/planted", b"evil", 0o644, 0);
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("sneaky.tar");
    std::fs::write(&path, b.into_inner().unwrap()).unwrap();
    // Whether the import succeeds (the link resolves inside the tree) or is refused, the host
    // directory must stay empty.
    let _ = daemon.ctl(&["image", "import", "sneaky", path.to_str().unwrap()]);
    assert_eq!(std::fs::read_dir(host.path()).unwrap().count(), 0);
}

#[test]
fn missing_or_unreadable_paths_fail_in_the_client() {
    let daemon = Daemon::start();
    let stderr = daemon.ctl_fails(&["image", "import", "nope", "/nonexistent/root.tar"], 1);
    assert!(stderr.contains("/nonexistent/root.tar"), "{stderr}");
}

fn images_can_be_deleted_and_duplicates_are_refused(backend: Backend) {
    let daemon = Daemon::start_on(backend);
    let work = tempfile::tempdir().unwrap();
    let tar_path = work.path().join("root.tar");
    std::fs::write(&tar_path, small_rootfs_tar()).unwrap();
    daemon.ctl_ok(&["image", "import", "one", tar_path.to_str().unwrap()]);
    let stderr = daemon.ctl_fails(&["image", "import", "one", tar_path.to_str().unwrap()], 1);
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(daemon.trees("images").len(), 1);

    daemon.ctl_ok(&["image", "delete", "one"]);
    assert!(daemon.trees("images").is_empty());
    daemon.ctl_fails(&["image", "show", "one"], 1);
}
