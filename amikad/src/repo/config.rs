//! `.amika/config.toml`: what a repository asks of the sandboxes made from it.
//!
//! ```toml
//! [sandbox]
//! snapshot = "example-repo-base"   # boot from this snapshot by default
//! preset = "coder"                 # or build from this preset
//!
//! [lifecycle]
//! setup_script = ".amika/setup.sh" # run once at creation, relative to the repository
//!
//! [env]
//! RUST_LOG = "debug"                     # a plain value
//! GITHUB_TOKEN = { secret = "gh-token" } # a stored secret, injected and scrubbed as one
//! ```
//!
//! A file that is not valid TOML, or a known key of the wrong type, is an error naming the
//! line. A table or key this version does not know is a warning, so that a typo never
//! passes silently and a newer file still works with an older daemon.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use serde::Deserialize;
use toml::Spanned;

/// Where the file lives in a repository.
pub const CONFIG_PATH: &str = ".amika/config.toml";

/// One `[env]` entry's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    /// A literal value.
    Plain(String),
    /// The value of the stored secret of this name.
    Secret(String),
}

/// A parsed configuration file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoConfig {
    /// `[sandbox] snapshot`.
    pub snapshot: Option<String>,
    /// `[sandbox] preset`.
    pub preset: Option<String>,
    /// `[lifecycle] setup_script`, a relative path inside the repository.
    pub setup_script: Option<String>,
    /// `[env]`, in key order.
    pub env: Vec<(String, EnvValue)>,
    /// Unknown tables and keys, one sentence each.
    pub warnings: Vec<String>,
}

/// Why a configuration file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{CONFIG_PATH} line {line}: {message}")]
pub struct ConfigError {
    /// 1-based line of the problem.
    pub line: usize,
    /// What is wrong and how to fix it.
    pub message: String,
}

#[derive(Deserialize, Default)]
struct Typed {
    #[serde(default)]
    sandbox: SandboxTable,
    #[serde(default)]
    lifecycle: LifecycleTable,
    #[serde(default)]
    env: BTreeMap<String, Spanned<toml::Value>>,
}

