//! Per-sandbox control groups, on cgroup v2 where the host has it and cgroup v1 otherwise.
//!
//! A sandbox's cgroup is `amika/<name>` directly under the mount point of every hierarchy it
//! uses: the one cgroup2 mount on v2; the `memory`, `cpu`, `pids` and `freezer` hierarchies on
//! v1, found in `/proc/self/mountinfo` wherever they are mounted.
//!
//! The hierarchy root is used rather than a sibling of the daemon's own cgroup because the
//! path then does not depend on how amikad was started (systemd unit, shell, managed slice),
//! so a restarted daemon finds the cgroups of the sandboxes it adopts; and on v2 the root is
//! exempt from the rule that a cgroup holding processes cannot hand controllers to its
//! children. For a root daemon the root is writable whenever the daemon's own subtree is (only
//! a read-only mount stops root), so a fallback location would not help; the error names the
//! mount to fix instead.
//!
//! Limits: memory (v1 also caps memory+swap at the same value and v2 sets `memory.swap.max`
//! to 0, so swapping cannot dodge the limit), CPU as a CFS quota over a 100 ms period, and
//! `pids.max`. An unset limit writes the "unlimited" value, so applying limits again lifts
//! the ones that were dropped. The OOM killer stays enabled on purpose: it kills one process
//! in the sandbox, not the whole sandbox.
//!
//! Everything here blocks (freezing polls for up to 2 s); async callers use a blocking thread.
//!
//! Layout: discovery of the hierarchies is in `mountinfo`, the version-specific control files
//! in `v1` and `v2` (with the values they share in `limits`), the directories of one cgroup
//! in `tree`, and file access with its error hints in `files`. `procs` and `freeze` add the
//! process-level operations to [`Cgroup`].
//!
//! The kernel tests at the end run against the host's real hierarchy and need root. On a
//! v1-only host (a cgroup2 mount without controllers) they exercise the v1 files only; the v2
//! file handling then runs only on v2 hosts, and only its pure parts (mount choice,
//! `cpu.max`, `cgroup.events`) are unit-tested everywhere.
//!
//! Known shortcomings: [`Cgroup::kill_all`] signals the processes it read in one pass, so a
//! process forked meanwhile survives that pass and callers repeat until [`Cgroup::pids`] is
//! empty. On v1 the other hierarchies (cpuset, devices, blkio, ...) are left alone, so
//! sandbox processes stay in the daemon's cgroups there. The shared `amika` parent
//! directories are never removed.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use amika_api::Limits;
use tracing::debug;

pub use self::error::CgroupError;
use self::files::{make_dir, remove_tree};
use self::limits::cpu_quota;
use self::mountinfo::discover;
pub use self::procs::enter;
use self::tree::Tree;
use self::v2::enable_controllers;

pub mod dynmods;
mod error;
mod files;
mod freeze;
mod limits;
mod mountinfo;
mod procs;
#[cfg(test)]
mod tests;
mod tree;
mod v1;
mod v2;

/// Directory under each hierarchy's mount point that holds every sandbox cgroup.
const BASE: &str = "amika";
/// How often freezing and removal look again.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

type Result<T> = std::result::Result<T, CgroupError>;

/// The cgroup interface the host offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// One hierarchy per controller.
    V1,
    /// The unified hierarchy.
    V2,
}

/// A sandbox's cgroup: its directory in every hierarchy it uses.
#[derive(Debug, Clone)]
pub struct Cgroup {
    name: String,
    tree: Tree,
}

/// Reports which cgroup interface sandboxes get on this host.
pub fn detect() -> Result<Version> {
    discover().map(|roots| roots.version())
}

