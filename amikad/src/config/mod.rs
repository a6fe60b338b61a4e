//! Command-line flags, the configuration file, and the settings they resolve to.
//!
//! Precedence, highest first: a flag (or its environment variable), the file, the built-in
//! default. The file is read once at start; changing it needs a restart.

mod file;

use std::path::PathBuf;

use amika_api::Limits;
use clap::Parser;

pub use file::DEFAULT_PATH;

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
///
/// Settings come from the flags, then the configuration file, then the defaults shown.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Flags {
    /// Configuration file; a missing default file is fine, a missing named one is an error.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Directory for the state database and, with the embedded pool, its image file
    /// [default: /var/lib/amika].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Unix socket to serve the API on, unless systemd passes one
    /// [default: /run/amika/amikad.sock].
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,

    /// Storage pool: btrfs:/path/on/btrfs or zfs:pool/dataset. Default: embedded in the
    /// state directory.
    #[arg(long, value_parser = parse_storage)]
    pub storage: Option<StorageSpec>,

    /// Size of the embedded pool image when it is first made, e.g. 20G.
    #[arg(long, value_parser = parse_size)]
    pub pool_size: Option<u64>,

    /// Log filter, e.g. info or amikad=debug [default: info].
    #[arg(long, env = "AMIKA_LOG")]
    pub log_level: Option<String>,

    /// Preset for sandboxes created without an image, preset or snapshot [default: coder].
    #[arg(long, value_name = "PRESET")]
    pub default_preset: Option<String>,

    /// Memory limit for sandboxes created without one, e.g. 2G.
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    pub default_memory: Option<u64>,

    /// CPU limit in cores for sandboxes created without one, e.g. 1.5.
    #[arg(long, value_name = "CORES")]
    pub default_cpus: Option<f64>,

    /// Process limit for sandboxes created without one.
    #[arg(long, value_name = "COUNT")]
    pub default_pids: Option<u64>,

    /// Turn on the kernel's favordynmods option on a cgroup mount at start, which makes
    /// every sandbox start and exec about a grace period (often 10 ms or more) faster, at
    /// some cost to fork and exit host-wide on kernels before 6.18 [default: false].
    #[arg(long)]
    pub cgroup_favordynmods: bool,

    /// Detach from the terminal; the command returns once the socket serves, or fails with
    /// the reason.
    #[arg(long, requires = "pid_file")]
    pub daemonize: bool,

    /// With --daemonize: where to write the daemon's pid (removed on a clean stop).
    #[arg(long, value_name = "PATH", requires = "daemonize")]
    pub pid_file: Option<PathBuf>,

    /// With --daemonize: where the log goes [default: /dev/null].
    #[arg(long, value_name = "PATH", requires = "daemonize")]
    pub log_file: Option<PathBuf>,
}

/// Why the configuration could not be put together.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but could not be read, or a file named by `--config` is missing.
    #[error("cannot read the configuration file {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or holds an unknown key.
    #[error("configuration file {}, line {line}: {message}", .path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem, 0 when unknown.
        line: usize,
        /// The parser's words, naming the key.
        message: String,
    },
    /// A key or flag has a value the daemon cannot use.
    #[error("{origin}: {key}: {message}")]
    Invalid {
        /// `--flag` or the file it came from.
        origin: String,
        /// The key.
        key: &'static str,
        /// What is wrong and how to write it.
        message: String,
    },
}

/// The settings the daemon runs with, after flags, file and defaults are merged.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The state directory.
    pub state_dir: PathBuf,
    /// The socket path to bind when systemd passes none.
    pub socket: PathBuf,
    /// The pool; `None` for the embedded default.
    pub storage: Option<StorageSpec>,
    /// Size of a new embedded pool image.
    pub pool_size: Option<u64>,
    /// The log filter.
    pub log_level: String,
    /// Limits for sandboxes whose create request leaves them out.
    pub default_limits: Limits,
    /// The preset of sandboxes whose create request names no base.
    pub default_preset: String,
    /// Whether to turn on the kernel's `favordynmods` cgroup option at start.
    pub cgroup_favordynmods: bool,
    /// The file that was read, if any.
    pub file: Option<PathBuf>,
}

