//! Secrets: check and store them, list them masked, delete them, and hand a value to the
//! injection code, which is the only way a value leaves the store.
//!
//! The rules are free functions over a [`Store`] so that tests need no pool; the [`Service`]
//! methods only forward to them. Log lines name a secret, never its value.

use amika_api::secret::mask;
use amika_api::{Secret, SecretTargets, SetSecret};

use super::Service;
use crate::error::{Error, Result};
use crate::names;
use crate::state::{rfc3339, SecretRow, Store};

use amika_api::secret::MAX_VALUE_BYTES;

/// The longest file target accepted, in bytes (Linux's `PATH_MAX`).
const MAX_PATH_BYTES: usize = 4096;

/// The longest single path component Linux accepts (`NAME_MAX`).
const MAX_COMPONENT_BYTES: usize = 255;

/// The longest host name DNS allows.
const MAX_HOST_BYTES: usize = 253;

impl From<SecretRow> for Secret {
    fn from(row: SecretRow) -> Self {
        Secret {
            preview: mask(&row.value),
            name: row.name,
            targets: row.targets,
            updated_at: rfc3339(row.updated_at),
        }
    }
}

impl Service {
    /// Stores secret `name`, replacing it if it exists, and returns it as the API shows it.
    pub fn set_secret(&self, name: &str, request: &SetSecret) -> Result<Secret> {
        set(&self.store, name, request)
    }

    /// Every secret, masked.
    pub fn list_secrets(&self) -> Result<Vec<Secret>> {
        list(&self.store)
    }

    /// Deletes secret `name`. Sandboxes it was injected into keep their copy, and the ledger
    /// keeps what the scrub needs.
    pub fn delete_secret(&self, name: &str) -> Result<()> {
        delete(&self.store, name)
    }

    /// The targets and the value of secret `name`, for injection into a sandbox.
    pub(crate) fn secret_for_injection(&self, name: &str) -> Result<(SecretTargets, String)> {
        for_injection(&self.store, name)
    }
}

fn set(store: &Store, name: &str, request: &SetSecret) -> Result<Secret> {
    names::validate("secret", name)?;
    let targets = check_targets(name, &request.targets)?;
    check_value(name, &request.value, &targets)?;
    let clean = SetSecret {
        targets,
        value: request.value.clone(),
    };
    store.put_secret(name, &clean)?;
    tracing::info!(secret = name, "secret stored");
    store
        .find_secret(name)?
        .map(Secret::from)
        .ok_or_else(|| Error::Internal(format!("secret '{name}' vanished right after storing")))
}

fn list(store: &Store) -> Result<Vec<Secret>> {
    let rows = store.list_secrets()?;
    Ok(rows.into_iter().map(Secret::from).collect())
}

fn delete(store: &Store, name: &str) -> Result<()> {
    names::validate("secret", name)?;
    if !store.delete_secret(name)? {
        return Err(Error::not_found("secret", name));
    }
    tracing::info!(secret = name, "secret deleted");
    Ok(())
}

fn for_injection(store: &Store, name: &str) -> Result<(SecretTargets, String)> {
    let row = store.find_secret(name)?.ok_or_else(|| {
        Error::InvalidRequest(format!(
            "secret '{name}' is not stored; add it with: amika-ctl secret set {name} \
             --env VAR|--file PATH|--git-host HOST --from-file F|--from-env VAR|--value-stdin"
        ))
    })?;
    Ok((row.targets, row.value))
}

/// Checks every target and returns them normalised: duplicate variables dropped, `~/` taken
/// off the file, the host lower-cased.
fn check_targets(secret: &str, targets: &SecretTargets) -> Result<SecretTargets> {
    if targets.is_empty() {
        return Err(Error::InvalidRequest(format!(
            "secret '{secret}' has no target; give at least one of --env VAR, --file PATH or \
             --git-host HOST (env, file, git_host in the API)"
        )));
    }
    let mut env: Vec<String> = Vec::with_capacity(targets.env.len());
    for var in &targets.env {
        check_env_var(var).map_err(|why| invalid(secret, why))?;
        if !env.contains(var) {
            env.push(var.clone());
        }
    }
    let file = targets.file.as_deref().map(file_target).transpose();
    let git_host = targets.git_host.as_deref().map(git_host).transpose();
    Ok(SecretTargets {
        env,
        file: file.map_err(|why| invalid(secret, why))?,
        git_host: git_host.map_err(|why| invalid(secret, why))?,
    })
}

fn invalid(secret: &str, why: String) -> Error {
    Error::InvalidRequest(format!("secret '{secret}': {why}"))
}

