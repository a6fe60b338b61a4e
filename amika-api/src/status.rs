//! `GET /v1/status`.

use serde::{Deserialize, Serialize};

/// What the daemon reports about itself and its pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The daemon's version.
    pub version: String,
    /// The storage backend: `btrfs` or `zfs`.
    pub backend: String,
    /// Where the pool lives: a mount point for btrfs, a dataset for ZFS.
    pub pool: String,
    /// How the pool came to be: `embedded-loop`, `embedded-dir` or `explicit`.
    pub pool_origin: String,
    /// The pool's total size in bytes.
    pub size_bytes: u64,
    /// Bytes in use.
    pub used_bytes: u64,
    /// Bytes still free.
    pub free_bytes: u64,
    /// The state directory holding the database and, for the embedded pool, its image.
    pub state_dir: String,
}
