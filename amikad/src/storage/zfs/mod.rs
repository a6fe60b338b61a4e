//! The ZFS backend: every tree is a dataset under the daemon's dataset, driven through the
//! `zfs` and `zpool` commands.
//!
//! Sealing takes a `@sealed` snapshot and sets `readonly=on`; a sandbox is a clone of an
//! image's or a snapshot's `@sealed`. A capture snapshots the live sandbox (`@capture-ID`,
//! atomic and constant-time, the only step its frozen processes wait for) and then clones
//! that into `staging/`, where the scrub works; the finished staging dataset is renamed into
//! `snapshots/` and sealed in turn. Clones depend on their origin, so a tree that something
//! was cloned from is only marked deleted until the last clone goes ([`collect`] explains
//! why this rather than `zfs promote`); the source of a `scrub_and_delete` capture is kept
//! that way while its snapshot exists.
//!
//! Every live tree inherits its mount point (see [`layout`]), so each is mounted at
//! `ROOT/AREA/ID`, where the runtime and the scrub expect it. One lock serialises the steps
//! that add or remove dependencies (the two of a capture, and delete), so that a delete never
//! looks at the datasets halfway through one of them. A sandbox deleted with `--force` between
//! its capture's snapshot and clone takes the capture snapshot with it, and that capture
//! fails.

pub mod cli;
pub mod collect;
pub mod diff;
pub mod layout;
pub mod listing;

use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::Mutex;

use self::cli::Cli;
use self::collect::Deleted;
use self::layout::Layout;
use super::{PoolUsage, Storage, StorageError, StorageResult, TreeKind, TreeRef};
use crate::command::CommandError;
use crate::failpoint;

/// How far up a chain of clones [`Storage::changed_since`] looks for the snapshot a sandbox
/// started from; a chain is one link per capture, so this is generous.
const MAX_ORIGIN_CHAIN: usize = 64;

/// A pool rooted at a ZFS dataset.
pub struct ZfsStorage {
    cli: Cli,
    layout: Layout,
    /// Whether `zfs diff` can tell which files changed (zfs-fuse has no `diff`).
    diff: bool,
    /// Held while a capture or a delete adds or removes dependencies between datasets.
    graph: Mutex<()>,
}

impl ZfsStorage {
    /// Opens the pool at `dataset` (creating it when missing), makes the per-kind areas,
    /// mounts whatever is not mounted, and collects what a crash left behind.
    pub fn open(dataset: &str) -> Result<Self, String> {
        layout::validate_dataset(dataset)?;
        let cli = Cli::find().map_err(|e| e.to_string())?;
        check_pool(&cli, dataset)?;
        let layout = Layout {
            dataset: dataset.to_owned(),
            root: ensure_dataset(&cli, dataset)?,
        };
        ensure_areas(&cli, &layout)?;
        mount_all(&cli, &layout)?;
        let collected = collect::sweep(&cli, &layout)
            .map_err(|e| format!("collecting leftovers in {dataset}: {e}"))?;
        let diff = diff::supported(&cli.zfs_usage());
        tracing::info!(dataset, root = %layout.root.display(), collected, zfs_diff = diff,
            "zfs pool open");
        Ok(Self {
            cli,
            layout,
            diff,
            graph: Mutex::new(()),
        })
    }

    fn fail(&self, action: &str, tree: &TreeRef, err: CommandError) -> StorageError {
        let path = self.layout.path(tree);
        let message = if cli::is_busy(&err) {
            format!(
                "{err}; something outside amika still uses {} (find it with `fuser -vm {}`): \
                 end it and try again",
                path.display(),
                path.display()
            )
        } else {
            err.to_string()
        };
        StorageError::new(action, tree, message)
    }

    /// Mounts `tree` unless it already is: `zfs create` and `zfs clone` mount on their own,
    /// a rename after an unmount does not.
    fn ensure_mounted(&self, tree: &TreeRef) -> StorageResult<PathBuf> {
        let path = self.layout.path(tree);
        if !layout::is_mount_point(&path) {
            self.cli
                .zfs(&["mount", &self.layout.name(tree)])
                .map_err(|e| self.fail("mount", tree, e))?;
        }
        Ok(path)
    }

    /// One property of a dataset or snapshot, as `zfs get -Hp` prints it.
    fn property(&self, name: &str, property: &str) -> Result<String, CommandError> {
        let out = self
            .cli
            .zfs(&["get", "-Hp", "-o", "value", property, name])?;
        Ok(out.trim_end_matches('\n').to_owned())
    }

