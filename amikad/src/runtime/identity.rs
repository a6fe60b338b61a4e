//! Per-sandbox identity, made before each boot: hostname, hosts, a fresh machine id, and the
//! host's resolver configuration when the network is shared.
//!
//! The files are written to a directory of the daemon's, outside the tree, and init binds
//! each one over the tree's file of the same name. The tree itself is not written: on btrfs
//! the first write into a fresh clone copies the path down its shared metadata, and the next
//! transaction commit (the next clone) pays for every reference that copy took, a cost that
//! grows with the tree. A capture sees the tree's own files, so a snapshot never carries the
//! source's identity either.
//!
//! Only a regular file in the tree can be bound over. Where the tree has none (or has
//! something else there, such as a symlink, which could lead the mount out of the tree), the
//! file is written into the tree instead, through [`TreeRoot`], as before.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use amika_api::NetworkMode;
use rand::Rng;

use crate::safefs::TreeRoot;

/// The files, by name under the tree's `/etc`.
pub const FILES: [&str; 4] = ["hostname", "hosts", "machine-id", "resolv.conf"];

/// Makes the identity of sandbox `name` in `dir` (created if missing, emptied first) for
/// init to bind, writing into `tree` only the files that cannot be bound.
pub fn prepare(dir: &Path, tree: &TreeRoot, name: &str, network: NetworkMode) -> io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    std::fs::create_dir_all(dir)?;
    let mut files = vec![
        ("hostname", format!("{name}\n")),
        (
            "hosts",
            format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n127.0.1.1\t{name}\n"),
        ),
        (
            "machine-id",
            format!("{:032x}\n", rand::thread_rng().gen::<u128>()),
        ),
    ];
    if network == NetworkMode::Host {
        // The host's resolver may be a symlink into /run (systemd-resolved); its content is
        // what the sandbox needs.
        if let Ok(resolv) = std::fs::read_to_string("/etc/resolv.conf") {
            files.push(("resolv.conf", resolv));
        }
    }
    for (file, text) in files {
        let rel = Path::new("etc").join(file);
        let bindable = tree.symlink_metadata(&rel).is_ok_and(|m| m.is_file());
        if bindable {
            let path = dir.join(file);
            std::fs::write(&path, text)?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
        } else {
            write_into_tree(tree, &rel, &text)?;
        }
    }
    Ok(())
}

/// Writes one identity file into the tree, replacing whatever was at its path.
fn write_into_tree(tree: &TreeRoot, rel: &Path, text: &str) -> io::Result<()> {
    tree.create_dir_all(Path::new("etc"), 0o755)?;
    // Whatever the sandbox left at this path (a symlink, even to a host path) is unlinked,
    // never followed, and a fresh file takes its place.
    match tree.remove_file(rel) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    tree.write_file(rel, text.as_bytes(), 0o644, Some((0, 0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_the_tree_has_are_kept_outside_it_and_missing_ones_are_written_in() {
        let work = tempfile::tempdir().unwrap();
        let root = work.path().join("tree");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/hostname"), "base\n").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("etc/hosts")).unwrap();
        let tree = TreeRoot::open(&root).unwrap();
        let dir = work.path().join("identity");

        prepare(&dir, &tree, "red-oslo", NetworkMode::None).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("hostname")).unwrap(),
            "red-oslo\n"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("etc/hostname")).unwrap(),
            "base\n",
            "a bindable file in the tree is left alone"
        );
        // The symlink was replaced by a real file in the tree, never followed.
        let hosts = std::fs::symlink_metadata(root.join("etc/hosts")).unwrap();
        assert!(hosts.is_file());
        assert!(!dir.join("hosts").exists());
        assert!(
            !dir.join("resolv.conf").exists(),
            "no resolver without the host network"
        );
        let id = std::fs::read_to_string(root.join("etc/machine-id")).unwrap();
        assert_eq!(id.trim().len(), 32);
    }
}
