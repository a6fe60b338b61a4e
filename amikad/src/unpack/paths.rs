//! Where an entry lands: archive paths made relative to the tree, and the check that a
//! symlink target stays inside it.

use std::path::{Component, Path, PathBuf};

/// Turns an archive path into a path relative to the tree, dropping `.`
/// components; the empty path is the root. Absolute paths and `..` are
/// refused with the reason as a predicate.
pub(super) fn tree_path(raw: &Path) -> Result<PathBuf, &'static str> {
    let mut rel = PathBuf::new();
    for component in raw.components() {
        match component {
            Component::Normal(name) => rel.push(name),
            Component::CurDir => {}
            Component::ParentDir => return Err("has a '..' component"),
            Component::RootDir | Component::Prefix(_) => return Err("is absolute"),
        }
    }
    Ok(rel)
}

/// Whether `target`, read from the directory holding the symlink `link`,
/// climbs above the tree root. Absolute targets stay inside: sandboxes see
/// the tree as `/`.
pub(super) fn climbs_above_root(link: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth = link.components().count().saturating_sub(1);
    for component in target.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::ParentDir if depth == 0 => return true,
            Component::ParentDir => depth -= 1,
            _ => {}
        }
    }
    false
}
