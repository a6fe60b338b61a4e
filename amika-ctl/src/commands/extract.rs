//! `amika-ctl secret extract`: find the calling user's agent credentials and store them as
//! secrets once the user agrees.
//!
//! amika-ctl runs as that user, so it reads their files with their own permissions; the
//! daemon never looks into a home directory. Discovery is a pure function of a home
//! directory and an environment, so tests hand it fake ones.

use std::ffi::OsString;
use std::fmt;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

use amika_api::secret::mask;
use amika_api::{names, paths, Secret, SecretTargets, SetSecret};

use super::secret::targets;
use crate::cli::OutputFormat;
use crate::client::Client;
use crate::error::CtlError;
use crate::output::{self, Table};

/// Agent credential files: the secret name and the path relative to the home directory,
/// which is also where the file goes in the sandbox user's home.
const AGENT_FILES: &[(&str, &str)] = &[
    ("claude-credentials", ".claude/.credentials.json"),
    ("claude-config", ".claude.json"),
    ("codex-auth", ".codex/auth.json"),
    ("opencode-auth", ".local/share/opencode/auth.json"),
];

/// Environment variables whose names end with this are taken as API keys.
const API_KEY_SUFFIX: &str = "_API_KEY";

use amika_api::secret::MAX_VALUE_BYTES;

/// A credential found on this machine, ready to be stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Found {
    /// The secret name it would be stored under.
    pub name: String,
    /// Where it would go in a sandbox.
    pub targets: SecretTargets,
    /// Where it was found: `~/.codex/auth.json` or `$OPENAI_API_KEY`.
    pub origin: String,
    /// The value itself.
    pub value: String,
}

impl fmt::Debug for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A failing test or a stray debug print must not show a credential.
        f.debug_struct("Found")
            .field("name", &self.name)
            .field("targets", &self.targets)
            .field("origin", &self.origin)
            .field("value", &mask(&self.value))
            .finish()
    }
}

/// What discovery turned up: credentials to offer, and why others were left out.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Credentials to offer, agent files first, then variables by name.
    pub found: Vec<Found>,
    /// One sentence per credential that exists but cannot be stored.
    pub skipped: Vec<String>,
}

/// Looks for agent credential files under `home` (when there is one) and for `*_API_KEY`
/// variables in `env`.
pub fn discover(
    home: Option<&Path>,
    env: impl IntoIterator<Item = (OsString, OsString)>,
) -> Discovery {
    let mut discovery = Discovery::default();
    if let Some(home) = home {
        for (name, relative) in AGENT_FILES {
            discover_file(&mut discovery, home, name, relative);
        }
    }
    let mut vars: Vec<(String, OsString)> = env
        .into_iter()
        .filter_map(|(key, value)| Some((key.into_string().ok()?, value)))
        .filter(|(key, _)| key.ends_with(API_KEY_SUFFIX))
        .collect();
    vars.sort();
    for (var, value) in vars {
        discover_var(&mut discovery, var, value);
    }
    discovery
}

fn discover_file(discovery: &mut Discovery, home: &Path, name: &str, relative: &str) {
    let path = home.join(relative);
    let origin = format!("~/{relative}");
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return,
        Err(e) => {
            let why = format!("{} cannot be read: {e}", path.display());
            return discovery.skipped.push(why);
        }
    };
    let Ok(value) = String::from_utf8(bytes) else {
        let why = format!("{} is not UTF-8 text", path.display());
        return discovery.skipped.push(why);
    };
    if let Some(why) = unfit(&value, false) {
        return discovery.skipped.push(format!("{}: {why}", path.display()));
    }
    let targets = SecretTargets {
        file: Some(relative.to_string()),
        ..SecretTargets::default()
    };
    discovery.found.push(Found {
        name: name.to_string(),
        targets,
        origin,
        value,
    });
}

