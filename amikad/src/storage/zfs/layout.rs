//! Where every tree lives under the daemon's dataset, and the names of its snapshots.
//!
//! ```text
//! DATASET                       mounted at ROOT (its own mountpoint property)
//! DATASET/images/ID             ROOT/images/ID, with @sealed once it is complete
//! DATASET/sandboxes/ID          a clone of an image's or a snapshot's @sealed
//! DATASET/sandboxes/ID@capture-SNAP   the instant a capture took, origin of the next line
//! DATASET/staging/SNAP          a clone of that capture, scrubbed here
//! DATASET/snapshots/SNAP        the same dataset once renamed, with @sealed
//! ```
//!
//! The area datasets inherit their mount point from DATASET and every live tree inherits its
//! own from its area, so a rename moves a tree's mount along with its name. A tree deleted
//! while clones depend on it stays where it is, marked with the user property
//! `amika:deleted=on` and unmounted with a `mountpoint=none` of its own (see `collect`).

use std::path::{Path, PathBuf};

use crate::storage::{TreeKind, TreeRef};

/// The snapshot a sealed tree is cloned from.
pub const SEALED: &str = "sealed";

/// The prefix of the snapshot a capture clones its staging tree from.
pub const CAPTURE_PREFIX: &str = "capture-";

/// The user property that marks a tree as deleted, kept only for the clones that need it.
pub const DELETED: &str = "amika:deleted";

/// Dataset names and mount paths of one pool.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The daemon's dataset, e.g. `tank/amika`.
    pub dataset: String,
    /// Where that dataset is mounted.
    pub root: PathBuf,
}

impl Layout {
    /// The dataset that holds every tree of `kind`.
    pub fn area(&self, kind: TreeKind) -> String {
        format!("{}/{}", self.dataset, kind.area())
    }

    /// The dataset of `tree` while it is live.
    pub fn name(&self, tree: &TreeRef) -> String {
        format!("{}/{}", self.area(tree.kind), tree.id)
    }

    /// Where `tree` is mounted.
    pub fn path(&self, tree: &TreeRef) -> PathBuf {
        self.root.join(tree.kind.area()).join(&tree.id)
    }

    /// The snapshot clones of `tree` are made from.
    pub fn sealed(&self, tree: &TreeRef) -> String {
        format!("{}@{SEALED}", self.name(tree))
    }

    /// The snapshot of `source` that the capture into `staging` clones.
    pub fn capture(&self, source: &TreeRef, staging: &TreeRef) -> String {
        format!("{}@{CAPTURE_PREFIX}{}", self.name(source), staging.id)
    }

    /// The id of `name` when it is a tree directly in `kind`'s area.
    pub fn id_in<'a>(&self, kind: TreeKind, name: &'a str) -> Option<&'a str> {
        let area = self.area(kind);
        name.strip_prefix(area.as_str())?
            .strip_prefix('/')
            .filter(|id| !id.is_empty() && !id.contains('/'))
    }
}

/// The dataset part of a snapshot name (`tank/a@s` is `tank/a`).
pub fn dataset_of(snapshot: &str) -> &str {
    snapshot
        .split_once('@')
        .map_or(snapshot, |(dataset, _)| dataset)
}

/// The snapshot part of a snapshot name (`tank/a@s` is `s`).
pub fn snapshot_of(snapshot: &str) -> &str {
    snapshot.split_once('@').map_or("", |(_, name)| name)
}

/// Checks that `dataset` is a plain dataset name this daemon may pass to `zfs`: a pool and
/// at least one dataset below it, each part starting with a letter or digit.
pub fn validate_dataset(dataset: &str) -> Result<(), String> {
    let parts: Vec<&str> = dataset.split('/').collect();
    let plain = |part: &&str| {
        part.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c))
    };
    if parts.len() < 2 || !parts.iter().all(plain) {
        return Err(format!(
            "'{dataset}' is not a ZFS dataset amikad can use; give one below a pool, such as \
             zfs:tank/amika (letters, digits and _ - . : only)"
        ));
    }
    Ok(())
}

/// Checks that a tree id is one plain name component, so that it cannot reach another
/// dataset or be read as a snapshot or a flag.
pub fn check_id(tree: &TreeRef) -> Result<(), String> {
    let ok = tree
        .id
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && tree
            .id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!("'{}' is not a valid tree id", tree.id))
    }
}

/// Whether `path` is a mount point: its device differs from its parent's.
pub fn is_mount_point(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (Ok(own), Some(Ok(parent))) = (
        std::fs::symlink_metadata(path),
        path.parent().map(std::fs::symlink_metadata),
    ) else {
        return false;
    };
    own.dev() != parent.dev()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout {
            dataset: "tank/amika".into(),
            root: "/tank/amika".into(),
        }
    }

    #[test]
    fn trees_have_one_name_and_one_path_each() {
        let l = layout();
        let sandbox = TreeRef::sandbox("ab12");
        assert_eq!(l.name(&sandbox), "tank/amika/sandboxes/ab12");
        assert_eq!(l.path(&sandbox), Path::new("/tank/amika/sandboxes/ab12"));
        assert_eq!(
            l.sealed(&TreeRef::image("c3")),
            "tank/amika/images/c3@sealed"
        );
        assert_eq!(
            l.capture(&sandbox, &TreeRef::staging("ff")),
            "tank/amika/sandboxes/ab12@capture-ff"
        );
    }

    #[test]
    fn ids_are_read_back_only_from_direct_children_of_an_area() {
        let l = layout();
        assert_eq!(l.id_in(TreeKind::Image, "tank/amika/images/c3"), Some("c3"));
        assert_eq!(l.id_in(TreeKind::Image, "tank/amika/images"), None);
        assert_eq!(l.id_in(TreeKind::Image, "tank/amika/images/c3/x"), None);
        assert_eq!(l.id_in(TreeKind::Image, "tank/amika/imagesX/c3"), None);
        assert_eq!(l.id_in(TreeKind::Sandbox, "tank/amika/images/c3"), None);
    }

    #[test]
    fn snapshot_names_split_at_the_at_sign() {
        assert_eq!(dataset_of("tank/a@sealed"), "tank/a");
        assert_eq!(snapshot_of("tank/a@sealed"), "sealed");
        assert_eq!(dataset_of("tank/a"), "tank/a");
        assert_eq!(snapshot_of("tank/a"), "");
    }

    #[test]
    fn only_plain_datasets_below_a_pool_are_accepted() {
        for good in ["tank/amika", "rpool/srv/amika_1", "p/a.b:c-d"] {
            assert!(validate_dataset(good).is_ok(), "{good}");
        }
        for bad in [
            "tank", "tank/", "/tank/a", "tank//a", "tank/a@s", "tank/-o", "t/a b",
        ] {
            let err = validate_dataset(bad).unwrap_err();
            assert!(err.contains("zfs:tank/amika"), "{bad}: {err}");
        }
        assert!(check_id(&TreeRef::image("0af3-9c")).is_ok());
        for bad in ["", "-r", "a/b", "a@b", ".."] {
            assert!(check_id(&TreeRef::image(bad)).is_err(), "{bad}");
        }
    }
}