/// Checks the value's size and content. Messages give sizes, never the value.
fn check_value(secret: &str, value: &str, targets: &SecretTargets) -> Result<()> {
    let why = if value.is_empty() {
        "the value is empty".to_string()
    } else if value.len() > MAX_VALUE_BYTES {
        format!(
            "the value is {} bytes; at most {MAX_VALUE_BYTES} are allowed",
            value.len()
        )
    } else if value.contains('\0') {
        "the value contains a NUL byte, which no file or variable target can hold".to_string()
    } else if (!targets.env.is_empty() || targets.git_host.is_some())
        && value.contains(['\n', '\r'])
    {
        // /etc/environment holds one variable per line and a remote URL is one line too: a
        // line break would let the value forge entries the scrub knows nothing about.
        "the value has a line break, which an environment variable or a git remote cannot \
         carry; store it with --file only"
            .to_string()
    } else {
        return Ok(());
    };
    Err(invalid(secret, why))
}

/// An environment variable name: `^[A-Za-z_][A-Za-z0-9_]*$`.
fn check_env_var(var: &str) -> Result<(), String> {
    let mut chars = var.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Ok(());
    }
    Err(format!(
        "environment variable name '{var}' is not valid; use letters, digits and '_', not \
         starting with a digit"
    ))
}

/// A file target relative to the sandbox user's home, returned without `~/`, `.` components
/// or repeated slashes.
fn file_target(path: &str) -> Result<String, String> {
    let relative = path.strip_prefix("~/").unwrap_or(path);
    let example = "e.g. .config/tool/token or ~/.netrc";
    if relative.starts_with('/') {
        return Err(format!(
            "file '{path}' must be relative to the sandbox user's home, {example}"
        ));
    }
    if relative.starts_with('~') {
        return Err(format!(
            "file '{path}' names another user's home; give a path in the sandbox user's \
             home, {example}"
        ));
    }
    if relative.chars().any(char::is_control) {
        return Err(format!("file {path:?} contains a control character"));
    }
    if relative.len() > MAX_PATH_BYTES {
        return Err(format!("file path is longer than {MAX_PATH_BYTES} bytes"));
    }
    let mut parts = Vec::new();
    for part in relative.split('/').filter(|p| !p.is_empty() && *p != ".") {
        if part == ".." {
            return Err(format!(
                "file '{path}' has a '..' component; it must stay inside the home directory"
            ));
        }
        if part.len() > MAX_COMPONENT_BYTES {
            return Err(format!(
                "file '{path}' has a component longer than {MAX_COMPONENT_BYTES} bytes"
            ));
        }
        parts.push(part);
    }
    if parts.is_empty() {
        return Err(format!("file '{path}' names no file; {example}"));
    }
    Ok(parts.join("/"))
}