fn discover_var(discovery: &mut Discovery, var: String, value: OsString) {
    let origin = format!("${var}");
    let name = secret_name_for_var(&var);
    if let Err(why) = names::check(&name) {
        let why = format!("{origin}: no valid secret name can be made from it ({why})");
        return discovery.skipped.push(why);
    }
    if discovery.found.iter().any(|found| found.name == name) {
        let why = format!("{origin}: another variable already takes the name '{name}'");
        return discovery.skipped.push(why);
    }
    let Ok(value) = value.into_string() else {
        return discovery
            .skipped
            .push(format!("{origin} is not UTF-8 text"));
    };
    if let Some(why) = unfit(&value, true) {
        return discovery.skipped.push(format!("{origin}: {why}"));
    }
    discovery.found.push(Found {
        name,
        targets: SecretTargets {
            env: vec![var],
            ..SecretTargets::default()
        },
        origin,
        value,
    });
}

/// The secret name for an environment variable: `ANTHROPIC_API_KEY` → `anthropic-api-key`.
pub fn secret_name_for_var(var: &str) -> String {
    var.to_ascii_lowercase().replace('_', "-")
}

/// Why the daemon would refuse `value`, if it would; never quotes the value.
fn unfit(value: &str, for_env: bool) -> Option<String> {
    if value.is_empty() {
        Some("it is empty".to_string())
    } else if value.len() > MAX_VALUE_BYTES {
        Some(format!(
            "it is {} bytes, more than the {MAX_VALUE_BYTES} a secret may hold",
            value.len()
        ))
    } else if value.contains('\0') {
        Some("it contains a NUL byte".to_string())
    } else if for_env && value.contains(['\n', '\r']) {
        Some("it has a line break, which an environment variable cannot carry".to_string())
    } else {
        None
    }
}

/// Runs `secret extract`.
pub async fn run(client: &Client, format: OutputFormat, yes: bool) -> Result<(), CtlError> {
    if format != OutputFormat::Text && !yes {
        return Err(CtlError::Usage(
            "JSON output never asks for confirmation; add --yes to store what is found".to_string(),
        ));
    }
    let home = home_dir();
    if home.is_none() {
        eprintln!("amika-ctl: no home directory ($HOME is unset); only looking at variables");
    }
    let discovery = discover(home.as_deref(), std::env::vars_os());
    for why in &discovery.skipped {
        eprintln!("amika-ctl: skipped: {why}");
    }
    if discovery.found.is_empty() {
        return output::show(format, &Vec::<Secret>::new(), |_| nothing_found());
    }

    // Asking first what is stored lets the listing say what would be replaced, and fails
    // before the question if the daemon cannot be reached.
    let stored: Vec<Secret> = client.get_json(paths::SECRETS).await?;
    let stored: Vec<&str> = stored.iter().map(|s| s.name.as_str()).collect();
    if format == OutputFormat::Text {
        output::emit(&table(&discovery.found, &stored).render())?;
    }
    if !yes && !ask(discovery.found.len()).await? {
        eprintln!("nothing stored");
        return Ok(());
    }
    store_all(client, format, discovery.found).await
}

fn nothing_found() -> String {
    let files: Vec<String> = AGENT_FILES.iter().map(|(_, f)| format!("~/{f}")).collect();
    format!(
        "no agent credentials found (looked for {} and *{API_KEY_SUFFIX} variables)\n",
        files.join(", ")
    )
}

/// The home directory of the user running amika-ctl: `$HOME`, or else the password entry.
fn home_dir() -> Option<PathBuf> {
    match std::env::var_os("HOME") {
        Some(home) if !home.is_empty() => Some(PathBuf::from(home)),
        _ => nix::unistd::User::from_uid(nix::unistd::getuid())
            .ok()
            .flatten()
            .map(|user| user.dir),
    }
}

fn table(found: &[Found], stored: &[&str]) -> Table {
    let mut table = Table::new(vec!["NAME", "TARGET", "FROM", "PREVIEW", "ACTION"]);
    for item in found {
        let action = if stored.contains(&item.name.as_str()) {
            "replace"
        } else {
            "add"
        };
        table.push(vec![
            item.name.clone(),
            targets(&item.targets),
            item.origin.clone(),
            mask(&item.value),
            action.to_string(),
        ]);
    }
    table
}

