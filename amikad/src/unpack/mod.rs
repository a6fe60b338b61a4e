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

use std::io::{self, Read};

use flate2::read::MultiGzDecoder;
use tar::Archive;

use crate::safefs::TreeRoot;

pub use self::error::UnpackError;
use self::unpacker::Unpacker;

mod entries;
mod error;
mod meta;
mod paths;
#[cfg(test)]
mod tests;
mod unpacker;

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
