//! What can go wrong with a cgroup; each message names the file or directory at fault and,
//! where the cause is known, how to fix it.

use std::io;
use std::path::PathBuf;

use nix::errno::Errno;
use nix::sys::signal::Signal;

use super::freeze::FREEZE_TIMEOUT;

/// A failure to set up, inspect or tear down a cgroup.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A control file or `/proc/self/mountinfo` could not be read.
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A control file rejected a value.
    #[error("cannot write {value:?} to {}: {source}{hint}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What was written.
        value: String,
        /// The underlying error.
        source: io::Error,
        /// How to fix it, when known (empty or starting with "; ").
        hint: &'static str,
    },
    /// A cgroup directory could not be created or removed.
    #[error("cannot {action} cgroup {}: {source}{hint}", .path.display())]
    Dir {
        /// "create" or "remove".
        action: &'static str,
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
        /// How to fix it, when known.
        hint: &'static str,
    },
    /// A control file held something other than what the kernel documents.
    #[error("unexpected content {content:?} in {}", .path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The offending text.
        content: String,
    },
    /// Neither a usable cgroup2 mount nor the needed v1 hierarchies exist.
    #[error("no usable cgroup hierarchy: {reason}")]
    Unsupported {
        /// What is missing and how to provide it.
        reason: String,
    },
    /// A cgroup2 directory does not offer a controller amika needs.
    #[error(
        "{} does not offer the {controller} controller; it is bound to a cgroup v1 hierarchy \
         or not delegated here: boot with systemd.unified_cgroup_hierarchy=1 and no v1 \
         controller mounts",
        .path.display()
    )]
    MissingController {
        /// The cgroup directory.
        path: PathBuf,
        /// The controller.
        controller: &'static str,
    },
    /// Freezing did not complete in time; the cgroup was thawed again.
    #[error(
        "{} did not report frozen within {FREEZE_TIMEOUT:?}; a process in uninterruptible \
         sleep (state D) can hold up freezing, retry once its I/O completes",
        .path.display()
    )]
    FreezeTimeout {
        /// The file that was polled.
        path: PathBuf,
    },
    /// A process in the cgroup could not be signalled.
    #[error("cannot send {signal} to process {pid} in cgroup {name}: {source}")]
    Signal {
        /// The cgroup's name.
        name: String,
        /// The process.
        pid: i32,
        /// The signal.
        signal: Signal,
        /// The underlying error.
        source: Errno,
    },
    /// The name cannot be used as one directory.
    #[error("invalid cgroup name {name:?}: it must be one path component, not . or ..")]
    InvalidName {
        /// The rejected name.
        name: String,
    },
    /// The CPU limit is not a positive number of cores.
    #[error("invalid CPU limit {cpus} for cgroup {name}: give a positive number of cores")]
    InvalidCpus {
        /// The cgroup's name.
        name: String,
        /// The rejected value.
        cpus: f64,
    },
}
