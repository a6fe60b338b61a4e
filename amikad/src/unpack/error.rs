//! Why an unpack stopped, and the failure inside one entry before it is given the entry's
//! name.

use std::io;

/// Why an unpack stopped. Each variant names the archive entry at fault.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The entry is not acceptable in an image; `reason` reads as a
    /// predicate of the entry, e.g. "escapes the image: ...".
    #[error("archive entry '{entry}' {reason}")]
    Rejected {
        /// The entry's path as the archive spells it.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Writing the entry into the tree failed.
    #[error("archive entry '{entry}': {source}")]
    Io {
        /// The entry's path as the archive spells it.
        entry: String,
        /// The failed filesystem operation.
        source: io::Error,
    },
    /// The stream is not a readable tar archive (or does not decompress).
    #[error("reading the archive: {0}")]
    Archive(io::Error),
}

/// A failure inside one entry, before it is given the entry's name.
#[derive(Debug)]
pub(super) enum Failure {
    /// The entry is not acceptable; the reason reads as a predicate of it.
    Rejected(String),
    /// Writing the entry failed.
    Io(io::Error),
    /// The archive itself could not be read at this entry.
    Archive(io::Error),
}

impl Failure {
    /// The failure as an [`UnpackError`] that names `entry`.
    pub(super) fn named(self, entry: &str) -> UnpackError {
        let entry = entry.to_owned();
        match self {
            Failure::Rejected(reason) => UnpackError::Rejected { entry, reason },
            Failure::Io(source) => UnpackError::Io { entry, source },
            Failure::Archive(e) => {
                UnpackError::Archive(io::Error::new(e.kind(), format!("entry '{entry}': {e}")))
            }
        }
    }
}

/// Rejects the entry for the reason `why`.
pub(super) fn reject<T>(why: impl Into<String>) -> Result<T, Failure> {
    Err(Failure::Rejected(why.into()))
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Io(e)
    }
}