    /// The snapshot in `tree`'s chain of origins taken at transaction group `txg`.
    fn origin_at(&self, tree: &TreeRef, txg: u64) -> Result<Option<String>, CommandError> {
        let mut dataset = self.layout.name(tree);
        for _ in 0..MAX_ORIGIN_CHAIN {
            let origin = self.property(&dataset, "origin")?;
            if origin == "-" || origin.is_empty() {
                return Ok(None);
            }
            if self.property(&origin, "createtxg")?.parse() == Ok(txg) {
                return Ok(Some(origin));
            }
            dataset = layout::dataset_of(&origin).to_owned();
        }
        Ok(None)
    }
}

/// Checks that the dataset's pool is imported, naming the fix when it is not.
fn check_pool(cli: &Cli, dataset: &str) -> Result<(), String> {
    let pool = dataset.split('/').next().unwrap_or(dataset);
    let health = cli
        .zpool(&["list", "-H", "-o", "health", pool])
        .map_err(|e| {
            format!(
                "ZFS pool '{pool}' is not available ({e}); import it with `zpool import \
                 {pool}`, and check that ZFS runs (the zfs kernel module, or the zfs-fuse \
                 daemon)"
            )
        })?;
    let health = health.trim();
    if health != "ONLINE" {
        tracing::warn!(pool, health, "the ZFS pool is not healthy");
    }
    Ok(())
}

/// Creates `dataset` when it is missing and returns where it is mounted, refusing one that
/// has no mount point of its own.
fn ensure_dataset(cli: &Cli, dataset: &str) -> Result<PathBuf, String> {
    if let Err(e) = cli.zfs(&["list", "-H", "-o", "name", dataset]) {
        if !cli::is_missing(&e) {
            return Err(format!("reading dataset {dataset}: {e}"));
        }
        tracing::info!(dataset, "creating the dataset");
        cli.zfs(&["create", "-p", dataset])
            .map_err(|e| format!("creating dataset {dataset}: {e}"))?;
    }
    let mountpoint = cli
        .zfs(&["get", "-H", "-o", "value", "mountpoint", dataset])
        .map_err(|e| format!("reading the mount point of {dataset}: {e}"))?;
    let mountpoint = mountpoint.trim_end_matches('\n');
    if !mountpoint.starts_with('/') {
        return Err(format!(
            "dataset {dataset} has mountpoint={mountpoint}; amikad mounts every tree below \
             it, so give it one, e.g. `zfs set mountpoint=/srv/amika {dataset}`"
        ));
    }
    Ok(PathBuf::from(mountpoint))
}

/// Creates the four areas when missing.
fn ensure_areas(cli: &Cli, layout: &Layout) -> Result<(), String> {
    let existing = listing::filesystems(cli, &layout.dataset)
        .map_err(|e| format!("listing {}: {e}", layout.dataset))?;
    for kind in TreeKind::ALL {
        let name = layout.area(kind);
        if listing::find(&existing, &name).is_none() {
            cli.zfs(&["create", &name])
                .map_err(|e| format!("creating dataset {name}: {e}"))?;
        }
    }
    Ok(())
}

/// Checks that each area inherits its mount point, and mounts every live dataset that is not
/// mounted (after a reboot, or a crash between an unmount and a rename). One that cannot be
/// mounted is reported and left: only the sandbox or snapshot on it is affected.
fn mount_all(cli: &Cli, layout: &Layout) -> Result<(), String> {
    let all = listing::filesystems(cli, &layout.dataset)
        .map_err(|e| format!("listing {}: {e}", layout.dataset))?;
    for kind in TreeKind::ALL {
        let area = layout.area(kind);
        let expected = layout.root.join(kind.area());
        let found = listing::find(&all, &area).map(|fs| fs.mountpoint.as_str());
        if found != Some(expected.to_str().unwrap_or_default()) {
            return Err(format!(
                "dataset {area} is mounted at {} instead of {}; let it inherit its mount \
                 point: `zfs inherit mountpoint {area}`",
                found.unwrap_or("nothing"),
                expected.display()
            ));
        }
    }
    for fs in &all {
        if fs.mounted || fs.deleted || !fs.mountpoint.starts_with('/') {
            continue;
        }
        tracing::info!(dataset = %fs.name, "mounting");
        if let Err(e) = cli.zfs(&["mount", &fs.name]) {
            tracing::error!(dataset = %fs.name, error = %e, "cannot mount; what lives on it \
                fails until it is mounted with `zfs mount`");
        }
    }
    Ok(())
}

