//! The command line, declared with clap's derive API.
//!
//! Only the shape of the arguments lives here; what each command does is in `commands`.

use std::path::PathBuf;

use amika_api::NetworkMode;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::values::{parse_cpus, parse_env, parse_memory};

mod git;
mod repo;
mod secret;
pub mod snapshot;

pub use git::GitArgs;
pub use repo::RepoCommand;
pub use secret::{SecretCommand, SetSecretArgs, ValueSource};
pub use snapshot::{SnapshotCommand, SnapshotCreateArgs};

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
    /// Capture sandboxes as snapshots, and list, show and delete snapshots.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Repositories sandboxes were created from, their default snapshots and their snapshots.
    #[command(subcommand)]
    Repo(RepoCommand),
    /// Manage secrets: values the daemon keeps and injects into new sandboxes.
    #[command(subcommand)]
    Secret(SecretCommand),
    /// Print sandbox, image and snapshot events as they happen, until interrupted.
    ///
    /// Text output is one `TIME KIND NAME STATE [MESSAGE]` line per event; JSON output is one
    /// object per line.
    Events,
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
    /// Build a preset's image now (it is otherwise built on first use), or show the ready one.
    Build {
        /// The preset: minimal, debian or coder.
        #[arg(long)]
        preset: String,
        /// Delete a ready image of the preset and build it again.
        #[arg(long)]
        force: bool,
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
    /// Create a sandbox from an image, a preset or a snapshot; it starts running at once.
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
        /// Kill the sandbox's processes at once instead of giving them 10 s to exit, and
        /// delete it even while a snapshot of it is being taken.
        #[arg(long)]
        force: bool,
        /// Sandbox names or ids.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Start stopped sandboxes.
    Start {
        /// Sandbox names or ids.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Stop running sandboxes: SIGTERM to their processes, then SIGKILL after a grace period.
    Stop {
        /// Seconds to wait between SIGTERM and SIGKILL (the daemon's default is 10).
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<u64>,
        /// Sandbox names or ids.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Run a command inside a running sandbox and exit with its exit code.
    ///
    /// Standard input is passed to the command; its output and error output arrive on
    /// amika-ctl's stdout and stderr as they are written. They stay raw in every output
    /// format: `-o json` only changes how errors before the start are reported. Interrupting
    /// amika-ctl (Ctrl-C, SIGTERM, SIGHUP) forwards the signal to the command; a second Ctrl-C
    /// within a second gives up on the command and exits with 130.
    Exec(ExecArgs),
    /// Open an interactive login shell as `amika` inside a running sandbox.
    Connect(ConnectArgs),
    /// Like `connect`, and optionally run a command on a terminal instead of the shell.
    Ssh(SshArgs),
    /// Print a sandbox's setup log: the output of its setup script.
    ///
    /// The log is printed as it is in every output format. With --follow, the command waits
    /// for the setup script to finish, printing its output as it comes, then exits 0 if
    /// setup succeeded (or there was none) and 1 if the script or the clone failed, with the
    /// reason on stderr: scripts can wait for setup with it.
    Logs(LogsArgs),
}

/// `amika-ctl sandbox logs` options.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Sandbox name or id.
    pub name: String,
    /// The setup log; the only log there is, so this is also the default.
    #[arg(long)]
    pub setup: bool,
    /// Keep printing until the setup script has finished, and exit 1 if it failed.
    #[arg(short, long)]
    pub follow: bool,
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
    /// Boot from this snapshot (name or id) instead of an image or a preset.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["image", "preset"])]
    pub snapshot: Option<String>,
    /// Inject this stored secret; repeat for several.
    #[arg(long = "secret", value_name = "NAME")]
    pub secrets: Vec<String>,
    /// Network: `host` shares the host's network, `none` has loopback only.
    #[arg(long, value_enum, default_value_t = Network::Host)]
    pub network: Network,
    /// Memory limit with a binary unit, e.g. 512M or 2G.
    #[arg(long, value_name = "SIZE", value_parser = parse_memory)]
    pub memory: Option<u64>,
    /// CPU limit in cores, e.g. 2 or 0.5.
    #[arg(long, value_name = "N", value_parser = parse_cpus)]
    pub cpus: Option<f64>,
    /// Most processes and threads the sandbox may have at once.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub pids: Option<u64>,
    /// Once created (and shown), open an interactive shell in it as `connect` does, and exit
    /// with the shell's exit code.
    #[arg(long)]
    pub connect: bool,
    /// Boot from an image or a preset even if the repository has a default snapshot (set with
    /// `repo set-default-snapshot`, or `[sandbox] snapshot` in .amika/config.toml).
    #[arg(long, conflicts_with = "snapshot")]
    pub no_snapshot: bool,
    /// Run no setup script, not even the repository's `[lifecycle] setup_script`.
    #[arg(long, conflicts_with = "setup_script")]
    pub no_setup: bool,
    /// Run this script (read here, with your own permissions; UTF-8, at most 1 MiB) as the
    /// setup script, instead of the repository's `[lifecycle] setup_script`.
    #[arg(long, value_name = "PATH")]
    pub setup_script: Option<PathBuf>,
    /// The repository to check out.
    #[command(flatten)]
    pub git: GitArgs,
}

/// The network modes `sandbox create` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Network {
    /// Share the host's network.
    Host,
    /// Loopback only.
    None,
}

