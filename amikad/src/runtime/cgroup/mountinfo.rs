//! Discovery: which hierarchies the host mounts, and where, read from
//! `/proc/self/mountinfo`.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC};

use super::files::read_file;
use super::tree::{Tree, V1Dirs};
use super::v2::{self, V2_CONTROLLERS};
use super::{CgroupError, Result};

/// Where the kernel lists the calling process's mounts.
const MOUNTINFO: &str = "/proc/self/mountinfo";
/// Where a pure cgroup v2 host mounts its single hierarchy.
const UNIFIED_DEFAULT: &str = "/sys/fs/cgroup";
/// The v1 hierarchies a sandbox uses.
const V1_CONTROLLERS: [&str; 4] = ["memory", "cpu", "pids", "freezer"];

/// One line of `/proc/self/mountinfo`, reduced to what discovery needs.
#[derive(Debug)]
pub(super) struct Mount {
    pub(super) fstype: String,
    pub(super) point: PathBuf,
    pub(super) super_options: Vec<String>,
}

/// Finds the hierarchy roots: a cgroup2 mount with every controller, else the v1 mounts.
pub(super) fn discover() -> Result<Tree> {
    let text = read_file(Path::new(MOUNTINFO))?;
    let mounts = parse_mountinfo(&text);
    if let Some(root) = unified_root(&mounts) {
        return Ok(Tree::V2(root));
    }
    v1_roots(&mounts).map_err(|missing| CgroupError::Unsupported {
        reason: format!(
            "no cgroup2 mount offers {} and the cgroup v1 hierarchies for {missing} are not \
             mounted; boot with systemd.unified_cgroup_hierarchy=1, or mount each missing v1 \
             controller, e.g. `mount -t cgroup -o pids cgroup /sys/fs/cgroup/pids`",
            V2_CONTROLLERS.join(", ")
        ),
    })
}

/// A cgroup2 mount that offers every controller, else `/sys/fs/cgroup` if it is cgroup2.
fn unified_root(mounts: &[Mount]) -> Option<PathBuf> {
    let complete = mounts
        .iter()
        .filter(|mount| mount.fstype == "cgroup2")
        .find(|mount| v2::offers_controllers(&mount.point));
    if let Some(mount) = complete {
        return Some(mount.point.clone());
    }
    let default = Path::new(UNIFIED_DEFAULT);
    let is_unified = statfs(default).is_ok_and(|fs| fs.filesystem_type() == CGROUP2_SUPER_MAGIC);
    is_unified.then(|| default.to_owned())
}

/// The v1 mount of every needed controller, or the names of the missing ones.
pub(super) fn v1_roots(mounts: &[Mount]) -> std::result::Result<Tree, String> {
    let found = V1_CONTROLLERS.map(|controller| v1_mount(mounts, controller));
    if let [Some(memory), Some(cpu), Some(pids), Some(freezer)] = found.clone() {
        return Ok(Tree::V1(V1Dirs {
            memory,
            cpu,
            pids,
            freezer,
        }));
    }
    let missing: Vec<&str> = V1_CONTROLLERS
        .iter()
        .zip(&found)
        .filter(|(_, mount)| mount.is_none())
        .map(|(controller, _)| *controller)
        .collect();
    Err(missing.join(", "))
}

fn v1_mount(mounts: &[Mount], controller: &str) -> Option<PathBuf> {
    mounts
        .iter()
        .filter(|mount| mount.fstype == "cgroup")
        .find(|mount| mount.super_options.iter().any(|o| o == controller))
        .map(|mount| mount.point.clone())
}

/// The mounts listed in a mountinfo text; lines of another shape are skipped.
pub(super) fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_mount_line).collect()
}

/// Fields: id, parent, dev, root, mount point, options, optional fields, "-", fstype,
/// source, super options.
fn parse_mount_line(line: &str) -> Option<Mount> {
    let (left, right) = line.split_once(" - ")?;
    let point = left.split(' ').nth(4)?;
    let mut right = right.split(' ');
    let fstype = right.next()?;
    let super_options = right.nth(1)?;
    Some(Mount {
        fstype: fstype.to_owned(),
        point: unescape(point),
        super_options: super_options.split(',').map(str::to_owned).collect(),
    })
}

/// Undoes mountinfo's octal escapes (`\040` for a space, and so on).
fn unescape(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1..i + 4).and_then(octal)) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    PathBuf::from(OsString::from_vec(out))
}

fn octal(digits: &[u8]) -> Option<u8> {
    let value = digits.iter().try_fold(0u32, |acc, d| {
        (b'0'..=b'7')
            .contains(d)
            .then(|| acc * 8 + u32::from(d - b'0'))
    })?;
    u8::try_from(value).ok()
}
