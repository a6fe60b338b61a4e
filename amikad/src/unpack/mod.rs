//! Unpacking a root filesystem tarball into an image tree.
//!
//! The archive is whatever the user uploads (a `docker export`, a
//! `tar -C dir -c .`) and is untrusted. An entry whose path is absolute or
//! has a `..` component, a hard link to such a path, or a symlink whose
//! target climbs above the tree root fails the whole import, naming the
//! entry. Every change goes through [`TreeRoot`], so a symlink extracted
//! earlier can never redirect a later entry onto a host path.
//!
//! Kept: regular files (streamed), directories, symlinks, hard links, device
//! nodes and FIFOs, numeric owners, full modes, mtimes, and the xattrs of
//! PAX `SCHILY.xattr.*` records. Ignored: user and group names, access
//! times, libarchive's own xattr records, and holes in sparse files (they
//! are written out as zeros).

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use flate2::read::MultiGzDecoder;
use nix::sys::stat::makedev;
use tar::{Archive, Entry, EntryType};

use crate::safefs::TreeRoot;

/// The PAX record prefix that carries one extended attribute.
const XATTR_PREFIX: &[u8] = b"SCHILY.xattr.";

/// Mode for directories that exist only as parents of listed entries.
const IMPLIED_DIR_MODE: u32 = 0o755;

/// Size of the buffer that file data passes through.
const COPY_BUF: usize = 64 * 1024;

/// The compression wrapped around an uploaded archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar stream.
    None,
    /// gzip, possibly several members back to back.
    Gzip,
    /// Zstandard.
    Zstd,
}

/// Wraps `r` so that reading it yields the decompressed tar stream.
pub fn decoder<'a, R: Read + 'a>(r: R, c: Compression) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match c {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(MultiGzDecoder::new(r)),
        Compression::Zstd => Box::new(zstd::Decoder::new(r)?),
    })
}

/// What an unpack wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct UnpackStats {
    /// Entries extracted, the root directory entry included.
    pub entries: u64,
    /// Bytes of regular-file data written.
    pub bytes: u64,
}

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

/// Extracts every entry of the tar stream `archive` into `root`.
///
/// The `./` entry describes the root itself. An entry over an existing path
/// replaces it: a directory over a directory only updates its metadata,
/// anything else unlinks what was there first (a directory only if empty),
/// as GNU tar does. Directory modes and mtimes are set after all entries.
/// On error the tree is left partly filled; the caller discards it.
pub fn unpack<R: Read>(archive: R, root: &TreeRoot) -> Result<UnpackStats, UnpackError> {
    let mut archive = Archive::new(archive);
    let mut unpacker = Unpacker::new(root);
    for entry in archive.entries().map_err(UnpackError::Archive)? {
        let mut entry = entry.map_err(UnpackError::Archive)?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        unpacker.entry(&mut entry).map_err(|f| f.named(&name))?;
    }
    let stats = unpacker.finish()?;
    let (tree, entries, bytes) = (root.path().display(), stats.entries, stats.bytes);
    tracing::debug!(tree = %tree, entries, bytes, "archive unpacked");
    Ok(stats)
}

/// A failure inside one entry, before it is given the entry's name.
#[derive(Debug)]
enum Failure {
    Rejected(String),
    Io(io::Error),
    Archive(io::Error),
}

impl Failure {
    fn named(self, entry: &str) -> UnpackError {
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

fn reject<T>(why: impl Into<String>) -> Result<T, Failure> {
    Err(Failure::Rejected(why.into()))
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Io(e)
    }
}

/// Owner, mode, time and xattrs of one entry.
struct Meta {
    uid: u32,
    gid: u32,
    mode: u32,
    mtime: Mtime,
    xattrs: Vec<(OsString, Vec<u8>)>,
}

/// Seconds and nanoseconds since the epoch.
#[derive(Clone, Copy)]
struct Mtime(i64, u32);

impl Meta {
    /// Reads the header fields, letting PAX records override them.
    fn read<R: Read>(entry: &mut Entry<'_, R>) -> Result<Meta, Failure> {
        let header = entry.header();
        let unreadable = |name: &'static str| {
            move |e| Failure::Rejected(format!("has an unreadable {name} field: {e}"))
        };
        let mut uid = header.uid().map_err(unreadable("uid"))?;
        let mut gid = header.gid().map_err(unreadable("gid"))?;
        let mode = header.mode().map_err(unreadable("mode"))? & 0o7777;
        let mtime = header.mtime().map_err(unreadable("mtime"))?;
        let secs = i64::try_from(mtime).map_err(|_| out_of_range("mtime", mtime))?;
        let mut mtime = Mtime(secs, 0);

