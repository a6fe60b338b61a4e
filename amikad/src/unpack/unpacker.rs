//! The extraction in progress: dispatch of each entry by kind, making room for it in the
//! tree, applying its metadata, and the directory metadata deferred to the end.

use std::collections::HashSet;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use tar::{Entry, EntryType};

use super::error::{reject, Failure, UnpackError};
use super::meta::{Meta, Mtime};
use super::paths::tree_path;
use super::UnpackStats;
use crate::safefs::TreeRoot;

/// Mode for directories that exist only as parents of listed entries.
pub(super) const IMPLIED_DIR_MODE: u32 = 0o755;

/// Size of the buffer that file data passes through.
const COPY_BUF: usize = 64 * 1024;

/// The extraction in progress.
pub(super) struct Unpacker<'r> {
    /// The tree every change goes through.
    pub(super) root: &'r TreeRoot,
    /// Directories whose mode and mtime wait until every entry is written:
    /// writing inside a directory would reset its mtime.
    pub(super) dirs: Vec<DeferredDir>,
    /// Directories known to exist, so parents are not re-made per entry.
    known_dirs: HashSet<PathBuf>,
    /// The buffer file data passes through.
    pub(super) buf: Vec<u8>,
    /// What has been written so far.
    pub(super) stats: UnpackStats,
}

/// A directory's mode and mtime, set once every entry is written.
pub(super) struct DeferredDir {
    pub(super) rel: PathBuf,
    pub(super) mode: u32,
    pub(super) mtime: Mtime,
}

impl<'r> Unpacker<'r> {
    /// Starts an extraction into `root`.
    pub(super) fn new(root: &'r TreeRoot) -> Self {
        Unpacker {
            root,
            dirs: Vec::new(),
            known_dirs: HashSet::new(),
            buf: vec![0; COPY_BUF],
            stats: UnpackStats::default(),
        }
    }

    /// Writes one entry, dispatching on its kind.
    pub(super) fn entry<R: Read>(&mut self, entry: &mut Entry<'_, R>) -> Result<(), Failure> {
        let kind = entry.header().entry_type();
        if kind == EntryType::XGlobalHeader {
            // Archive-wide PAX defaults: nothing in them is kept.
            return Ok(());
        }
        let raw = entry.path_bytes().into_owned();
        let rel = tree_path(Path::new(std::ffi::OsStr::from_bytes(&raw)))
            .map_err(|why| Failure::Rejected(format!("escapes the image: its path {why}")))?;
        let link = entry
            .link_name()
            .map_err(Failure::Archive)?
            .map(|l| l.into_owned());
        let meta = Meta::read(entry)?;

        if rel.as_os_str().is_empty() {
            self.root_dir(kind, &meta)?;
        } else {
            match kind {
                EntryType::Directory => self.directory(&rel, &meta)?,
                EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                    self.file(&rel, entry, &meta)?
                }
                EntryType::Symlink => self.symlink(&rel, link.as_deref(), &meta)?,
                EntryType::Link => self.hard_link(&rel, link.as_deref())?,
                EntryType::Char | EntryType::Block | EntryType::Fifo => {
                    self.node(&rel, entry, &meta)?
                }
                other => {
                    return reject(format!("has an entry type images cannot hold ({other:?})"))
                }
            }
        }
        self.stats.entries += 1;
        Ok(())
    }

    /// Makes room for a non-directory entry at `rel`.
    pub(super) fn clear(&mut self, rel: &Path) -> Result<(), Failure> {
        self.ensure_parent(rel)?;
        match self.lstat(rel)? {
            None => {}
            Some(m) if m.is_dir() => {
                self.root.remove_dir(rel)?;
                self.known_dirs.clear();
            }
            Some(_) => self.root.remove_file(rel)?,
        }
        Ok(())
    }

    /// Makes the parent directories of `rel` that are not known to exist.
    fn ensure_parent(&mut self, rel: &Path) -> io::Result<()> {
        let parent = match rel.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => return Ok(()),
        };
        if !self.known_dirs.contains(parent) {
            self.root.create_dir_all(parent, IMPLIED_DIR_MODE)?;
            self.mark_dir(parent);
        }
        Ok(())
    }

    /// Records `dir` and its ancestors as existing.
    pub(super) fn mark_dir(&mut self, dir: &Path) {
        for ancestor in dir.ancestors().take_while(|a| !a.as_os_str().is_empty()) {
            if !self.known_dirs.insert(ancestor.to_path_buf()) {
                break;
            }
        }
    }

    /// The metadata of `rel` without following it, or `None` when it does not exist.
    pub(super) fn lstat(&self, rel: &Path) -> io::Result<Option<std::fs::Metadata>> {
        match self.root.symlink_metadata(rel) {
            Ok(m) => Ok(Some(m)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Applies a non-directory's metadata. chown clears setuid, setgid and
    /// file capabilities, so the mode and xattrs come after it.
    pub(super) fn apply(&self, rel: &Path, meta: &Meta) -> Result<(), Failure> {
        self.root.set_owner(rel, meta.uid, meta.gid)?;
        self.root.set_mode(rel, meta.mode)?;
        self.set_xattrs(rel, meta)?;
        let Mtime(secs, nanos) = meta.mtime;
        self.root.set_mtime(rel, secs, nanos)?;
        Ok(())
    }

    /// Sets the entry's extended attributes, skipping those the filesystem cannot store.
    pub(super) fn set_xattrs(&self, rel: &Path, meta: &Meta) -> io::Result<()> {
        for (name, value) in &meta.xattrs {
            match self.root.set_xattr(rel, name, value) {
                Err(e) if e.kind() == io::ErrorKind::Unsupported => {
                    // A namespace this filesystem cannot store: the image is
                    // still usable without it.
                    tracing::warn!(path = %rel.display(), error = %e, "xattr skipped");
                }
                other => other?,
            }
        }
        Ok(())
    }

    /// Sets the deferred directory modes and mtimes and returns the totals.
    pub(super) fn finish(self) -> Result<UnpackStats, UnpackError> {
        for dir in &self.dirs {
            let entry = || dir.rel.display().to_string();
            self.settle(dir).map_err(|source| UnpackError::Io {
                entry: entry(),
                source,
            })?;
        }
        Ok(self.stats)
    }

    /// Sets one directory's deferred metadata, unless a later entry replaced
    /// the directory and so brought its own.
    fn settle(&self, dir: &DeferredDir) -> io::Result<()> {
        match self.lstat(&dir.rel)? {
            Some(m) if m.is_dir() => {
                let Mtime(secs, nanos) = dir.mtime;
                self.root.set_mode(&dir.rel, dir.mode)?;
                self.root.set_mtime(&dir.rel, secs, nanos)
            }
            _ => Ok(()),
        }
    }
}
