//! A directory as a tar stream, for uploads to the daemon.
//!
//! The client runs as the calling user and reads only what that user may
//! read: an unreadable file or directory fails the upload with its path
//! named rather than being left out. The stream carries numeric owners
//! (no user or group names), full modes, mtimes, symlinks as symlinks, hard
//! links, device nodes, FIFOs, and xattrs as PAX `SCHILY.xattr.*` records,
//! in the form the daemon's unpacker takes. Sockets cannot be archived and
//! are left out silently. Entries come in sorted order, so an unchanged
//! tree gives the same stream.
//!
//! [`append_file`] and [`append_symlink`] add one entry each, for archives
//! of a chosen list of paths rather than a whole directory.

use std::collections::HashMap;
use std::fs::{self, File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use tar::{Builder, EntryType, Header, HeaderMode};

/// The PAX record prefix that carries one extended attribute.
const XATTR_PREFIX: &str = "SCHILY.xattr.";

/// Writes `dir` and everything under it to `out` as a tar archive.
///
/// Nothing is followed: every symlink under `dir` is archived as a
/// symlink, and `dir` itself must be a real directory, not a link to one.
/// It becomes the `./` entry; the others are named relative to it (`a/b`).
pub fn write_dir_tar<W: Write>(dir: &Path, out: W) -> io::Result<()> {
    let meta = fs::symlink_metadata(dir).map_err(|e| at("read", dir, e))?;
    if !meta.is_dir() {
        let msg = format!("cannot archive {}: not a directory", dir.display());
        return Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
    }

    let mut tar = TarWriter {
        builder: Builder::new(out),
        seen: HashMap::new(),
    };
    tar.append(dir, Path::new("./"), &meta)?;
    // A depth-first walk that visits each directory's entries in name order.
    let mut pending = children(dir, Path::new(""))?;
    while let Some((path, rel)) = pending.pop() {
        let meta = fs::symlink_metadata(&path).map_err(|e| at("read", &path, e))?;
        if meta.file_type().is_socket() {
            continue;
        }
        tar.append(&path, &rel, &meta)?;
        if meta.is_dir() {
            pending.extend(children(&path, &rel)?);
        }
    }
    tar.builder.into_inner()?.flush()
}

/// The entries of `dir` as (host path, archive path), last name first so
/// that popping them gives name order.
fn children(dir: &Path, rel: &Path) -> io::Result<Vec<(PathBuf, PathBuf)>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| at("list", dir, e))? {
        names.push(entry.map_err(|e| at("list", dir, e))?.file_name());
    }
    names.sort_unstable_by(|a, b| b.cmp(a));
    Ok(names
        .into_iter()
        .map(|name| (dir.join(&name), rel.join(&name)))
        .collect())
}

struct TarWriter<W: Write> {
    builder: Builder<W>,
    /// Archive path of the first name seen for each multiply linked inode,
    /// keyed by device and inode number.
    seen: HashMap<(u64, u64), PathBuf>,
}

impl<W: Write> TarWriter<W> {
    fn append(&mut self, path: &Path, rel: &Path, meta: &Metadata) -> io::Result<()> {
        let mut header = header_for(meta);
        let kind = meta.file_type();
        if !kind.is_dir() && meta.nlink() > 1 {
            let key = (meta.dev(), meta.ino());
            if let Some(first) = self.seen.get(&key) {
                // The inode's metadata and xattrs travel with its first name.
                header.set_entry_type(EntryType::Link);
                header.set_size(0);
                return self.builder.append_link(&mut header, rel, first);
            }
            self.seen.insert(key, rel.to_path_buf());
        }

        let records = xattr_records(path)?;
        if !records.is_empty() {
            let pairs = records.iter().map(|(k, v)| (k.as_str(), v.as_slice()));
            self.builder.append_pax_extensions(pairs)?;
        }

        if kind.is_symlink() {
            append_symlink(&mut self.builder, path, rel, meta)
        } else if kind.is_file() {
            append_file(&mut self.builder, path, rel, meta)
        } else {
            if kind.is_char_device() || kind.is_block_device() {
                header.set_device_major(libc::major(meta.rdev()))?;
                header.set_device_minor(libc::minor(meta.rdev()))?;
            }
            self.builder.append_data(&mut header, rel, io::empty())
        }
    }
}

