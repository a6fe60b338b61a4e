//! One daemon per state directory.
//!
//! Two daemons sharing a pool and a state store would each reconcile away
//! the other's work, so the first thing `amikad` does is take an exclusive
//! `flock` on `amikad.lock` in its state directory. The kernel drops the lock
//! when the process dies, so a crash never leaves a stale lock behind; the
//! pid written into the file is only there to make the error useful.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// Name of the lock file inside the state directory.
const LOCK_FILE: &str = "amikad.lock";

/// Why the state directory could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock.
    #[error(
        "another amikad{} already uses state directory {}; \
         stop it or pass a different --state-dir",
        pid_note(*.holder_pid),
        .state_dir.display()
    )]
    Held {
        /// The contested state directory.
        state_dir: PathBuf,
        /// The holder's pid as it wrote it, if it could be read.
        holder_pid: Option<u32>,
    },

    /// The state directory or the lock file could not be created or written.
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        /// What was being attempted, e.g. "create lock file".
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },

    /// `flock` failed for a reason other than contention.
    #[error("cannot lock {}: {source}", .path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The error `flock` returned.
        source: Errno,
    },
}

/// Proof that this process owns the state directory; the lock is released
/// when the value is dropped (or the process exits).
#[derive(Debug)]
pub struct StateLock {
    _file: Flock<File>,
}

/// Takes the state directory lock, creating the directory (mode 0700) and
/// the lock file (mode 0600) if they do not exist yet.
///
/// Fails at once with [`LockError::Held`] if another process has it; this
/// never waits.
pub fn acquire(state_dir: &Path) -> Result<StateLock, LockError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(state_dir)
        .map_err(|source| io_error("create state directory", state_dir, source))?;

    let path = state_dir.join(LOCK_FILE);
    // Not truncated on open: while contended, the content is the holder's pid.
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|source| io_error("create lock file", &path, source))?;

    let mut locked = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(locked) => locked,
        Err((mut file, Errno::EWOULDBLOCK)) => {
            return Err(LockError::Held {
                state_dir: state_dir.to_owned(),
                holder_pid: read_pid(&mut file),
            });
        }
        Err((_, source)) => return Err(LockError::Lock { path, source }),
    };

    write_pid(&mut locked, std::process::id())
        .map_err(|source| io_error("write pid to", &path, source))?;
    tracing::debug!(path = %path.display(), "state directory locked");
    Ok(StateLock { _file: locked })
}

fn write_pid(file: &mut File, pid: u32) -> io::Result<()> {
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(format!("{pid}\n").as_bytes())
}

/// Best effort: the holder may be between truncating and writing.
fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

fn io_error(action: &'static str, path: &Path, source: io::Error) -> LockError {
    LockError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

fn pid_note(pid: Option<u32>) -> String {
    match pid {
        Some(pid) => format!(" (pid {pid})"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_daemon_on_the_same_state_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path()).expect("first lock");

        // A second open of the file is a separate open file description, so
        // flock treats it like another process would be treated.
        let err = acquire(dir.path()).unwrap_err();
        match &err {
            LockError::Held {
                state_dir,
                holder_pid,
            } => {
                assert_eq!(state_dir, dir.path());
                assert_eq!(*holder_pid, Some(std::process::id()));
            }
            other => panic!("expected Held, got {other:?}"),
        }
        let message = err.to_string();
        assert!(
            message.contains(&format!("(pid {})", std::process::id())),
            "{message}"
        );
        assert!(message.contains("--state-dir"), "{message}");

        drop(first);
        acquire(dir.path()).expect("lock is free again after the holder drops it");
    }

    #[test]
    fn lock_file_holds_our_pid_and_is_private() {
        use std::os::unix::fs::PermissionsExt;

        let dir = tempfile::tempdir().unwrap();
        let state_dir = dir.path().join("state");
        let _lock = acquire(&state_dir).unwrap();

        let path = state_dir.join(LOCK_FILE);
        let content = std::fs::read_to_string(&path).unwrap();
        assert_eq!(content, format!("{}\n", std::process::id()));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn stale_content_from_a_longer_pid_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LOCK_FILE), "4294967295\nleftover\n").unwrap();
        let _lock = acquire(dir.path()).unwrap();

        let content = std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap();
        assert_eq!(content, format!("{}\n", std::process::id()));
    }
}
