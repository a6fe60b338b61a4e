//! The filesystem a sandbox sees, built by its init inside a fresh mount namespace.
//!
//! The tree becomes a mount point of its own and receives a new `/proc` for the sandbox's pid
//! namespace, a small `/dev` with only harmless devices and its own pty instance, an empty
//! `/tmp`, and a read-only `/sys`. The kernel interfaces that reveal or change host state are
//! hidden or made read-only, as container runtimes commonly do. Then [`pivot`] makes the tree
//! `/` and detaches the host's filesystem.
//!
//! The daemon never trusts the tree: a root filesystem from anywhere may lack `/proc` or hold
//! a symlink there. Top-level mount points are created when missing and refused when they are
//! anything but real directories. Each mount lands on the directory held open after that
//! check, so a symlink cannot redirect it to a host path.
//!
//! Everything mounted here lives only in the sandbox's mount namespace: `/` is made
//! recursively private first, so no mount propagates back to the host, and all of them vanish
//! with the namespace.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::symlink;
use std::path::Path;

use amika_api::NetworkMode;
use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{fchmodat, fstatat, makedev, mkdirat, mknod, FchmodatFlags, Mode, SFlag};
use nix::unistd::{chdir, pivot_root};

use super::init::StepError;

/// Size limit of the `/dev` tmpfs, which holds only device nodes and symlinks.
const DEV_OPTIONS: &str = "mode=755,size=65536k";

/// `/dev/shm`: world-writable and sticky like `/tmp`, bounded like a container runtime's.
const SHM_OPTIONS: &str = "mode=1777,size=65536k";

/// A private pty instance, so the sandbox cannot reach the host's terminals.
const DEVPTS_OPTIONS: &str = "newinstance,ptmxmode=0666,mode=0620,gid=5";

/// The same without the `tty` group, for kernels or trees where gid 5 is refused.
const DEVPTS_FALLBACK: &str = "newinstance,ptmxmode=0666,mode=0620";

/// Character devices of the sandbox's `/dev`: name, major, minor. All are mode 0666.
const DEVICES: &[(&str, u64, u64)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// Symlinks of the sandbox's `/dev`: name, target.
const DEV_LINKS: &[(&str, &str)] = &[
    ("ptmx", "pts/ptmx"),
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];

/// Files hidden behind `/dev/null`: kernel memory, keyrings, and timing details of the host.
const MASKED_FILES: &[&str] = &[
    "proc/kcore",
    "proc/keys",
    "proc/latency_stats",
    "proc/timer_list",
    "proc/timer_stats",
    "proc/sched_debug",
];

/// Directories hidden behind an empty read-only tmpfs: host hardware and firmware.
const MASKED_DIRS: &[&str] = &["proc/acpi", "proc/asound", "proc/scsi", "sys/firmware"];

/// Kernel interfaces that stay readable but must not be changed from inside a sandbox.
const READ_ONLY: &[&str] = &[
    "proc/bus",
    "proc/fs",
    "proc/irq",
    "proc/sys",
    "proc/sysrq-trigger",
];

/// Flags of every kernel filesystem mounted for the sandbox.
fn kernel_fs_flags() -> MsFlags {
    MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC
}

/// Builds the sandbox's mounts on the tree at `root`, still seen through the host's `/`, with
/// the identity files of `identity` bound over the tree's `/etc` files of the same names.
pub fn build(root: &Path, network: NetworkMode, identity: Option<&Path>) -> Result<(), StepError> {
    let none = None::<&str>;
    mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none)
        .map_err(|e| StepError::at("make mounts private under", Path::new("/"), e))?;
    // pivot_root needs the new root to be a mount point.
    let bind = MsFlags::MS_BIND | MsFlags::MS_REC;
    mount(Some(root), root, none, bind, none)
        .map_err(|e| StepError::at("bind the sandbox root onto itself at", root, e))?;

    let tree = open_dir(root)?;
    mount_proc(&tree, root)?;
    mount_dev(&tree, root)?;
    mount_tmp(&tree, root)?;
    mount_sys(&tree, root, network)?;
    if let Some(identity) = identity {
        bind_identity(&tree, root, identity)?;
    }
    mask(root)
}