impl From<Network> for NetworkMode {
    fn from(network: Network) -> Self {
        match network {
            Network::Host => Self::Host,
            Network::None => Self::None,
        }
    }
}

/// The users a command can run as inside a sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum User {
    /// The unprivileged sandbox user (uid 1000).
    Amika,
    /// Root inside the sandbox.
    Root,
}

impl User {
    /// The name sent to the daemon.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Amika => "amika",
            Self::Root => "root",
        }
    }
}

/// `amika-ctl sandbox exec` options.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Sandbox name or id.
    pub name: String,
    /// Run as this user.
    #[arg(long, value_enum, default_value_t = User::Amika)]
    pub user: User,
    /// Working directory inside the sandbox; the user's home by default.
    #[arg(short = 'w', long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// Set an environment variable for the command; repeatable.
    #[arg(short, long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    pub env: Vec<String>,
    /// Run the command on a terminal, as an interactive session (output arrives merged).
    #[arg(short, long)]
    pub tty: bool,
    /// The command and its arguments; put them after `--` when they start with `-`.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,
}

/// `amika-ctl sandbox connect` options.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Sandbox name or id.
    pub name: String,
    /// Run this shell (as a login shell) instead of the user's shell from /etc/passwd.
    #[arg(long, value_name = "SHELL")]
    pub shell: Option<String>,
}

