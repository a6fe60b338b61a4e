//! Reading a capture without following symlinks: walking directories, opening files and
//! reading link targets.
//!
//! [`TreeRoot`] has no directory listing or streaming read, so this module builds them on
//! [`TreeRoot::resolve`], which opens paths with the capture as `/` (`RESOLVE_IN_ROOT`), so
//! nothing resolves outside it. Below the starting directory
//! the walk never follows a symlink at all: each directory is one it has just listed as a
//! directory, and is opened with `O_NOFOLLOW`. The capture is a private snapshot that no
//! process runs in, so nothing changes it between a listing and an open.
//!
//! Paths longer than `PATH_MAX` cannot be opened and fail the walk, which for verification
//! is the safe outcome.

use std::ffi::{CStr, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::dir::{Dir, Type};
use nix::errno::Errno;
use nix::fcntl::{self, AtFlags, OFlag};
use nix::sys::stat::{self, Mode, SFlag};

use super::{ScrubError, TreeRoot};

/// The capture, for reading.
pub(super) struct Tree<'a> {
    root: &'a TreeRoot,
}

/// What a walk or a lookup reports: a regular file or a symlink, not yet opened.
pub(super) struct Node<'a> {
    dir: RawFd,
    name: &'a CStr,
    /// Whether it is a file or a symlink.
    pub kind: Kind,
}

/// The kinds of node whose contents could hold a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A regular file: its data.
    File,
    /// A symlink: its target, which is stored as data too.
    Symlink,
}

impl Node<'_> {
    /// Opens the regular file for reading; fails if it is not one any more.
    ///
    /// Non-blocking and without a controlling terminal, so that a node that is not what
    /// the listing said cannot hang the daemon.
    pub fn open(&self) -> io::Result<File> {
        let flags = OFlag::O_RDONLY
            | OFlag::O_NOFOLLOW
            | OFlag::O_NONBLOCK
            | OFlag::O_NOCTTY
            | OFlag::O_CLOEXEC;
        let fd = fcntl::openat(Some(self.dir), self.name, flags, Mode::empty())?;
        let file = File::from(owned(fd));
        if !file.metadata()?.is_file() {
            let why = "it is no longer a regular file";
            return Err(io::Error::new(io::ErrorKind::InvalidData, why));
        }
        Ok(file)
    }

    /// The symlink's target, as bytes.
    pub fn link_target(&self) -> io::Result<Vec<u8>> {
        let target = fcntl::readlinkat(Some(self.dir), self.name)?;
        Ok(target.as_bytes().to_vec())
    }
}

impl<'a> Tree<'a> {
    /// Reads the tree `capture` was opened at.
    pub fn open(capture: &'a TreeRoot) -> Result<Tree<'a>, ScrubError> {
        Ok(Tree { root: capture })
    }

    /// Calls `visit` with every regular file and symlink below `start` (relative to the
    /// tree; empty for the whole tree), depth first. A missing `start` visits nothing.
    ///
    /// `start` itself may be reached through symlinks inside the tree; nothing below it is.
    pub fn walk(
        &self,
        start: &Path,
        visit: &mut dyn FnMut(&Path, &Node<'_>) -> Result<(), ScrubError>,
    ) -> Result<(), ScrubError> {
        let mut pending = vec![start.to_path_buf()];
        let mut first = true;
        while let Some(rel) = pending.pop() {
            let mut dir = match self.open_dir(&rel, !first) {
                Ok(dir) => dir,
                Err(e) if first && absent(&e) => return Ok(()),
                Err(e) => return Err(ScrubError::io("open directory", &rel, e)),
            };
            first = false;
            let fd = dir.as_raw_fd();
            for entry in dir.iter() {
                let entry = entry.map_err(|e| ScrubError::io("list directory", &rel, e.into()))?;
                let name = entry.file_name();
                if matches!(name.to_bytes(), b"." | b"..") {
                    continue;
                }
                let child = rel.join(OsStr::from_bytes(name.to_bytes()));
                let kind = match entry.file_type() {
                    Some(kind) => kind,
                    None => type_at(fd, name).map_err(|e| ScrubError::io("stat", &child, e))?,
                };
                match kind {
                    Type::Directory => pending.push(child),
                    Type::File => visit(&child, &node(fd, name, Kind::File))?,
                    Type::Symlink => visit(&child, &node(fd, name, Kind::Symlink))?,
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Calls `visit` with the single path `rel` if it is a regular file or a symlink.
    /// Returns whether anything exists at `rel`.
    pub fn lookup(
        &self,
        rel: &Path,
        visit: &mut dyn FnMut(&Path, &Node<'_>) -> Result<(), ScrubError>,
    ) -> Result<bool, ScrubError> {
        let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
            let why = io::Error::new(io::ErrorKind::InvalidInput, "not a path to a file");
            return Err(ScrubError::io("look up", rel, why));
        };
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY;
        let dir = match self.resolve(parent, flags) {
            Ok(dir) => dir,
            Err(e) if absent(&io::Error::from(e)) => return Ok(false),
            Err(e) => return Err(ScrubError::io("open the directory of", rel, e.into())),
        };
        let name = std::ffi::CString::new(name.as_bytes()).map_err(|e| {
            ScrubError::io(
                "look up",
                rel,
                io::Error::new(io::ErrorKind::InvalidInput, e),
            )
        })?;
        let kind = match type_at(dir.as_raw_fd(), &name) {
            Ok(kind) => kind,
            Err(e) if absent(&e) => return Ok(false),
            Err(e) => return Err(ScrubError::io("stat", rel, e)),
        };
        match kind {
            Type::File => visit(rel, &node(dir.as_raw_fd(), &name, Kind::File))?,
            Type::Symlink => visit(rel, &node(dir.as_raw_fd(), &name, Kind::Symlink))?,
            _ => {}
        }
        Ok(true)
    }

    /// Opens the directory `rel` for listing; with `nofollow`, a symlink there is refused.
    fn open_dir(&self, rel: &Path, nofollow: bool) -> io::Result<Dir> {
        let mut flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY;
        if nofollow {
            flags |= OFlag::O_NOFOLLOW;
        }
        let fd = self.resolve(rel, flags)?;
        Ok(Dir::from(fd)?)
    }

    /// Opens `rel` with the tree as the root of path resolution.
    fn resolve(&self, rel: &Path, flags: OFlag) -> Result<OwnedFd, Errno> {
        self.root.resolve(rel, flags)
    }
}

fn node(dir: RawFd, name: &CStr, kind: Kind) -> Node<'_> {
    Node { dir, name, kind }
}

/// The type of `name` in `dir` itself, not following a symlink.
fn type_at(dir: RawFd, name: &CStr) -> io::Result<Type> {
    let st = stat::fstatat(Some(dir), name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
    Ok(match kind {
        SFlag::S_IFDIR => Type::Directory,
        SFlag::S_IFREG => Type::File,
        SFlag::S_IFLNK => Type::Symlink,
        SFlag::S_IFIFO => Type::Fifo,
        SFlag::S_IFCHR => Type::CharacterDevice,
        SFlag::S_IFBLK => Type::BlockDevice,
        _ => Type::Socket,
    })
}

/// Whether an error means that the path does not exist: either a name is missing or a
/// component on the way is not a directory.
pub(super) fn absent(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::NotFound || err.raw_os_error() == Some(libc::ENOTDIR)
}

/// Takes ownership of a descriptor a successful system call just returned.
fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: every caller passes a descriptor that a system call has just returned and
    // that nothing else owns or will close.
    unsafe { OwnedFd::from_raw_fd(fd) }
}