/// Binds each file of `identity` over the regular file of the same name in the tree's
/// `/etc`, refusing a tree whose `/etc` or file has become anything else since the daemon
/// looked.
fn bind_identity(tree: &OwnedFd, root: &Path, identity: &Path) -> Result<(), StepError> {
    let etc_path = root.join("etc");
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let etc = openat(Some(tree.as_raw_fd()), "etc", flags, Mode::empty())
        .map_err(|e| StepError::at("open", &etc_path, e))?;
    // SAFETY: openat just returned this descriptor and nothing else owns it.
    let etc = unsafe { OwnedFd::from_raw_fd(etc) };
    for name in crate::runtime::identity::FILES {
        let source = identity.join(name);
        if !source.exists() {
            continue;
        }
        let shown = etc_path.join(name);
        let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(Some(etc.as_raw_fd()), name, flags, Mode::empty())
            .map_err(|e| StepError::at("open identity mount point", &shown, e))?;
        // SAFETY: openat just returned this descriptor and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let st = nix::sys::stat::fstat(fd.as_raw_fd())
            .map_err(|e| StepError::at("inspect identity mount point", &shown, e))?;
        if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
            let why = "it is no longer a regular file";
            return Err(StepError::at(
                "refuse identity mount point",
                &shown,
                invalid(why),
            ));
        }
        let target = format!("/proc/self/fd/{}", fd.as_raw_fd());
        mount(
            Some(&source),
            target.as_str(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| StepError::at("bind the identity file over", &shown, e))?;
    }
    Ok(())
}

/// Makes `root` the process's `/` and detaches the host's filesystem from the namespace.
pub fn pivot(root: &Path) -> Result<(), StepError> {
    chdir(root).map_err(|e| StepError::at("change directory to", root, e))?;
    // Stacking the old root on the new one avoids needing a directory for it in the tree.
    pivot_root(".", ".").map_err(|e| StepError::at("pivot into", root, e))?;
    umount2(".", MntFlags::MNT_DETACH)
        .map_err(|e| StepError::at("detach the host root after pivoting into", root, e))?;
    chdir("/").map_err(|e| StepError::at("change directory to / in", root, e))
}

/// A top-level directory of the tree, held open so a mount on it cannot be redirected.
struct MountPoint {
    fd: OwnedFd,
}

impl MountPoint {
    /// A path naming exactly the directory that was checked, whatever the tree does since.
    fn target(&self) -> String {
        format!("/proc/self/fd/{}", self.fd.as_raw_fd())
    }
}

/// Opens the tree's root directory.
fn open_dir(root: &Path) -> Result<OwnedFd, StepError> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let fd = openat(None, root, flags, Mode::empty())
        .map_err(|e| StepError::at("open the sandbox root", root, e))?;
    // SAFETY: openat just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Creates `name` under the tree when missing and opens it, refusing anything but a real
/// directory.
fn mount_point(tree: &OwnedFd, root: &Path, name: &str) -> Result<MountPoint, StepError> {
    let shown = root.join(name);
    let dir = Some(tree.as_raw_fd());
    match mkdirat(dir, name, Mode::from_bits_truncate(0o755)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(StepError::at("create mount point", &shown, e)),
    }

    let st = fstatat(dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
        .map_err(|e| StepError::at("inspect mount point", &shown, e))?;
    let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
    if kind == SFlag::S_IFLNK {
        let why = "it is a symlink; a sandbox tree must hold a real directory there";
        return Err(StepError::at("refuse mount point", &shown, invalid(why)));
    }
    if kind != SFlag::S_IFDIR {
        let why = "it is not a directory";
        return Err(StepError::at("refuse mount point", &shown, invalid(why)));
    }

    // O_NOFOLLOW and O_DIRECTORY together fail if the name was swapped since the check.
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let fd = openat(dir, name, flags, Mode::empty())
        .map_err(|e| StepError::at("open mount point", &shown, e))?;
    // SAFETY: openat just returned this descriptor and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    Ok(MountPoint { fd })
}

/// An error for a tree that is not shaped as a root filesystem must be.
fn invalid(why: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, why)
}