/// Appends the symlink at `path` as `rel`, with its target as it is: nothing is followed.
pub fn append_symlink<W: Write>(
    builder: &mut Builder<W>,
    path: &Path,
    rel: &Path,
    meta: &Metadata,
) -> io::Result<()> {
    let target = fs::read_link(path).map_err(|e| at("read symlink", path, e))?;
    builder.append_link(&mut header_for(meta), rel, target)
}

/// Appends the regular file at `path` as `rel`, with its mode, owner and mtime, failing rather
/// than corrupting the stream if the file changes under us. `listed` is its metadata as
/// listed, without following a symlink.
pub fn append_file<W: Write>(
    builder: &mut Builder<W>,
    path: &Path,
    rel: &Path,
    listed: &Metadata,
) -> io::Result<()> {
    // O_NOFOLLOW and O_NONBLOCK: if the name was swapped for a symlink
    // or a FIFO since it was listed, the open fails or returns at once.
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| at("read", path, e))?;
    let meta = file.metadata().map_err(|e| at("read", path, e))?;
    if !meta.is_file() || (meta.dev(), meta.ino()) != (listed.dev(), listed.ino()) {
        let msg = format!(
            "cannot archive {}: it changed while being read",
            path.display()
        );
        return Err(io::Error::other(msg));
    }
    let mut header = header_for(&meta);
    let data = Exact {
        file,
        left: meta.len(),
        path,
    };
    builder.append_data(&mut header, rel, data)
}

/// A header holding `meta`'s type, numeric owner, permission bits, mtime
/// and, for a regular file, size.
fn header_for(meta: &Metadata) -> Header {
    let mut header = Header::new_gnu();
    header.set_metadata_in_mode(meta, HeaderMode::Complete);
    header.set_mode(meta.mode() & 0o7777);
    // Tar cannot express times before the epoch; clamp rather than wrap.
    header.set_mtime(meta.mtime().max(0) as u64);
    header
}

/// The PAX records for `path`'s extended attributes, in name order.
fn xattr_records(path: &Path) -> io::Result<Vec<(String, Vec<u8>)>> {
    let names = match xattr::list(path) {
        Ok(names) => names,
        Err(e) if e.kind() == io::ErrorKind::Unsupported => return Ok(Vec::new()),
        Err(e) => return Err(at("list xattrs of", path, e)),
    };
    let mut records = Vec::new();
    for name in names {
        let Some(text) = name.to_str() else {
            let msg = format!(
                "cannot archive {}: xattr name {name:?} is not UTF-8",
                path.display()
            );
            return Err(io::Error::new(io::ErrorKind::InvalidData, msg));
        };
        // An attribute removed since the listing is simply not sent.
        if let Some(value) = xattr::get(path, &name).map_err(|e| at("read xattrs of", path, e))? {
            records.push((format!("{XATTR_PREFIX}{text}"), value));
        }
    }
    records.sort();
    Ok(records)
}

/// Reads exactly `left` bytes of a file. A file that grew is cut at its
/// listed size, one that shrank is an error: either way the tar stream
/// keeps the size its header promised.
struct Exact<'a> {
    file: File,
    left: u64,
    path: &'a Path,
}