impl Config {
    /// Reads the configuration file the flags point at (or the default one) and merges it
    /// under the flags.
    pub fn load(flags: &Flags) -> Result<Config, ConfigError> {
        let (file, path) = file::load(flags.config.as_deref())?;
        Config::resolve(flags, file, path)
    }

    fn resolve(
        flags: &Flags,
        file: file::FileConfig,
        path: Option<PathBuf>,
    ) -> Result<Config, ConfigError> {
        let shown = path
            .as_deref()
            .map_or_else(|| DEFAULT_PATH.to_owned(), |p| p.display().to_string());
        let invalid = |key, message: String| ConfigError::Invalid {
            origin: shown.clone(),
            key,
            message,
        };

        let storage = match (&flags.storage, &file.storage) {
            (Some(flag), _) => Some(flag.clone()),
            (None, Some(text)) => Some(parse_storage(text).map_err(|m| invalid("storage", m))?),
            (None, None) => None,
        };
        let pool_size = match (flags.pool_size, &file.pool_size) {
            (Some(size), _) => Some(size),
            (None, Some(text)) => Some(parse_size(text).map_err(|m| invalid("pool_size", m))?),
            (None, None) => None,
        };
        let limits = &file.default_limits;
        let memory = match (flags.default_memory, &limits.memory) {
            (Some(size), _) => Some(size),
            (None, Some(text)) => Some(parse_size(text).map_err(|m| invalid("memory", m))?),
            (None, None) => None,
        };
        let default_limits = Limits {
            memory_bytes: memory,
            cpus: flags.default_cpus.or(limits.cpus),
            pids: flags.default_pids.or(limits.pids),
        };
        check_limits(&default_limits).map_err(|(key, m)| invalid(key, m))?;
        let default_preset = flags
            .default_preset
            .clone()
            .or(file.default_preset)
            .unwrap_or_else(|| crate::service::DEFAULT_PRESET.to_owned());
        if !crate::service::PRESETS.contains(&default_preset.as_str()) {
            let known = crate::service::PRESETS.join(", ");
            let message = format!("unknown preset '{default_preset}'; use one of {known}");
            return Err(invalid("default_preset", message));
        }

        let state_dir = file_path(flags.state_dir.clone(), file.state_dir, "state_dir", &shown)?;
        let socket = file_path(flags.socket.clone(), file.socket, "socket", &shown)?;
        Ok(Config {
            state_dir: state_dir.unwrap_or_else(|| "/var/lib/amika".into()),
            socket: socket.unwrap_or_else(|| "/run/amika/amikad.sock".into()),
            storage,
            pool_size,
            log_level: flags
                .log_level
                .clone()
                .or(file.log_level)
                .unwrap_or_else(|| "info".into()),
            default_limits,
            default_preset,
            cgroup_favordynmods: flags.cgroup_favordynmods
                || file.cgroup_favordynmods.unwrap_or(false),
            file: path,
        })
    }

    /// Makes the paths absolute against the current directory, for a daemon about to leave
    /// it (a detached daemon runs in `/`).
    pub fn make_absolute(&mut self) -> std::io::Result<()> {
        self.state_dir = std::path::absolute(&self.state_dir)?;
        self.socket = std::path::absolute(&self.socket)?;
        Ok(())
    }
}

/// A path from a flag, else from the file, where it must be absolute: relative to what would
/// depend on where the daemon happened to be started.
fn file_path(
    flag: Option<PathBuf>,
    from_file: Option<PathBuf>,
    key: &'static str,
    shown: &str,
) -> Result<Option<PathBuf>, ConfigError> {
    match (flag, from_file) {
        (Some(path), _) => Ok(Some(path)),
        (None, Some(path)) if path.is_absolute() => Ok(Some(path)),
        (None, Some(path)) => Err(ConfigError::Invalid {
            origin: shown.to_owned(),
            key,
            message: format!("'{}' must be an absolute path", path.display()),
        }),
        (None, None) => Ok(None),
    }
}

