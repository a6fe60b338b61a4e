//! The configuration file, `/etc/amika/amikad.toml` by default.
//!
//! Every key is optional and a flag given on the command line wins over it. Unknown keys are an
//! error that names the key and its line: a misspelt `pool_sise` silently ignored would leave
//! the daemon running with a setting the administrator believes is different.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ConfigError;

/// Where the daemon looks when `--config` is not given. A missing file here is not an error.
pub const DEFAULT_PATH: &str = "/etc/amika/amikad.toml";

/// The keys of the file, exactly as written there; sizes and the storage stay text until
/// [`super::Config::resolve`] parses them, so that errors can name the key.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `state_dir = "/var/lib/amika"`.
    pub state_dir: Option<PathBuf>,
    /// `socket = "/run/amika/amikad.sock"`; ignored when systemd passes the socket.
    pub socket: Option<PathBuf>,
    /// `storage = "btrfs:/srv/amika"`.
    pub storage: Option<String>,
    /// `pool_size = "20G"`.
    pub pool_size: Option<String>,
    /// `log_level = "info"`.
    pub log_level: Option<String>,
    /// `default_preset = "coder"`: the base of sandboxes created without one.
    pub default_preset: Option<String>,
    /// `cgroup_favordynmods = true`: make cgroup moves cheap, host-wide.
    pub cgroup_favordynmods: Option<bool>,
    /// The `[default_limits]` table.
    #[serde(default)]
    pub default_limits: FileLimits,
}

/// `[default_limits]`: what a sandbox gets when its create request leaves a limit out.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileLimits {
    /// `memory = "2G"`.
    pub memory: Option<String>,
    /// `cpus = 1.5`.
    pub cpus: Option<f64>,
    /// `pids = 1024`.
    pub pids: Option<u64>,
}

/// Reads the file at `explicit`, or the default file if there is one.
pub fn load(explicit: Option<&Path>) -> Result<(FileConfig, Option<PathBuf>), ConfigError> {
    let path = explicit.unwrap_or(Path::new(DEFAULT_PATH));
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        // Only the default may be absent: a path someone typed must exist.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => {
            return Ok((FileConfig::default(), None));
        }
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_owned(),
                source,
            })
        }
    };
    let parsed = parse(&text).map_err(|(line, message)| ConfigError::Parse {
        path: path.to_owned(),
        line,
        message,
    })?;
    Ok((parsed, Some(path.to_owned())))
}

/// Parses the text of a file; an error carries its 1-based line (0 when unknown) and message.
pub fn parse(text: &str) -> Result<FileConfig, (usize, String)> {
    toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1)
            .unwrap_or(0);
        (line, e.message().trim().to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_read() {
        let text = r#"
            state_dir = "/srv/amika"
            socket = "/run/amika/other.sock"
            storage = "btrfs:/srv/pool"
            pool_size = "20G"
            log_level = "debug"

            [default_limits]
            memory = "2G"
            cpus = 2
            pids = 512
        "#;
        let file = parse(text).unwrap();
        assert_eq!(file.state_dir, Some("/srv/amika".into()));
        assert_eq!(file.storage.as_deref(), Some("btrfs:/srv/pool"));
        assert_eq!(file.default_limits.memory.as_deref(), Some("2G"));
        // A whole number of cores is as good as a fraction.
        assert_eq!(file.default_limits.cpus, Some(2.0));
        assert_eq!(file.default_limits.pids, Some(512));
    }

    #[test]
    fn an_empty_file_means_all_defaults() {
        assert_eq!(parse("").unwrap(), FileConfig::default());
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line() {
        let (line, message) = parse("log_level = \"info\"\npool_sise = \"1G\"\n").unwrap_err();
        assert_eq!(line, 2);
        assert!(message.contains("pool_sise"), "{message}");

        let (line, message) = parse("[default_limits]\nmemroy = \"1G\"\n").unwrap_err();
        assert_eq!(line, 2);
        assert!(message.contains("memroy"), "{message}");
    }

    #[test]
    fn the_installed_example_parses_as_is_and_uncommented() {
        let example = include_str!("../../../systemd/amikad.toml.example");
        assert_eq!(parse(example).unwrap(), FileConfig::default());
        // `#key = value` lines are settings switched off; `# text` lines are prose.
        let uncommented: Vec<&str> = example
            .lines()
            .map(|line| match line.strip_prefix('#') {
                Some(rest) if rest.starts_with(|c: char| c.is_ascii_lowercase()) => rest,
                _ => line,
            })
            .collect();
        let file = parse(&uncommented.join("\n")).unwrap();
        assert!(file.state_dir.is_some() && file.socket.is_some() && file.storage.is_some());
        assert!(file.pool_size.is_some() && file.log_level.is_some());
        let limits = &file.default_limits;
        assert!(limits.memory.is_some() && limits.cpus.is_some() && limits.pids.is_some());
    }

    #[test]
    fn a_missing_explicit_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.toml");
        let err = load(Some(&path)).unwrap_err();
        assert!(err.to_string().contains("absent.toml"), "{err}");
    }
}
