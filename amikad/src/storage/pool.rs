//! The embedded default pool, used when no storage is configured.
//!
//! If the state directory already lives on btrfs, the pool is simply a
//! directory next to the state. Otherwise the daemon keeps a sparse,
//! btrfs-formatted image file in the state directory and loop-mounts it at
//! `pool/`. The mount is deliberately left in place when the daemon stops,
//! so running sandboxes survive a daemon restart; the next start finds it in
//! `/proc/self/mountinfo` and reuses it.

use std::ffi::OsStr;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::statfs::{statfs, BTRFS_SUPER_MAGIC};
use nix::sys::statvfs::statvfs;

use crate::command::{self, CommandError};
use crate::mountinfo;

/// The pool directory (or mount point) inside the state directory.
const POOL_DIR: &str = "pool";
/// The image file backing the pool when the state directory is not btrfs.
const IMAGE_FILE: &str = "pool.img";
/// The name an image has while it is being formatted.
const TEMP_IMAGE_FILE: &str = "pool.img.tmp";
/// Present whenever the kernel can hand out loop devices.
const LOOP_CONTROL: &str = "/dev/loop-control";

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
/// Below this, btrfs metadata leaves too little room to be worth creating.
const MIN_IMAGE_SIZE: u64 = 256 * MIB;
const DEFAULT_MIN_SIZE: u64 = 10 * GIB;
const DEFAULT_MAX_SIZE: u64 = 64 * GIB;

/// The fix offered whenever the loop-backed pool cannot be used.
const LOOP_FIX: &str = "load the loop module: modprobe loop, or pass --storage btrfs:/path";

/// Where the embedded pool's storage comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolOrigin {
    /// A plain directory on the state directory's own btrfs filesystem.
    StateDir,
    /// A loop-mounted btrfs image file.
    LoopImage {
        /// The image file.
        image: PathBuf,
    },
}

/// A ready-to-use embedded pool: a btrfs directory the daemon owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedPool {
    /// Where the pool's btrfs tree is; subvolumes go below it.
    pub mountpoint: PathBuf,
    /// How the pool is backed.
    pub origin: PoolOrigin,
}

/// Why the embedded pool could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// A file system operation on a path failed.
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        /// What was being attempted, e.g. "create directory".
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },

    /// `statfs` or `statvfs` failed.
    #[error("cannot inspect the file system of {}: {source}", .path.display())]
    Stat {
        /// The path inspected.
        path: PathBuf,
        /// The error returned.
        source: Errno,
    },

    /// The requested image size is below the useful minimum.
    #[error(
        "a pool of {} is too small; pass --pool-size of at least {}",
        human(*.requested),
        human(*.minimum)
    )]
    TooSmall {
        /// The size asked for.
        requested: u64,
        /// The smallest size accepted.
        minimum: u64,
    },

    /// The state directory's file system cannot hold the image.
    #[error(
        "the pool image in {} needs {} but only {} is free there (the image may take at most \
         90% of it); free up space, pass a smaller --pool-size, or pass --storage btrfs:/path",
        .dir.display(),
        human(*.needed),
        human(*.free)
    )]
    NoSpace {
        /// The state directory.
        dir: PathBuf,
        /// Free space on its file system, in bytes.
        free: u64,
        /// The size that did not fit, in bytes.
        needed: u64,
    },

    /// `mkfs.btrfs` is missing or failed.
    #[error("cannot format pool image {}: {source}", .image.display())]
    Format {
        /// The file being formatted.
        image: PathBuf,
        /// What went wrong with the tool.
        source: Box<CommandError>,
    },

    /// The kernel offers no loop devices.
    #[error(
        "loop devices are not available ({LOOP_CONTROL} is missing), so the pool image cannot \
         be mounted; {LOOP_FIX}"
    )]
    NoLoop,

    /// `mount` is missing or failed.
    #[error(
        "cannot mount pool image {} at {}: {source}; {LOOP_FIX}",
        .image.display(),
        .mountpoint.display()
    )]
    Mount {
        /// The image file.
        image: PathBuf,
        /// Where it was to be mounted.
        mountpoint: PathBuf,
        /// What went wrong with the tool.
        source: Box<CommandError>,
    },

    /// Something other than our image is mounted at the pool directory.
    #[error(
        "{} is already a mount point of {device}, not of the pool image; unmount it first",
        .mountpoint.display()
    )]
    ForeignMount {
        /// The pool directory.
        mountpoint: PathBuf,
        /// The mounted device or file system source, as mountinfo shows it.
        device: String,
    },

    /// The pool directory turned out not to be btrfs after mounting.
    #[error("{} is not on btrfs (file system magic {magic:#x})", .mountpoint.display())]
    NotBtrfs {
        /// The pool directory.
        mountpoint: PathBuf,
        /// The `statfs` magic that was found instead.
        magic: i64,
    },
}

