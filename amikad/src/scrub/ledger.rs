//! The injection ledger as the scrub sees it: what was put into a sandbox, and the values.
//!
//! The ledger's paths are absolute inside the sandbox (`/home/amika/.codex/auth.json`);
//! the capture is opened as a tree whose root is the sandbox's `/`, so they become relative
//! paths (`home/amika/.codex/auth.json`) before any file is touched.

use std::fmt;
use std::path::{Path, PathBuf};

use super::ScrubError;

/// One thing the daemon injected into a sandbox, recorded before it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Injection {
    /// A secret written as a file.
    File {
        /// The secret's name.
        secret: String,
        /// The absolute path inside the sandbox, e.g. `/home/amika/.codex/auth.json`.
        path: String,
    },
    /// A secret exported as an environment variable (in `/etc/environment`).
    Env {
        /// The secret's name.
        secret: String,
        /// The variable's name.
        var: String,
    },
    /// A secret used as a token in git remote URLs or credentials for a host.
    Git {
        /// The secret's name.
        secret: String,
        /// The host name, optionally with a port, e.g. `github.com`.
        host: String,
    },
}

/// Everything the scrub needs to undo a sandbox's injections.
///
/// Its [`Debug`] output names secrets but never shows their values.
#[derive(Clone)]
pub struct Ledger {
    /// What was injected.
    pub injections: Vec<Injection>,
    /// Each secret's name and value; every value is searched for during verification.
    pub values: Vec<(String, Vec<u8>)>,
    /// The clean `/etc/environment`, from before any variable was injected.
    pub env_baseline: Vec<u8>,
    /// The sandbox user's home directory, e.g. `/home/amika`.
    pub home: String,
}

impl fmt::Debug for Ledger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.values.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("Ledger")
            .field("injections", &self.injections)
            .field(
                "values",
                &format_args!("<{} hidden: {names:?}>", names.len()),
            )
            .field(
                "env_baseline",
                &format_args!("<{} bytes>", self.env_baseline.len()),
            )
            .field("home", &self.home)
            .finish()
    }
}

impl Ledger {
    /// The injected file paths, relative to the capture.
    pub(super) fn file_paths(&self) -> Result<Vec<PathBuf>, ScrubError> {
        self.injections
            .iter()
            .filter_map(|injection| match injection {
                Injection::File { path, .. } => Some(tree_path(path)),
                _ => None,
            })
            .collect()
    }

    /// The hosts whose git tokens were injected.
    pub(super) fn git_hosts(&self) -> Vec<&str> {
        self.injections
            .iter()
            .filter_map(|injection| match injection {
                Injection::Git { host, .. } => Some(host.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The home directory, relative to the capture.
    pub(super) fn home_path(&self) -> Result<PathBuf, ScrubError> {
        tree_path(&self.home)
    }
}

/// Where `/etc/environment` is, relative to the capture.
pub(super) const ENVIRONMENT: &str = "etc/environment";

/// Turns an absolute sandbox path into one relative to the capture, refusing anything but
/// plain names after the leading `/` (no `..`, no `.`, no repeated root).
pub(super) fn tree_path(path: &str) -> Result<PathBuf, ScrubError> {
    let refuse = || ScrubError::LedgerPath {
        path: path.to_owned(),
    };
    let rest = path.strip_prefix('/').ok_or_else(refuse)?;
    // Split by hand: `Path::components` would quietly drop a `.` or a doubled slash.
    let plain = rest
        .split('/')
        .all(|name| !name.is_empty() && name != "." && name != "..");
    if !plain {
        return Err(refuse());
    }
    Ok(PathBuf::from(rest))
}

/// The path as the sandbox sees it, for messages and reports.
pub(super) fn sandbox_path(rel: &Path) -> PathBuf {
    if rel == Path::new(".") {
        return PathBuf::from("/");
    }
    Path::new("/").join(rel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_paths_must_be_absolute_and_plain() {
        let ok = tree_path("/home/amika/.codex/auth.json").unwrap();
        assert_eq!(ok, Path::new("home/amika/.codex/auth.json"));
        for bad in [
            "home/x",
            "/",
            "/home/../etc/shadow",
            "/home/./x",
            "//etc",
            "/a//b",
            "/a/",
        ] {
            assert!(tree_path(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn debug_output_names_secrets_without_values() {
        let ledger = Ledger {
            injections: vec![Injection::Env {
                secret: "openai".into(),
                var: "OPENAI_API_KEY".into(),
            }],
            values: vec![("openai".into(), b"sk-very-secret-value".to_vec())],
            env_baseline: b"PATH=/usr/bin\n".to_vec(),
            home: "/home/amika".into(),
        };
        let shown = format!("{ledger:?}");
        assert!(shown.contains("openai"), "{shown}");
        assert!(shown.contains("OPENAI_API_KEY"), "{shown}");
        assert!(!shown.contains("sk-very-secret-value"), "{shown}");
    }
}