        let mut xattrs = Vec::new();
        if let Some(records) = entry.pax_extensions().map_err(Failure::Archive)? {
            for record in records {
                let record = record.map_err(Failure::Archive)?;
                let value = String::from_utf8_lossy(record.value_bytes());
                match record.key_bytes() {
                    b"uid" => uid = parse("uid", &value)?,
                    b"gid" => gid = parse("gid", &value)?,
                    b"mtime" => mtime = pax_time(&value)?,
                    key if key.starts_with(XATTR_PREFIX) => {
                        let name = OsString::from_vec(key[XATTR_PREFIX.len()..].to_vec());
                        xattrs.push((name, record.value_bytes().to_vec()));
                    }
                    _ => {}
                }
            }
        }

        let uid = u32::try_from(uid).map_err(|_| out_of_range("uid", uid))?;
        let gid = u32::try_from(gid).map_err(|_| out_of_range("gid", gid))?;
        Ok(Meta {
            uid,
            gid,
            mode,
            mtime,
            xattrs,
        })
    }
}

/// Parses a PAX time such as `1700000000.123`. The fraction of a time
/// before the epoch is dropped rather than borrowed from the seconds.
fn pax_time(text: &str) -> Result<Mtime, Failure> {
    let (secs, fraction) = text.split_once('.').unwrap_or((text, ""));
    let secs = parse("mtime", secs)?;
    let digits: String = fraction
        .chars()
        .chain(std::iter::repeat('0'))
        .take(9)
        .collect();
    let nanos = parse("mtime", &digits)?;
    Ok(if text.starts_with('-') {
        Mtime(secs, 0)
    } else {
        Mtime(secs, nanos)
    })
}

fn parse<T: std::str::FromStr>(name: &str, text: &str) -> Result<T, Failure> {
    text.parse().map_err(|_| out_of_range(name, text))
}

fn out_of_range(name: &str, value: impl std::fmt::Display) -> Failure {
    Failure::Rejected(format!("has a {name} of '{value}', which is out of range"))
}

/// The extraction in progress.
struct Unpacker<'r> {
    root: &'r TreeRoot,
    /// Directories whose mode and mtime wait until every entry is written:
    /// writing inside a directory would reset its mtime.
    dirs: Vec<DeferredDir>,
    /// Directories known to exist, so parents are not re-made per entry.
    known_dirs: HashSet<PathBuf>,
    buf: Vec<u8>,
    stats: UnpackStats,
}

struct DeferredDir {
    rel: PathBuf,
    mode: u32,
    mtime: Mtime,
}

impl<'r> Unpacker<'r> {
    fn new(root: &'r TreeRoot) -> Self {
        Unpacker {
            root,
            dirs: Vec::new(),
            known_dirs: HashSet::new(),
            buf: vec![0; COPY_BUF],
            stats: UnpackStats::default(),
        }
    }