/// Makes the embedded pool usable, creating, formatting and mounting the
/// image as needed.
///
/// `state_dir` is created (mode 0700) if missing. `size_override` applies
/// only when a new image has to be created; an existing image is never
/// resized.
pub fn prepare(state_dir: &Path, size_override: Option<u64>) -> Result<EmbeddedPool, PoolError> {
    create_private_dir(state_dir)?;
    let state_dir =
        fs::canonicalize(state_dir).map_err(|source| io_error("resolve", state_dir, source))?;
    let mountpoint = state_dir.join(POOL_DIR);

    if is_btrfs(&state_dir)? {
        create_private_dir(&mountpoint)?;
        tracing::info!(pool = %mountpoint.display(), "pool is a directory on btrfs");
        return Ok(EmbeddedPool {
            mountpoint,
            origin: PoolOrigin::StateDir,
        });
    }

    let image = state_dir.join(IMAGE_FILE);
    create_private_dir(&mountpoint)?;
    if !reuse_existing_mount(&image, &mountpoint)? {
        if !Path::new(LOOP_CONTROL).exists() {
            return Err(PoolError::NoLoop);
        }
        if !image.exists() {
            let size = image_size(&state_dir, size_override)?;
            create_image(&state_dir, size)?;
        }
        mount_image(&image, &mountpoint)?;
    }

    if !is_btrfs(&mountpoint)? {
        return Err(PoolError::NotBtrfs {
            magic: fs_magic(&mountpoint)?,
            mountpoint,
        });
    }
    Ok(EmbeddedPool {
        mountpoint,
        origin: PoolOrigin::LoopImage { image },
    })
}

/// Reports `(total, used, free)` bytes of the file system at `mountpoint`.
///
/// On btrfs these figures are approximate: space is allocated in chunks,
/// metadata is duplicated and extents are shared between snapshots, so
/// `statvfs` gives an estimate rather than an exact account.
pub fn usage(mountpoint: &Path) -> io::Result<(u64, u64, u64)> {
    let stats = statvfs(mountpoint).map_err(io::Error::from)?;
    let unit = stats.fragment_size();
    let total = stats.blocks().saturating_mul(unit);
    let used = stats
        .blocks()
        .saturating_sub(stats.blocks_free())
        .saturating_mul(unit);
    let free = stats.blocks_available().saturating_mul(unit);
    Ok((total, used, free))
}

/// Parses a size such as `10G`, `512M`, `2GiB`, `1.5G` or `1073741824`.
///
/// Units are case-insensitive binary multiples: `K`, `M`, `G` and `T`, with
/// optional `B` or `iB` (so `1KB` is 1024 bytes). A bare number is bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let unit = unit.trim_start();

    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ if number.is_empty() => {
            return Err(format!(
                "'{text}' is not a size; expected e.g. 10G, 512M or 1073741824"
            ))
        }
        _ => {
            return Err(format!(
                "unknown unit '{unit}' in size '{text}'; use K, M, G or T"
            ))
        }
    };

    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
        return Err(format!(
            "'{text}' is not a size; expected e.g. 10G, 512M or 1073741824"
        ));
    }
    if shift == 0 && !fraction.is_empty() {
        return Err(format!(
            "'{text}' is a fraction of a byte; use a whole number or a unit"
        ));
    }

    let too_large = || format!("size '{text}' is too large");
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| too_large())?
    };
    let bytes = whole
        .checked_mul(1 << shift)
        .and_then(|bytes| bytes.checked_add(fraction_bytes(fraction, shift)))
        .ok_or_else(too_large)?;
    u64::try_from(bytes).map_err(|_| too_large())
}

/// The bytes contributed by the digits after the decimal point, rounded
/// down. Digits past the twelfth are below a byte even at `T` and ignored.
fn fraction_bytes(digits: &str, shift: u32) -> u128 {
    let digits = &digits[..digits.len().min(12)];
    if digits.is_empty() {
        return 0;
    }
    let numerator: u128 = digits.parse().unwrap_or(0);
    (numerator << shift) / 10u128.pow(digits.len() as u32)
}

