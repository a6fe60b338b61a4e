//! `amika-ctl sandbox create`: settle the request from the flags, the current directory and
//! the files they name; send it, as JSON or, with a local repository, as an archive that
//! carries the repository; then show the sandbox and what the daemon noticed on the way.

use std::path::{Path, PathBuf};
use std::time::Instant;

use amika_api::{paths, CreateSandbox, Limits, Sandbox, SandboxState, SetupState};

use super::repo_choice::{self, Choice};
use super::{render, setup_script, start};
use crate::cli::{ConnectArgs, CreateArgs, OutputFormat};
use crate::client::Client;
use crate::commands::{building, check_name, exec};
use crate::error::CtlError;
use crate::output;
use crate::progress::Progress;
use crate::repo_upload;

/// A local repository that goes with the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Local {
    /// Its top directory.
    pub top: PathBuf,
    /// Send the working tree as it is, too.
    pub no_clean: bool,
}

/// Creates the sandbox, shows it, and with `--connect` opens a session in it. A preset image
/// built on the way shows its steps on stderr; without `--preset` the daemon's default preset
/// may be built, so any build is shown then.
pub async fn run(client: &Client, format: OutputFormat, args: CreateArgs) -> Result<u8, CtlError> {
    let started = Instant::now();
    let connect = args.connect;
    // A current directory that is gone only matters if a repository was to be found in it.
    let cwd = std::env::current_dir().ok();
    let (request, local) = request(args, cwd.as_deref())?;
    // Packing comes before any call to the daemon, so git's failures come first.
    let packed = match local {
        Some(local) => Some((repo_upload::pack(&local.top, local.no_clean)?, local.top)),
        None => None,
    };

    let mut display = building::Display::new(format, request.preset.as_deref(), started);
    let feed = match (&request.image, &request.snapshot) {
        (None, None) => building::subscribe(client).await,
        _ => None,
    };
    let archive = match packed {
        Some((packed, top)) => {
            let progress = Progress::keeping_line(format!("sending {}", top.display()));
            Some(repo_upload::start(&request, packed, progress)?)
        }
        None => None,
    };
    let answer = async {
        match archive {
            Some(body) => client.post_archive(paths::SANDBOXES, body).await,
            None => client.post_json(paths::SANDBOXES, &request).await,
        }
    };
    let mut sandbox: Sandbox = building::during(feed, &mut display, answer).await?;
    output::show(format, &sandbox, render)?;
    for line in notices(format, &sandbox) {
        eprintln!("{line}");
    }
    // The sandbox exists and runs, but without the repository it was made for: a script
    // must not carry on as if it had it.
    if sandbox.setup == SetupState::GitFailed {
        let reason = sandbox.setup_error.as_deref().unwrap_or("no reason given");
        eprintln!(
            "amika-ctl: sandbox {} was created without its repository: {reason}; fix the \
             source and create it again, or delete it with `amika-ctl sandbox delete {}`",
            sandbox.name, sandbox.name
        );
        return Ok(1);
    }

    if !connect {
        return Ok(0);
    }
    if sandbox.state == SandboxState::Stopped {
        sandbox = start(client, &sandbox.id).await?;
    }
    let args = ConnectArgs {
        name: sandbox.name,
        shell: None,
    };
    exec::connect(client, args, Vec::new()).await
}

/// Builds the request, checking every name it carries and reading the files it names, and
/// says which local repository, if any, must go with it. clap already refused more than one
/// of `--image`, `--preset` and `--snapshot`, and checked the limits. Secret names travel in
/// the body rather than a path, so the daemon alone judges them.
pub fn request(
    args: CreateArgs,
    cwd: Option<&Path>,
) -> Result<(CreateSandbox, Option<Local>), CtlError> {
    let given = [&args.name, &args.image, &args.preset, &args.snapshot];
    given
        .into_iter()
        .flatten()
        .try_for_each(|name| check_name(name))?;
    let setup_script = match &args.setup_script {
        Some(path) => Some(setup_script::read(path)?),
        None => None,
    };
    let (git, local) = match repo_choice::choose(&args.git, cwd)? {
        Choice::None => (None, None),
        Choice::Url(git) => (Some(git), None),
        Choice::Local {
            top,
            request,
            no_clean,
        } => (Some(request), Some(Local { top, no_clean })),
    };
    let request = CreateSandbox {
        name: args.name,
        image: args.image,
        preset: args.preset,
        snapshot: args.snapshot,
        secrets: args.secrets,
        network: args.network.into(),
        limits: Limits {
            memory_bytes: args.memory,
            cpus: args.cpus,
            pids: args.pids,
        },
        git,
        no_snapshot: args.no_snapshot,
        no_setup: args.no_setup,
        setup_script,
    };
    Ok((request, local))
}

