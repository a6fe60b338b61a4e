//! The arguments of `amika-ctl snapshot ...`.
//!
//! Kept apart from the rest of the command line because `snapshot create` has rules of its
//! own: which flags it needs depends on whether it may prompt, and that is only known at run
//! time, so `--name` and `--mode` are optional here and checked in `commands::snapshot`.

use amika_api::SnapshotMode;
use clap::{Args, Subcommand, ValueEnum};

/// `amika-ctl snapshot ...`
#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Capture a sandbox as a snapshot that new sandboxes boot from.
    ///
    /// On a terminal, a missing --mode or --name is asked for, the secrets a scrub would
    /// remove are listed (names and paths, never values), and the capture is confirmed before
    /// anything happens. With --no-interactive, -o json, or a stdin that is not a terminal,
    /// nothing is asked, so --mode and --name must be given.
    ///
    /// The command then follows the capture with a progress line per state on stderr, and
    /// exits 0 once the snapshot is active or 1 if it failed. Interrupting the wait does not
    /// stop the capture; `snapshot show` tells how it ended.
    Create(SnapshotCreateArgs),
    /// Show what a scrub of a sandbox would remove: file paths, variable names and git hosts,
    /// never values.
    ScrubPreview {
        /// Sandbox name or id.
        #[arg(long)]
        sandbox: String,
    },
    /// List snapshots, optionally only those of one sandbox or repository.
    List {
        /// Add the id, the base, the description and the error.
        #[arg(short, long)]
        long: bool,
        /// Only snapshots captured from this sandbox (name or id).
        #[arg(long)]
        sandbox: Option<String>,
        /// Only snapshots of this repository.
        #[arg(long)]
        repo: Option<String>,
    },
    /// Show one snapshot.
    Show {
        /// Snapshot name or id.
        name: String,
    },
    /// Delete snapshots; a snapshot that does not exist counts as deleted.
    Delete {
        /// Delete even where the daemon would otherwise refuse (sent as `force=true`).
        #[arg(long)]
        force: bool,
        /// Snapshot names or ids.
        #[arg(required = true)]
        names: Vec<String>,
    },
}

/// `amika-ctl snapshot create` options.
#[derive(Debug, Args)]
pub struct SnapshotCreateArgs {
    /// The sandbox to capture (name or id).
    #[arg(long)]
    pub sandbox: String,
    /// Name for the snapshot; asked for on a terminal when omitted.
    #[arg(long)]
    pub name: Option<String>,
    /// What happens to injected secrets and to the source; asked for on a terminal when
    /// omitted.
    #[arg(long, value_enum)]
    pub mode: Option<CaptureMode>,
    /// Free text stored with the snapshot.
    #[arg(long)]
    pub description: Option<String>,
    /// Never prompt; --mode and --name become required.
    #[arg(long)]
    pub no_interactive: bool,
    /// Print the snapshot as soon as the capture is accepted, without waiting for it to end.
    #[arg(long)]
    pub no_wait: bool,
}

/// The capture modes on the command line, spelled as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CaptureMode {
    /// Remove injected secrets, capture, then delete the source sandbox (recommended).
    #[value(name = "scrub_and_delete", alias = "scrub-and-delete")]
    ScrubAndDelete,
    /// Remove injected secrets from the capture; the source keeps running.
    Scrub,
    /// Capture as-is, secrets included; the source keeps running.
    Full,
}

impl From<CaptureMode> for SnapshotMode {
    fn from(mode: CaptureMode) -> Self {
        match mode {
            CaptureMode::ScrubAndDelete => Self::ScrubAndDelete,
            CaptureMode::Scrub => Self::Scrub,
            CaptureMode::Full => Self::Full,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::error::ErrorKind;
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn snapshot(args: &[&str]) -> Result<SnapshotCommand, clap::Error> {
        let words = ["amika-ctl", "snapshot"]
            .into_iter()
            .chain(args.iter().copied());
        match Cli::try_parse_from(words)?.command {
            Command::Snapshot(command) => Ok(command),
            other => panic!("parsed as {other:?}"),
        }
    }

    fn create(args: &[&str]) -> SnapshotCreateArgs {
        let mut words = vec!["create"];
        words.extend_from_slice(args);
        match snapshot(&words).unwrap() {
            SnapshotCommand::Create(args) => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn create_needs_only_the_sandbox() {
        let args = create(&["--sandbox", "base-box"]);
        assert_eq!(args.sandbox, "base-box");
        assert!(args.name.is_none() && args.mode.is_none() && args.description.is_none());
        assert!(!args.no_interactive && !args.no_wait);
        let err = snapshot(&["create", "--name", "n"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
    }

    #[test]
    fn modes_are_spelled_as_on_the_wire() {
        let line = "--sandbox s --name n --mode scrub_and_delete --no-interactive --no-wait";
        let words: Vec<&str> = line.split(' ').collect();
        let args = create(&words);
        assert_eq!(args.mode, Some(CaptureMode::ScrubAndDelete));
        assert!(args.no_interactive && args.no_wait);
        let args = create(&["--sandbox", "s", "--mode", "scrub-and-delete"]);
        assert_eq!(args.mode, Some(CaptureMode::ScrubAndDelete));
        assert_eq!(
            create(&["--sandbox", "s", "--mode", "full"]).mode,
            Some(CaptureMode::Full)
        );
        let err = snapshot(&["create", "--sandbox", "s", "--mode", "all"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert_eq!(SnapshotMode::from(CaptureMode::Scrub), SnapshotMode::Scrub);
    }

    #[test]
    fn list_filters_and_delete_names() {
        let command = snapshot(&["list", "-l", "--sandbox", "a", "--repo", "r"]).unwrap();
        let SnapshotCommand::List {
            long,
            sandbox,
            repo,
        } = command
        else {
            panic!("not list");
        };
        assert!(long);
        assert_eq!(
            (sandbox.as_deref(), repo.as_deref()),
            (Some("a"), Some("r"))
        );
        let SnapshotCommand::Delete { force, names } =
            snapshot(&["delete", "--force", "a", "b"]).unwrap()
        else {
            panic!("not delete");
        };
        assert!(force);
        assert_eq!(names, ["a", "b"]);
        let err = snapshot(&["delete"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
    }

    #[test]
    fn scrub_preview_takes_the_sandbox_as_a_flag() {
        let command = snapshot(&["scrub-preview", "--sandbox", "box"]).unwrap();
        assert!(matches!(command, SnapshotCommand::ScrubPreview { sandbox } if sandbox == "box"));
        assert!(snapshot(&["scrub-preview"]).is_err());
    }
}
