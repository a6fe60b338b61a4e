//! Reading and writing control files, and making and removing cgroup directories, with
//! errors that name the path and the likely fix.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use tracing::debug;

use super::{CgroupError, Result, POLL_INTERVAL};

/// How long to retry removing a cgroup the kernel still holds after its last process exited.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(1);

/// The child cgroups of `dir`; none when `dir` has gone.
pub(super) fn child_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let read_error = |source| CgroupError::Read {
        path: dir.to_owned(),
        source,
    };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(read_error(err)),
    };
    let mut children = Vec::new();
    for entry in entries {
        let entry = entry.map_err(read_error)?;
        if entry.file_type().map_err(read_error)?.is_dir() {
            children.push(entry.path());
        }
    }
    Ok(children)
}

/// Removes `dir` and the cgroups below it, retrying while the kernel still holds one.
pub(super) fn remove_tree(dir: &Path) -> Result<()> {
    child_dirs(dir)?
        .iter()
        .try_for_each(|child| remove_tree(child))?;
    debug!(path = %dir.display(), "removing cgroup directory");
    let deadline = Instant::now() + REMOVE_TIMEOUT;
    loop {
        let err = match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(err) => err,
        };
        if err.raw_os_error() != Some(libc::EBUSY) || Instant::now() >= deadline {
            return Err(dir_error("remove", dir, err));
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// Creates the cgroup directory `dir` unless it exists.
pub(super) fn make_dir(dir: &Path) -> Result<()> {
    debug!(path = %dir.display(), "creating cgroup directory");
    match fs::create_dir(dir) {
        Err(err) if err.kind() != io::ErrorKind::AlreadyExists => {
            Err(dir_error("create", dir, err))
        }
        _ => Ok(()),
    }
}

fn dir_error(action: &'static str, dir: &Path, source: io::Error) -> CgroupError {
    let hint = hint(&source);
    let path = dir.to_owned();
    CgroupError::Dir {
        action,
        path,
        source,
        hint,
    }
}

/// The text of a control file.
pub(super) fn read_file(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|source| CgroupError::Read {
        path: path.to_owned(),
        source,
    })
}

/// A control file that holds one number.
pub(super) fn read_u64(path: &Path) -> Result<u64> {
    let text = read_file(path)?;
    text.trim().parse().map_err(|_| CgroupError::Parse {
        path: path.to_owned(),
        content: text.trim().to_owned(),
    })
}

/// Writes `value` in one `write` call, as control files expect; never creates the file.
pub(super) fn write_file(path: &Path, value: &str) -> Result<()> {
    debug!(path = %path.display(), value, "writing cgroup file");
    let written = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut file| file.write_all(value.as_bytes()));
    written.map_err(|source| CgroupError::Write {
        path: path.to_owned(),
        value: value.to_owned(),
        hint: hint(&source),
        source,
    })
}

/// The likely fix for an error from a cgroup file or directory.
fn hint(err: &io::Error) -> &'static str {
    match err.raw_os_error() {
        Some(libc::EROFS) => {
            "; the cgroup filesystem is mounted read-only: mount it read-write (under systemd, \
             remove ProtectControlGroups= from the unit)"
        }
        Some(libc::EACCES | libc::EPERM) => "; amikad must run as root with CAP_SYS_ADMIN",
        Some(libc::EBUSY) => {
            "; the cgroup is busy: it still has processes, or the limit is below current use"
        }
        Some(libc::ENOENT) => "; it does not exist: the cgroup is gone or lacks that controller",
        _ => "",
    }
}
