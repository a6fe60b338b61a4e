//! The fail-closed checks that decide whether a scrubbed capture may become a snapshot.
//!
//! Any doubt is an error: a file that cannot be read, a changed file that has vanished, a
//! path that is not plain. Values are searched in regular files and in symlink targets;
//! file names, extended attributes and directories are not searched.

use std::path::{Component, Path, PathBuf};

use super::git::HOME_CREDENTIALS;
use super::ledger::{sandbox_path, Ledger, ENVIRONMENT};
use super::needles::Needles;
use super::tree::{absent, Kind, Node, Tree};
use super::{ChangedFiles, ScrubError, TreeRoot, VerifyReport};

/// Checks that the scrub of `capture` left nothing behind: no ledger file path exists,
/// `/etc/environment` is exactly the baseline, and no injected value (raw, percent-encoded
/// or base64) appears in the `changed` files.
///
/// A file in `changed` that no longer exists is an error, unless the scrub deletes files
/// there (a ledger path or a git credential store): what it held was never scanned.
pub fn verify(
    capture: &TreeRoot,
    ledger: &Ledger,
    changed: &ChangedFiles,
) -> Result<VerifyReport, ScrubError> {
    let files = ledger.file_paths()?;
    check_files_gone(capture, &files)?;
    check_environment(capture, &ledger.env_baseline)?;

    let needles = Needles::new(&ledger.values)?;
    if needles.is_empty() {
        tracing::debug!(capture = %capture.path().display(), "no values to search for");
        return Ok(VerifyReport::default());
    }
    let mut scan = Scan {
        buf: needles.buffer(),
        needles,
        report: VerifyReport::default(),
    };
    let tree = Tree::open(capture)?;
    match changed {
        ChangedFiles::All => tree.walk(Path::new(""), &mut |rel, node| scan.node(rel, node))?,
        ChangedFiles::Paths(paths) => {
            let mut may_be_gone = files;
            let home = ledger.home_path()?;
            may_be_gone.extend(HOME_CREDENTIALS.iter().map(|name| home.join(name)));
            for rel in paths {
                check_plain(rel)?;
                let found = tree.lookup(rel, &mut |rel, node| scan.node(rel, node))?;
                if !found && !may_be_gone.contains(rel) {
                    let path = sandbox_path(rel);
                    return Err(ScrubError::ChangedFileMissing { path });
                }
            }
        }
    }
    tracing::debug!(
        capture = %capture.path().display(),
        files = scan.report.files_scanned,
        bytes = scan.report.bytes_scanned,
        "verified capture"
    );
    Ok(scan.report)
}

/// Fails if anything, even a dangling symlink, sits at a ledger file path.
fn check_files_gone(capture: &TreeRoot, files: &[PathBuf]) -> Result<(), ScrubError> {
    for rel in files {
        match capture.symlink_metadata(rel) {
            Ok(_) => {
                return Err(ScrubError::Survived {
                    path: sandbox_path(rel),
                })
            }
            Err(e) if absent(&e) => {}
            Err(e) => return Err(ScrubError::io("check", rel, e)),
        }
    }
    Ok(())
}

/// Fails unless `/etc/environment` is a regular file holding exactly `baseline`.
fn check_environment(capture: &TreeRoot, baseline: &[u8]) -> Result<(), ScrubError> {
    let rel = Path::new(ENVIRONMENT);
    let contents = capture
        .read_file(rel)
        .map_err(|e| ScrubError::io("read", rel, e))?;
    if contents != baseline {
        return Err(ScrubError::EnvironmentNotRestored);
    }
    Ok(())
}

/// Refuses a changed path that is not relative and made of plain names.
fn check_plain(rel: &Path) -> Result<(), ScrubError> {
    let plain = rel.components().all(|c| matches!(c, Component::Normal(_)));
    if plain && !rel.as_os_str().is_empty() {
        return Ok(());
    }
    let why = std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        "a changed path must be relative to the capture and made of plain names",
    );
    Err(ScrubError::io("scan", rel, why))
}

/// The search state carried across the files of one verification.
struct Scan {
    needles: Needles,
    /// One read buffer for every file.
    buf: Vec<u8>,
    report: VerifyReport,
}

impl Scan {
    /// Searches one file's data or one symlink's target.
    fn node(&mut self, rel: &Path, node: &Node<'_>) -> Result<(), ScrubError> {
        let hit = match node.kind {
            Kind::File => {
                let file = node.open().map_err(|e| ScrubError::io("open", rel, e))?;
                let scanned = &mut self.report.bytes_scanned;
                self.needles
                    .scan_file(&file, &mut self.buf, scanned)
                    .map_err(|e| ScrubError::io("read", rel, e))?
            }
            Kind::Symlink => {
                let target = node
                    .link_target()
                    .map_err(|e| ScrubError::io("read the symlink", rel, e))?;
                self.report.bytes_scanned += target.len() as u64;
                self.needles.find(&target)
            }
        };
        self.report.files_scanned += 1;
        match hit {
            None => Ok(()),
            Some(hit) => Err(ScrubError::ValueFound {
                secret: hit.secret,
                form: hit.form,
                path: sandbox_path(rel),
            }),
        }
    }
}
