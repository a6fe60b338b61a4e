//! Command-line flags and what they mean.

use std::path::PathBuf;

use clap::Parser;

/// Where the pool lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageSpec {
    /// A directory on a btrfs filesystem.
    Btrfs(PathBuf),
    /// A ZFS dataset, `pool/dataset`.
    Zfs(String),
}

/// Parses `btrfs:/path` or `zfs:pool/dataset`.
fn parse_storage(text: &str) -> Result<StorageSpec, String> {
    match text.split_once(':') {
        Some(("btrfs", path)) if path.starts_with('/') => Ok(StorageSpec::Btrfs(path.into())),
        Some(("btrfs", _)) => Err("btrfs storage needs an absolute path: btrfs:/path".into()),
        Some(("zfs", dataset)) if !dataset.is_empty() && !dataset.starts_with('/') => {
            Ok(StorageSpec::Zfs(dataset.to_owned()))
        }
        Some(("zfs", _)) => Err("zfs storage needs a dataset: zfs:pool/dataset".into()),
        _ => Err(format!(
            "unknown storage '{text}'; use btrfs:/path/on/btrfs or zfs:pool/dataset"
        )),
    }
}

fn parse_size(text: &str) -> Result<u64, String> {
    crate::storage::pool::parse_size(text)
}

/// amikad: local sandboxes and snapshots on a btrfs or ZFS pool.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Flags {
    /// Directory for the state database and, with the embedded pool, its image file.
    #[arg(long, default_value = "/var/lib/amika")]
    pub state_dir: PathBuf,

    /// Unix socket to serve the API on.
    #[arg(long, default_value = "/run/amika/amikad.sock")]
    pub socket: PathBuf,

    /// Storage pool: btrfs:/path/on/btrfs or zfs:pool/dataset. Default: embedded in the
    /// state directory.
    #[arg(long, value_parser = parse_storage)]
    pub storage: Option<StorageSpec>,

    /// Size of the embedded pool image when it is first made, e.g. 20G.
    #[arg(long, value_parser = parse_size)]
    pub pool_size: Option<u64>,

    /// Log filter, e.g. info or amikad=debug.
    #[arg(long, env = "AMIKA_LOG", default_value = "info")]
    pub log_level: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_specs() {
        assert_eq!(
            parse_storage("btrfs:/srv/pool"),
            Ok(StorageSpec::Btrfs("/srv/pool".into()))
        );
        assert_eq!(
            parse_storage("zfs:tank/amika"),
            Ok(StorageSpec::Zfs("tank/amika".into()))
        );
        assert!(parse_storage("btrfs:relative").is_err());
        assert!(parse_storage("ext4:/x").is_err());
        assert!(parse_storage("zfs:").is_err());
    }
}
