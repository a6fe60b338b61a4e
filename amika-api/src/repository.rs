//! Repositories: the projects sandboxes are created from, each with an optional default
//! snapshot that new sandboxes of the repository boot from.

use serde::{Deserialize, Serialize};

/// Where a repository's effective default snapshot comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DefaultSource {
    /// Set with `repo set-default-snapshot`; wins over the configuration file.
    StateStore,
    /// `[sandbox] snapshot` in `.amika/config.toml`, as last read at a sandbox create.
    Config,
}

impl DefaultSource {
    /// The name used on the wire and in text output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StateStore => "state-store",
            Self::Config => "config",
        }
    }
}

/// The snapshot new sandboxes of a repository boot from when nothing else is asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositoryDefault {
    /// The snapshot's name as set or configured.
    pub snapshot: String,
    /// The snapshot's id, when it still exists.
    pub snapshot_id: Option<String>,
    /// Which rule provides it.
    pub source: DefaultSource,
    /// True when no snapshot of that name or id exists any more: a create that relies on it
    /// fails until the default is changed or cleared.
    pub missing: bool,
}

/// A repository as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repository {
    /// Stable identifier.
    pub id: String,
    /// Short name: the last part of its URL, or its directory name.
    pub name: String,
    /// What identifies it: the normalised origin URL (`github.com/org/repo`), or
    /// `commit:<sha>` of its first commit when it has no network remote.
    pub key: String,
    /// The origin URL, without credentials, when it has one.
    pub url: Option<String>,
    /// The effective default snapshot, if any.
    pub default_snapshot: Option<RepositoryDefault>,
    /// `[sandbox] snapshot` from its configuration file, as last read.
    pub config_snapshot: Option<String>,
    /// How many sandboxes currently use it.
    pub sandboxes: u64,
    /// RFC 3339 time it first appeared.
    pub created_at: String,
    /// RFC 3339 time of the last change.
    pub updated_at: String,
}

/// `PUT /v1/repositories/{ref}/default-snapshot`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetDefaultSnapshot {
    /// The snapshot, by name or id.
    pub snapshot: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_source_names_match_the_wire() {
        for source in [DefaultSource::StateStore, DefaultSource::Config] {
            let wire = serde_json::to_string(&source).unwrap();
            assert_eq!(wire, format!("\"{}\"", source.as_str()));
        }
    }
}