/// Mounts a fresh `/proc`, which shows only the sandbox's pid namespace.
fn mount_proc(tree: &OwnedFd, root: &Path) -> Result<(), StepError> {
    let at = mount_point(tree, root, "proc")?;
    mount(
        Some("proc"),
        at.target().as_str(),
        Some("proc"),
        kernel_fs_flags(),
        None::<&str>,
    )
    .map_err(|e| StepError::at("mount proc on", &root.join("proc"), e))
}

/// Mounts a tmpfs `/dev` with a handful of devices, its own devpts and a `/dev/shm`.
fn mount_dev(tree: &OwnedFd, root: &Path) -> Result<(), StepError> {
    let at = mount_point(tree, root, "dev")?;
    let dev = root.join("dev");
    // Device nodes must work here, so unlike the other tmpfs mounts this one allows them.
    mount(
        Some("tmpfs"),
        at.target().as_str(),
        Some("tmpfs"),
        MsFlags::MS_NOSUID,
        Some(DEV_OPTIONS),
    )
    .map_err(|e| StepError::at("mount tmpfs on", &dev, e))?;

    // From here on, paths under `dev` resolve into the fresh tmpfs, which only init can see.
    for (name, major, minor) in DEVICES {
        let path = dev.join(name);
        let mode = Mode::from_bits_truncate(0o666);
        mknod(&path, SFlag::S_IFCHR, mode, makedev(*major, *minor))
            .map_err(|e| StepError::at("create device", &path, e))?;
        // mknod applies the umask; the mode must be exact.
        fchmodat(None, &path, mode, FchmodatFlags::NoFollowSymlink)
            .map_err(|e| StepError::at("set the mode of device", &path, e))?;
    }
    mount_devpts(&dev)?;
    for (name, target) in DEV_LINKS {
        let path = dev.join(name);
        symlink(target, &path).map_err(|e| StepError::at("create symlink", &path, e))?;
    }

    let shm = dev.join("shm");
    make_dir(&shm)?;
    mount(
        Some("shm"),
        &shm,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(SHM_OPTIONS),
    )
    .map_err(|e| StepError::at("mount tmpfs on", &shm, e))
}

/// Mounts a new devpts instance on `dev/pts`.
fn mount_devpts(dev: &Path) -> Result<(), StepError> {
    let pts = dev.join("pts");
    make_dir(&pts)?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
    let with_group = mount(
        Some("devpts"),
        &pts,
        Some("devpts"),
        flags,
        Some(DEVPTS_OPTIONS),
    );
    match with_group {
        Ok(()) => Ok(()),
        Err(Errno::EINVAL) => mount(
            Some("devpts"),
            &pts,
            Some("devpts"),
            flags,
            Some(DEVPTS_FALLBACK),
        )
        .map_err(|e| StepError::at("mount devpts on", &pts, e)),
        Err(e) => Err(StepError::at("mount devpts on", &pts, e)),
    }
}

/// Creates a directory inside a tmpfs that init has just mounted.
fn make_dir(path: &Path) -> Result<(), StepError> {
    std::fs::create_dir(path).map_err(|e| StepError::at("create directory", path, e))
}

/// Mounts an empty, world-writable `/tmp`.
fn mount_tmp(tree: &OwnedFd, root: &Path) -> Result<(), StepError> {
    let at = mount_point(tree, root, "tmp")?;
    mount(
        Some("tmpfs"),
        at.target().as_str(),
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=1777"),
    )
    .map_err(|e| StepError::at("mount tmpfs on", &root.join("tmp"), e))
}

