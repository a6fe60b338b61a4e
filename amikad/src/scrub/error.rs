//! Why a scrub or its verification did not succeed.
//!
//! Every message names the secret by its name and the file by its path inside the sandbox
//! (`/home/amika/notes.txt`), never by a value: these errors end up in logs and in the
//! snapshot's `error` field, which any user of the socket can read.

use std::io;
use std::path::PathBuf;

use crate::command::CommandError;

/// A failed scrub step or a failed verification check.
#[derive(Debug, thiserror::Error)]
pub enum ScrubError {
    /// A ledger file path is not an absolute, plain path such as `/home/amika/.x/auth.json`.
    #[error("ledger path {path:?} is not an absolute path made of plain names")]
    LedgerPath {
        /// The path as the ledger holds it.
        path: String,
    },

    /// A file system operation inside the capture failed.
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        /// What was being attempted, e.g. "read".
        action: &'static str,
        /// The path inside the sandbox.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },

    /// An injected file (or a symlink in its place) is still in the capture.
    #[error("injected file {} is still present after the scrub", .path.display())]
    Survived {
        /// The ledger path inside the sandbox.
        path: PathBuf,
    },

    /// `/etc/environment` does not hold exactly the clean baseline.
    #[error("/etc/environment differs from its clean baseline after the scrub")]
    EnvironmentNotRestored,

    /// An injected value, in one of the encodings searched for, was found in a file.
    #[error("the value of secret {secret} ({form}) was found in {}", .path.display())]
    ValueFound {
        /// The name of the secret, never its value.
        secret: String,
        /// How the value was written, e.g. "base64".
        form: &'static str,
        /// The file (or symlink) inside the sandbox that holds it.
        path: PathBuf,
    },

    /// A file reported as changed is gone, so what it held was never scanned.
    #[error("{} was reported as changed but does not exist in the capture", .path.display())]
    ChangedFileMissing {
        /// The path inside the sandbox.
        path: PathBuf,
    },

    /// The secret values could not be turned into a searcher.
    #[error("cannot prepare the search for injected values: {reason}")]
    Search {
        /// Why the searcher could not be built.
        reason: String,
    },

    /// The generation of a subvolume could not be read.
    #[error("cannot read the generation of subvolume {}: {source}", .path.display())]
    Generation {
        /// The subvolume.
        path: PathBuf,
        /// The error from libbtrfsutil.
        source: libbtrfsutil::Error,
    },

    /// `btrfs subvolume find-new` could not be run or failed.
    #[error("cannot list the files changed in {}: {source}", .path.display())]
    FindNew {
        /// The subvolume that was asked about.
        path: PathBuf,
        /// The failed command.
        source: CommandError,
    },

    /// `btrfs subvolume find-new` printed something this parser does not understand.
    #[error("unexpected output from btrfs find-new on {}, line {line}: {reason}", .path.display())]
    FindNewOutput {
        /// The subvolume that was asked about.
        path: PathBuf,
        /// The 1-based line number; the line itself is not repeated, as a file name could
        /// be anything.
        line: usize,
        /// What was wrong with it.
        reason: String,
    },
}

impl ScrubError {
    /// An [`Io`](Self::Io) error for `path`, given relative to the capture.
    pub(super) fn io(action: &'static str, rel: &std::path::Path, source: io::Error) -> Self {
        ScrubError::Io {
            action,
            path: super::ledger::sandbox_path(rel),
            source,
        }
    }
}