impl Read for Exact<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let room = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = self
            .file
            .read(&mut buf[..room])
            .map_err(|e| at("read", self.path, e))?;
        if n == 0 {
            let msg = format!(
                "cannot archive {}: it shrank while being read",
                self.path.display()
            );
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, msg));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Names the path an I/O error concerns.
fn at(what: &str, path: &Path, err: io::Error) -> io::Error {
    io::Error::new(
        err.kind(),
        format!("cannot {what} {}: {err}", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};
    use std::os::unix::net::UnixListener;
    use std::process::Command;
    use tar::Archive;

    /// One archive entry, reduced to what the tests compare.
    #[derive(Debug, PartialEq)]
    struct Listed {
        path: String,
        kind: EntryType,
        link: Option<String>,
        mode: u32,
        data: Vec<u8>,
        xattrs: Vec<(String, Vec<u8>)>,
    }

    fn list(bytes: &[u8]) -> Vec<Listed> {
        let mut archive = Archive::new(bytes);
        let mut listed = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let header = entry.header();
            assert_eq!(header.username_bytes(), Some(&b""[..]), "no user names");
            let mut item = Listed {
                path: String::from_utf8(entry.path_bytes().into_owned()).unwrap(),
                kind: header.entry_type(),
                link: entry.link_name().unwrap().map(|l| l.display().to_string()),
                mode: header.mode().unwrap(),
                data: Vec::new(),
                xattrs: Vec::new(),
            };
            if let Some(records) = entry.pax_extensions().unwrap() {
                for record in records {
                    let record = record.unwrap();
                    let key = record.key().unwrap().to_owned();
                    item.xattrs.push((key, record.value_bytes().to_vec()));
                }
            }
            entry.read_to_end(&mut item.data).unwrap();
            listed.push(item);
        }
        listed
    }

    fn entry(path: &str, kind: EntryType, mode: u32) -> Listed {
        Listed {
            path: path.into(),
            kind,
            link: None,
            mode,
            data: Vec::new(),
            xattrs: Vec::new(),
        }
    }

    #[test]
    fn a_directory_round_trips_through_tar() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::set_permissions(root, fs::Permissions::from_mode(0o750)).unwrap();
        fs::create_dir(root.join("sub")).unwrap();
        fs::set_permissions(root.join("sub"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(root.join("sub/file"), b"hello").unwrap();
        fs::set_permissions(root.join("sub/file"), fs::Permissions::from_mode(0o4755)).unwrap();
        xattr::set(root.join("sub/file"), "user.amika", b"v").unwrap();
        fs::hard_link(root.join("sub/file"), root.join("twin")).unwrap();
        symlink("sub/file", root.join("link")).unwrap();
        let _socket = UnixListener::bind(root.join("sock")).unwrap();

        let mut bytes = Vec::new();
        write_dir_tar(root, &mut bytes).unwrap();

        let mut file = entry("sub/file", EntryType::Regular, 0o4755);
        file.data = b"hello".to_vec();
        file.xattrs = vec![("SCHILY.xattr.user.amika".into(), b"v".to_vec())];
        let mut link = entry("link", EntryType::Symlink, 0o777);
        link.link = Some("sub/file".into());
        let mut twin = entry("twin", EntryType::Link, 0o4755);
        twin.link = Some("sub/file".into());
        let expected = vec![
            entry("./", EntryType::Directory, 0o750),
            link,
            entry("sub", EntryType::Directory, 0o755),
            file,
            twin,
        ];
        assert_eq!(list(&bytes), expected);
    }

    #[test]
    fn owners_times_and_fifos_are_numeric_and_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let fifo = tmp.path().join("fifo");
        let made = Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("run mkfifo");
        assert!(made.success(), "mkfifo {}", fifo.display());
        std::os::unix::fs::lchown(&fifo, Some(1234), Some(5678)).unwrap();

        let mut bytes = Vec::new();
        write_dir_tar(tmp.path(), &mut bytes).unwrap();
        let mut archive = Archive::new(&bytes[..]);
        let entry = archive.entries().unwrap().nth(1).unwrap().unwrap();
        let header = entry.header();
        assert_eq!(header.entry_type(), EntryType::Fifo);
        assert_eq!((header.uid().unwrap(), header.gid().unwrap()), (1234, 5678));
        let mtime = fs::symlink_metadata(&fifo).unwrap().mtime();
        assert_eq!(header.mtime().unwrap(), mtime as u64);
    }

    #[test]
    fn the_root_must_be_a_directory() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("f"), b"").unwrap();
        symlink(tmp.path(), tmp.path().join("l")).unwrap();
        for path in [
            tmp.path().join("f"),
            tmp.path().join("l"),
            tmp.path().join("none"),
        ] {
            let err = write_dir_tar(&path, Vec::new()).unwrap_err();
            assert!(
                err.to_string().contains(&path.display().to_string()),
                "{err}"
            );
        }
    }
}