/// Mounts a read-only `/sys`: a fresh sysfs, or with host networking, where the kernel may
/// refuse one, the host's `/sys` bound read-only.
fn mount_sys(tree: &OwnedFd, root: &Path, network: NetworkMode) -> Result<(), StepError> {
    let at = mount_point(tree, root, "sys")?;
    let sys = root.join("sys");
    let fresh = mount(
        Some("sysfs"),
        at.target().as_str(),
        Some("sysfs"),
        kernel_fs_flags() | MsFlags::MS_RDONLY,
        None::<&str>,
    );
    match fresh {
        Ok(()) => Ok(()),
        Err(_) if network == NetworkMode::Host => bind_host_sys(&at, &sys),
        Err(e) => Err(StepError::at("mount sysfs on", &sys, e)),
    }
}

/// Binds the host's `/sys`, with everything mounted below it, read-only onto `sys`.
fn bind_host_sys(at: &MountPoint, sys: &Path) -> Result<(), StepError> {
    let bind = MsFlags::MS_BIND | MsFlags::MS_REC;
    mount(
        Some("/sys"),
        at.target().as_str(),
        None::<&str>,
        bind,
        None::<&str>,
    )
    .map_err(|e| StepError::at("bind the host's /sys onto", sys, e))?;
    // A plain remount would make only the top mount read-only, not the ones below it.
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_RDONLY
            | libc::MOUNT_ATTR_NOSUID
            | libc::MOUNT_ATTR_NODEV
            | libc::MOUNT_ATTR_NOEXEC,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let path = path_cstring(sys)?;
    // SAFETY: `path` is NUL-terminated and `attr` is a valid mount_attr of the size passed;
    // both live across the call, which reads them and writes nothing back.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::AT_RECURSIVE as libc::c_uint,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        return Err(StepError::at(
            "make read-only the host /sys bound on",
            sys,
            err,
        ));
    }
    Ok(())
}

/// `path` as a C string, for the system calls nix does not wrap.
fn path_cstring(path: &Path) -> Result<std::ffi::CString, StepError> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| StepError::at("use path", path, invalid("it contains a NUL byte")))
}

/// Hides and write-protects the kernel interfaces listed at the top of this module. Entries
/// the running kernel does not have are skipped.
fn mask(root: &Path) -> Result<(), StepError> {
    let null = root.join("dev/null");
    let none = None::<&str>;
    for rel in MASKED_FILES.iter().filter(|rel| exists(root, rel)) {
        let path = root.join(rel);
        mount(Some(&null), &path, none, MsFlags::MS_BIND, none)
            .map_err(|e| StepError::at("mask", &path, e))?;
    }
    for rel in MASKED_DIRS.iter().filter(|rel| exists(root, rel)) {
        let path = root.join(rel);
        let flags = MsFlags::MS_RDONLY | kernel_fs_flags();
        mount(Some("tmpfs"), &path, Some("tmpfs"), flags, none)
            .map_err(|e| StepError::at("mask", &path, e))?;
    }
    for rel in READ_ONLY.iter().filter(|rel| exists(root, rel)) {
        read_only_bind(&root.join(rel))?;
    }
    Ok(())
}

/// Whether `rel` exists under the tree; these paths are all inside kernel filesystems that
/// init itself mounted, so no symlink planted by the tree can be on the way.
fn exists(root: &Path, rel: &str) -> bool {
    root.join(rel).symlink_metadata().is_ok()
}

/// Makes `path` a read-only mount of itself.
fn read_only_bind(path: &Path) -> Result<(), StepError> {
    let none = None::<&str>;
    mount(
        Some(path),
        path,
        none,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        none,
    )
    .map_err(|e| StepError::at("bind onto itself", path, e))?;
    // A bind mount ignores MS_RDONLY until remounted; the other flags are restated because
    // the remount replaces them all.
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | kernel_fs_flags();
    mount(none, path, none, flags, none).map_err(|e| StepError::at("make read-only", path, e))
}