/// `amika-ctl sandbox ssh` options.
#[derive(Debug, Args)]
pub struct SshArgs {
    /// Where to connect and which shell to use.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// A command to run on the terminal instead of the shell.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND",
        conflicts_with = "shell"
    )]
    pub command: Vec<String>,
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
    fn image_build_takes_a_preset_and_an_optional_force() {
        let cli = parse(&["image", "build", "--preset", "coder", "--force"]).unwrap();
        let Command::Image(ImageCommand::Build { preset, force }) = cli.command else {
            panic!("not an image build: {cli:?}");
        };
        assert_eq!((preset.as_str(), force), ("coder", true));
        assert!(parse(&["image", "build"]).is_err(), "--preset is required");
    }

    #[test]
    fn image_and_preset_conflict() {
        let err = parse(&["sandbox", "create", "--image", "a", "--preset", "b"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ArgumentConflict);
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn snapshot_conflicts_with_image_and_preset() {
        for other in ["--image", "--preset"] {
            let args = ["sandbox", "create", "--snapshot", "base", other, "x"];
            let err = parse(&args).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ArgumentConflict, "{other}");
        }
        let line = "create --snapshot base --secret claude --secret gh-token";
        let words: Vec<&str> = line.split(' ').collect();
        let SandboxCommand::Create(args) = sandbox(&words) else {
            panic!("not create");
        };
        assert_eq!(args.snapshot.as_deref(), Some("base"));
        assert_eq!(args.secrets, ["claude", "gh-token"]);
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

    fn sandbox(args: &[&str]) -> SandboxCommand {
        let mut full = vec!["sandbox"];
        full.extend_from_slice(args);
        match parse(&full).unwrap().command {
            Command::Sandbox(command) => command,
            other => panic!("parsed as {other:?}"),
        }
    }

    fn exec(args: &[&str]) -> ExecArgs {
        let mut full = vec!["exec"];
        full.extend_from_slice(args);
        match sandbox(&full) {
            SandboxCommand::Exec(args) => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn exec_takes_the_command_after_double_dash() {
        let args = exec(&[
            "box", "-t", "--user", "root", "-e", "A=1", "--", "ls", "-la",
        ]);
        assert_eq!(args.name, "box");
        assert!(args.tty);
        assert_eq!(args.user, User::Root);
        assert_eq!(args.env, ["A=1"]);
        assert_eq!(args.command, ["ls", "-la"]);
    }

    #[test]
    fn exec_options_after_the_command_belong_to_the_command() {
        let args = exec(&["box", "ls", "-t", "--", "x"]);
        assert!(!args.tty);
        assert_eq!(args.command, ["ls", "-t", "--", "x"]);
        let args = exec(&["-w", "/tmp", "box", "--", "--version"]);
        assert_eq!(args.workdir.as_deref(), Some("/tmp"));
        assert_eq!(args.command, ["--version"]);
        assert_eq!(args.user, User::Amika);
    }

    #[test]
    fn exec_needs_a_command_and_well_formed_env() {
        let err = parse(&["sandbox", "exec", "box"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
        let err = parse(&["sandbox", "exec", "box", "--env", "NOEQUALS", "--", "true"]);
        assert_eq!(err.unwrap_err().exit_code(), 2);
        let err = parse(&["sandbox", "exec", "box", "--user", "bob", "--", "true"]);
        assert_eq!(err.unwrap_err().exit_code(), 2);
    }

    #[test]
    fn connect_and_ssh_take_a_shell_or_a_command() {
        let SandboxCommand::Connect(args) = sandbox(&["connect", "box", "--shell", "/bin/zsh"])
        else {
            panic!("not connect");
        };
        assert_eq!(args.shell.as_deref(), Some("/bin/zsh"));
        let SandboxCommand::Ssh(args) = sandbox(&["ssh", "box"]) else {
            panic!("not ssh");
        };
        assert!(args.command.is_empty() && args.connect.shell.is_none());
        let SandboxCommand::Ssh(args) = sandbox(&["ssh", "box", "--", "top", "-b"]) else {
            panic!("not ssh");
        };
        assert_eq!(args.connect.name, "box");
        assert_eq!(args.command, ["top", "-b"]);
        let err = parse(&["sandbox", "ssh", "box", "--shell", "sh", "--", "top"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ArgumentConflict);
        assert!(parse(&["sandbox", "connect", "box", "--", "top"]).is_err());
    }

    #[test]
    fn create_takes_network_limits_and_connect() {
        let line = "create --network none --memory 1.5G --cpus 0.5 --pids 64 --connect";
        let words: Vec<&str> = line.split(' ').collect();
        let SandboxCommand::Create(args) = sandbox(&words) else {
            panic!("not create");
        };
        assert_eq!(args.network, Network::None);
        assert_eq!(args.memory, Some(3 << 29));
        assert_eq!(args.cpus, Some(0.5));
        assert_eq!(args.pids, Some(64));
        assert!(args.connect);
        let SandboxCommand::Create(args) = sandbox(&["create"]) else {
            panic!("not create");
        };
        assert_eq!(args.network, Network::Host);
        assert!(args.memory.is_none() && args.cpus.is_none() && args.pids.is_none());
    }

    #[test]
    fn bad_limits_are_usage_errors() {
        for bad in [
            ["--memory", "lots"],
            ["--memory", "0"],
            ["--cpus", "0"],
            ["--cpus", "-2"],
            ["--pids", "0"],
            ["--network", "bridge"],
        ] {
            let err = parse(&["sandbox", "create", bad[0], bad[1]]).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn start_and_stop_take_several_names() {
        let SandboxCommand::Start { names } = sandbox(&["start", "a", "b"]) else {
            panic!("not start");
        };
        assert_eq!(names, ["a", "b"]);
        let SandboxCommand::Stop { timeout, names } = sandbox(&["stop", "--timeout", "3", "a"])
        else {
            panic!("not stop");
        };
        assert_eq!((timeout, names), (Some(3), vec!["a".to_string()]));
        assert!(parse(&["sandbox", "stop"]).is_err());
    }

    fn create(args: &[&str]) -> Result<CreateArgs, clap::Error> {
        let mut full = vec!["sandbox", "create"];
        full.extend_from_slice(args);
        match parse(&full)?.command {
            Command::Sandbox(SandboxCommand::Create(args)) => Ok(args),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn git_takes_a_path_a_url_or_nothing() {
        assert_eq!(create(&[]).unwrap().git.git, None);
        assert_eq!(create(&["--git"]).unwrap().git.git, Some(None));
        let args = create(&["--git", "--name", "box"]).unwrap();
        assert_eq!(args.git.git, Some(None));
        assert_eq!(args.name.as_deref(), Some("box"));
        let url = "git@github.com:org/app.git";
        let args = create(&["--git", url, "--branch", "dev", "--new-branch", "fix"]).unwrap();
        assert_eq!(args.git.git, Some(Some(url.to_string())));
        assert_eq!(args.git.branch.as_deref(), Some("dev"));
        assert_eq!(args.git.new_branch.as_deref(), Some("fix"));
        let args = create(&["--git=../app", "--no-clean"]).unwrap();
        assert_eq!(args.git.git, Some(Some("../app".to_string())));
        assert!(args.git.no_clean);
    }

    #[test]
    fn no_git_refuses_the_flags_that_need_a_repository() {
        assert!(create(&["--no-git"]).unwrap().git.no_git);
        for other in [
            &["--git"][..],
            &["--git", "."],
            &["--no-clean"],
            &["--branch", "dev"],
            &["--new-branch", "fix"],
        ] {
            let mut args = vec!["--no-git"];
            args.extend_from_slice(other);
            let err = create(&args).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ArgumentConflict, "{other:?}");
            assert_eq!(err.exit_code(), 2);
        }
    }

    #[test]
    fn opt_outs_conflict_with_what_they_opt_out_of() {
        let args = create(&["--no-snapshot", "--no-setup", "--preset", "coder"]).unwrap();
        assert!(args.no_snapshot && args.no_setup);
        let args = create(&["--setup-script", "ci/setup.sh"]).unwrap();
        assert_eq!(args.setup_script, Some(PathBuf::from("ci/setup.sh")));
        let err = create(&["--no-snapshot", "--snapshot", "base"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ArgumentConflict);
        let err = create(&["--no-setup", "--setup-script", "s.sh"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ArgumentConflict);
    }

    #[test]
    fn logs_defaults_to_the_setup_log_and_can_follow() {
        let SandboxCommand::Logs(args) = sandbox(&["logs", "box"]) else {
            panic!("not logs");
        };
        assert_eq!(args.name, "box");
        assert!(!args.follow && !args.setup);
        let SandboxCommand::Logs(args) = sandbox(&["logs", "box", "--setup", "-f"]) else {
            panic!("not logs");
        };
        assert!(args.follow && args.setup);
        assert!(parse(&["sandbox", "logs"]).is_err());
    }

    #[test]
    fn events_is_a_top_level_command() {
        let cli = parse(&["-o", "json", "events"]).unwrap();
        assert!(matches!(cli.command, Command::Events));
    }

    #[test]
    fn unknown_output_format_is_a_usage_error() {
        let err = parse(&["-o", "yaml", "status"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
