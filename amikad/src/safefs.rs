//! Filesystem changes confined to one tree.
//!
//! The daemon runs as root and writes into trees (sandbox and image root
//! filesystems) whose contents an untrusted sandbox user controls. Every
//! operation here resolves the directory part of its path with
//! `openat2(RESOLVE_IN_ROOT)`: the tree acts as `/`, so a planted symlink,
//! absolute or full of `..`, is resolved inside the tree and can never aim a
//! write, chown, chmod, xattr change or unlink at a host path. The final
//! component is never followed.
//!
//! chmod and setxattr have no no-follow form on the kernels we support, so
//! they act through `/proc/self/fd/N` of an `O_PATH` handle, which names the
//! exact inode that was resolved. That needs the host's `/proc` mounted.

use std::ffi::OsStr;
use std::fs::{self, File, Metadata, Permissions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{self, AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{self, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{self, Gid, Uid, UnlinkatFlags};

/// How many times to retry `openat2` when a concurrent rename or mount in
/// the tree makes the kernel give up with `EAGAIN`.
const RESOLVE_ATTEMPTS: usize = 16;

/// The permission bits (including setuid, setgid and sticky) of a mode.
const PERM_BITS: u32 = 0o7777;

/// A directory tree that the daemon may change, and nothing outside it.
///
/// Paths given to the methods are relative to the tree and made only of
/// plain names: an empty path, an absolute path or a `..` component is
/// refused with [`io::ErrorKind::InvalidInput`]. The metadata methods
/// ([`set_owner`](Self::set_owner), [`set_mode`](Self::set_mode),
/// [`set_mtime`](Self::set_mtime), [`set_xattr`](Self::set_xattr) and
/// [`symlink_metadata`](Self::symlink_metadata)) also accept `.` for the
/// tree root itself. Error messages name the path relative to the tree.
#[derive(Debug)]
pub struct TreeRoot {
    fd: OwnedFd,
    path: PathBuf,
}

impl TreeRoot {
    /// Opens the tree rooted at `path`, which must be a directory.
    pub fn open(path: &Path) -> io::Result<TreeRoot> {
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let fd = fcntl::open(path, flags, Mode::empty()).map_err(|e| {
            io::Error::new(
                os_kind(e),
                format!("open tree {}: {}", path.display(), e.desc()),
            )
        })?;
        Ok(TreeRoot {
            fd: owned(fd),
            path: path.to_path_buf(),
        })
    }

    /// The host path the tree was opened at, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates the directory `rel` and any missing parents with `mode`
    /// (reduced by the process umask, as `mkdir` does).
    ///
    /// A component that already exists as a symlink is followed inside the
    /// tree; it fails if the symlink's target does not exist there.
    pub fn create_dir_all(&self, rel: &Path, mode: u32) -> io::Result<()> {
        let op = "create directory";
        self.check(op, rel)?;
        let mut dir = self.fd.try_clone()?;
        let mut prefix = PathBuf::new();
        for name in rel.iter() {
            prefix.push(name);
            match stat::mkdirat(Some(dir.as_raw_fd()), name, mode_bits(mode)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(self.fail(op, &prefix, e)),
            }
            // Reopen from the tree root, not from `dir`: a symlink component
            // must resolve against the tree's `/`, not the directory it is in.
            let flags = OFlag::O_PATH | OFlag::O_DIRECTORY;
            dir = self
                .resolve(&prefix, flags)
                .map_err(|e| self.fail(op, &prefix, e))?;
        }
        Ok(())
    }

    /// Writes `contents` to the regular file `rel` with permission bits
    /// `mode` and, if given, `owner` as (uid, gid); creates the file or
    /// replaces what it held. Without `owner` the file keeps its owner
    /// (root, for a new file).
    ///
    /// Owner and mode are set before the contents are written, so a secret
    /// is never readable under an older, looser mode. The file is refused if
    /// it is a symlink, is not a regular file (a FIFO would block the
    /// daemon), or has other hard links (rewriting it would change those
    /// other names too, which a tree could use to aim a write at a file it
    /// could not otherwise change).
    pub fn write_file(
        &self,
        rel: &Path,
        contents: &[u8],
        mode: u32,
        owner: Option<(u32, u32)>,
    ) -> io::Result<()> {
        let op = "write";
        let (dir, name) = self.parent(op, rel)?;
        let flags = OFlag::O_WRONLY
            | OFlag::O_CREAT
            | OFlag::O_NOFOLLOW
            | OFlag::O_NONBLOCK
            | OFlag::O_NOCTTY
            | OFlag::O_CLOEXEC;
        let fd = fcntl::openat(Some(dir.as_raw_fd()), name, flags, mode_bits(0o600))
            .map_err(|e| self.fail_nofollow(op, rel, e))?;
        let mut file = File::from(owned(fd));

        let meta = file.metadata().map_err(|e| self.wrap(op, rel, e))?;
        if !meta.is_file() {
            return Err(self.refuse(op, rel, "it is not a regular file"));
        }
        if meta.nlink() > 1 {
            let why = format!("it has {} hard links", meta.nlink());
            return Err(self.refuse(op, rel, &why));
        }

        let io_fail = |e: io::Error| self.wrap(op, rel, e);
        file.set_len(0).map_err(io_fail)?;
        if let Some((uid, gid)) = owner {
            // chown clears setuid and setgid, so the mode comes after it.
            std::os::unix::fs::fchown(&file, Some(uid), Some(gid)).map_err(io_fail)?;
        }
        file.set_permissions(Permissions::from_mode(mode & PERM_BITS))
            .map_err(io_fail)?;
        file.write_all(contents).map_err(io_fail)
    }

    /// Creates the regular file `rel`, which must not exist yet, and returns
    /// it open for writing. `mode` is reduced by the process umask.
    pub fn create_file(&self, rel: &Path, mode: u32) -> io::Result<File> {
        let op = "create";
        let (dir, name) = self.parent(op, rel)?;
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = fcntl::openat(Some(dir.as_raw_fd()), name, flags, mode_bits(mode))
            .map_err(|e| self.fail(op, rel, e))?;
        Ok(File::from(owned(fd)))
    }

    /// Creates the symlink `rel` pointing at `target`.
    ///
    /// The target is stored as given; inside a sandbox the tree is `/`, so an
    /// absolute target refers to a path in the tree.
    pub fn symlink(&self, rel: &Path, target: &Path) -> io::Result<()> {
        let op = "create symlink";
        let (dir, name) = self.parent(op, rel)?;
        unistd::symlinkat(target, Some(dir.as_raw_fd()), name).map_err(|e| self.fail(op, rel, e))
    }

    /// Creates `new` as another name for `existing`. If `existing` is a
    /// symlink, the new name links to the symlink itself.
    pub fn hard_link(&self, existing: &Path, new: &Path) -> io::Result<()> {
        let op = "hard link";
        let (old_dir, old_name) = self.parent(op, existing)?;
        let (new_dir, new_name) = self.parent(op, new)?;
        unistd::linkat(
            Some(old_dir.as_raw_fd()),
            old_name,
            Some(new_dir.as_raw_fd()),
            new_name,
            AtFlags::empty(),
        )
        .map_err(|e| self.fail(op, new, e))
    }

    /// Creates a character device, block device or FIFO at `rel`.
    ///
    /// `kind_and_mode` is an `st_mode` value: its file type bits say which
    /// kind of node, its permission bits are reduced by the process umask.
    pub fn mknod(&self, rel: &Path, kind_and_mode: u32, dev: u64) -> io::Result<()> {
        let op = "create node";
        let kind = SFlag::from_bits_truncate(kind_and_mode & SFlag::S_IFMT.bits());
        if ![SFlag::S_IFCHR, SFlag::S_IFBLK, SFlag::S_IFIFO].contains(&kind) {
            let why = format!("file type {:o} is not a device or FIFO", kind.bits());
            return Err(self.invalid(op, rel, &why));
        }
        let (dir, name) = self.parent(op, rel)?;
        stat::mknodat(
            Some(dir.as_raw_fd()),
            name,
            kind,
            mode_bits(kind_and_mode),
            dev,
        )
        .map_err(|e| self.fail(op, rel, e))
    }

    /// Sets the owner of `rel` itself; a symlink is changed, not followed.
    pub fn set_owner(&self, rel: &Path, uid: u32, gid: u32) -> io::Result<()> {
        let op = "chown";
        let (dir, name) = self.target(op, rel)?;
        let (uid, gid) = (Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)));
        let flag = AtFlags::AT_SYMLINK_NOFOLLOW;
        unistd::fchownat(Some(dir.as_raw_fd()), name, uid, gid, flag)
            .map_err(|e| self.fail(op, rel, e))
    }

    /// Sets the permission bits (setuid, setgid and sticky included) of
    /// `rel`. A symlink is left alone: Linux has no modes for symlinks.
    pub fn set_mode(&self, rel: &Path, mode: u32) -> io::Result<()> {
        let op = "chmod";
        let node = self.open_node(op, rel)?;
        let meta = node.metadata().map_err(|e| self.wrap(op, rel, e))?;
        if meta.file_type().is_symlink() {
            return Ok(());
        }
        let perms = Permissions::from_mode(mode & PERM_BITS);
        fs::set_permissions(proc_path(&node), perms).map_err(|e| self.wrap(op, rel, e))
    }

    /// Sets the modification time of `rel` itself to `secs` and `nanos`
    /// since the epoch, leaving its access time alone; a symlink is changed,
    /// not followed.
    pub fn set_mtime(&self, rel: &Path, secs: i64, nanos: u32) -> io::Result<()> {
        let op = "set mtime of";
        let (dir, name) = self.target(op, rel)?;
        let mtime = TimeSpec::new(secs, i64::from(nanos));
        let flag = UtimensatFlags::NoFollowSymlink;
        stat::utimensat(
            Some(dir.as_raw_fd()),
            name,
            &TimeSpec::UTIME_OMIT,
            &mtime,
            flag,
        )
        .map_err(|e| self.fail(op, rel, e))
    }

    /// Sets the extended attribute `name` of `rel` itself, whatever its
    /// type; a symlink is changed, not followed. Device nodes and FIFOs are
    /// never opened for this.
    pub fn set_xattr(&self, rel: &Path, name: &OsStr, value: &[u8]) -> io::Result<()> {
        let op = format!("set xattr {} on", name.to_string_lossy());
        let node = self.open_node(&op, rel)?;
        // The magic link resolves to the inode `node` holds, even when that
        // inode is a symlink, so following it cannot leave the tree.
        xattr::set_deref(proc_path(&node), name, value).map_err(|e| self.wrap(&op, rel, e))
    }

    /// Removes the non-directory `rel`. A missing file is reported with
    /// [`io::ErrorKind::NotFound`] for the caller to judge.
    pub fn remove_file(&self, rel: &Path) -> io::Result<()> {
        let op = "remove";
        let (dir, name) = self.parent(op, rel)?;
        unistd::unlinkat(Some(dir.as_raw_fd()), name, UnlinkatFlags::NoRemoveDir)
            .map_err(|e| self.fail(op, rel, e))
    }

    /// Removes the empty directory `rel`.
    pub fn remove_dir(&self, rel: &Path) -> io::Result<()> {
        let op = "remove directory";
        let (dir, name) = self.parent(op, rel)?;
        unistd::unlinkat(Some(dir.as_raw_fd()), name, UnlinkatFlags::RemoveDir)
            .map_err(|e| self.fail(op, rel, e))
    }

    /// Reads the whole regular file `rel`; a symlink or any other kind of
    /// file is refused.
    pub fn read_file(&self, rel: &Path) -> io::Result<Vec<u8>> {
        let op = "read";
        let (dir, name) = self.parent(op, rel)?;
        // Non-blocking so that a FIFO planted here cannot hang the open.
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_NOCTTY;
        let fd = fcntl::openat(
            Some(dir.as_raw_fd()),
            name,
            flags | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| self.fail_nofollow(op, rel, e))?;
        let mut file = File::from(owned(fd));
        let meta = file.metadata().map_err(|e| self.wrap(op, rel, e))?;
        if !meta.is_file() {
            return Err(self.refuse(op, rel, "it is not a regular file"));
        }
        let mut contents = Vec::new();
        file.read_to_end(&mut contents)
            .map_err(|e| self.wrap(op, rel, e))?;
        Ok(contents)
    }

    /// Returns the metadata of `rel` itself, not following a final symlink.
    pub fn symlink_metadata(&self, rel: &Path) -> io::Result<Metadata> {
        let op = "stat";
        let node = self.open_node(op, rel)?;
        node.metadata().map_err(|e| self.wrap(op, rel, e))
    }

    /// Opens an `O_PATH` handle on `rel` itself (or the root for `.`); such
    /// a handle never runs a device's open routine or blocks on a FIFO.
    fn open_node(&self, op: &str, rel: &Path) -> io::Result<File> {
        let (dir, name) = self.target(op, rel)?;
        let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = fcntl::openat(Some(dir.as_raw_fd()), name, flags, Mode::empty())
            .map_err(|e| self.fail(op, rel, e))?;
        Ok(File::from(owned(fd)))
    }

    /// Like [`parent`](Self::parent), but `.` names the tree root itself.
    fn target<'a>(&self, op: &str, rel: &'a Path) -> io::Result<(OwnedFd, &'a OsStr)> {
        if rel == Path::new(".") {
            return Ok((self.fd.try_clone()?, OsStr::new(".")));
        }
        self.parent(op, rel)
    }

    /// Resolves the directory holding `rel` inside the tree and returns it
    /// with the final component, which the caller must not follow.
    fn parent<'a>(&self, op: &str, rel: &'a Path) -> io::Result<(OwnedFd, &'a OsStr)> {
        let name = self.check(op, rel)?;
        let parent = match rel.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let dir = self
            .resolve(parent, OFlag::O_PATH | OFlag::O_DIRECTORY)
            .map_err(|e| self.fail(op, rel, e))?;
        Ok((dir, name))
    }

    /// Checks that `rel` is a plain relative path and returns its last name.
    fn check<'a>(&self, op: &str, rel: &'a Path) -> io::Result<&'a OsStr> {
        let plain = rel.components().all(|c| matches!(c, Component::Normal(_)));
        match rel.file_name() {
            Some(name) if plain => Ok(name),
            _ => Err(self.invalid(op, rel, "not a plain relative path inside the tree")),
        }
    }

    /// Opens `rel` (empty for the root itself) with the tree as the root of path
    /// resolution: no symlink, `..` or mount crossing can lead outside it. For readers that
    /// need descriptors this type has no method for, such as directory listings.
    pub fn resolve(&self, rel: &Path, flags: OFlag) -> Result<OwnedFd, Errno> {
        let rel = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        let resolve = ResolveFlag::RESOLVE_IN_ROOT
            | ResolveFlag::RESOLVE_NO_MAGICLINKS
            | ResolveFlag::RESOLVE_NO_XDEV;
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            .resolve(resolve);
        let mut last = Errno::EAGAIN;
        for _ in 0..RESOLVE_ATTEMPTS {
            match fcntl::openat2(self.fd.as_raw_fd(), rel, how) {
                Ok(fd) => return Ok(owned(fd)),
                Err(Errno::EAGAIN) => last = Errno::EAGAIN,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// An error for `op` on `rel` from a failed system call.
    fn fail(&self, op: &str, rel: &Path, errno: Errno) -> io::Error {
        io::Error::new(os_kind(errno), self.message(op, rel, errno.desc()))
    }

    /// Like [`fail`](Self::fail), but says plainly when `O_NOFOLLOW` met a
    /// symlink as the final component.
    fn fail_nofollow(&self, op: &str, rel: &Path, errno: Errno) -> io::Error {
        match errno {
            Errno::ELOOP => self.refuse(op, rel, "it is a symlink, which is never followed"),
            _ => self.fail(op, rel, errno),
        }
    }

    /// Adds the operation and path to an error from the standard library.
    fn wrap(&self, op: &str, rel: &Path, err: io::Error) -> io::Error {
        io::Error::new(err.kind(), self.message(op, rel, &err.to_string()))
    }

    /// An error for a path that exists but must not be touched.
    fn refuse(&self, op: &str, rel: &Path, why: &str) -> io::Error {
        let why = format!("refused: {why}");
        io::Error::new(io::ErrorKind::PermissionDenied, self.message(op, rel, &why))
    }

    /// An error for an argument that is wrong whatever the tree holds.
    fn invalid(&self, op: &str, rel: &Path, why: &str) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, self.message(op, rel, why))
    }

    fn message(&self, op: &str, rel: &Path, why: &str) -> String {
        format!(
            "{op} '{}' in tree {}: {why}",
            rel.display(),
            self.path.display()
        )
    }
}

