//! Copying a finished checkout into a sandbox's tree, owned by the sandbox's user.
//!
//! The copy is a tar stream of the checkout, unpacked through the in-root writer, so that
//! nothing already in the tree (a snapshot's links included) can turn a write into a write
//! on the host. Over an existing checkout, as in a sandbox booted from a snapshot of one,
//! the files git tracks and `.git` itself are replaced while everything else stays: the
//! dependencies and build caches that made the snapshot worth taking.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;

use crate::safefs::TreeRoot;

/// Where repositories go inside a sandbox.
pub const WORKSPACE: &str = "home/amika/workspace";

/// The owner every copied file gets.
#[derive(Debug, Clone, Copy)]
pub struct Owner {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

/// Copies `checkout` to `WORKSPACE/<name>` in `tree` and returns the path inside the
/// sandbox (`/home/amika/workspace/<name>`).
pub fn copy_into(checkout: &Path, tree: &TreeRoot, name: &str, owner: Owner) -> io::Result<String> {
    let home = Path::new("home/amika");
    for dir in [home, Path::new(WORKSPACE)] {
        if tree.symlink_metadata(dir).is_err() {
            tree.create_dir_all(dir, 0o755)?;
            tree.set_owner(dir, owner.uid, owner.gid)?;
        }
    }
    let dest = Path::new(WORKSPACE).join(name);
    remove_git_dir(tree, &dest)?;

    let (reader, writer) = io::pipe()?;
    let source = checkout.to_owned();
    let prefix = dest.clone();
    let producer = std::thread::spawn(move || write_tar(&source, &prefix, owner, writer));
    let mut reader = io::BufReader::new(reader);
    let unpacked = crate::unpack::unpack(&mut reader, tree);
    if unpacked.is_ok() {
        // The unpacker stops at the archive's end marker, which may leave the rest of the
        // producer's zero padding unread; without this read the producer would fail to
        // write it with a broken pipe.
        io::copy(&mut reader, &mut io::sink())?;
    }
    drop(reader);
    let produced = producer
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the copy thread panicked")));
    unpacked.map_err(|e| io::Error::other(e.to_string()))?;
    produced?;
    Ok(format!("/{}", dest.display()))
}

/// Removes `<dest>/.git` from the tree without following any link on the way.
fn remove_git_dir(tree: &TreeRoot, dest: &Path) -> io::Result<()> {
    let parent = match tree.resolve(dest, OFlag::O_PATH | OFlag::O_DIRECTORY) {
        Ok(fd) => fd,
        Err(nix::errno::Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(io::Error::from(e)),
    };
    use std::os::fd::AsRawFd;
    // The descriptor's magic link names the real directory, and remove_dir_all removes a
    // final symlink itself rather than what it points at.
    let git = PathBuf::from(format!("/proc/self/fd/{}/.git", parent.as_raw_fd()));
    match fs::symlink_metadata(&git) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(&git),
        Ok(_) => fs::remove_file(&git),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn write_tar(source: &Path, prefix: &Path, owner: Owner, out: io::PipeWriter) -> io::Result<()> {
    let mut builder = tar::Builder::new(io::BufWriter::new(out));
    append_dir(&mut builder, source, prefix, owner)?;
    builder.into_inner()?.flush()
}

fn append_dir<W: Write>(
    builder: &mut tar::Builder<W>,
    dir: &Path,
    name: &Path,
    owner: Owner,
) -> io::Result<()> {
    let meta = fs::symlink_metadata(dir)?;
    append_entry(builder, dir, name, &meta, owner)?;
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let child = name.join(entry.file_name());
        let meta = fs::symlink_metadata(&path)?;
        if meta.is_dir() {
            append_dir(builder, &path, &child, owner)?;
        } else {
            append_entry(builder, &path, &child, &meta, owner)?;
        }
    }
    Ok(())
}

fn append_entry<W: Write>(
    builder: &mut tar::Builder<W>,
    path: &Path,
    name: &Path,
    meta: &fs::Metadata,
    owner: Owner,
) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_uid(owner.uid.into());
    header.set_gid(owner.gid.into());
    header.set_mode(meta.permissions().mode() & 0o7777);
    header.set_mtime(meta.mtime().max(0) as u64);
    let kind = meta.file_type();
    if kind.is_dir() {
        header.set_entry_type(tar::EntryType::Directory);
        header.set_size(0);
        builder.append_data(&mut header, name, io::empty())
    } else if kind.is_symlink() {
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        builder.append_link(&mut header, name, fs::read_link(path)?)
    } else if kind.is_file() {
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(meta.len());
        builder.append_data(&mut header, name, fs::File::open(path)?)
    } else {
        // A checkout holds no devices or FIFOs; one that does keeps them on the host.
        Ok(())
    }
}
