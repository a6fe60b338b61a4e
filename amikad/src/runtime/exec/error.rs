//! Why the helper gave up before the command started; each message is printed on the
//! command's stderr as an `amika: ...` line.

use std::io;
use std::path::PathBuf;

use nix::errno::Errno;

use super::spec::SpecError;
use super::ARG;

/// Why the helper gave up before the command started.
#[derive(Debug, thiserror::Error)]
pub(super) enum HelperError {
    #[error("expected one spec descriptor argument after {ARG}")]
    Usage,
    #[error("cannot read the exec spec: {0}")]
    ReadSpec(#[source] io::Error),
    #[error("invalid exec spec: {0}")]
    Spec(#[from] SpecError),
    #[error("cannot open {path} of the sandbox's init: {source}")]
    OpenInit {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot inspect {path}: {source}")]
    Inspect {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot join the cgroup through {}: {source}", path.display())]
    JoinCgroup {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot enter the sandbox's {ns} namespace: {source}")]
    Setns {
        ns: &'static str,
        #[source]
        source: Errno,
    },
    #[error("cannot {what}: {source}")]
    Os {
        what: &'static str,
        #[source]
        source: Errno,
    },
}

impl HelperError {
    /// A closure that wraps an errno from the step named `what`.
    pub(super) fn os(what: &'static str) -> impl FnOnce(Errno) -> HelperError {
        move |source| HelperError::Os { what, source }
    }
}

/// The errno behind an I/O error, or EIO for one that carries none.
pub(super) fn io_errno(err: &io::Error) -> Errno {
    Errno::from_raw(err.raw_os_error().unwrap_or(libc::EIO))
}
