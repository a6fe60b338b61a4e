//! The arguments of `amika-ctl secret ...`.
//!
//! `secret set` needs at least one target and exactly one source for the value; both rules
//! are clap groups, so breaking them is a usage error before anything is read or sent.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Subcommand};

/// `amika-ctl secret ...`
#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Store a secret, or replace the one with this name.
    ///
    /// The value goes to the daemon once and is never shown again: list and set show a
    /// masked preview only. It is injected into sandboxes created with `--secret NAME`, at
    /// every target given here.
    Set(SetSecretArgs),
    /// List stored secrets: names, targets and masked previews, never values.
    List,
    /// Delete stored secrets. Sandboxes they were injected into keep their copies.
    Delete {
        /// Secret names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Find your agent credentials and offer to store them as secrets.
    ///
    /// Looks in your home directory for Claude Code (~/.claude/.credentials.json,
    /// ~/.claude.json), Codex (~/.codex/auth.json) and OpenCode
    /// (~/.local/share/opencode/auth.json) credentials, and in amika-ctl's environment for
    /// every *_API_KEY variable. Files go to the same path in the sandbox user's home;
    /// variables to a variable of the same name. What is found is listed, masked, and stored
    /// after you confirm; -o json never asks, so it needs --yes.
    Extract {
        /// Store what is found without asking.
        #[arg(short, long)]
        yes: bool,
    },
}

/// `amika-ctl secret set` options.
#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("targets")
        .args(["env", "file", "git_host"])
        .required(true)
        .multiple(true)
))]
pub struct SetSecretArgs {
    /// Secret name: lower-case letters, digits and '-'.
    pub name: String,
    /// Set this environment variable to the value in sandboxes; repeat for several.
    #[arg(long = "env", value_name = "VAR")]
    pub env: Vec<String>,
    /// Write the value to this file (mode 0600), relative to the sandbox user's home.
    #[arg(long, value_name = "PATH")]
    pub file: Option<String>,
    /// Use the value as the token of HTTPS git remotes on this host, e.g. github.com.
    #[arg(long, value_name = "HOST")]
    pub git_host: Option<String>,
    /// Where the value comes from.
    #[command(flatten)]
    pub source: ValueSource,
}

/// Exactly one source of a secret's value.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct ValueSource {
    /// Read the value from this file, with your own permissions. One trailing newline is
    /// dropped, since token files usually end with one that is not part of the token.
    #[arg(long, value_name = "FILE")]
    pub from_file: Option<PathBuf>,
    /// Take the value from this variable of amika-ctl's own environment, as is.
    #[arg(long, value_name = "VAR")]
    pub from_env: Option<String>,
    /// Read the value from standard input up to its end; one trailing newline is dropped.
    #[arg(long)]
    pub value_stdin: bool,
}

#[cfg(test)]
mod tests {
    use clap::error::ErrorKind;
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn parse(line: &str) -> Result<SecretCommand, clap::Error> {
        let words = std::iter::once("amika-ctl").chain(line.split(' '));
        match Cli::try_parse_from(words)?.command {
            Command::Secret(command) => Ok(command),
            other => panic!("parsed as {other:?}"),
        }
    }

    fn set(line: &str) -> SetSecretArgs {
        match parse(line).unwrap() {
            SecretCommand::Set(args) => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn set_takes_several_targets_and_one_source() {
        let args = set(
            "secret set gh --env GH_TOKEN --env GITHUB_TOKEN --git-host github.com \
             --from-env GH_TOKEN",
        );
        assert_eq!(args.name, "gh");
        assert_eq!(args.env, ["GH_TOKEN", "GITHUB_TOKEN"]);
        assert_eq!(args.git_host.as_deref(), Some("github.com"));
        assert_eq!(args.source.from_env.as_deref(), Some("GH_TOKEN"));
        assert!(args.source.from_file.is_none() && !args.source.value_stdin);

        let args = set("secret set c --file .claude.json --from-file /tmp/c.json");
        assert_eq!(args.file.as_deref(), Some(".claude.json"));
        assert_eq!(args.source.from_file, Some(PathBuf::from("/tmp/c.json")));
        assert!(set("secret set k --env K --value-stdin").source.value_stdin);
    }

    #[test]
    fn set_needs_exactly_one_source() {
        let none = parse("secret set k --env K").unwrap_err();
        assert_eq!(none.kind(), ErrorKind::MissingRequiredArgument);
        let two = parse("secret set k --env K --value-stdin --from-env K").unwrap_err();
        assert_eq!(two.kind(), ErrorKind::ArgumentConflict);
        assert_eq!(two.exit_code(), 2);
    }

    #[test]
    fn set_needs_a_target() {
        let err = parse("secret set k --value-stdin").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
        assert!(err.to_string().contains("--env"), "{err}");
    }

    #[test]
    fn list_delete_and_extract() {
        assert!(matches!(parse("secret list").unwrap(), SecretCommand::List));
        let SecretCommand::Delete { names } = parse("secret delete a b").unwrap() else {
            panic!("not delete");
        };
        assert_eq!(names, ["a", "b"]);
        assert!(parse("secret delete").is_err());
        assert!(matches!(
            parse("secret extract -y").unwrap(),
            SecretCommand::Extract { yes: true }
        ));
        assert!(matches!(
            parse("secret extract").unwrap(),
            SecretCommand::Extract { yes: false }
        ));
    }
}
