//! Unpack tests. They need root: they chown files and create device nodes.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt};
use std::path::Path;

use nix::sys::stat::makedev;
use tar::{Builder, EntryType, Header};
use tempfile::TempDir;

use super::*;

const MTIME: i64 = 1_600_000_000;

fn tree() -> (TempDir, TreeRoot) {
    let root = nix::unistd::geteuid().is_root();
    assert!(
        root,
        "unpack tests need root: they chown files and create device nodes"
    );
    let dir = tempfile::tempdir().expect("create temp dir");
    let root = TreeRoot::open(dir.path()).expect("open tree");
    (dir, root)
}

/// Permission bits, owner, group and mtime of `path`, not following it.
fn stat(path: &Path) -> (u32, u32, u32, i64) {
    let m = fs::symlink_metadata(path).unwrap();
    (m.mode() & 0o7777, m.uid(), m.gid(), m.mtime())
}

fn header(kind: EntryType, mode: u32, owner: u64) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(owner);
    h.set_gid(owner);
    h.set_mtime(MTIME as u64);
    h.set_size(0);
    h
}

fn dir(b: &mut Builder<Vec<u8>>, path: &str, mode: u32, owner: u64) {
    let mut h = header(EntryType::Directory, mode, owner);
    b.append_data(&mut h, path, io::empty()).unwrap();
}

fn file(b: &mut Builder<Vec<u8>>, path: &str, data: &[u8], mode: u32, owner: u64) {
    let mut h = header(EntryType::Regular, mode, owner);
    h.set_size(data.len() as u64);
    b.append_data(&mut h, path, data).unwrap();
}

fn link(b: &mut Builder<Vec<u8>>, kind: EntryType, path: &str, target: &str) {
    let mut h = header(kind, 0o777, 0);
    b.append_link(&mut h, path, target).unwrap();
}

/// An entry written byte for byte, bypassing the builder's path checks.
fn raw(b: &mut Builder<Vec<u8>>, kind: EntryType, path: &str, target: &str, data: &[u8]) {
    let mut h = header(kind, 0o644, 0);
    h.set_size(data.len() as u64);
    h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
    h.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
    h.set_cksum();
    b.append(&h, data).unwrap();
}

fn archive(fill: impl FnOnce(&mut Builder<Vec<u8>>)) -> Vec<u8> {
    let mut b = Builder::new(Vec::new());
    fill(&mut b);
    b.into_inner().unwrap()
}

