//! Secrets: named values the daemon keeps and injects into sandboxes.
//!
//! A value travels from the client to the daemon once, in [`SetSecret`], and never back: the
//! API shows only names, targets and a masked preview.

use serde::{Deserialize, Serialize};

/// The largest value a secret may hold, in bytes; the daemon refuses more, and the client
/// skips larger credential files rather than sending them.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// Where a secret goes inside a sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretTargets {
    /// Environment variables that receive the value.
    #[serde(default)]
    pub env: Vec<String>,
    /// A file, relative to the sandbox user's home, that receives the value (mode 0600).
    #[serde(default)]
    pub file: Option<String>,
    /// A git host whose HTTPS remotes authenticate with the value as a token.
    #[serde(default)]
    pub git_host: Option<String>,
}

impl SecretTargets {
    /// True when the secret would go nowhere.
    pub fn is_empty(&self) -> bool {
        self.env.is_empty() && self.file.is_none() && self.git_host.is_none()
    }
}

/// `PUT /v1/secrets/{name}`: store (or replace) a secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetSecret {
    /// Where it goes.
    #[serde(flatten)]
    pub targets: SecretTargets,
    /// The value itself.
    pub value: String,
}

impl std::fmt::Debug for SetSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The value must never reach a log line, even through a debug print.
        f.debug_struct("SetSecret")
            .field("targets", &self.targets)
            .field("value", &"<hidden>")
            .finish()
    }
}

/// A stored secret as the API shows it: never its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret {
    /// Unique name.
    pub name: String,
    /// Where it goes.
    #[serde(flatten)]
    pub targets: SecretTargets,
    /// A masked preview, e.g. `sk-a…f3 (51 chars)`.
    pub preview: String,
    /// RFC 3339 time it was last set.
    pub updated_at: String,
}

/// Masks a value for display: a few characters from each end when it is long enough that
/// they reveal little, and its length.
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let n = chars.len();
    if n < 16 {
        return format!("•••• ({n} chars)");
    }
    let head = printable(&chars[..4].iter().collect::<String>());
    let tail = printable(&chars[n - 2..].iter().collect::<String>());
    format!("{head}…{tail} ({n} chars)")
}

/// `text` with control characters escaped, so that a value's final newline cannot break a
/// table row and a name chosen by someone else cannot move the cursor or recolour a terminal.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_never_show_short_values_and_little_of_long_ones() {
        assert_eq!(mask("hunter2"), "•••• (7 chars)");
        let long = "sk-ant-api03-abcdefghijklmnop";
        let masked = mask(long);
        assert!(masked.starts_with("sk-a…op"), "{masked}");
        assert!(!masked.contains("abcdefgh"));
    }

    #[test]
    fn masks_stay_on_one_line() {
        let masked = mask("{\"token\": \"abcdefghijkl\"}\n");
        assert_eq!(masked, "{\"to…}\\n (26 chars)");
    }

    #[test]
    fn debug_hides_the_value() {
        let set = SetSecret {
            targets: SecretTargets::default(),
            value: "topsecret".into(),
        };
        assert!(!format!("{set:?}").contains("topsecret"));
    }
}
