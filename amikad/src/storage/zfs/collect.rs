//! Deleting trees that clones depend on, and collecting them once nothing does.
//!
//! A ZFS clone needs its origin snapshot, and the snapshot needs its dataset, so an image or a
//! snapshot with sandboxes booted from it cannot simply be destroyed. `zfs promote` could hand
//! the origin over to one of the clones, but then a sandbox carries its base's snapshot and
//! history, its siblings become clones of it, and deleting that sandbox needs another
//! promotion: ownership moves with every delete, and a crash between two promotions leaves a
//! tangle. Moving the tree aside with `zfs rename` is no better: ZFS unmounts and remounts
//! every clone of a dataset it renames, which would pull the trees of running sandboxes from
//! under them.
//!
//! So a tree that something still depends on is deleted in place: it is marked
//! `amika:deleted=on`, which takes it out of every listing the daemon makes, and given a
//! `mountpoint=none` of its own, which unmounts it and only it. For the user it is gone at
//! once. Whenever a clone is destroyed, what it depended on is looked at again: a capture
//! snapshot nobody else cloned is destroyed, a deleted dataset with no clone left is
//! destroyed, and so on up the chain, which frees the space as soon as the last dependant
//! goes. Every step is one atomic `zfs` command and the whole state is in the datasets
//! themselves, so after a crash the next start finishes the job ([`sweep`]).

use super::cli::{self, Cli};
use super::layout::{dataset_of, snapshot_of, Layout, CAPTURE_PREFIX, DELETED};
use super::listing::{self, dependants, find, has_clones};
use crate::command::CommandError;
use crate::failpoint;
use crate::storage::TreeRef;

/// What deleting a tree did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deleted {
    /// There was no such tree.
    Absent,
    /// It was destroyed, along with this many datasets and snapshots only it kept alive.
    Destroyed {
        /// How many more were released after it.
        released: usize,
    },
    /// Clones still depend on it; it stays, marked deleted, until the last of them goes.
    Kept {
        /// How many clones depend on it.
        dependants: usize,
    },
}

/// Deletes `tree`: destroys it when nothing depends on it, otherwise marks it deleted and
/// unmounts it.
pub fn delete(cli: &Cli, layout: &Layout, tree: &TreeRef) -> Result<Deleted, CommandError> {
    let all = listing::filesystems(cli, &layout.dataset)?;
    let name = layout.name(tree);
    let Some(fs) = find(&all, &name).filter(|fs| !fs.deleted) else {
        return Ok(Deleted::Absent);
    };
    let clones = dependants(&all, &name).len();
    if clones > 0 {
        cli.zfs(&["set", &format!("{DELETED}=on"), &name])?;
        failpoint::hit("zfs-delete:after-mark");
        hide(cli, &name)?;
        return Ok(Deleted::Kept { dependants: clones });
    }
    let origin = fs.origin.clone();
    destroy(cli, &name)?;
    failpoint::hit("zfs-delete:after-destroy");
    let released = release(cli, layout, origin)?;
    Ok(Deleted::Destroyed { released })
}

/// Called once the clone of `origin` is gone: destroys what only that clone kept alive, a
/// capture snapshot nobody else cloned or a deleted dataset nothing depends on any more,
/// walking up the chain of origins. Returns how many it destroyed.
pub fn release(
    cli: &Cli,
    layout: &Layout,
    mut origin: Option<String>,
) -> Result<usize, CommandError> {
    let mut destroyed = 0;
    while let Some(snapshot) = origin.take() {
        let all = listing::filesystems(cli, &layout.dataset)?;
        if has_clones(&all, &snapshot) {
            break;
        }
        let owner = dataset_of(&snapshot);
        match find(&all, owner) {
            Some(fs) if fs.deleted => {
                if !dependants(&all, owner).is_empty() {
                    break;
                }
                origin = fs.origin.clone();
                tracing::info!(dataset = owner, "its last clone is gone; destroying it");
                destroy(cli, owner)?;
                destroyed += 1;
            }
            _ if snapshot_of(&snapshot).starts_with(CAPTURE_PREFIX) => {
                destroy_snapshot(cli, &snapshot)?;
                destroyed += 1;
            }
            _ => {}
        }
    }
    Ok(destroyed)
}

/// Finishes what a crash interrupted: destroys every deleted dataset nothing depends on and
/// every capture snapshot nothing was cloned from, until no more can go, and unmounts the
/// deleted datasets that must stay. Run at start, before anything else uses the pool.
/// Returns how many it destroyed.
pub fn sweep(cli: &Cli, layout: &Layout) -> Result<usize, CommandError> {
    let mut destroyed = 0;
    loop {
        let all = listing::filesystems(cli, &layout.dataset)?;
        let mut progress = 0;
        for fs in all.iter().filter(|fs| fs.deleted) {
            if dependants(&all, &fs.name).is_empty() {
                tracing::info!(dataset = %fs.name, "destroying a deleted dataset nothing needs");
                destroy(cli, &fs.name)?;
                progress += 1;
            } else if fs.mountpoint != "none" {
                hide(cli, &fs.name)?;
            }
        }
        for snapshot in listing::snapshots(cli, &layout.dataset)? {
            let leftover =
                snapshot_of(&snapshot).starts_with(CAPTURE_PREFIX) && !has_clones(&all, &snapshot);
            if leftover {
                tracing::info!(%snapshot, "destroying a capture snapshot nothing was cloned from");
                destroy_snapshot(cli, &snapshot)?;
                progress += 1;
            }
        }
        if progress == 0 {
            return Ok(destroyed);
        }
        destroyed += progress;
    }
}

/// Unmounts `name` for good with a `mountpoint=none` of its own. Unlike a rename, this
/// touches neither the clones of `name` nor anything else.
fn hide(cli: &Cli, name: &str) -> Result<(), CommandError> {
    unmount(cli, name)?;
    cli.zfs_when_free(&["set", "mountpoint=none", name])
        .map(drop)
}

/// Unmounts `name` and everything below it; one that is not mounted is fine.
pub fn unmount(cli: &Cli, name: &str) -> Result<(), CommandError> {
    match cli.zfs_when_free(&["unmount", name]) {
        Err(e) if cli::is_not_mounted(&e) || cli::is_missing(&e) => Ok(()),
        outcome => outcome.map(drop),
    }
}

/// Destroys `name` with its snapshots, unmounting it first: zfs-fuse does not unmount a
/// dataset it is asked to destroy. One that does not exist is already destroyed.
pub fn destroy(cli: &Cli, name: &str) -> Result<(), CommandError> {
    unmount(cli, name)?;
    match cli.zfs_when_free(&["destroy", "-r", name]) {
        Err(e) if cli::is_missing(&e) => Ok(()),
        outcome => outcome.map(drop),
    }
}

/// Destroys one snapshot; one that does not exist is already destroyed.
pub fn destroy_snapshot(cli: &Cli, snapshot: &str) -> Result<(), CommandError> {
    match cli.zfs_when_free(&["destroy", snapshot]) {
        Err(e) if cli::is_missing(&e) => Ok(()),
        outcome => outcome.map(drop),
    }
}