/// Chooses the size of a new image, or explains why none fits.
fn image_size(state_dir: &Path, requested: Option<u64>) -> Result<u64, PoolError> {
    let stats = statvfs(state_dir).map_err(|source| stat_error(state_dir, source))?;
    let unit = stats.fragment_size();
    let total = stats.blocks().saturating_mul(unit);
    let free = stats.blocks_available().saturating_mul(unit);

    plan_size(total, free, requested).map_err(|refusal| match refusal {
        SizeRefusal::TooSmall => PoolError::TooSmall {
            requested: requested.unwrap_or(0),
            minimum: MIN_IMAGE_SIZE,
        },
        SizeRefusal::NoSpace { needed } => PoolError::NoSpace {
            dir: state_dir.to_owned(),
            free,
            needed,
        },
    })
}

/// Why [`plan_size`] found no acceptable size.
#[derive(Debug, PartialEq, Eq)]
enum SizeRefusal {
    TooSmall,
    NoSpace { needed: u64 },
}

/// The sizing policy, apart from the file system it is measured on.
///
/// The image is sparse, but leaving a tenth of the free space alone keeps
/// the host file system from filling up as the pool does. An explicit size
/// that does not fit is refused rather than quietly shrunk.
fn plan_size(total: u64, free: u64, requested: Option<u64>) -> Result<u64, SizeRefusal> {
    let limit = free - free / 10;
    if let Some(size) = requested {
        return match size {
            size if size < MIN_IMAGE_SIZE => Err(SizeRefusal::TooSmall),
            size if size > limit => Err(SizeRefusal::NoSpace { needed: size }),
            size => Ok(size),
        };
    }

    let wanted = (total / 5).clamp(DEFAULT_MIN_SIZE, DEFAULT_MAX_SIZE);
    let size = wanted.min(limit) / MIB * MIB;
    if size < MIN_IMAGE_SIZE {
        return Err(SizeRefusal::NoSpace {
            needed: MIN_IMAGE_SIZE,
        });
    }
    Ok(size)
}

/// Formats a new image under a temporary name and renames it into place,
/// so `pool.img` only ever exists fully formatted.
fn create_image(state_dir: &Path, size: u64) -> Result<(), PoolError> {
    let image = state_dir.join(IMAGE_FILE);
    let temp = state_dir.join(TEMP_IMAGE_FILE);
    let mkfs = command::find_tool("mkfs.btrfs").map_err(|source| PoolError::Format {
        image: image.clone(),
        source: Box::new(source),
    })?;

    match fs::remove_file(&temp) {
        Ok(()) => tracing::warn!(path = %temp.display(), "removed half-made pool image"),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(source) => return Err(io_error("remove", &temp, source)),
    }

    tracing::info!(image = %image.display(), size = %human(size), "creating pool image");
    let result = format_temp_image(&mkfs, &temp, size);
    if result.is_err() {
        // Only a courtesy: the next start removes the leftover anyway.
        let _ = fs::remove_file(&temp);
    }
    result?;

    fs::rename(&temp, &image).map_err(|source| io_error("rename into place", &temp, source))?;
    File::open(state_dir)
        .and_then(|dir| dir.sync_all())
        .map_err(|source| io_error("sync directory", state_dir, source))
}

fn format_temp_image(mkfs: &Path, temp: &Path, size: u64) -> Result<(), PoolError> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(temp)
        .map_err(|source| io_error("create", temp, source))?;
    file.set_len(size)
        .map_err(|source| io_error("size", temp, source))?;

    command::run(mkfs, &[OsStr::new("-q"), temp.as_os_str()]).map_err(|source| {
        PoolError::Format {
            image: temp.to_owned(),
            source: Box::new(source),
        }
    })?;

    // mkfs wrote through its own descriptor; fsync flushes the inode's data
    // whichever descriptor it came from.
    file.sync_all()
        .map_err(|source| io_error("sync", temp, source))
}

fn mount_image(image: &Path, mountpoint: &Path) -> Result<(), PoolError> {
    let mount_error = |source| PoolError::Mount {
        image: image.to_owned(),
        mountpoint: mountpoint.to_owned(),
        source: Box::new(source),
    };
    let mount = command::find_tool("mount").map_err(mount_error)?;

    tracing::info!(image = %image.display(), mountpoint = %mountpoint.display(), "mounting pool");
    // util-linux marks the loop device autoclear, so unmounting frees it.
    let args = [
        OsStr::new("-t"),
        OsStr::new("btrfs"),
        OsStr::new("-o"),
        OsStr::new("loop,noatime"),
        image.as_os_str(),
        mountpoint.as_os_str(),
    ];
    command::run(&mount, &args).map_err(mount_error)?;
    Ok(())
}