impl Cgroup {
    /// Creates the cgroup `name` (or reuses it if it exists) and applies `limits` to it.
    pub fn create(name: &str, limits: &Limits) -> Result<Cgroup> {
        check_name(name)?;
        let quota = cpu_quota(name, limits.cpus)?;
        let roots = discover()?;
        prepare_roots(&roots)?;
        let cgroup = Cgroup::at(name, &roots);
        cgroup.dirs().iter().try_for_each(|dir| make_dir(dir))?;
        cgroup.apply(limits, quota)?;
        debug!(name, version = ?cgroup.version(), ?limits, "cgroup ready");
        Ok(cgroup)
    }

    /// Finds the cgroup `name` left by an earlier run, if any of its directories exists.
    pub fn open(name: &str) -> Result<Option<Cgroup>> {
        check_name(name)?;
        let cgroup = Cgroup::at(name, &discover()?);
        Ok(cgroup
            .dirs()
            .iter()
            .any(|dir| dir.is_dir())
            .then_some(cgroup))
    }

    /// The name given at creation.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this cgroup lives in v1 hierarchies or the unified one.
    pub fn version(&self) -> Version {
        self.tree.version()
    }

    /// Every directory of this cgroup, once each.
    pub fn dirs(&self) -> Vec<PathBuf> {
        self.tree.dirs()
    }

    /// On cgroup v2, the directory to start a process in with
    /// [`fork_into`](crate::runtime::clone_into::fork_into), so that it never has to be moved
    /// in; v1 hierarchies cannot be named that way.
    pub fn clone_target(&self) -> Option<PathBuf> {
        match &self.tree {
            Tree::V1(_) => None,
            Tree::V2(dir) => Some(dir.clone()),
        }
    }

    /// Every `cgroup.procs` file a new process must be written into to be fully inside.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs()
            .iter()
            .map(|dir| dir.join("cgroup.procs"))
            .collect()
    }

    /// Removes the cgroup's directories, child cgroups first; a missing directory is fine.
    ///
    /// Only an empty cgroup can go. The kernel lets go of a cgroup a moment after its last
    /// process exits, so a busy directory is retried for up to a second.
    pub fn remove(&self) -> Result<()> {
        self.dirs().iter().try_for_each(|dir| remove_tree(dir))?;
        debug!(name = %self.name, "cgroup removed");
        Ok(())
    }

    /// Memory in use by the cgroup, in bytes, or `None` when it cannot be read.
    pub fn memory_current(&self) -> Option<u64> {
        let file = match &self.tree {
            Tree::V1(dirs) => dirs.memory.join("memory.usage_in_bytes"),
            Tree::V2(dir) => dir.join("memory.current"),
        };
        fs::read_to_string(file).ok()?.trim().parse().ok()
    }

    /// The cgroup `name` under the hierarchy roots `roots`.
    fn at(name: &str, roots: &Tree) -> Cgroup {
        let relative = Path::new(BASE).join(name);
        Cgroup {
            name: name.to_owned(),
            tree: roots.join(&relative),
        }
    }

    /// Writes `limits`, with the CPU limit already turned into a quota.
    fn apply(&self, limits: &Limits, quota: Option<u64>) -> Result<()> {
        match &self.tree {
            Tree::V1(dirs) => v1::apply(dirs, limits, quota),
            Tree::V2(dir) => v2::apply(dir, limits, quota),
        }
    }
}

/// Makes the shared `amika` directories; on v2 also hands the controllers down to them.
fn prepare_roots(roots: &Tree) -> Result<()> {
    match roots {
        Tree::V1(_) => roots
            .join(Path::new(BASE))
            .dirs()
            .iter()
            .try_for_each(|d| make_dir(d)),
        Tree::V2(root) => {
            let base = root.join(BASE);
            enable_controllers(root)?;
            make_dir(&base)?;
            enable_controllers(&base)
        }
    }
}

/// Refuses a name that is not exactly one directory below the `amika` directories.
fn check_name(name: &str) -> Result<()> {
    let bad = name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']);
    if bad {
        return Err(CgroupError::InvalidName {
            name: name.to_owned(),
        });
    }
    Ok(())
}
