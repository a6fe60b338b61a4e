//! The scrub: removing what the daemon injected into a sandbox from a writable capture of
//! its tree, and proving, fail-closed, that nothing injected is left.
//!
//! The flow, for a capture opened as a [`TreeRoot`]:
//!
//! 1. [`scrub`] restores `/etc/environment` to the clean baseline, deletes every injected
//!    file, and strips injected tokens from git's remotes and credential stores.
//! 2. [`verify`] checks that no ledger path survives, that `/etc/environment` is the
//!    baseline, and that no injected value (raw, percent-encoded or base64) appears in the
//!    files that changed since the sandbox was created ([`ChangedFiles`]). Only then may
//!    the capture become a snapshot.
//!
//! [`subvolume_generation`] and [`btrfs_changed_since`] provide the changed files on btrfs;
//! anywhere else, or when in doubt, [`ChangedFiles::All`] scans the whole tree.
//!
//! No value ever appears in a report, an error or `Debug` output: secrets are named, never
//! shown.
//!
//! Known limits: file names, extended attributes and the base64 of a value that was
//! line-wrapped (as in PEM or MIME) are not searched; a value shorter than about 8 bytes
//! can match unrelated data by chance and fail verification needlessly.

mod changes;
mod clean;
mod encode;
mod error;
mod git;
mod ledger;
mod needles;
mod tree;
mod verify;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use crate::safefs::TreeRoot;

pub use changes::{btrfs_changed_since, subvolume_generation};
pub use clean::scrub;
pub use error::ScrubError;
pub use ledger::{Injection, Ledger};
pub use verify::verify;

/// What a scrub removed, as paths inside the sandbox; never values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScrubReport {
    /// Injected files that were deleted (paths that were already gone are not listed).
    pub files_deleted: Vec<String>,
    /// Whether `/etc/environment` held anything but the baseline before it was rewritten.
    pub env_restored: bool,
    /// Git configuration and credential files that were changed or deleted.
    pub git_configs_cleaned: Vec<String>,
}

/// How much verification read, for progress and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Regular files and symlinks searched.
    pub files_scanned: u64,
    /// Bytes searched: file data (holes in sparse files skipped) and symlink targets.
    pub bytes_scanned: u64,
}

/// Which files verification searches for injected values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangedFiles {
    /// Every regular file and symlink in the tree, walked without following symlinks.
    All,
    /// These paths, relative to the capture (as [`btrfs_changed_since`] returns them).
    Paths(Vec<PathBuf>),
}
