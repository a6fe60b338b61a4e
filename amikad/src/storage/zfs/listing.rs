//! What is in the daemon's dataset, read with one `zfs list`, and who depends on whom.
//!
//! A ZFS clone depends on the snapshot it was made from, and through it on that snapshot's
//! dataset. The `origin` property of every filesystem is the whole dependency graph, so one
//! listing answers every question the collector asks.

use super::cli::Cli;
use super::layout::DELETED;
use crate::command::CommandError;

/// One filesystem under the daemon's dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filesystem {
    /// Its full name.
    pub name: String,
    /// The snapshot it was cloned from, if it is a clone.
    pub origin: Option<String>,
    /// Whether it is mounted now.
    pub mounted: bool,
    /// Its `mountpoint` property: a path, `none` or `legacy`.
    pub mountpoint: String,
    /// Whether it is a deleted tree kept for its clones (`amika:deleted=on`).
    pub deleted: bool,
}

/// Every filesystem under `dataset`, itself included, parents before children.
pub fn filesystems(cli: &Cli, dataset: &str) -> Result<Vec<Filesystem>, CommandError> {
    let columns = format!("name,origin,mounted,{DELETED},mountpoint");
    let out = cli.zfs(&[
        "list",
        "-H",
        "-o",
        &columns,
        "-t",
        "filesystem",
        "-r",
        dataset,
    ])?;
    Ok(parse_filesystems(&out))
}

/// Every snapshot under `dataset`, at any depth.
pub fn snapshots(cli: &Cli, dataset: &str) -> Result<Vec<String>, CommandError> {
    let out = cli.zfs(&["list", "-H", "-o", "name", "-t", "snapshot", "-r", dataset])?;
    Ok(out
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Parses `zfs list -H -o name,origin,mounted,amika:deleted,mountpoint`: tab-separated, `-`
/// for no value, the mount point last because it is the one that may hold any character. A
/// line without the five fields is skipped rather than misread.
pub fn parse_filesystems(out: &str) -> Vec<Filesystem> {
    out.lines()
        .filter_map(|line| {
            let mut fields = line.splitn(5, '\t');
            let name = fields.next().filter(|n| !n.is_empty())?;
            let origin = fields.next()?;
            let mounted = fields.next()?;
            let deleted = fields.next()?;
            let mountpoint = fields.next()?;
            Some(Filesystem {
                name: name.to_owned(),
                origin: (origin != "-").then(|| origin.to_owned()),
                mounted: mounted == "yes",
                mountpoint: mountpoint.to_owned(),
                deleted: deleted == "on",
            })
        })
        .collect()
}

/// The filesystems cloned from a snapshot of `dataset`.
pub fn dependants<'a>(all: &'a [Filesystem], dataset: &str) -> Vec<&'a Filesystem> {
    all.iter()
        .filter(|fs| {
            fs.origin
                .as_deref()
                .is_some_and(|o| super::layout::dataset_of(o) == dataset)
        })
        .collect()
}

/// Whether any filesystem was cloned from `snapshot`.
pub fn has_clones(all: &[Filesystem], snapshot: &str) -> bool {
    all.iter().any(|fs| fs.origin.as_deref() == Some(snapshot))
}

/// The filesystem called `name`, if it exists.
pub fn find<'a>(all: &'a [Filesystem], name: &str) -> Option<&'a Filesystem> {
    all.iter().find(|fs| fs.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = "tank/a\t-\tyes\t-\t/srv/amika\n\
tank/a/images\t-\tyes\t-\t/srv/amika/images\n\
tank/a/images/i1\t-\tyes\t-\t/srv/amika/images/i1\n\
tank/a/sandboxes/s1\ttank/a/images/i1@sealed\tyes\t-\t/srv/amika/sandboxes/s1\n\
tank/a/staging/c1\ttank/a/sandboxes/s1@capture-c1\tyes\t-\t/srv/a\tdir/staging/c1\n\
tank/a/images/i0\t-\tno\ton\tnone\n\
garbage line\n";

    #[test]
    fn listing_lines_become_filesystems() {
        let all = parse_filesystems(LISTING);
        assert_eq!(all.len(), 6, "the malformed line is skipped");
        assert_eq!(all[0].origin, None);
        assert!(all[0].mounted);
        assert_eq!(all[3].origin.as_deref(), Some("tank/a/images/i1@sealed"));
        assert_eq!(all[4].mountpoint, "/srv/a\tdir/staging/c1");
        assert!(!all[4].deleted);
        assert!(!all[5].mounted && all[5].deleted);
        assert_eq!(all[5].mountpoint, "none");
    }

    #[test]
    fn dependants_follow_the_origin_property() {
        let all = parse_filesystems(LISTING);
        let names =
            |v: Vec<&Filesystem>| -> Vec<String> { v.iter().map(|f| f.name.clone()).collect() };
        assert_eq!(
            names(dependants(&all, "tank/a/images/i1")),
            ["tank/a/sandboxes/s1"]
        );
        assert_eq!(
            names(dependants(&all, "tank/a/sandboxes/s1")),
            ["tank/a/staging/c1"]
        );
        assert!(dependants(&all, "tank/a/images").is_empty());
        assert!(has_clones(&all, "tank/a/sandboxes/s1@capture-c1"));
        assert!(!has_clones(&all, "tank/a/sandboxes/s1@capture-zz"));
        assert!(find(&all, "tank/a/images/i0").is_some());
    }
}