#[derive(Deserialize, Default)]
struct SandboxTable {
    snapshot: Option<Spanned<String>>,
    preset: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
struct LifecycleTable {
    setup_script: Option<Spanned<String>>,
}

/// The keys each known table may hold; `env` holds any variable name.
const KNOWN: &[(&str, &[&str])] = &[
    ("sandbox", &["snapshot", "preset"]),
    ("lifecycle", &["setup_script"]),
    ("env", &[]),
];

/// Parses the text of a configuration file.
pub fn parse(text: &str) -> Result<RepoConfig, ConfigError> {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let syntax = |e: toml::de::Error| ConfigError {
        line: e.span().map_or(1, |s| line_of(s.start)),
        message: e.message().trim().to_owned(),
    };
    let table: toml::Table = toml::from_str(text).map_err(syntax)?;
    let typed: Typed = toml::from_str(text).map_err(syntax)?;

    let mut config = RepoConfig {
        warnings: unknown_keys(&table),
        ..RepoConfig::default()
    };
    let nonempty = |field: &str, value: Spanned<String>| {
        if value.get_ref().trim().is_empty() {
            Err(ConfigError {
                line: line_of(value.span().start),
                message: format!("{field} is empty; name one or remove the key"),
            })
        } else {
            Ok(value.into_inner())
        }
    };
    config.snapshot = typed
        .sandbox
        .snapshot
        .map(|v| nonempty("[sandbox] snapshot", v))
        .transpose()?;
    config.preset = typed
        .sandbox
        .preset
        .map(|v| nonempty("[sandbox] preset", v))
        .transpose()?;
    if let Some(script) = typed.lifecycle.setup_script {
        let line = line_of(script.span().start);
        let script = nonempty("[lifecycle] setup_script", script)?;
        if !is_inside(&script) {
            return Err(ConfigError {
                line,
                message: format!(
                    "setup_script '{script}' must be a relative path inside the repository, \
                     e.g. \".amika/setup.sh\""
                ),
            });
        }
        config.setup_script = Some(script);
    }
    for (key, value) in typed.env {
        let line = line_of(value.span().start);
        if !is_variable_name(&key) {
            return Err(ConfigError {
                line,
                message: format!(
                    "[env] key '{key}' is not a variable name; use letters, digits and _"
                ),
            });
        }
        config
            .env
            .push((key.clone(), env_value(&key, value.into_inner(), line)?));
    }
    Ok(config)
}

fn env_value(key: &str, value: toml::Value, line: usize) -> Result<EnvValue, ConfigError> {
    let wrong = || ConfigError {
        line,
        message: format!(
            "[env] {key} must be a string or {{ secret = \"NAME\" }}, the name of a stored secret"
        ),
    };
    match value {
        toml::Value::String(text) if !text.contains('\0') => Ok(EnvValue::Plain(text)),
        toml::Value::Table(table) if table.len() == 1 => match table.get("secret") {
            Some(toml::Value::String(name)) if !name.is_empty() => {
                Ok(EnvValue::Secret(name.clone()))
            }
            _ => Err(wrong()),
        },
        _ => Err(wrong()),
    }
}

fn unknown_keys(table: &toml::Table) -> Vec<String> {
    let mut warnings = Vec::new();
    for (name, value) in table {
        let Some((_, keys)) = KNOWN.iter().find(|(known, _)| known == name) else {
            let known: Vec<&str> = KNOWN.iter().map(|(t, _)| *t).collect();
            warnings.push(format!(
                "{CONFIG_PATH}: unknown table or key '{name}' was ignored (known tables: {})",
                known.join(", ")
            ));
            continue;
        };
        let (Some(inner), false) = (value.as_table(), keys.is_empty()) else {
            continue;
        };
        for key in inner.keys().filter(|k| !keys.contains(&k.as_str())) {
            warnings.push(format!(
                "{CONFIG_PATH}: unknown key '{key}' in [{name}] was ignored (known keys: {})",
                keys.join(", ")
            ));
        }
    }
    warnings
}

/// True for a relative path with no `..`, which therefore stays inside the directory it is
/// taken from.
pub fn is_inside(path: &str) -> bool {
    let path = Path::new(path);
    !path.as_os_str().is_empty()
        && path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

fn is_variable_name(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_key_is_read() {
        let config = parse(
            r#"
[sandbox]
snapshot = "base-v1"
preset = "coder"

[lifecycle]
setup_script = ".amika/setup.sh"

[env]
RUST_LOG = "debug"
TOKEN = { secret = "gh" }
"#,
        )
        .unwrap();
        assert_eq!(config.snapshot.as_deref(), Some("base-v1"));
        assert_eq!(config.preset.as_deref(), Some("coder"));
        assert_eq!(config.setup_script.as_deref(), Some(".amika/setup.sh"));
        assert_eq!(
            config.env,
            vec![
                ("RUST_LOG".into(), EnvValue::Plain("debug".into())),
                ("TOKEN".into(), EnvValue::Secret("gh".into())),
            ]
        );
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    }

    #[test]
    fn a_syntax_error_names_its_line() {
        let err = parse("[sandbox]\nsnapshot = \"a\"\npreset = coder\n").unwrap_err();
        assert_eq!(err.line, 3, "{err}");
        assert!(
            err.to_string().starts_with(".amika/config.toml line 3:"),
            "{err}"
        );
    }

    #[test]
    fn a_known_key_of_the_wrong_type_names_its_line() {
        let err = parse("[sandbox]\n\nsnapshot = 42\n").unwrap_err();
        assert_eq!(err.line, 3, "{err}");
        let err = parse("[env]\nA = \"x\"\nB = [1]\n").unwrap_err();
        assert_eq!(err.line, 3, "{err}");
        assert!(err.message.contains("secret"), "{err}");
    }

    #[test]
    fn unknown_tables_and_keys_are_warnings() {
        let config = parse("[sandbox]\nsnapshott = \"x\"\n[hooks]\na = 1\n").unwrap();
        assert_eq!(config.snapshot, None);
        assert_eq!(config.warnings.len(), 2, "{:?}", config.warnings);
        assert!(config.warnings.iter().any(|w| w.contains("'snapshott'")));
        assert!(config.warnings.iter().any(|w| w.contains("'hooks'")));
    }

    #[test]
    fn a_setup_script_outside_the_repository_is_refused() {
        for path in ["/etc/passwd", "../x.sh", "a/../../b"] {
            let text = format!("[lifecycle]\nsetup_script = \"{path}\"\n");
            let err = parse(&text).unwrap_err();
            assert_eq!(err.line, 2, "{path}: {err}");
        }
    }

    #[test]
    fn bad_variable_names_are_refused() {
        assert!(parse("[env]\n\"1X\" = \"a\"\n").is_err());
        assert!(parse("[env]\n\"A-B\" = \"a\"\n").is_err());
    }
}