/// A plain host name with an optional port (`github.com`, `git.example.org:8443`), returned
/// in lower case.
fn git_host(host: &str) -> Result<String, String> {
    let bad = |what: &str| {
        Err(format!(
            "git host '{host}' {what}; give a plain host name such as github.com or \
             git.example.org:8443, without a scheme or a path"
        ))
    };
    let (name, port) = match host.split_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    if let Some(port) = port {
        let digits = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
        if !digits || !port.parse::<u16>().is_ok_and(|p| p > 0) {
            return bad("has an invalid port");
        }
    }
    if name.is_empty() || name.len() > MAX_HOST_BYTES {
        return bad("has no valid name");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        return bad("contains characters a host name cannot have");
    }
    let labels_ok = name
        .split('.')
        .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'));
    if !labels_ok {
        return bad("has an empty label or one that starts or ends with '-'");
    }
    Ok(host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use amika_api::ErrorCode;

    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("amika.db")).unwrap();
        (dir, store)
    }

    fn request(env: &[&str], file: Option<&str>, host: Option<&str>, value: &str) -> SetSecret {
        SetSecret {
            targets: SecretTargets {
                env: env.iter().map(|v| v.to_string()).collect(),
                file: file.map(str::to_owned),
                git_host: host.map(str::to_owned),
            },
            value: value.into(),
        }
    }

    fn message(err: Error) -> String {
        assert_eq!(err.code(), ErrorCode::InvalidRequest, "{err}");
        err.to_string()
    }

    #[test]
    fn a_stored_secret_is_shown_masked_and_injected_in_full() {
        let (_dir, store) = store();
        let value = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz";
        let req = request(
            &["ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY"],
            Some("~/.config//./anthropic/key"),
            Some("GitHub.com"),
            value,
        );
        let shown = set(&store, "anthropic", &req).unwrap();
        assert_eq!(shown.targets.env, ["ANTHROPIC_API_KEY"]);
        assert_eq!(shown.targets.file.as_deref(), Some(".config/anthropic/key"));
        assert_eq!(shown.targets.git_host.as_deref(), Some("github.com"));
        assert_eq!(shown.preview, mask(value));
        let json = serde_json::to_string(&list(&store).unwrap()).unwrap();
        assert!(!json.contains("abcdefgh"), "{json}");

        let (targets, injected) = for_injection(&store, "anthropic").unwrap();
        assert_eq!(targets, shown.targets);
        assert_eq!(injected, value);
    }

    #[test]
    fn missing_secrets_say_how_to_add_them() {
        let (_dir, store) = store();
        let err = for_injection(&store, "gh-token").unwrap_err();
        assert!(message(err).contains("amika-ctl secret set gh-token"));
        let err = delete(&store, "gh-token").unwrap_err();
        assert_eq!(err.code(), ErrorCode::NotFound);
        assert_eq!(err.to_string(), "secret 'gh-token' not found");
    }

    #[test]
    fn delete_removes_the_secret() {
        let (_dir, store) = store();
        set(&store, "a", &request(&["A"], None, None, "v")).unwrap();
        delete(&store, "a").unwrap();
        assert!(list(&store).unwrap().is_empty());
    }

    #[test]
    fn a_secret_without_targets_names_the_flags() {
        let (_dir, store) = store();
        let err = set(&store, "a", &request(&[], None, None, "v")).unwrap_err();
        let text = message(err);
        assert!(
            text.contains("--env") && text.contains("--git-host"),
            "{text}"
        );
        assert!(list(&store).unwrap().is_empty());
    }

    #[test]
    fn bad_names_and_values_are_refused_without_echoing_the_value() {
        let (_dir, store) = store();
        let ok = |value: &str| request(&["A"], None, None, value);
        assert!(message(set(&store, "Bad_Name", &ok("v")).unwrap_err()).contains("secret name"));
        for (value, why) in [
            (String::new(), "empty"),
            ("x".repeat(MAX_VALUE_BYTES + 1), "at most"),
            ("zqa\0zqb".to_string(), "NUL"),
            ("zqv\nzqw".to_string(), "line break"),
        ] {
            let text = message(set(&store, "a", &ok(&value)).unwrap_err());
            assert!(text.contains(why), "{text}");
            if !value.is_empty() {
                assert!(!text.contains(&value[..3]), "{text}");
            }
        }
        assert!(set(&store, "a", &ok(&"x".repeat(MAX_VALUE_BYTES))).is_ok());
        let pem = "-----BEGIN KEY-----\nabc\n-----END KEY-----\n";
        assert!(set(&store, "pem", &request(&[], Some(".key"), None, pem)).is_ok());
    }

    #[test]
    fn env_var_names() {
        for good in ["A", "_", "OPENAI_API_KEY", "a1", "_x_9"] {
            assert!(check_env_var(good).is_ok(), "{good}");
        }
        for bad in ["", "1A", "A-B", "A B", "A=B", "É", "$A"] {
            assert!(check_env_var(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn file_targets_stay_in_the_home_directory() {
        assert_eq!(file_target(".claude.json").unwrap(), ".claude.json");
        assert_eq!(
            file_target("~/.codex/auth.json").unwrap(),
            ".codex/auth.json"
        );
        assert_eq!(file_target("./a//b/./c").unwrap(), "a/b/c");
        for bad in [
            "",
            "/etc/passwd",
            "~/",
            "~root/.ssh/id",
            "a/../../etc",
            "..",
            ".",
            "a\nb",
        ] {
            assert!(file_target(bad).is_err(), "{bad:?}");
        }
        assert!(file_target(&format!("a/{}", "x".repeat(256))).is_err());
    }

    #[test]
    fn git_hosts_are_plain_names_with_an_optional_port() {
        assert_eq!(git_host("github.com").unwrap(), "github.com");
        assert_eq!(
            git_host("Git.Example.org:8443").unwrap(),
            "git.example.org:8443"
        );
        assert_eq!(git_host("localhost").unwrap(), "localhost");
        for bad in [
            "",
            "https://github.com",
            "github.com/org",
            "user@github.com",
            "github.com:",
            "github.com:0",
            "github.com:70000",
            "github..com",
            ".github.com",
            "-x.com",
            "git hub.com",
        ] {
            assert!(git_host(bad).is_err(), "{bad:?}");
        }
    }
}