/// The same bounds a create request is held to, checked once at start rather than failing
/// every request later.
fn check_limits(limits: &Limits) -> Result<(), (&'static str, String)> {
    if limits.memory_bytes.is_some_and(|m| m < 4 << 20) {
        return Err(("memory", "must be at least 4 MiB, e.g. \"2G\"".into()));
    }
    if limits.cpus.is_some_and(|c| !(c > 0.0 && c.is_finite())) {
        return Err((
            "cpus",
            "must be a positive number of cores, e.g. 1.5".into(),
        ));
    }
    if limits.pids == Some(0) {
        return Err(("pids", "must be at least 1".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(args: &[&str]) -> Flags {
        let mut all = vec!["amikad"];
        all.extend_from_slice(args);
        Flags::try_parse_from(all).unwrap()
    }

    fn resolve(args: &[&str], text: &str) -> Result<Config, ConfigError> {
        let file = file::parse(text).unwrap();
        Config::resolve(&flags(args), file, Some("/etc/amika/test.toml".into()))
    }

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

    #[test]
    fn defaults_without_flags_or_file() {
        let config = resolve(&[], "").unwrap();
        assert_eq!(config.state_dir, PathBuf::from("/var/lib/amika"));
        assert_eq!(config.socket, PathBuf::from("/run/amika/amikad.sock"));
        assert_eq!(config.storage, None);
        assert_eq!(config.default_limits, Limits::default());
    }

    #[test]
    fn flags_win_over_the_file() {
        let text = "state_dir = \"/srv/a\"\npool_size = \"2G\"\nlog_level = \"warn\"\n\
                    [default_limits]\nmemory = \"1G\"\npids = 99\n";
        let config = resolve(
            &[
                "--state-dir",
                "/srv/b",
                "--pool-size",
                "1G",
                "--default-pids",
                "7",
            ],
            text,
        )
        .unwrap();
        assert_eq!(config.state_dir, PathBuf::from("/srv/b"));
        assert_eq!(config.pool_size, Some(1 << 30));
        assert_eq!(config.default_limits.pids, Some(7));
        // What no flag names still comes from the file.
        assert_eq!(config.default_limits.memory_bytes, Some(1 << 30));
        assert_eq!(config.log_level, "warn");
    }

    #[test]
    fn bad_values_in_the_file_name_the_key() {
        let err = resolve(&[], "storage = \"ext4:/x\"").unwrap_err();
        assert!(err.to_string().contains("storage"), "{err}");
        let err = resolve(&[], "[default_limits]\nmemory = \"1K\"").unwrap_err();
        assert!(err.to_string().contains("memory"), "{err}");
        let err = resolve(&[], "[default_limits]\ncpus = 0").unwrap_err();
        assert!(err.to_string().contains("cpus"), "{err}");
        let err = resolve(&[], "socket = \"run/amikad.sock\"").unwrap_err();
        assert!(err.to_string().contains("absolute"), "{err}");
        let err = resolve(&[], "default_preset = \"arch\"").unwrap_err();
        assert!(err.to_string().contains("default_preset"), "{err}");
    }

    #[test]
    fn the_default_preset_is_coder_unless_configured() {
        assert_eq!(resolve(&[], "").unwrap().default_preset, "coder");
        let config = resolve(
            &["--default-preset", "minimal"],
            "default_preset = \"debian\"",
        );
        assert_eq!(config.unwrap().default_preset, "minimal");
        assert_eq!(
            resolve(&[], "default_preset = \"debian\"")
                .unwrap()
                .default_preset,
            "debian"
        );
    }

    #[test]
    fn daemonize_needs_a_pid_file() {
        assert!(Flags::try_parse_from(["amikad", "--daemonize"]).is_err());
        assert!(Flags::try_parse_from(["amikad", "--pid-file", "/run/a.pid"]).is_err());
        let flags = flags(&["--daemonize", "--pid-file", "/run/a.pid"]);
        assert!(flags.daemonize && flags.log_file.is_none());
    }
}
