//! Storage: the pool that holds images, sandboxes and snapshots as trees.
//!
//! The rest of the daemon sees only [`Storage`]: trees named by kind and id, created empty,
//! sealed read-only, cloned writable from a sealed tree, captured from a live tree, deleted.
//! A btrfs pool maps these onto subvolumes and snapshots; a ZFS pool maps them onto datasets,
//! `@` snapshots and clones, where a clone depends on its origin, so the interface never
//! promises that a tree's storage is independent of the tree it came from.

pub mod btrfs;
pub mod pool;

use std::fmt;
use std::path::PathBuf;

/// What a tree is for; each kind lives in its own area of the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TreeKind {
    /// A read-only image that sandboxes clone.
    Image,
    /// A sandbox's writable root filesystem.
    Sandbox,
    /// A work area for captures in progress.
    Staging,
}

impl TreeKind {
    /// Every kind, for reconciliation sweeps.
    pub const ALL: [TreeKind; 3] = [TreeKind::Image, TreeKind::Sandbox, TreeKind::Staging];

    /// The directory (or dataset) name that holds trees of this kind.
    pub fn area(self) -> &'static str {
        match self {
            Self::Image => "images",
            Self::Sandbox => "sandboxes",
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
    /// Deletes `tree`; a tree that does not exist is not an error.
    fn delete(&self, tree: &TreeRef) -> StorageResult<()>;
    /// The ids of every tree of `kind` present in the pool.
    fn list(&self, kind: TreeKind) -> StorageResult<Vec<String>>;
    /// Space in the pool.
    fn usage(&self) -> StorageResult<PoolUsage>;
}
