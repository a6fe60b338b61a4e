//! The directories that make up one cgroup, or the hierarchy roots they live under: one per
//! v1 controller, or the single unified one.

use std::path::{Path, PathBuf};

use super::Version;

/// The directories of one cgroup, or of the hierarchy roots before a path is joined.
#[derive(Debug, Clone)]
pub(super) enum Tree {
    /// One directory per controller.
    V1(V1Dirs),
    /// The one directory in the unified hierarchy.
    V2(PathBuf),
}

/// One directory per v1 controller; several are equal when controllers share a hierarchy.
#[derive(Debug, Clone)]
pub(super) struct V1Dirs {
    pub(super) memory: PathBuf,
    pub(super) cpu: PathBuf,
    pub(super) pids: PathBuf,
    pub(super) freezer: PathBuf,
}

impl Tree {
    /// Which interface these directories belong to.
    pub(super) fn version(&self) -> Version {
        match self {
            Tree::V1(_) => Version::V1,
            Tree::V2(_) => Version::V2,
        }
    }

    /// The same directories with `relative` appended to each.
    pub(super) fn join(&self, relative: &Path) -> Tree {
        match self {
            Tree::V1(dirs) => Tree::V1(V1Dirs {
                memory: dirs.memory.join(relative),
                cpu: dirs.cpu.join(relative),
                pids: dirs.pids.join(relative),
                freezer: dirs.freezer.join(relative),
            }),
            Tree::V2(dir) => Tree::V2(dir.join(relative)),
        }
    }

    /// Every distinct directory.
    pub(super) fn dirs(&self) -> Vec<PathBuf> {
        let dirs = match self {
            Tree::V1(d) => vec![&d.memory, &d.cpu, &d.pids, &d.freezer],
            Tree::V2(dir) => vec![dir],
        };
        let mut unique: Vec<PathBuf> = Vec::new();
        for dir in dirs {
            if !unique.contains(dir) {
                unique.push(dir.clone());
            }
        }
        unique
    }

    /// The directory whose `cgroup.procs` lists every process.
    pub(super) fn pids_dir(&self) -> &Path {
        match self {
            Tree::V1(dirs) => &dirs.pids,
            Tree::V2(dir) => dir,
        }
    }

    /// The file that freezes or thaws the cgroup, and the value that does it.
    pub(super) fn freeze_control(&self, frozen: bool) -> (PathBuf, &'static str) {
        match self {
            Tree::V1(dirs) => {
                let value = if frozen { "FROZEN" } else { "THAWED" };
                (dirs.freezer.join("freezer.state"), value)
            }
            Tree::V2(dir) => (dir.join("cgroup.freeze"), if frozen { "1" } else { "0" }),
        }
    }
}