/// Returns true if `mountpoint` already has `image` mounted on it; fails if
/// something else is mounted there.
fn reuse_existing_mount(image: &Path, mountpoint: &Path) -> Result<bool, PoolError> {
    let Some(source) = mount_source(mountpoint)? else {
        return Ok(false);
    };
    if loop_backing_file(&source).is_some_and(|backing| same_file(&backing, image)) {
        tracing::info!(mountpoint = %mountpoint.display(), "reusing mounted pool");
        return Ok(true);
    }
    Err(PoolError::ForeignMount {
        mountpoint: mountpoint.to_owned(),
        device: source,
    })
}

/// The source of the topmost mount at `mountpoint`, if any.
fn mount_source(mountpoint: &Path) -> Result<Option<String>, PoolError> {
    let path = Path::new(mountinfo::PATH);
    let text = fs::read_to_string(path).map_err(|source| io_error("read", path, source))?;
    // Later lines are mounted on top of earlier ones at the same point.
    let source = mountinfo::parse(&text)
        .into_iter()
        .rev()
        .find(|mount| mount.point == mountpoint)
        .map(|mount| mount.source);
    Ok(source)
}

/// The file behind a loop device such as `/dev/loop3`, from sysfs.
fn loop_backing_file(device: &str) -> Option<PathBuf> {
    let name = device.strip_prefix("/dev/")?;
    if !name.starts_with("loop") || name.contains('/') {
        return None;
    }
    let text = fs::read_to_string(format!("/sys/block/{name}/loop/backing_file")).ok()?;
    Some(PathBuf::from(text.trim_end_matches('\n')))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn is_btrfs(path: &Path) -> Result<bool, PoolError> {
    let stats = statfs(path).map_err(|source| stat_error(path, source))?;
    Ok(stats.filesystem_type() == BTRFS_SUPER_MAGIC)
}

fn fs_magic(path: &Path) -> Result<i64, PoolError> {
    let stats = statfs(path).map_err(|source| stat_error(path, source))?;
    Ok(stats.filesystem_type().0)
}

fn create_private_dir(path: &Path) -> Result<(), PoolError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|source| io_error("create directory", path, source))
}