    fn entry<R: Read>(&mut self, entry: &mut Entry<'_, R>) -> Result<(), Failure> {
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

    /// The `./` entry: metadata for the tree root.
    fn root_dir(&mut self, kind: EntryType, meta: &Meta) -> Result<(), Failure> {
        if kind != EntryType::Directory {
            return reject("names the image root but is not a directory");
        }
        self.directory(Path::new("."), meta)
    }

    fn directory(&mut self, rel: &Path, meta: &Meta) -> Result<(), Failure> {
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

    fn file<R: Read>(
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

    fn symlink(&mut self, rel: &Path, target: Option<&Path>, meta: &Meta) -> Result<(), Failure> {
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
    fn hard_link(&mut self, rel: &Path, target: Option<&Path>) -> Result<(), Failure> {
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

    fn node<R: Read>(
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

    /// Makes room for a non-directory entry at `rel`.
    fn clear(&mut self, rel: &Path) -> Result<(), Failure> {
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

    fn mark_dir(&mut self, dir: &Path) {
        for ancestor in dir.ancestors().take_while(|a| !a.as_os_str().is_empty()) {
            if !self.known_dirs.insert(ancestor.to_path_buf()) {
                break;
            }
        }
    }

    fn lstat(&self, rel: &Path) -> io::Result<Option<std::fs::Metadata>> {
        match self.root.symlink_metadata(rel) {
            Ok(m) => Ok(Some(m)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Applies a non-directory's metadata. chown clears setuid, setgid and
    /// file capabilities, so the mode and xattrs come after it.
    fn apply(&self, rel: &Path, meta: &Meta) -> Result<(), Failure> {
        self.root.set_owner(rel, meta.uid, meta.gid)?;
        self.root.set_mode(rel, meta.mode)?;
        self.set_xattrs(rel, meta)?;
        let Mtime(secs, nanos) = meta.mtime;
        self.root.set_mtime(rel, secs, nanos)?;
        Ok(())
    }

    fn set_xattrs(&self, rel: &Path, meta: &Meta) -> io::Result<()> {
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
    fn finish(self) -> Result<UnpackStats, UnpackError> {
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

/// Turns an archive path into a path relative to the tree, dropping `.`
/// components; the empty path is the root. Absolute paths and `..` are
/// refused with the reason as a predicate.
fn tree_path(raw: &Path) -> Result<PathBuf, &'static str> {
    let mut rel = PathBuf::new();
    for component in raw.components() {
        match component {
            Component::Normal(name) => rel.push(name),
            Component::CurDir => {}
            Component::ParentDir => return Err("has a '..' component"),
            Component::RootDir | Component::Prefix(_) => return Err("is absolute"),
        }
    }
    Ok(rel)
}

/// Whether `target`, read from the directory holding the symlink `link`,
/// climbs above the tree root. Absolute targets stay inside: sandboxes see
/// the tree as `/`.
fn climbs_above_root(link: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth = link.components().count().saturating_sub(1);
    for component in target.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::ParentDir if depth == 0 => return true,
            Component::ParentDir => depth -= 1,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt};
    use tar::{Builder, Header};
    use tempfile::TempDir;

    const MTIME: i64 = 1_600_000_000;

    fn tree() -> (TempDir, TreeRoot) {
        let root = nix::unistd::geteuid().is_root();
        assert!(
            root,
            "unpack tests need root: they chown files and create device nodes"
        );
        let dir = tempfile::tempdir().expect("create temp dir");
        let root = TreeRoot::open(dir.path()).expect("open tree");
        (dir, root)
    }

    /// Permission bits, owner, group and mtime of `path`, not following it.
    fn stat(path: &Path) -> (u32, u32, u32, i64) {
        let m = fs::symlink_metadata(path).unwrap();
        (m.mode() & 0o7777, m.uid(), m.gid(), m.mtime())
    }

    fn header(kind: EntryType, mode: u32, owner: u64) -> Header {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(owner);
        h.set_gid(owner);
        h.set_mtime(MTIME as u64);
        h.set_size(0);
        h
    }

    fn dir(b: &mut Builder<Vec<u8>>, path: &str, mode: u32, owner: u64) {
        let mut h = header(EntryType::Directory, mode, owner);
        b.append_data(&mut h, path, io::empty()).unwrap();
    }

    fn file(b: &mut Builder<Vec<u8>>, path: &str, data: &[u8], mode: u32, owner: u64) {
        let mut h = header(EntryType::Regular, mode, owner);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, path, data).unwrap();
    }

    fn link(b: &mut Builder<Vec<u8>>, kind: EntryType, path: &str, target: &str) {
        let mut h = header(kind, 0o777, 0);
        b.append_link(&mut h, path, target).unwrap();
    }

    /// An entry written byte for byte, bypassing the builder's path checks.
    fn raw(b: &mut Builder<Vec<u8>>, kind: EntryType, path: &str, target: &str, data: &[u8]) {
        let mut h = header(kind, 0o644, 0);
        h.set_size(data.len() as u64);
        h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        h.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
        h.set_cksum();
        b.append(&h, data).unwrap();
    }

    fn archive(fill: impl FnOnce(&mut Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = Builder::new(Vec::new());
        fill(&mut b);
        b.into_inner().unwrap()
    }

    fn rejected(root: &TreeRoot, bytes: &[u8]) -> String {
        match unpack(bytes, root) {
            Err(e @ UnpackError::Rejected { .. }) => e.to_string(),
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn rootfs_keeps_owners_modes_symlinks_and_times() {
        let (tmp, root) = tree();
        let bytes = archive(|b| {
            dir(b, "./", 0o750, 1000);
            dir(b, "bin", 0o755, 0);
            file(b, "bin/tool", b"#!/bin/sh\n", 0o4755, 0);
            link(b, EntryType::Symlink, "bin/sh", "/bin/busybox");
            dir(b, "home/amika", 0o700, 1000);
            file(b, "home/amika/notes", b"hi", 0o640, 1000);
            raw(b, EntryType::Regular, "./etc/hosts", "", b"::1 localhost\n");
        });
        let stats = unpack(&bytes[..], &root).unwrap();
        let expected = UnpackStats {
            entries: 7,
            bytes: 26,
        };
        assert_eq!(stats, expected);

        let t = tmp.path();
        assert_eq!(
            stat(t),
            (0o750, 1000, 1000, MTIME),
            "the ./ entry describes the root"
        );
        assert_eq!(stat(&t.join("bin/tool")), (0o4755, 0, 0, MTIME));
        assert_eq!(
            fs::read_link(t.join("bin/sh")).unwrap(),
            Path::new("/bin/busybox")
        );
        let home = stat(&t.join("home/amika"));
        assert_eq!(
            home,
            (0o700, 1000, 1000, MTIME),
            "directory metadata is set last"
        );
        assert_eq!(
            stat(&t.join("home/amika/notes")),
            (0o640, 1000, 1000, MTIME)
        );
        assert_eq!(fs::read(t.join("etc/hosts")).unwrap(), b"::1 localhost\n");
    }

    #[test]
    fn hard_links_share_an_inode() {
        let (tmp, root) = tree();
        let bytes = archive(|b| {
            file(b, "usr/bin/perl5", b"perl", 0o755, 0);
            link(b, EntryType::Link, "usr/bin/perl", "./usr/bin/perl5");
        });
        unpack(&bytes[..], &root).unwrap();
        let a = fs::metadata(tmp.path().join("usr/bin/perl5")).unwrap();
        let b = fs::metadata(tmp.path().join("usr/bin/perl")).unwrap();
        assert_eq!((a.ino(), a.nlink()), (b.ino(), 2));
    }

    #[test]
    fn pax_records_carry_xattrs_owners_and_times() {
        let (tmp, root) = tree();
        let bytes = archive(|b| {
            b.append_pax_extensions([("SCHILY.xattr.user.dir", &b"d"[..])])
                .unwrap();
            dir(b, "data", 0o755, 0);
            let records = [
                ("SCHILY.xattr.user.amika", &b"value"[..]),
                ("uid", &b"4000000"[..]),
                ("mtime", &b"1700000000.25"[..]),
            ];
            b.append_pax_extensions(records).unwrap();
            file(b, "data/f", b"x", 0o644, 0);
        });
        unpack(&bytes[..], &root).unwrap();

        let f = tmp.path().join("data/f");
        let value = xattr::get(&f, "user.amika").unwrap();
        assert_eq!(value.as_deref(), Some(&b"value"[..]));
        assert_eq!(stat(&f), (0o644, 4_000_000, 0, 1_700_000_000));
        assert_eq!(fs::metadata(&f).unwrap().mtime_nsec(), 250_000_000);
        let value = xattr::get(tmp.path().join("data"), "user.dir").unwrap();
        assert_eq!(value.as_deref(), Some(&b"d"[..]));
    }

    #[test]
    fn paths_and_hard_links_that_leave_the_tree_are_refused() {
        let (tmp, root) = tree();
        let bytes = archive(|b| raw(b, EntryType::Regular, "../x", "", b"x"));
        let msg = rejected(&root, &bytes);
        assert!(
            msg.contains("archive entry '../x' escapes the image"),
            "{msg}"
        );

        let bytes = archive(|b| raw(b, EntryType::Directory, "a/../../etc", "", b""));
        let msg = rejected(&root, &bytes);
        assert!(
            msg.starts_with("archive entry 'a/../../etc' escapes the image:"),
            "{msg}"
        );

        let bytes = archive(|b| raw(b, EntryType::Regular, "/etc/x", "", b"x"));
        assert!(rejected(&root, &bytes).contains("'/etc/x'"));
        for target in ["../x", "/etc/passwd"] {
            let bytes = archive(|b| raw(b, EntryType::Link, "x", target, b""));
            let msg = rejected(&root, &bytes);
            assert!(msg.contains("hard link target"), "{msg}");
        }
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
    }

    #[test]
    fn symlinks_that_climb_out_are_refused() {
        let (tmp, root) = tree();
        let bytes = archive(|b| {
            link(b, EntryType::Symlink, "evil", "../../..");
            file(b, "evil/x", b"x", 0o644, 0);
        });
        let msg = rejected(&root, &bytes);
        assert!(
            msg.contains("'evil'") && msg.contains("climbs above"),
            "{msg}"
        );

        let bytes = archive(|b| link(b, EntryType::Symlink, "a/b", "../../x"));
        assert!(rejected(&root, &bytes).contains("'a/b'"));

        let bytes = archive(|b| link(b, EntryType::Symlink, "a/b", "../x"));
        unpack(&bytes[..], &root).unwrap();
        assert_eq!(
            fs::read_link(tmp.path().join("a/b")).unwrap(),
            Path::new("../x")
        );
    }

    #[test]
    fn absolute_symlinks_resolve_inside_the_tree() {
        let (tmp, root) = tree();
        let passwd = fs::read("/etc/passwd").unwrap();
        let host = tempfile::tempdir().unwrap();
        let host_dir = host.path().to_str().unwrap();

        // `etc -> /etc` points at itself inside the tree: nothing can land.
        let bytes = archive(|b| {
            link(b, EntryType::Symlink, "etc", "/etc");
            file(b, "etc/passwd", b"evil::0:0::/:/bin/sh\n", 0o644, 0);
        });
        let err = unpack(&bytes[..], &root).unwrap_err();
        assert!(err.to_string().contains("'etc/passwd'"), "{err}");
        assert_eq!(fs::read("/etc/passwd").unwrap(), passwd);

        // A link to a host directory reaches the same path inside the tree.
        let bytes = archive(|b| {
            dir(b, &host_dir[1..], 0o755, 0);
            link(b, EntryType::Symlink, "out", host_dir);
            file(b, "out/x", b"inside", 0o644, 0);
        });
        unpack(&bytes[..], &root).unwrap();
        let landed = tmp.path().join(&host_dir[1..]).join("x");
        assert_eq!(fs::read(landed).unwrap(), b"inside");
        assert!(!host.path().join("x").exists());
    }

    #[test]
    fn later_entries_replace_earlier_ones_without_following_links() {
        let (tmp, root) = tree();
        let host = tempfile::NamedTempFile::new().unwrap();
        symlink(host.path(), tmp.path().join("f")).unwrap();
        let bytes = archive(|b| {
            file(b, "f", b"not through the link", 0o644, 0);
            file(b, "g", b"first", 0o644, 0);
            file(b, "g", b"second", 0o600, 0);
            file(b, "d", b"a file", 0o644, 0);
            dir(b, "d", 0o711, 0);
            dir(b, "d", 0o751, 0);
        });
        unpack(&bytes[..], &root).unwrap();

        assert_eq!(fs::read(host.path()).unwrap(), b"");
        assert_eq!(
            fs::read(tmp.path().join("f")).unwrap(),
            b"not through the link"
        );
        assert_eq!(fs::read(tmp.path().join("g")).unwrap(), b"second");
        assert!(tmp.path().join("d").is_dir());
        assert_eq!(stat(&tmp.path().join("d")).0, 0o751);
    }

    #[test]
    fn devices_and_fifos_are_created() {
        let (tmp, root) = tree();
        let bytes = archive(|b| {
            let mut h = header(EntryType::Char, 0o666, 0);
            h.set_device_major(1).unwrap();
            h.set_device_minor(3).unwrap();
            b.append_data(&mut h, "dev/null", io::empty()).unwrap();
            let mut h = header(EntryType::Fifo, 0o600, 0);
            b.append_data(&mut h, "run/pipe", io::empty()).unwrap();
        });
        unpack(&bytes[..], &root).unwrap();

        let null = fs::symlink_metadata(tmp.path().join("dev/null")).unwrap();
        assert!(null.file_type().is_char_device());
        assert_eq!((null.rdev(), null.mode() & 0o7777), (makedev(1, 3), 0o666));
        let pipe = fs::symlink_metadata(tmp.path().join("run/pipe")).unwrap();
        assert!(pipe.file_type().is_fifo());
    }

    #[test]
    fn gzip_and_zstd_streams_unpack() {
        let bytes = archive(|b| file(b, "hello", b"world", 0o644, 0));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&bytes).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&bytes[..], 3).unwrap();

        for (compression, data) in [(Compression::Gzip, gz), (Compression::Zstd, zst)] {
            let (tmp, root) = tree();
            let reader = decoder(&data[..], compression).unwrap();
            assert_eq!(unpack(reader, &root).unwrap().bytes, 5);
            assert_eq!(fs::read(tmp.path().join("hello")).unwrap(), b"world");
        }
    }

    #[test]
    fn a_truncated_stream_is_an_archive_error() {
        let (_tmp, root) = tree();
        let bytes = archive(|b| file(b, "big", &[7; 4096], 0o644, 0));
        match unpack(&bytes[..1024], &root) {
            Err(UnpackError::Archive(e)) => assert!(e.to_string().contains("'big'"), "{e}"),
            other => panic!("expected an archive error, got {other:?}"),
        }
    }
}
