//! Writing each kind of entry: directories, regular files, symlinks, hard links, device
//! nodes and FIFOs.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use nix::sys::stat::makedev;
use tar::{Entry, EntryType};

use super::error::{reject, Failure};
use super::meta::Meta;
use super::paths::{climbs_above_root, tree_path};
use super::unpacker::{DeferredDir, Unpacker, IMPLIED_DIR_MODE};

impl Unpacker<'_> {
    /// The `./` entry: metadata for the tree root.
    pub(super) fn root_dir(&mut self, kind: EntryType, meta: &Meta) -> Result<(), Failure> {
        if kind != EntryType::Directory {
            return reject("names the image root but is not a directory");
        }
        self.directory(Path::new("."), meta)
    }

    /// A directory; its mode and mtime are deferred until every entry is written.
    pub(super) fn directory(&mut self, rel: &Path, meta: &Meta) -> Result<(), Failure> {
        if rel != Path::new(".") {
            match self.lstat(rel)? {
                Some(m) if m.is_dir() => {}
                Some(_) => {
                    self.root.remove_file(rel)?;
                    self.root.create_dir_all(rel, IMPLIED_DIR_MODE)?;
                }
                None => self.root.create_dir_all(rel, IMPLIED_DIR_MODE)?,
            }
            self.mark_dir(rel);
        }
        self.root.set_owner(rel, meta.uid, meta.gid)?;
        self.set_xattrs(rel, meta)?;
        self.dirs.push(DeferredDir {
            rel: rel.to_path_buf(),
            mode: meta.mode,
            mtime: meta.mtime,
        });
        Ok(())
    }

    /// A regular file, its data streamed from the archive.
    pub(super) fn file<R: Read>(
        &mut self,
        rel: &Path,
        entry: &mut Entry<'_, R>,
        meta: &Meta,
    ) -> Result<(), Failure> {
        let expected = entry.size();
        self.clear(rel)?;
        let mut file = self.root.create_file(rel, 0o600)?;
        let copied = copy_data(entry, &mut file, &mut self.buf)?;
        drop(file);
        // The tar reader ends an entry quietly when the stream runs dry.
        if copied != expected {
            let why = format!("the stream ends after {copied} of this file's {expected} bytes");
            let short = io::Error::new(io::ErrorKind::UnexpectedEof, why);
            return Err(Failure::Archive(short));
        }
        self.stats.bytes += copied;
        self.apply(rel, meta)
    }

    /// A symlink, refused when its target climbs above the root.
    pub(super) fn symlink(
        &mut self,
        rel: &Path,
        target: Option<&Path>,
        meta: &Meta,
    ) -> Result<(), Failure> {
        let target = match target {
            Some(t) if !t.as_os_str().is_empty() => t,
            _ => return reject("is a symlink without a target"),
        };
        if climbs_above_root(rel, target) {
            let why = format!(
                "its symlink target '{}' climbs above the root",
                target.display()
            );
            return reject(format!("escapes the image: {why}"));
        }
        self.clear(rel)?;
        self.root.symlink(rel, target)?;
        self.apply(rel, meta)
    }

    /// A hard link takes its metadata from the inode it joins.
    pub(super) fn hard_link(&mut self, rel: &Path, target: Option<&Path>) -> Result<(), Failure> {
        let Some(raw) = target else {
            return reject("is a hard link without a target");
        };
        let target = match tree_path(raw) {
            Ok(t) => t,
            Err(why) => {
                let why = format!("its hard link target '{}' {why}", raw.display());
                return reject(format!("escapes the image: {why}"));
            }
        };
        if target.as_os_str().is_empty() {
            return reject("is a hard link to the image root");
        }
        if target == rel {
            return reject("is a hard link to itself");
        }
        self.clear(rel)?;
        Ok(self.root.hard_link(&target, rel)?)
    }

    /// A character or block device, or a FIFO.
    pub(super) fn node<R: Read>(
        &mut self,
        rel: &Path,
        entry: &Entry<'_, R>,
        meta: &Meta,
    ) -> Result<(), Failure> {
        let header = entry.header();
        let kind = match header.entry_type() {
            EntryType::Char => libc::S_IFCHR,
            EntryType::Block => libc::S_IFBLK,
            _ => libc::S_IFIFO,
        };
        // Archivers often leave a FIFO's device fields blank, so only a
        // device's numbers are read.
        let dev = if kind == libc::S_IFIFO {
            0
        } else {
            let number = |v: io::Result<Option<u32>>| {
                let why = |e| Failure::Rejected(format!("has an unreadable device number: {e}"));
                v.map(Option::unwrap_or_default).map_err(why)
            };
            makedev(
                number(header.device_major())?.into(),
                number(header.device_minor())?.into(),
            )
        };
        self.clear(rel)?;
        self.root.mknod(rel, kind | meta.mode, dev)?;
        self.apply(rel, meta)
    }
}

/// Streams an entry's data into `to`, telling archive faults from write
/// faults.
fn copy_data(from: &mut impl Read, to: &mut File, buf: &mut [u8]) -> Result<u64, Failure> {
    let mut total = 0;
    loop {
        let n = match from.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Failure::Archive(e)),
        };
        to.write_all(&buf[..n])?;
        total += n as u64;
    }
}
