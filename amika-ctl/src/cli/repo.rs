//! The arguments of `amika-ctl repo ...`.

use clap::Subcommand;

/// `amika-ctl repo ...`
///
/// REPO is a repository's id, its URL, or its name; amikad resolves it.
#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    /// List the repositories sandboxes were created from.
    List,
    /// Show one repository, with its default snapshot and where that default comes from.
    Show {
        /// Repository id, URL or name.
        repo: String,
    },
    /// Make new sandboxes of the repository boot from this snapshot unless --snapshot,
    /// --no-snapshot, --image or --preset says otherwise; this wins over `[sandbox] snapshot`
    /// in .amika/config.toml.
    SetDefaultSnapshot {
        /// Repository id, URL or name.
        repo: String,
        /// Snapshot name or id.
        snapshot: String,
    },
    /// Remove the default set with set-default-snapshot; `[sandbox] snapshot` in the
    /// repository's configuration, if any, applies again.
    ClearDefaultSnapshot {
        /// Repository id, URL or name.
        repo: String,
    },
    /// List the snapshots captured from sandboxes of the repository.
    Snapshots {
        /// Add the id, the base, the description and the error.
        #[arg(short, long)]
        long: bool,
        /// Repository id, URL or name.
        repo: String,
    },
}

#[cfg(test)]
mod tests {
    use clap::error::ErrorKind;
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn repo(args: &[&str]) -> Result<RepoCommand, clap::Error> {
        let words = ["amika-ctl", "repo"]
            .into_iter()
            .chain(args.iter().copied());
        match Cli::try_parse_from(words)?.command {
            Command::Repo(command) => Ok(command),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn a_url_is_taken_as_the_repository() {
        let url = "https://github.com/org/app.git";
        let command = repo(&["set-default-snapshot", url, "app-base"]).unwrap();
        let RepoCommand::SetDefaultSnapshot { repo, snapshot } = command else {
            panic!("not set-default-snapshot");
        };
        assert_eq!((repo.as_str(), snapshot.as_str()), (url, "app-base"));
    }

    #[test]
    fn each_command_needs_its_repository() {
        for command in ["show", "clear-default-snapshot", "snapshots"] {
            let err = repo(&[command]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument, "{command}");
        }
        let err = repo(&["set-default-snapshot", "app"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(matches!(repo(&["list"]).unwrap(), RepoCommand::List));
        let RepoCommand::Snapshots { long, repo } = repo(&["snapshots", "-l", "app"]).unwrap()
        else {
            panic!("not snapshots");
        };
        assert!(long);
        assert_eq!(repo, "app");
    }
}