/// Takes ownership of a descriptor a successful system call just returned.
fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: every caller passes a descriptor that a system call has just
    // returned and that nothing else owns or will close.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// The `/proc` path that refers to exactly the inode `file` holds.
fn proc_path(file: &File) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()))
}

fn mode_bits(mode: u32) -> Mode {
    Mode::from_bits_truncate(mode & PERM_BITS)
}

fn os_kind(errno: Errno) -> io::ErrorKind {
    io::Error::from_raw_os_error(errno as i32).kind()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, FileTypeExt};
    use tempfile::TempDir;

    fn require_root() {
        assert!(
            unistd::geteuid().is_root(),
            "safefs tests need root: they chown files and create device nodes"
        );
    }

    fn tree() -> (TempDir, TreeRoot) {
        require_root();
        let dir = tempfile::tempdir().expect("create temp dir");
        let root = TreeRoot::open(dir.path()).expect("open tree");
        (dir, root)
    }

    #[test]
    fn absolute_symlink_component_resolves_inside_the_tree() {
        let (dir, root) = tree();
        let host = tempfile::tempdir().expect("create host dir");
        symlink(host.path(), dir.path().join("etc")).unwrap();

        // The link's target does not exist inside the tree yet: refused.
        let err = root
            .write_file(Path::new("etc/x"), b"secret", 0o600, None)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("'etc/x'"), "{err}");
        assert!(!host.path().join("x").exists());

        // Once it exists inside the tree, the write lands there.
        let inside = host.path().strip_prefix("/").unwrap();
        root.create_dir_all(inside, 0o755).unwrap();
        root.write_file(Path::new("etc/x"), b"secret", 0o600, None)
            .unwrap();
        assert_eq!(
            fs::read(dir.path().join(inside).join("x")).unwrap(),
            b"secret"
        );
        assert!(!host.path().join("x").exists());
    }

    #[test]
    fn create_dir_all_never_follows_a_symlink_out() {
        let (dir, root) = tree();
        let host = tempfile::tempdir().expect("create host dir");
        symlink(host.path(), dir.path().join("link")).unwrap();

        assert!(root.create_dir_all(Path::new("link/sub"), 0o755).is_err());
        assert!(!host.path().join("sub").exists());
        root.create_dir_all(Path::new("a/b/c"), 0o755).unwrap();
        assert!(dir.path().join("a/b/c").is_dir());
    }

    #[test]
    fn write_file_refuses_a_final_symlink() {
        let (dir, root) = tree();
        let host = tempfile::NamedTempFile::new().unwrap();
        symlink(host.path(), dir.path().join("f")).unwrap();

        let err = root
            .write_file(Path::new("f"), b"x", 0o644, None)
            .unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");
        assert!(err.to_string().contains("'f'"), "{err}");
        assert_eq!(fs::read(host.path()).unwrap(), b"");
    }

    #[test]
    fn write_file_sets_owner_and_mode_and_replaces_contents() {
        let (dir, root) = tree();
        let rel = Path::new("secret");
        root.write_file(rel, b"a longer first version", 0o644, None)
            .unwrap();
        root.write_file(rel, b"second", 0o600, Some((1000, 1001)))
            .unwrap();

        let meta = fs::metadata(dir.path().join(rel)).unwrap();
        assert_eq!(fs::read(dir.path().join(rel)).unwrap(), b"second");
        assert_eq!((meta.uid(), meta.gid()), (1000, 1001));
        assert_eq!(meta.mode() & PERM_BITS, 0o600);
    }

    #[test]
    fn write_file_refuses_fifos_and_shared_inodes() {
        let (dir, root) = tree();
        root.mknod(Path::new("fifo"), libc::S_IFIFO | 0o644, 0)
            .unwrap();
        assert!(root
            .write_file(Path::new("fifo"), b"x", 0o644, None)
            .is_err());

        fs::write(dir.path().join("shadow"), b"root:x").unwrap();
        fs::hard_link(dir.path().join("shadow"), dir.path().join("creds")).unwrap();
        let err = root
            .write_file(Path::new("creds"), b"token", 0o600, None)
            .unwrap_err();
        assert!(err.to_string().contains("hard links"), "{err}");
        assert_eq!(fs::read(dir.path().join("shadow")).unwrap(), b"root:x");
    }

    #[test]
    fn paths_that_leave_the_tree_are_invalid() {
        let (_dir, root) = tree();
        for bad in ["../x", "a/../../x", "/etc/passwd", "", "./x", "."] {
            let err = root
                .write_file(Path::new(bad), b"x", 0o644, None)
                .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad}: {err}");
        }
        let err = root.set_owner(Path::new(".."), 0, 0).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn hard_link_and_mknod_create_nodes() {
        let (dir, root) = tree();
        root.write_file(Path::new("a"), b"data", 0o644, None)
            .unwrap();
        root.create_dir_all(Path::new("d"), 0o755).unwrap();
        root.hard_link(Path::new("a"), Path::new("d/b")).unwrap();
        let a = fs::metadata(dir.path().join("a")).unwrap();
        let b = fs::metadata(dir.path().join("d/b")).unwrap();
        assert_eq!(a.ino(), b.ino());

        let null = stat::makedev(1, 3);
        root.mknod(Path::new("null"), libc::S_IFCHR | 0o666, null)
            .unwrap();
        root.mknod(Path::new("pipe"), libc::S_IFIFO | 0o600, 0)
            .unwrap();
        let meta = root.symlink_metadata(Path::new("null")).unwrap();
        assert!(meta.file_type().is_char_device());
        assert_eq!(meta.rdev(), null);
        assert!(root
            .symlink_metadata(Path::new("pipe"))
            .unwrap()
            .file_type()
            .is_fifo());
        let err = root
            .mknod(Path::new("f"), libc::S_IFREG | 0o644, 0)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn metadata_changes_never_reach_a_symlink_target() {
        let (dir, root) = tree();
        let host = tempfile::NamedTempFile::new().unwrap();
        fs::set_permissions(host.path(), Permissions::from_mode(0o600)).unwrap();
        symlink(host.path(), dir.path().join("l")).unwrap();
        let l = Path::new("l");

        root.set_mode(l, 0o777).unwrap();
        root.set_owner(l, 1000, 1000).unwrap();
        root.set_mtime(l, 1_000_000, 0).unwrap();
        root.set_xattr(l, OsStr::new("trusted.amika"), b"v")
            .unwrap();

        let target = fs::metadata(host.path()).unwrap();
        assert_eq!(target.mode() & PERM_BITS, 0o600);
        assert_eq!(target.uid(), 0);
        assert_ne!(target.mtime(), 1_000_000);
        assert_eq!(xattr::get(host.path(), "trusted.amika").unwrap(), None);
        let link = fs::symlink_metadata(dir.path().join(l)).unwrap();
        assert_eq!((link.uid(), link.mtime()), (1000, 1_000_000));
        let value = xattr::get(dir.path().join(l), "trusted.amika").unwrap();
        assert_eq!(value.as_deref(), Some(&b"v"[..]));
    }

    #[test]
    fn metadata_of_the_root_itself() {
        let (dir, root) = tree();
        let here = Path::new(".");
        root.set_owner(here, 1000, 1000).unwrap();
        root.set_mode(here, 0o1750).unwrap();
        root.set_mtime(here, 1_234_567, 500).unwrap();
        root.set_xattr(here, OsStr::new("user.amika"), b"root")
            .unwrap();

        let meta = fs::metadata(dir.path()).unwrap();
        assert_eq!((meta.uid(), meta.mode() & PERM_BITS), (1000, 0o1750));
        assert_eq!((meta.mtime(), meta.mtime_nsec()), (1_234_567, 500));
        assert!(root.symlink_metadata(here).unwrap().is_dir());
    }

    #[test]
    fn setuid_survives_and_xattrs_land_on_files() {
        let (dir, root) = tree();
        let f = Path::new("tool");
        root.create_file(f, 0o600)
            .unwrap()
            .write_all(b"#!")
            .unwrap();
        root.set_owner(f, 0, 0).unwrap();
        root.set_mode(f, 0o4755).unwrap();
        root.set_xattr(f, OsStr::new("user.note"), b"hello")
            .unwrap();

        let meta = fs::metadata(dir.path().join(f)).unwrap();
        assert_eq!(meta.mode() & PERM_BITS, 0o4755);
        let note = xattr::get(dir.path().join(f), "user.note").unwrap();
        assert_eq!(note.as_deref(), Some(&b"hello"[..]));
        assert_eq!(
            root.create_file(f, 0o600).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
    }

    #[test]
    fn read_and_remove_stay_inside() {
        let (dir, root) = tree();
        let host = tempfile::tempdir().unwrap();
        fs::write(host.path().join("x"), b"host").unwrap();
        symlink(host.path(), dir.path().join("etc")).unwrap();
        symlink(host.path().join("x"), dir.path().join("lx")).unwrap();

        assert!(root.read_file(Path::new("etc/x")).is_err());
        assert!(root.read_file(Path::new("lx")).is_err());
        let err = root.remove_file(Path::new("etc/x")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(host.path().join("x").exists());

        root.write_file(Path::new("f"), b"mine", 0o644, None)
            .unwrap();
        assert_eq!(root.read_file(Path::new("f")).unwrap(), b"mine");
        root.remove_file(Path::new("f")).unwrap();
        let err = root.remove_file(Path::new("f")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        root.create_dir_all(Path::new("d"), 0o755).unwrap();
        root.remove_dir(Path::new("d")).unwrap();
        assert!(!dir.path().join("d").exists());
    }
}
