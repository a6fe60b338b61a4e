//! Discovery: which hierarchies the host mounts, and where, read from
//! `/proc/self/mountinfo`.

use std::path::{Path, PathBuf};

use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC};

use super::files::read_file;
use super::tree::{Tree, V1Dirs};
use super::v2::{self, V2_CONTROLLERS};
use super::{CgroupError, Result};
use crate::mountinfo::{self, Mount};

/// Where a pure cgroup v2 host mounts its single hierarchy.
const UNIFIED_DEFAULT: &str = "/sys/fs/cgroup";
/// The v1 hierarchies a sandbox uses.
const V1_CONTROLLERS: [&str; 4] = ["memory", "cpu", "pids", "freezer"];

/// Finds the hierarchy roots: a cgroup2 mount with every controller, else the v1 mounts.
pub(super) fn discover() -> Result<Tree> {
    let text = read_file(Path::new(mountinfo::PATH))?;
    let mounts = mountinfo::parse(&text);
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
