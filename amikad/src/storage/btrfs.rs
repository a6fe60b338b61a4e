//! The btrfs backend: every tree is a subvolume under `<root>/<area>/<id>`.
//!
//! Sealing sets the subvolume read-only after a filesystem sync; cloning is a writable
//! snapshot of the sealed subvolume, which btrfs makes in constant time and which shares no
//! lifetime with its origin, so deleting an image never disturbs the sandboxes made from it.

use std::path::{Path, PathBuf};

use libbtrfsutil::{CreateSnapshotOptions, DeleteSubvolumeOptions};

use super::{PoolUsage, Storage, StorageError, StorageResult, TreeKind, TreeRef};

/// A pool rooted at a directory on a btrfs filesystem.
pub struct BtrfsStorage {
    root: PathBuf,
}

impl BtrfsStorage {
    /// Opens the pool at `root`, which must be on btrfs; creates the per-kind areas.
    pub fn open(root: &Path) -> Result<Self, String> {
        let stat = nix::sys::statfs::statfs(root)
            .map_err(|e| format!("cannot read the filesystem of {}: {e}", root.display()))?;
        if stat.filesystem_type() != nix::sys::statfs::BTRFS_SUPER_MAGIC {
            return Err(format!(
                "{} is not on btrfs; pass --storage btrfs:PATH with a path on a btrfs \
                 filesystem, or omit --storage to use the embedded pool",
                root.display()
            ));
        }
        for kind in TreeKind::ALL {
            let area = root.join(kind.area());
            std::fs::create_dir_all(&area)
                .map_err(|e| format!("cannot create {}: {e}", area.display()))?;
        }
        Ok(Self {
            root: root.to_owned(),
        })
    }
}

impl Storage for BtrfsStorage {
    fn backend(&self) -> &'static str {
        "btrfs"
    }

    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn path(&self, tree: &TreeRef) -> PathBuf {
        self.root.join(tree.kind.area()).join(&tree.id)
    }

    fn create(&self, tree: &TreeRef) -> StorageResult<PathBuf> {
        let path = self.path(tree);
        tracing::debug!(%tree, path = %path.display(), "btrfs subvolume create");
        libbtrfsutil::create_subvolume(&path)
            .map_err(|e| StorageError::new("create subvolume", tree, e))?;
        Ok(path)
    }

    fn seal(&self, tree: &TreeRef) -> StorageResult<()> {
        let path = self.path(tree);
        tracing::debug!(%tree, "btrfs sync and set read-only");
        libbtrfsutil::sync(&path).map_err(|e| StorageError::new("sync", tree, e))?;
        libbtrfsutil::set_subvolume_read_only(&path, true)
            .map_err(|e| StorageError::new("set read-only", tree, e))
    }

    fn clone_from(&self, origin: &TreeRef, tree: &TreeRef) -> StorageResult<PathBuf> {
        let path = self.path(tree);
        tracing::debug!(%origin, %tree, "btrfs snapshot");
        CreateSnapshotOptions::new()
            .create(self.path(origin), &path)
            .map_err(|e| StorageError::new(format!("clone {origin} to"), tree, e))?;
        Ok(path)
    }

    fn flush(&self, tree: &TreeRef) -> StorageResult<()> {
        tracing::debug!(%tree, "btrfs sync");
        libbtrfsutil::sync(self.path(tree)).map_err(|e| StorageError::new("sync", tree, e))
    }

    fn capture(&self, source: &TreeRef, tree: &TreeRef) -> StorageResult<()> {
        // A writable snapshot of a live subvolume is atomic and constant-time, exactly as a
        // clone of a sealed one, and is the writable tree already.
        self.clone_from(source, tree).map(drop)
    }

    fn open_capture(&self, _source: &TreeRef, tree: &TreeRef) -> StorageResult<PathBuf> {
        Ok(self.path(tree))
    }

    fn rename(&self, from: &TreeRef, to: &TreeRef) -> StorageResult<PathBuf> {
        let target = self.path(to);
        tracing::debug!(%from, %to, "rename subvolume");
        std::fs::rename(self.path(from), &target)
            .map_err(|e| StorageError::new(format!("move to {to}"), from, e))?;
        Ok(target)
    }

    fn generation(&self, tree: &TreeRef) -> StorageResult<Option<u64>> {
        let info = libbtrfsutil::subvolume_info(self.path(tree))
            .map_err(|e| StorageError::new("read generation of", tree, e))?;
        Ok(Some(info.generation()))
    }

    fn changed_since(
        &self,
        tree: &TreeRef,
        generation: u64,
    ) -> StorageResult<Option<Vec<PathBuf>>> {
        crate::scrub::btrfs_changed_since(&self.path(tree), generation)
            .map(Some)
            .map_err(|e| StorageError::new("list changes of", tree, e))
    }

    fn delete(&self, tree: &TreeRef) -> StorageResult<()> {
        let path = self.path(tree);
        if std::fs::symlink_metadata(&path).is_err() {
            return Ok(());
        }
        tracing::debug!(%tree, "btrfs subvolume delete");
        // Recursive, because a sandbox may have made subvolumes of its own inside its tree.
        DeleteSubvolumeOptions::new()
            .recursive(true)
            .delete(&path)
            .map_err(|e| StorageError::new("delete subvolume", tree, e))
    }

    fn list(&self, kind: TreeKind) -> StorageResult<Vec<String>> {
        let area = self.root.join(kind.area());
        let area_ref = TreeRef {
            kind,
            id: String::new(),
        };
        let entries =
            std::fs::read_dir(&area).map_err(|e| StorageError::new("list", &area_ref, e))?;
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| StorageError::new("list", &area_ref, e))?;
            ids.push(entry.file_name().to_string_lossy().into_owned());
        }
        ids.sort();
        Ok(ids)
    }

    fn usage(&self) -> StorageResult<PoolUsage> {
        let (total, used, free) = super::pool::usage(&self.root).map_err(|e| StorageError {
            action: "measure".into(),
            tree: self.location(),
            message: e.to_string(),
        })?;
        Ok(PoolUsage { total, used, free })
    }
}