fn io_error(action: &'static str, path: &Path, source: io::Error) -> PoolError {
    PoolError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

fn stat_error(path: &Path, source: Errno) -> PoolError {
    PoolError::Stat {
        path: path.to_owned(),
        source,
    }
}

/// Renders a byte count for messages, e.g. `1.5 GiB`.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// Unmounts the pool when a test ends, even by panicking, so no loop
    /// device outlives the temporary directory.
    struct Unmount(PathBuf);

    impl Drop for Unmount {
        fn drop(&mut self) {
            let umount = command::find_tool("umount").expect("umount");
            if let Err(err) = command::run(&umount, &[self.0.as_os_str()]) {
                eprintln!("cleanup: {err}");
            }
        }
    }

    fn require_root() {
        assert!(
            nix::unistd::geteuid().is_root(),
            "this test mounts a loop-backed btrfs image and must run as root"
        );
    }

    fn mount_count(mountpoint: &Path) -> usize {
        let text = fs::read_to_string(mountinfo::PATH).unwrap();
        mountinfo::parse(&text)
            .iter()
            .filter(|mount| mount.point == mountpoint)
            .count()
    }

    #[test]
    fn image_pool_is_created_mounted_and_reused_after_a_restart() {
        require_root();
        let dir = tempfile::tempdir().unwrap();
        let state_dir = fs::canonicalize(dir.path()).unwrap();
        assert!(
            !is_btrfs(&state_dir).unwrap(),
            "test needs a non-btrfs temporary directory"
        );
        fs::write(state_dir.join(TEMP_IMAGE_FILE), "left by a crash").unwrap();

        let pool = prepare(&state_dir, Some(300 * MIB)).expect("prepare a fresh pool");
        let _unmount = Unmount(pool.mountpoint.clone());
        let image = state_dir.join(IMAGE_FILE);
        assert_eq!(pool.mountpoint, state_dir.join(POOL_DIR));
        assert_eq!(
            pool.origin,
            PoolOrigin::LoopImage {
                image: image.clone()
            }
        );
        assert!(is_btrfs(&pool.mountpoint).unwrap());
        assert_eq!(fs::metadata(&image).unwrap().len(), 300 * MIB);
        assert!(!state_dir.join(TEMP_IMAGE_FILE).exists());
        assert_eq!(mount_count(&pool.mountpoint), 1);

        let again = prepare(&state_dir, None).expect("prepare over the existing mount");
        assert_eq!(again, pool);
        assert_eq!(
            mount_count(&pool.mountpoint),
            1,
            "the mount should be reused, not stacked"
        );

        let (total, used, free) = usage(&pool.mountpoint).unwrap();
        assert!(total > 0 && total <= 300 * MIB, "total {total}");
        assert!(used <= total && free <= total);
    }

    #[test]
    fn state_dir_on_btrfs_needs_no_image() {
        require_root();
        let dir = tempfile::tempdir().unwrap();
        let outer = prepare(dir.path(), Some(300 * MIB)).expect("prepare an outer pool");
        let _unmount = Unmount(outer.mountpoint.clone());

        let state_dir = outer.mountpoint.join("state");
        let pool = prepare(&state_dir, None).expect("prepare on btrfs");
        assert_eq!(pool.origin, PoolOrigin::StateDir);
        assert_eq!(pool.mountpoint, state_dir.join(POOL_DIR));
        let mode = fs::metadata(&pool.mountpoint).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        assert!(!state_dir.join(IMAGE_FILE).exists());
    }

    #[test]
    fn pool_larger_than_free_space_is_refused_with_the_fix() {
        require_root();
        let dir = tempfile::tempdir().unwrap();
        let err = prepare(dir.path(), Some(1 << 60)).unwrap_err();
        assert!(matches!(err, PoolError::NoSpace { .. }), "{err}");
        let message = err.to_string();
        assert!(message.contains("--pool-size"), "{message}");
        assert!(message.contains("--storage btrfs:/path"), "{message}");
        assert!(!dir.path().join(IMAGE_FILE).exists());
        assert_eq!(mount_count(&dir.path().join(POOL_DIR)), 0);
    }

    #[test]
    fn default_size_is_a_fifth_of_the_disk_within_bounds() {
        let tib = 1024 * GIB;
        assert_eq!(plan_size(100 * GIB, 90 * GIB, None), Ok(20 * GIB));
        assert_eq!(plan_size(20 * GIB, 19 * GIB, None), Ok(10 * GIB));
        assert_eq!(plan_size(2 * tib, tib, None), Ok(64 * GIB));
        // Never more than 90% of what is free.
        assert_eq!(plan_size(100 * GIB, 10 * GIB, None), Ok(9 * GIB));
        assert_eq!(
            plan_size(100 * GIB, 200 * MIB, None),
            Err(SizeRefusal::NoSpace {
                needed: MIN_IMAGE_SIZE
            })
        );
    }

    #[test]
    fn explicit_size_is_honoured_or_refused_never_shrunk() {
        assert_eq!(plan_size(100 * GIB, 90 * GIB, Some(GIB)), Ok(GIB));
        assert_eq!(
            plan_size(100 * GIB, 10 * GIB, Some(10 * GIB)),
            Err(SizeRefusal::NoSpace { needed: 10 * GIB })
        );
        assert_eq!(
            plan_size(100 * GIB, 90 * GIB, Some(MIB)),
            Err(SizeRefusal::TooSmall)
        );
    }

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("10G"), Ok(10 * GIB));
        assert_eq!(parse_size("512M"), Ok(512 * MIB));
        assert_eq!(parse_size("2GiB"), Ok(2 * GIB));
        assert_eq!(parse_size("1073741824"), Ok(GIB));
        assert_eq!(parse_size("1.5G"), Ok(GIB + GIB / 2));
        assert_eq!(parse_size(" 4 t "), Ok(4 << 40));
        assert_eq!(parse_size("64kb"), Ok(64 << 10));
        assert_eq!(parse_size(".5M"), Ok(MIB / 2));
        assert_eq!(parse_size("0"), Ok(0));
    }

    #[test]
    fn bad_sizes_explain_themselves() {
        assert!(parse_size("").unwrap_err().contains("not a size"));
        assert!(parse_size("G").unwrap_err().contains("not a size"));
        assert!(parse_size("ten").unwrap_err().contains("not a size"));
        assert!(parse_size("10X").unwrap_err().contains("unknown unit 'X'"));
        assert!(parse_size("-1G").unwrap_err().contains("not a size"));
        assert!(parse_size("1.2.3G").unwrap_err().contains("not a size"));
        assert!(parse_size("1.5")
            .unwrap_err()
            .contains("fraction of a byte"));
        assert!(parse_size("20000000T").unwrap_err().contains("too large"));
        assert!(parse_size("99999999999999999999999999999999999999999").is_err());
        assert!(parse_size("10000000000000000000000000000000T")
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn messages_use_readable_sizes() {
        assert_eq!(human(300 * MIB), "300.0 MiB");
        assert_eq!(human(GIB + GIB / 2), "1.5 GiB");
        assert_eq!(human(12), "12 bytes");
    }
}
