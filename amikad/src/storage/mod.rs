//! Storage: the pool that holds images, sandboxes and snapshots as trees.
//!
//! The rest of the daemon sees only [`Storage`]: trees named by kind and id, created empty,
//! sealed read-only, cloned writable from a sealed tree, captured from a live tree, deleted.
//! A btrfs pool maps these onto subvolumes and snapshots; a ZFS pool maps them onto datasets,
//! `@` snapshots and clones, where a clone depends on its origin, so the interface never
//! promises that a tree's storage is independent of the tree it came from.

pub mod btrfs;
pub mod pool;
pub mod zfs;

use std::fmt;
use std::path::PathBuf;

/// What a tree is for; each kind lives in its own area of the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TreeKind {
    /// A read-only image that sandboxes clone.
    Image,
    /// A sandbox's writable root filesystem.
    Sandbox,
    /// A captured, read-only snapshot that sandboxes clone.
    Snapshot,
    /// A work area for captures in progress.
    Staging,
}

impl TreeKind {
    /// Every kind, for reconciliation sweeps.
    pub const ALL: [TreeKind; 4] = [
        TreeKind::Image,
        TreeKind::Sandbox,
        TreeKind::Snapshot,
        TreeKind::Staging,
    ];

    /// The directory (or dataset) name that holds trees of this kind.
    pub fn area(self) -> &'static str {
        match self {
            Self::Image => "images",
            Self::Sandbox => "sandboxes",
            Self::Snapshot => "snapshots",
            Self::Staging => "staging",
        }
    }
}

/// A tree in the pool: its kind and the id of the object that owns it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TreeRef {
    /// Which area it lives in.
    pub kind: TreeKind,
    /// The owning image's or sandbox's id.
    pub id: String,
}

impl TreeRef {
    /// The tree of image `id`.
    pub fn image(id: &str) -> Self {
        Self {
            kind: TreeKind::Image,
            id: id.to_owned(),
        }
    }

    /// The tree of sandbox `id`.
    pub fn sandbox(id: &str) -> Self {
        Self {
            kind: TreeKind::Sandbox,
            id: id.to_owned(),
        }
    }

    /// The tree of snapshot `id`.
    pub fn snapshot(id: &str) -> Self {
        Self {
            kind: TreeKind::Snapshot,
            id: id.to_owned(),
        }
    }

    /// The work tree of the capture of snapshot `id`.
    pub fn staging(id: &str) -> Self {
        Self {
            kind: TreeKind::Staging,
            id: id.to_owned(),
        }
    }
}

impl fmt::Display for TreeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind.area(), self.id)
    }
}

/// Space in the pool, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    /// Total size.
    pub total: u64,
    /// In use.
    pub used: u64,
    /// Still free.
    pub free: u64,
}

/// A storage failure, naming the tree and the operation.
#[derive(Debug, thiserror::Error)]
#[error("{action} {tree}: {message}")]
pub struct StorageError {
    /// What was being done, e.g. `clone images/ab12 to`.
    pub action: String,
    /// The tree concerned.
    pub tree: String,
    /// The underlying failure.
    pub message: String,
}

impl StorageError {
    /// Builds an error from any displayable cause.
    pub fn new(action: impl Into<String>, tree: &TreeRef, cause: impl fmt::Display) -> Self {
        Self {
            action: action.into(),
            tree: tree.to_string(),
            message: cause.to_string(),
        }
    }
}

/// Result of a storage operation.
pub type StorageResult<T> = Result<T, StorageError>;

/// The operations the daemon needs from a pool. Implementations are synchronous and called
/// from blocking threads.
pub trait Storage: Send + Sync {
    /// `btrfs` or `zfs`.
    fn backend(&self) -> &'static str;
    /// Where the pool is, for status output: a mount point or a dataset.
    fn location(&self) -> String;
    /// The host path where `tree` is (or would be) mounted.
    fn path(&self, tree: &TreeRef) -> PathBuf;
    /// Creates an empty writable tree and returns its path.
    fn create(&self, tree: &TreeRef) -> StorageResult<PathBuf>;
    /// Makes `tree` read-only and durable, so that it can be cloned.
    fn seal(&self, tree: &TreeRef) -> StorageResult<()>;
    /// Creates `tree` as a writable clone of the sealed `origin`, in constant time.
    fn clone_from(&self, origin: &TreeRef, tree: &TreeRef) -> StorageResult<PathBuf>;
    /// Writes `tree`'s unsynced data to disk, so that a capture that follows is quick.
    fn flush(&self, tree: &TreeRef) -> StorageResult<()>;
    /// Takes the atomic point-in-time copy of the live tree `source` that becomes `tree`.
    /// The caller freezes the source's processes for exactly this call, so it does nothing
    /// that can wait until [`Storage::open_capture`].
    fn capture(&self, source: &TreeRef, tree: &TreeRef) -> StorageResult<()>;
    /// Makes the copy that [`Storage::capture`] took into the writable tree `tree` and
    /// returns its path. When this fails, nothing of the capture is left.
    fn open_capture(&self, source: &TreeRef, tree: &TreeRef) -> StorageResult<PathBuf>;
    /// Moves a tree to another place in the pool (a finished capture into the snapshots).
    fn rename(&self, from: &TreeRef, to: &TreeRef) -> StorageResult<PathBuf>;
    /// The filesystem's change counter for `tree` now, when the backend has one.
    fn generation(&self, tree: &TreeRef) -> StorageResult<Option<u64>>;
    /// Files of `tree` (relative paths) written since `generation`, or `None` when the
    /// backend cannot tell and the caller must look at every file.
    fn changed_since(&self, tree: &TreeRef, generation: u64)
        -> StorageResult<Option<Vec<PathBuf>>>;
    /// Deletes `tree`; a tree that does not exist is not an error.
    fn delete(&self, tree: &TreeRef) -> StorageResult<()>;
    /// The ids of every tree of `kind` present in the pool.
    fn list(&self, kind: TreeKind) -> StorageResult<Vec<String>>;
    /// Space in the pool.
    fn usage(&self) -> StorageResult<PoolUsage>;
}