/// Asks on stderr and reads the answer from stdin, off the async runtime.
async fn ask(count: usize) -> Result<bool, CtlError> {
    let question = match count {
        1 => "Store this secret?".to_string(),
        n => format!("Store these {n} secrets?"),
    };
    let answer = tokio::task::spawn_blocking(move || {
        confirm(&mut io::stdin().lock(), &mut io::stderr(), &question)
    })
    .await
    .map_err(|e| CtlError::Local(format!("the confirmation failed: {e}")))?;
    answer.map_err(|e| CtlError::io("cannot read the answer from stdin", e))
}

/// Writes `question [y/N] ` and reads one line; only `y` or `yes` agrees, and the end of
/// input counts as no.
fn confirm(input: &mut impl BufRead, out: &mut impl Write, question: &str) -> io::Result<bool> {
    write!(out, "{question} [y/N] ")?;
    out.flush()?;
    let mut line = String::new();
    if input.read_line(&mut line)? == 0 {
        writeln!(out)?;
        return Ok(false);
    }
    Ok(matches!(
        line.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// Stores each credential in turn, reporting each outcome; JSON output is the array of what
/// was stored. A daemon that cannot be reached stops the loop, other failures do not.
async fn store_all(
    client: &Client,
    format: OutputFormat,
    found: Vec<Found>,
) -> Result<(), CtlError> {
    let total = found.len();
    let mut stored = Vec::with_capacity(total);
    for item in found {
        let request = SetSecret {
            targets: item.targets,
            value: item.value,
        };
        match client
            .put_json::<_, Secret>(&paths::secret(&item.name), &request)
            .await
        {
            Ok(secret) => {
                if format == OutputFormat::Text {
                    output::emit(&format!("stored {}\n", secret.name))?;
                }
                stored.push(secret);
            }
            Err(err @ CtlError::Unreachable { .. }) => return Err(err),
            Err(err) => eprintln!("amika-ctl: {}: {err}", item.name),
        }
    }
    if format != OutputFormat::Text {
        output::emit(&output::to_json(format, &stored)?)?;
    }
    match total - stored.len() {
        0 => Ok(()),
        failed => Err(CtlError::Partial { failed, total }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs.iter().map(|(k, v)| (k.into(), v.into())).collect()
    }

    fn write(home: &Path, relative: &str, content: &str) {
        let path = home.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    #[test]
    fn variable_names_become_secret_names() {
        assert_eq!(
            secret_name_for_var("ANTHROPIC_API_KEY"),
            "anthropic-api-key"
        );
        assert_eq!(secret_name_for_var("OpenAI_API_KEY"), "openai-api-key");
        assert_eq!(secret_name_for_var("X2_API_KEY"), "x2-api-key");
    }

    #[test]
    fn agent_files_and_api_keys_are_found_with_their_natural_targets() {
        let home = tempfile::tempdir().unwrap();
        write(
            home.path(),
            ".claude/.credentials.json",
            "{\"token\":\"abc\"}\n",
        );
        write(home.path(), ".claude.json", "{}");
        write(
            home.path(),
            ".codex/auth.json",
            "{\"OPENAI_API_KEY\":\"sk-x\"}",
        );
        write(home.path(), ".local/share/opencode/auth.json", "{\"a\":1}");
        let vars = env(&[
            ("PATH", "/usr/bin"),
            ("OPENAI_API_KEY", "sk-openai-0123456789"),
            ("ANTHROPIC_API_KEY", "sk-ant-0123456789"),
            ("API_KEY_HINT", "not a key"),
        ]);
        let discovery = discover(Some(home.path()), vars);
        assert!(discovery.skipped.is_empty(), "{:?}", discovery.skipped);

        let names: Vec<&str> = discovery.found.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "claude-credentials",
                "claude-config",
                "codex-auth",
                "opencode-auth",
                "anthropic-api-key",
                "openai-api-key"
            ]
        );
        let credentials = &discovery.found[0];
        assert_eq!(
            credentials.targets.file.as_deref(),
            Some(".claude/.credentials.json")
        );
        assert_eq!(
            credentials.value, "{\"token\":\"abc\"}\n",
            "files are kept byte for byte"
        );
        assert_eq!(credentials.origin, "~/.claude/.credentials.json");
        let anthropic = &discovery.found[4];
        assert_eq!(anthropic.targets.env, ["ANTHROPIC_API_KEY"]);
        assert!(anthropic.targets.file.is_none());
        assert_eq!(anthropic.origin, "$ANTHROPIC_API_KEY");
        assert_eq!(anthropic.value, "sk-ant-0123456789");
    }

    #[test]
    fn unusable_credentials_are_skipped_with_a_reason() {
        let home = tempfile::tempdir().unwrap();
        // A directory where a file should be cannot be read, even by root.
        std::fs::create_dir_all(home.path().join(".codex/auth.json")).unwrap();
        write(
            home.path(),
            ".claude.json",
            &"x".repeat(MAX_VALUE_BYTES + 1),
        );
        write(home.path(), ".local/share/opencode/auth.json", "");
        let vars = env(&[
            ("EMPTY_API_KEY", ""),
            ("_API_KEY", "sk-0123456789abcdef"),
            ("MULTI_API_KEY", "a\nb"),
        ]);
        let discovery = discover(Some(home.path()), vars);
        assert!(discovery.found.is_empty(), "{:?}", discovery.found);
        let skipped = discovery.skipped.join("\n");
        assert_eq!(discovery.skipped.len(), 6, "{skipped}");
        assert!(
            skipped.contains(".codex/auth.json cannot be read"),
            "{skipped}"
        );
        assert!(skipped.contains("more than the 65536"), "{skipped}");
        assert!(
            skipped.contains("opencode/auth.json: it is empty"),
            "{skipped}"
        );
        assert!(
            skipped.contains("$_API_KEY: no valid secret name"),
            "{skipped}"
        );
        assert!(
            skipped.contains("$MULTI_API_KEY: it has a line break"),
            "{skipped}"
        );
        assert!(!skipped.contains("sk-0123"), "{skipped}");
    }

    #[test]
    fn no_home_means_only_variables() {
        let discovery = discover(None, env(&[("GROQ_API_KEY", "gsk-0123456789abcdef")]));
        assert_eq!(discovery.found.len(), 1);
        assert_eq!(discovery.found[0].name, "groq-api-key");
        assert!(discover(None, env(&[])).found.is_empty());
    }

    #[test]
    fn the_listing_masks_values_and_marks_replacements() {
        let found = discover(None, env(&[("OPENAI_API_KEY", "sk-openai-0123456789")])).found;
        let text = table(&found, &["openai-api-key"]).render();
        assert!(!text.contains("0123456789"), "{text}");
        assert!(text.contains(&mask("sk-openai-0123456789")), "{text}");
        assert!(
            text.contains("env:OPENAI_API_KEY  $OPENAI_API_KEY"),
            "{text}"
        );
        assert!(text.trim_end().ends_with("replace"), "{text}");
        assert!(table(&found, &[]).render().trim_end().ends_with("add"));
        assert!(!format!("{found:?}").contains("0123456789"));
    }

    #[test]
    fn only_yes_agrees_and_end_of_input_declines() {
        for (answer, expected) in [("y\n", true), ("YES\n", true), ("n\n", false), ("", false)] {
            let mut out = Vec::new();
            let agreed = confirm(&mut answer.as_bytes(), &mut out, "Store these 2 secrets?");
            assert_eq!(agreed.unwrap(), expected, "{answer:?}");
            assert!(String::from_utf8(out)
                .unwrap()
                .starts_with("Store these 2 secrets? [y/N] "));
        }
    }
}
