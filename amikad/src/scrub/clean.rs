//! The removal steps of a scrub, run on a writable capture of a sandbox.
//!
//! Each step goes through [`TreeRoot`], so a symlink planted in the sandbox is resolved
//! inside the capture and can never aim a write or a delete at the host. The steps remove
//! what the ledger says was injected; whether anything still leaks is for
//! [`verify`](super::verify) to decide.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::git::{self, Tokens};
use super::ledger::{sandbox_path, Ledger, ENVIRONMENT};
use super::needles::Needles;
use super::tree::{absent, Tree};
use super::{ScrubError, ScrubReport, TreeRoot};

/// Removes everything the ledger says was injected into `capture`: restores
/// `/etc/environment`, deletes the injected files and strips tokens from git's files.
///
/// The ledger is checked whole before anything is changed. The report lists paths only.
pub fn scrub(capture: &TreeRoot, ledger: &Ledger) -> Result<ScrubReport, ScrubError> {
    let files = ledger.file_paths()?;
    let home = ledger.home_path()?;
    let needles = Needles::new(&ledger.values)?;
    let tree = Tree::open(capture)?;

    let env_restored = restore_environment(capture, &ledger.env_baseline)?;
    let files_deleted = delete_files(capture, &files)?;
    let tokens = Tokens::new(ledger.git_hosts(), &needles);
    let git_configs_cleaned = git::clean(capture, &tree, &home, &tokens)?;

    let report = ScrubReport {
        files_deleted,
        env_restored,
        git_configs_cleaned,
    };
    tracing::debug!(
        capture = %capture.path().display(),
        deleted = report.files_deleted.len(),
        env_restored = report.env_restored,
        git_cleaned = report.git_configs_cleaned.len(),
        "scrubbed capture"
    );
    Ok(report)
}

/// Writes the clean baseline to `/etc/environment` as a fresh 0644 root:root file.
/// Returns whether the file held anything else before.
///
/// Anything but a singly linked regular file there (a symlink, a FIFO, a hard link to
/// another name) is unlinked first, so the write can neither follow it nor change another
/// file's contents through it.
fn restore_environment(capture: &TreeRoot, baseline: &[u8]) -> Result<bool, ScrubError> {
    let rel = Path::new(ENVIRONMENT);
    let before = match capture.symlink_metadata(rel) {
        Ok(meta) if meta.is_file() && meta.nlink() == 1 => Some(
            capture
                .read_file(rel)
                .map_err(|e| ScrubError::io("read", rel, e))?,
        ),
        Ok(_) => {
            capture
                .remove_file(rel)
                .map_err(|e| ScrubError::io("remove", rel, e))?;
            None
        }
        Err(e) if absent(&e) => None,
        Err(e) => return Err(ScrubError::io("stat", rel, e)),
    };
    capture
        .write_file(rel, baseline, 0o644, Some((0, 0)))
        .map_err(|e| ScrubError::io("restore", rel, e))?;
    Ok(before.as_deref() != Some(baseline))
}

/// Deletes each injected file (or whatever now sits at its path); a path that no longer
/// exists is fine. Returns the sandbox paths of those deleted.
fn delete_files(capture: &TreeRoot, files: &[PathBuf]) -> Result<Vec<String>, ScrubError> {
    let mut deleted = Vec::new();
    for rel in files {
        match capture.remove_file(rel) {
            Ok(()) => deleted.push(sandbox_path(rel).to_string_lossy().into_owned()),
            Err(e) if absent(&e) => {}
            Err(e) => return Err(ScrubError::io("delete", rel, e)),
        }
    }
    Ok(deleted)
}