/// The lines for stderr after a create: each warning, and in text output, how to follow a
/// setup script that is still running.
fn notices(format: OutputFormat, sandbox: &Sandbox) -> Vec<String> {
    let mut lines: Vec<String> = sandbox
        .warnings
        .iter()
        .map(|warning| format!("warning: {warning}"))
        .collect();
    if format == OutputFormat::Text && sandbox.setup == SetupState::SetupRunning {
        lines.push(format!(
            "setup is running; follow it with: amika-ctl sandbox logs {} --follow",
            sandbox.name
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use std::fs;

    use amika_api::NetworkMode;

    use super::*;
    use crate::cli::{GitArgs, Network};
    use crate::commands::sandbox::tests::sandbox;
    use crate::git::testing::repo;

    fn create_args() -> CreateArgs {
        CreateArgs {
            name: None,
            image: None,
            preset: None,
            snapshot: None,
            secrets: Vec::new(),
            network: Network::Host,
            memory: None,
            cpus: None,
            pids: None,
            connect: false,
            no_snapshot: false,
            no_setup: false,
            setup_script: None,
            git: GitArgs::default(),
        }
    }

    /// The request for `args` made outside any repository.
    fn create_request(args: CreateArgs) -> Result<CreateSandbox, CtlError> {
        let (request, local) = request(args, None)?;
        assert_eq!(local, None);
        Ok(request)
    }

    #[test]
    fn create_checks_every_name_it_sends() {
        let args = CreateArgs {
            name: Some("Bad_Name".into()),
            ..create_args()
        };
        assert_eq!(create_request(args).unwrap_err().exit_code(), 2);
        let args = CreateArgs {
            preset: Some("minimal".into()),
            ..create_args()
        };
        let request = create_request(args).unwrap();
        assert_eq!(request.preset.as_deref(), Some("minimal"));
        assert!(request.name.is_none() && request.image.is_none());
    }

    #[test]
    fn create_sends_the_snapshot_and_the_secrets() {
        let args = CreateArgs {
            snapshot: Some("base".into()),
            secrets: vec!["claude".into(), "gh-token".into()],
            ..create_args()
        };
        let request = create_request(args).unwrap();
        assert_eq!(request.snapshot.as_deref(), Some("base"));
        assert_eq!(request.secrets, ["claude", "gh-token"]);
        let args = CreateArgs {
            snapshot: Some("Base".into()),
            ..create_args()
        };
        assert_eq!(create_request(args).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn create_sends_network_and_limits() {
        let args = CreateArgs {
            network: Network::None,
            memory: Some(512 << 20),
            cpus: Some(1.5),
            pids: Some(200),
            ..create_args()
        };
        let request = create_request(args).unwrap();
        assert_eq!(request.network, NetworkMode::None);
        let expected = Limits {
            memory_bytes: Some(512 << 20),
            cpus: Some(1.5),
            pids: Some(200),
        };
        assert_eq!(request.limits, expected);
    }

    #[test]
    fn create_sends_the_opt_outs_and_the_script_text() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("setup.sh");
        fs::write(&script, "#!/bin/sh\nmake deps\n").unwrap();
        let args = CreateArgs {
            no_snapshot: true,
            setup_script: Some(script),
            ..create_args()
        };
        let request = create_request(args).unwrap();
        assert!(request.no_snapshot && !request.no_setup);
        assert_eq!(
            request.setup_script.as_deref(),
            Some("#!/bin/sh\nmake deps\n")
        );
        let args = CreateArgs {
            no_setup: true,
            ..create_args()
        };
        let request = create_request(args).unwrap();
        assert!(request.no_setup && request.setup_script.is_none());
    }

    #[test]
    fn a_local_repository_goes_with_the_request_and_its_path_does_not() {
        let (_dir, top) = repo();
        let (request, local) = request(create_args(), Some(&top)).unwrap();
        let top = top.canonicalize().unwrap();
        assert_eq!(
            local,
            Some(Local {
                top: top.clone(),
                no_clean: false
            })
        );
        let git = request.git.as_ref().unwrap();
        assert_eq!(
            (git.url.as_deref(), git.name.as_deref()),
            (None, Some("app"))
        );
        let json = serde_json::to_string(&request).unwrap();
        assert!(!json.contains(top.to_str().unwrap()), "{json}");
    }

    #[test]
    fn no_git_sends_no_repository_from_inside_one() {
        let (_dir, top) = repo();
        let args = CreateArgs {
            git: GitArgs {
                no_git: true,
                ..GitArgs::default()
            },
            ..create_args()
        };
        let (request, local) = request(args, Some(&top)).unwrap();
        assert_eq!((request.git, local), (None, None));
    }

    #[test]
    fn warnings_and_the_setup_hint_go_to_stderr() {
        let mut created = sandbox("red-oslo", None);
        assert!(notices(OutputFormat::Text, &created).is_empty());
        created.warnings = vec!["unknown key [sandbox] snapshots in .amika/config.toml".into()];
        created.setup = SetupState::SetupRunning;
        assert_eq!(
            notices(OutputFormat::Text, &created),
            [
                "warning: unknown key [sandbox] snapshots in .amika/config.toml",
                "setup is running; follow it with: amika-ctl sandbox logs red-oslo --follow",
            ]
        );
        assert_eq!(notices(OutputFormat::Json, &created).len(), 1);
    }
}