fn check(tree: &TreeRef) -> StorageResult<()> {
    layout::check_id(tree).map_err(|e| StorageError::new("use", tree, e))
}

impl Storage for ZfsStorage {
    fn backend(&self) -> &'static str {
        "zfs"
    }

    fn location(&self) -> String {
        self.layout.dataset.clone()
    }

    fn path(&self, tree: &TreeRef) -> PathBuf {
        self.layout.path(tree)
    }

    fn create(&self, tree: &TreeRef) -> StorageResult<PathBuf> {
        check(tree)?;
        let name = self.layout.name(tree);
        tracing::debug!(%tree, dataset = %name, "zfs create");
        self.cli
            .zfs(&["create", &name])
            .map_err(|e| self.fail("create dataset", tree, e))?;
        self.ensure_mounted(tree)
    }

    fn seal(&self, tree: &TreeRef) -> StorageResult<()> {
        check(tree)?;
        let snapshot = self.layout.sealed(tree);
        tracing::debug!(%tree, %snapshot, "zfs snapshot and set readonly");
        match self.cli.zfs(&["snapshot", &snapshot]) {
            // Sealed before a crash cut the rest short.
            Err(e) if cli::is_existing(&e) => {}
            outcome => outcome.map(drop).map_err(|e| self.fail("seal", tree, e))?,
        }
        self.cli
            .zfs(&["set", "readonly=on", &self.layout.name(tree)])
            .map(drop)
            .map_err(|e| self.fail("set read-only", tree, e))
    }

    fn clone_from(&self, origin: &TreeRef, tree: &TreeRef) -> StorageResult<PathBuf> {
        check(origin)?;
        check(tree)?;
        let (from, name) = (self.layout.sealed(origin), self.layout.name(tree));
        tracing::debug!(%origin, %tree, "zfs clone");
        self.cli
            .zfs(&["clone", &from, &name])
            .map_err(|e| self.fail(&format!("clone {origin} to"), tree, e))?;
        self.ensure_mounted(tree)
    }

    fn flush(&self, tree: &TreeRef) -> StorageResult<()> {
        let path = self.layout.path(tree);
        tracing::debug!(%tree, "syncfs");
        let dir = std::fs::File::open(&path).map_err(|e| StorageError::new("open", tree, e))?;
        nix::unistd::syncfs(dir.as_raw_fd()).map_err(|e| StorageError::new("sync", tree, e))
    }

    fn capture(&self, source: &TreeRef, tree: &TreeRef) -> StorageResult<()> {
        check(source)?;
        check(tree)?;
        let _graph = self.graph.lock().unwrap_or_else(|p| p.into_inner());
        let snapshot = self.layout.capture(source, tree);
        tracing::debug!(%source, %tree, %snapshot, "zfs snapshot");
        self.cli
            .zfs(&["snapshot", &snapshot])
            .map(drop)
            .map_err(|e| self.fail(&format!("capture {source} as"), tree, e))
    }

    fn open_capture(&self, source: &TreeRef, tree: &TreeRef) -> StorageResult<PathBuf> {
        check(source)?;
        check(tree)?;
        let _graph = self.graph.lock().unwrap_or_else(|p| p.into_inner());
        let snapshot = self.layout.capture(source, tree);
        failpoint::hit("zfs-capture:after-snapshot");
        tracing::debug!(%source, %tree, %snapshot, "zfs clone");
        let cloned = self
            .cli
            .zfs(&["clone", &snapshot, &self.layout.name(tree)])
            .map_err(|e| self.fail(&format!("capture {source} as"), tree, e))
            .and_then(|_| self.ensure_mounted(tree));
        if let Err(mut err) = cloned {
            // The snapshot alone would pin the source; the next start removes it if this
            // fails too.
            if let Err(undo) = collect::destroy(&self.cli, &self.layout.name(tree))
                .and_then(|()| collect::destroy_snapshot(&self.cli, &snapshot))
            {
                err.message += &format!(
                    "; removing {snapshot} failed too ({undo}); the next start removes it"
                );
            }
            return Err(err);
        }
        Ok(self.layout.path(tree))
    }

    fn rename(&self, from: &TreeRef, to: &TreeRef) -> StorageResult<PathBuf> {
        check(from)?;
        check(to)?;
        let (old, new) = (self.layout.name(from), self.layout.name(to));
        tracing::debug!(%from, %to, "zfs rename");
        // Unmounted first and by hand: zfs-fuse renames a mounted dataset only when the
        // unmount it makes on its own has drained, which it does not wait for.
        collect::unmount(&self.cli, &old).map_err(|e| self.fail("unmount", from, e))?;
        if let Err(e) = self.cli.zfs_when_free(&["rename", &old, &new]) {
            // A try reported as busy may have renamed it all the same.
            let exists = |name: &str| self.cli.zfs(&["list", "-H", "-o", "name", name]).is_ok();
            if exists(&old) || !exists(&new) {
                return Err(self.fail(&format!("move to {to}"), from, e));
            }
        }
        self.ensure_mounted(to)
    }

    fn generation(&self, tree: &TreeRef) -> StorageResult<Option<u64>> {
        if !self.diff {
            return Ok(None);
        }
        // A clone is identical to its origin when it is made, so what was written since is
        // what differs from that snapshot, named here by the transaction group it was taken
        // in.
        let name = self.layout.name(tree);
        let txg = self
            .property(&name, "origin")
            .and_then(|origin| match origin.as_str() {
                "-" => Ok(None),
                origin => Ok(self.property(origin, "createtxg")?.parse().ok()),
            });
        match txg {
            Ok(txg) => Ok(txg),
            Err(e) => {
                tracing::warn!(%tree, error = %e, "no change tracking for this tree; a scrub \
                    of it reads every file");
                Ok(None)
            }
        }
    }

    fn changed_since(
        &self,
        tree: &TreeRef,
        generation: u64,
    ) -> StorageResult<Option<Vec<PathBuf>>> {
        if !self.diff {
            return Ok(None);
        }
        let fail = |e: CommandError| self.fail("list changes of", tree, e);
        let Some(from) = self.origin_at(tree, generation).map_err(fail)? else {
            return Ok(None);
        };
        let name = self.layout.name(tree);
        tracing::debug!(%tree, %from, "zfs diff");
        let out = self.cli.zfs(&["diff", "-FH", &from, &name]).map_err(fail)?;
        diff::parse(out.as_bytes(), &self.layout.path(tree))
            .map(Some)
            .map_err(|e| StorageError::new("read the changes of", tree, e))
    }

    fn delete(&self, tree: &TreeRef) -> StorageResult<()> {
        check(tree)?;
        let _graph = self.graph.lock().unwrap_or_else(|p| p.into_inner());
        let deleted = collect::delete(&self.cli, &self.layout, tree)
            .map_err(|e| self.fail("delete dataset", tree, e))?;
        match deleted {
            Deleted::Absent => {}
            Deleted::Destroyed { released } => {
                tracing::debug!(%tree, released, "zfs destroy");
            }
            Deleted::Kept { dependants } => {
                tracing::info!(%tree, dependants, "clones depend on it: marked deleted and \
                    unmounted until the last of them is deleted");
            }
        }
        Ok(())
    }

    fn list(&self, kind: TreeKind) -> StorageResult<Vec<String>> {
        let area = self.layout.area(kind);
        let area_ref = TreeRef {
            kind,
            id: String::new(),
        };
        let all =
            listing::filesystems(&self.cli, &area).map_err(|e| self.fail("list", &area_ref, e))?;
        let mut ids: Vec<String> = all
            .iter()
            .filter(|fs| !fs.deleted)
            .filter_map(|fs| self.layout.id_in(kind, &fs.name))
            .map(str::to_owned)
            .collect();
        ids.sort();
        Ok(ids)
    }

    fn usage(&self) -> StorageResult<PoolUsage> {
        let measure = || -> Result<PoolUsage, String> {
            let out = self
                .cli
                .zfs(&[
                    "get",
                    "-Hp",
                    "-o",
                    "value",
                    "used,available",
                    &self.layout.dataset,
                ])
                .map_err(|e| e.to_string())?;
            let numbers: Vec<u64> = out.lines().filter_map(|l| l.trim().parse().ok()).collect();
            let [used, free] = numbers[..] else {
                return Err(format!("unexpected `zfs get` output: {out:?}"));
            };
            Ok(PoolUsage {
                total: used + free,
                used,
                free,
            })
        };
        measure().map_err(|message| StorageError {
            action: "measure".into(),
            tree: self.location(),
            message,
        })
    }
}