fn rejected(root: &TreeRoot, bytes: &[u8]) -> String {
    match unpack(bytes, root) {
        Err(e @ UnpackError::Rejected { .. }) => e.to_string(),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn rootfs_keeps_owners_modes_symlinks_and_times() {
    let (tmp, root) = tree();
    let bytes = archive(|b| {
        dir(b, "./", 0o750, 1000);
        dir(b, "bin", 0o755, 0);
        file(b, "bin/tool", b"#!/bin/sh\n", 0o4755, 0);
        link(b, EntryType::Symlink, "bin/sh", "/bin/busybox");
        dir(b, "home/amika", 0o700, 1000);
        file(b, "home/amika/notes", b"hi", 0o640, 1000);
        raw(b, EntryType::Regular, "./etc/hosts", "", b"::1 localhost\n");
    });
    let stats = unpack(&bytes[..], &root).unwrap();
    let expected = UnpackStats {
        entries: 7,
        bytes: 26,
    };
    assert_eq!(stats, expected);

    let t = tmp.path();
    assert_eq!(
        stat(t),
        (0o750, 1000, 1000, MTIME),
        "the ./ entry describes the root"
    );
    assert_eq!(stat(&t.join("bin/tool")), (0o4755, 0, 0, MTIME));
    assert_eq!(
        fs::read_link(t.join("bin/sh")).unwrap(),
        Path::new("/bin/busybox")
    );
    let home = stat(&t.join("home/amika"));
    assert_eq!(
        home,
        (0o700, 1000, 1000, MTIME),
        "directory metadata is set last"
    );
    assert_eq!(
        stat(&t.join("home/amika/notes")),
        (0o640, 1000, 1000, MTIME)
    );
    assert_eq!(fs::read(t.join("etc/hosts")).unwrap(), b"::1 localhost\n");
}

#[test]
fn hard_links_share_an_inode() {
    let (tmp, root) = tree();
    let bytes = archive(|b| {
        file(b, "usr/bin/perl5", b"perl", 0o755, 0);
        link(b, EntryType::Link, "usr/bin/perl", "./usr/bin/perl5");
    });
    unpack(&bytes[..], &root).unwrap();
    let a = fs::metadata(tmp.path().join("usr/bin/perl5")).unwrap();
    let b = fs::metadata(tmp.path().join("usr/bin/perl")).unwrap();
    assert_eq!((a.ino(), a.nlink()), (b.ino(), 2));
}

#[test]
fn pax_records_carry_xattrs_owners_and_times() {
    let (tmp, root) = tree();
    let bytes = archive(|b| {
        b.append_pax_extensions([("SCHILY.xattr.user.dir", &b"d"[..])])
            .unwrap();
        dir(b, "data", 0o755, 0);
        let records = [
            ("SCHILY.xattr.user.amika", &b"value"[..]),
            ("uid", &b"4000000"[..]),
            ("mtime", &b"1700000000.25"[..]),
        ];
        b.append_pax_extensions(records).unwrap();
        file(b, "data/f", b"x", 0o644, 0);
    });
    unpack(&bytes[..], &root).unwrap();

    let f = tmp.path().join("data/f");
    let value = xattr::get(&f, "user.amika").unwrap();
    assert_eq!(value.as_deref(), Some(&b"value"[..]));
    assert_eq!(stat(&f), (0o644, 4_000_000, 0, 1_700_000_000));
    assert_eq!(fs::metadata(&f).unwrap().mtime_nsec(), 250_000_000);
    let value = xattr::get(tmp.path().join("data"), "user.dir").unwrap();
    assert_eq!(value.as_deref(), Some(&b"d"[..]));
}

#[test]
fn paths_and_hard_links_that_leave_the_tree_are_refused() {
    let (tmp, root) = tree();
    let bytes = archive(|b| raw(b, EntryType::Regular, "../x", "", b"x"));
    let msg = rejected(&root, &bytes);
    assert!(
        msg.contains("archive entry '../x' escapes the image"),
        "{msg}"
    );

    let bytes = archive(|b| raw(b, EntryType::Directory, "a/../../etc", "", b""));
    let msg = rejected(&root, &bytes);
    assert!(
        msg.starts_with("archive entry 'a/../../etc' escapes the image:"),
        "{msg}"
    );

    let bytes = archive(|b| raw(b, EntryType::Regular, "/etc/x", "", b"x"));
    assert!(rejected(&root, &bytes).contains("'/etc/x'"));
    for target in ["../x", "/etc/passwd"] {
        let bytes = archive(|b| raw(b, EntryType::Link, "x", target, b""));
        let msg = rejected(&root, &bytes);
        assert!(msg.contains("hard link target"), "{msg}");
    }
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn symlinks_that_climb_out_are_refused() {
    let (tmp, root) = tree();
    let bytes = archive(|b| {
        link(b, EntryType::Symlink, "evil", "../../..");
        file(b, "evil/x", b"x", 0o644, 0);
    });
    let msg = rejected(&root, &bytes);
    assert!(
        msg.contains("'evil'") && msg.contains("climbs above"),
        "{msg}"
    );

    let bytes = archive(|b| link(b, EntryType::Symlink, "a/b", "../../x"));
    assert!(rejected(&root, &bytes).contains("'a/b'"));

    let bytes = archive(|b| link(b, EntryType::Symlink, "a/b", "../x"));
    unpack(&bytes[..], &root).unwrap();
    assert_eq!(
        fs::read_link(tmp.path().join("a/b")).unwrap(),
        Path::new("../x")
    );
}

#[test]
fn absolute_symlinks_resolve_inside_the_tree() {
    let (tmp, root) = tree();
    let passwd = fs::read("/etc/passwd").unwrap();
    let host = tempfile::tempdir().unwrap();
    let host_dir = host.path().to_str().unwrap();

    // `etc -> /etc` points at itself inside the tree: nothing can land.
    let bytes = archive(|b| {
        link(b, EntryType::Symlink, "etc", "/etc");
        file(b, "etc/passwd", b"evil::0:0::/:/bin/sh\n", 0o644, 0);
    });
    let err = unpack(&bytes[..], &root).unwrap_err();
    assert!(err.to_string().contains("'etc/passwd'"), "{err}");
    assert_eq!(fs::read("/etc/passwd").unwrap(), passwd);

    // A link to a host directory reaches the same path inside the tree.
    let bytes = archive(|b| {
        dir(b, &host_dir[1..], 0o755, 0);
        link(b, EntryType::Symlink, "out", host_dir);
        file(b, "out/x", b"inside", 0o644, 0);
    });
    unpack(&bytes[..], &root).unwrap();
    let landed = tmp.path().join(&host_dir[1..]).join("x");
    assert_eq!(fs::read(landed).unwrap(), b"inside");
    assert!(!host.path().join("x").exists());
}

#[test]
fn later_entries_replace_earlier_ones_without_following_links() {
    let (tmp, root) = tree();
    let host = tempfile::NamedTempFile::new().unwrap();
    symlink(host.path(), tmp.path().join("f")).unwrap();
    let bytes = archive(|b| {
        file(b, "f", b"not through the link", 0o644, 0);
        file(b, "g", b"first", 0o644, 0);
        file(b, "g", b"second", 0o600, 0);
        file(b, "d", b"a file", 0o644, 0);
        dir(b, "d", 0o711, 0);
        dir(b, "d", 0o751, 0);
    });
    unpack(&bytes[..], &root).unwrap();

    assert_eq!(fs::read(host.path()).unwrap(), b"");
    assert_eq!(
        fs::read(tmp.path().join("f")).unwrap(),
        b"not through the link"
    );
    assert_eq!(fs::read(tmp.path().join("g")).unwrap(), b"second");
    assert!(tmp.path().join("d").is_dir());
    assert_eq!(stat(&tmp.path().join("d")).0, 0o751);
}

#[test]
fn devices_and_fifos_are_created() {
    let (tmp, root) = tree();
    let bytes = archive(|b| {
        let mut h = header(EntryType::Char, 0o666, 0);
        h.set_device_major(1).unwrap();
        h.set_device_minor(3).unwrap();
        b.append_data(&mut h, "dev/null", io::empty()).unwrap();
        let mut h = header(EntryType::Fifo, 0o600, 0);
        b.append_data(&mut h, "run/pipe", io::empty()).unwrap();
    });
    unpack(&bytes[..], &root).unwrap();

    let null = fs::symlink_metadata(tmp.path().join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!((null.rdev(), null.mode() & 0o7777), (makedev(1, 3), 0o666));
    let pipe = fs::symlink_metadata(tmp.path().join("run/pipe")).unwrap();
    assert!(pipe.file_type().is_fifo());
}

#[test]
fn gzip_and_zstd_streams_unpack() {
    let bytes = archive(|b| file(b, "hello", b"world", 0o644, 0));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&bytes).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(&bytes[..], 3).unwrap();

    for (compression, data) in [(Compression::Gzip, gz), (Compression::Zstd, zst)] {
        let (tmp, root) = tree();
        let reader = decoder(&data[..], compression).unwrap();
        assert_eq!(unpack(reader, &root).unwrap().bytes, 5);
        assert_eq!(fs::read(tmp.path().join("hello")).unwrap(), b"world");
    }
}

#[test]
fn a_truncated_stream_is_an_archive_error() {
    let (_tmp, root) = tree();
    let bytes = archive(|b| file(b, "big", &[7; 4096], 0o644, 0));
    match unpack(&bytes[..1024], &root) {
        Err(UnpackError::Archive(e)) => assert!(e.to_string().contains("'big'"), "{e}"),
        other => panic!("expected an archive error, got {other:?}"),
    }
}
