//! The command line, declared with clap's derive API.
//!
//! Only the shape of the arguments lives here; what each command does is in `commands`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Where the daemon listens unless `--socket` or `AMIKA_SOCKET` says otherwise.
pub const DEFAULT_SOCKET: &str = "/run/amika/amikad.sock";

/// `amika-ctl`: drive the amikad daemon through its API socket.
#[derive(Debug, Parser)]
#[command(name = "amika-ctl", version, about, propagate_version = true)]
pub struct Cli {
    /// How results are printed.
    #[arg(
        short = 'o',
        long = "output",
        value_enum,
        default_value_t = OutputFormat::Text,
        global = true
    )]
    pub output: OutputFormat,

    /// The daemon's API socket.
    #[arg(long, env = "AMIKA_SOCKET", default_value = DEFAULT_SOCKET, global = true)]
    pub socket: PathBuf,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The output formats every command supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Tables and `key: value` blocks for people.
    Text,
    /// Compact JSON on one line, for scripts.
    Json,
    /// Indented JSON.
    JsonPretty,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the daemon's version, storage backend and pool usage.
    Status,
    /// Manage images: read-only trees that sandboxes clone.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Manage sandboxes.
    #[command(subcommand)]
    Sandbox(SandboxCommand),
}

/// `amika-ctl image ...`
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Import a root filesystem from a tar archive (.tar, .tar.gz, .tar.zst) or a directory.
    Import {
        /// Name for the new image.
        name: String,
        /// The archive or directory; read with your own permissions.
        path: PathBuf,
    },
    /// List images.
    List,
    /// Show one image.
    Show {
        /// Image name or id.
        name: String,
    },
    /// Delete images.
    Delete {
        /// Image names or ids.
        #[arg(required = true)]
        names: Vec<String>,
    },
}

/// `amika-ctl sandbox ...`
#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Create a sandbox from an image or a preset.
    Create(CreateArgs),
    /// List sandboxes.
    List {
        /// Add the id, the update time and the error.
        #[arg(short, long)]
        long: bool,
    },
    /// Show one sandbox.
    Show {
        /// Sandbox name or id.
        name: String,
    },
    /// Delete sandboxes.
    Delete {
        /// Delete even if the sandbox is running.
        #[arg(long)]
        force: bool,
        /// Sandbox names or ids.
        #[arg(required = true)]
        names: Vec<String>,
    },
}

/// `amika-ctl sandbox create` options.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Name for the sandbox; the daemon picks one when omitted.
    #[arg(long)]
    pub name: Option<String>,
    /// Clone this image.
    #[arg(long, conflicts_with = "preset")]
    pub image: Option<String>,
    /// Clone this preset's image, building it first if it does not exist yet.
    #[arg(long)]
    pub preset: Option<String>,
}

#[cfg(test)]
mod tests {
    use clap::error::ErrorKind;
    use clap::{CommandFactory, Parser};

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("amika-ctl").chain(args.iter().copied()))
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn output_flag_works_before_and_after_the_subcommand() {
        let before = parse(&["-o", "json", "status"]).unwrap();
        let after = parse(&["sandbox", "list", "--output", "json-pretty"]).unwrap();
        assert_eq!(before.output, OutputFormat::Json);
        assert_eq!(after.output, OutputFormat::JsonPretty);
        assert_eq!(parse(&["status"]).unwrap().output, OutputFormat::Text);
    }

    #[test]
    fn socket_flag_overrides_the_default() {
        let cli = parse(&["status", "--socket", "/tmp/a.sock"]).unwrap();
        assert_eq!(cli.socket, PathBuf::from("/tmp/a.sock"));
    }

    #[test]
    fn image_and_preset_conflict() {
        let err = parse(&["sandbox", "create", "--image", "a", "--preset", "b"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ArgumentConflict);
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn create_accepts_either_source_or_none() {
        let cli = parse(&["sandbox", "create", "--name", "box", "--preset", "minimal"]).unwrap();
        let Command::Sandbox(SandboxCommand::Create(args)) = cli.command else {
            panic!("parsed as the wrong command");
        };
        assert_eq!(args.name.as_deref(), Some("box"));
        assert_eq!(args.preset.as_deref(), Some("minimal"));
        assert!(args.image.is_none());
        assert!(parse(&["sandbox", "create"]).is_ok());
    }

    #[test]
    fn delete_needs_at_least_one_name() {
        let err = parse(&["image", "delete"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
        let cli = parse(&["sandbox", "delete", "--force", "a", "b"]).unwrap();
        let Command::Sandbox(SandboxCommand::Delete { force, names }) = cli.command else {
            panic!("parsed as the wrong command");
        };
        assert!(force);
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn list_long_has_a_short_form() {
        let cli = parse(&["sandbox", "list", "-l"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Sandbox(SandboxCommand::List { long: true })
        ));
    }

    #[test]
    fn unknown_output_format_is_a_usage_error() {
        let err = parse(&["-o", "yaml", "status"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
