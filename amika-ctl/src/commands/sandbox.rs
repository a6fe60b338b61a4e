//! `amika-ctl sandbox ...`: create, list, show, start, stop and delete sandboxes, and the
//! session commands, which live in [`super::exec`].

use std::time::Instant;

use amika_api::{paths, Base, BaseKind, CreateSandbox, Limits, Sandbox, SandboxState, StopSandbox};

use super::building;
use super::each::{delete_each, for_each, Action};
use super::exec;
use super::{check_name, check_names, success};
use crate::cli::{ConnectArgs, CreateArgs, OutputFormat, SandboxCommand};
use crate::client::Client;
use crate::error::CtlError;
use crate::output::{self, human_size, short_time, Table};

/// Runs one `sandbox` subcommand and returns the exit code.
pub async fn run(
    client: &Client,
    format: OutputFormat,
    command: SandboxCommand,
) -> Result<u8, CtlError> {
    match command {
        SandboxCommand::Create(args) => create(client, format, args).await,
        SandboxCommand::List { long } => {
            let sandboxes: Vec<Sandbox> = client.get_json(paths::SANDBOXES).await?;
            output::show(format, &sandboxes, |list| table(list, long).render()).map(success)
        }
        SandboxCommand::Show { name } => {
            check_name(&name)?;
            let sandbox: Sandbox = client.get_json(&paths::sandbox(&name)).await?;
            output::show(format, &sandbox, render).map(success)
        }
        SandboxCommand::Delete { force, names } => {
            check_names(&names)?;
            let path_of = |name: &str| format!("{}?force={force}", paths::sandbox(name));
            delete_each(client, format, &names, path_of)
                .await
                .map(success)
        }
        SandboxCommand::Start { names } => {
            check_names(&names)?;
            let start = |name: String| async move { start(client, &name).await };
            for_each(format, Action::Start, &names, start)
                .await
                .map(success)
        }
        SandboxCommand::Stop { timeout, names } => {
            check_names(&names)?;
            let request = StopSandbox {
                timeout_secs: timeout,
            };
            let request = &request;
            let stop = |name: String| async move {
                let stopped: Sandbox = client
                    .post_json(&paths::sandbox_stop(&name), request)
                    .await?;
                Ok(stopped)
            };
            for_each(format, Action::Stop, &names, stop)
                .await
                .map(success)
        }
        SandboxCommand::Exec(args) => exec::exec(client, args).await,
        SandboxCommand::Connect(args) => exec::connect(client, args, Vec::new()).await,
        SandboxCommand::Ssh(args) => exec::connect(client, args.connect, args.command).await,
    }
}

async fn start(client: &Client, reference: &str) -> Result<Sandbox, CtlError> {
    client.post_empty(&paths::sandbox_start(reference)).await
}

/// Creates the sandbox, shows it, and with `--connect` opens a session in it. A preset image
/// built on the way shows its steps on stderr; without `--preset` the daemon's default preset
/// may be built, so any build is shown then.
async fn create(client: &Client, format: OutputFormat, args: CreateArgs) -> Result<u8, CtlError> {
    let started = Instant::now();
    let connect = args.connect;
    let request = create_request(args)?;
    let mut display = building::Display::new(format, request.preset.as_deref(), started);
    let feed = match (&request.image, &request.snapshot) {
        (None, None) => building::subscribe(client).await,
        _ => None,
    };
    let answer = client.post_json(paths::SANDBOXES, &request);
    let mut sandbox: Sandbox = building::during(feed, &mut display, answer).await?;
    output::show(format, &sandbox, render)?;
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

/// Builds the request, checking every name it carries; clap already refused more than one of
/// `--image`, `--preset` and `--snapshot`, and checked the limits. Secret names travel in the
/// body rather than a path, so the daemon alone judges them.
fn create_request(args: CreateArgs) -> Result<CreateSandbox, CtlError> {
    let given = [&args.name, &args.image, &args.preset, &args.snapshot];
    given
        .into_iter()
        .flatten()
        .try_for_each(|name| check_name(name))?;
    Ok(CreateSandbox {
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
        ..CreateSandbox::default()
    })
}

/// `image:NAME` or `snapshot:NAME`, as lists and blocks show a base.
pub(super) fn base(base: &Base) -> String {
    let kind = match base.kind {
        BaseKind::Image => "image",
        BaseKind::Snapshot => "snapshot",
    };
    format!("{kind}:{}", base.name)
}

fn table(sandboxes: &[Sandbox], long: bool) -> Table {
    let mut table = if long {
        let headers = [
            "NAME", "ID", "STATE", "SETUP", "BASE", "CREATED", "UPDATED", "ERROR",
        ];
        Table::new(headers.to_vec())
    } else {
        Table::new(vec!["NAME", "STATE", "SETUP", "BASE", "CREATED"])
    };
    for sandbox in sandboxes {
        let mut row = vec![sandbox.name.clone()];
        if long {
            row.push(sandbox.id.clone());
        }
        row.extend([
            sandbox.state.as_str().to_string(),
            sandbox.setup.as_str().to_string(),
            base(&sandbox.base),
            short_time(&sandbox.created_at),
        ]);
        if long {
            row.push(short_time(&sandbox.updated_at));
            row.push(sandbox.error.clone().unwrap_or_else(|| "-".to_string()));
        }
        table.push(row);
    }
    table
}

fn render(sandbox: &Sandbox) -> String {
    let mut pairs = vec![
        ("name", sandbox.name.clone()),
        ("id", sandbox.id.clone()),
        ("state", sandbox.state.as_str().to_string()),
        ("setup", sandbox.setup.as_str().to_string()),
        (
            "base",
            format!("{} ({})", base(&sandbox.base), sandbox.base.id),
        ),
        ("network", sandbox.network.as_str().to_string()),
        ("limits", limits(&sandbox.limits)),
    ];
    if let Some(pid) = sandbox.pid {
        pairs.push(("pid", pid.to_string()));
    }
    pairs.extend([
        ("created", sandbox.created_at.clone()),
        ("updated", sandbox.updated_at.clone()),
    ]);
    if let Some(error) = &sandbox.error {
        pairs.push(("error", error.clone()));
    }
    output::fields(&pairs)
}

/// `memory 512.0 MiB, cpus 1.5, pids 200`, or `none`.
fn limits(limits: &Limits) -> String {
    let mut parts = Vec::new();
    if let Some(bytes) = limits.memory_bytes {
        parts.push(format!("memory {}", human_size(bytes)));
    }
    if let Some(cpus) = limits.cpus {
        parts.push(format!("cpus {cpus}"));
    }
    if let Some(pids) = limits.pids {
        parts.push(format!("pids {pids}"));
    }
    if parts.is_empty() {
        return "none".to_string();
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use amika_api::{ChosenBy, NetworkMode, SetupState};

    use super::*;
    use crate::cli::Network;

    fn sandbox(name: &str, error: Option<&str>) -> Sandbox {
        Sandbox {
            id: "0123456789abcdef".into(),
            name: name.into(),
            state: SandboxState::Stopped,
            setup: SetupState::None,
            base: Base {
                kind: BaseKind::Image,
                id: "00000000000000aa".into(),
                name: "minimal".into(),
                chosen_by: Some(ChosenBy::Flag),
            },
            error: error.map(str::to_string),
            setup_error: None,
            setup_exit_code: None,
            repository: None,
            network: NetworkMode::Host,
            limits: Limits::default(),
            pid: None,
            created_at: "2026-05-01T12:00:00Z".into(),
            updated_at: "2026-05-01T12:05:00.1Z".into(),
            warnings: Vec::new(),
        }
    }

    #[test]
    fn short_list_has_five_columns() {
        let expected = "\
NAME      STATE    SETUP  BASE           CREATED
red-oslo  stopped  none   image:minimal  2026-05-01T12:00:00Z
";
        assert_eq!(
            table(&[sandbox("red-oslo", None)], false).render(),
            expected
        );
    }

    #[test]
    fn long_list_adds_id_updated_and_error() {
        let rows = [sandbox("a", None), sandbox("b", Some("init exited"))];
        let text = table(&rows, true).render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "NAME  ID                STATE    SETUP  BASE           CREATED               \
             UPDATED               ERROR"
        );
        assert!(
            lines[1].ends_with("2026-05-01T12:05:00Z  -"),
            "{}",
            lines[1]
        );
        assert!(lines[2].ends_with("  init exited"), "{}", lines[2]);
    }

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
        }
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
    fn show_includes_network_limits_and_pid() {
        let mut running = sandbox("red-oslo", None);
        running.state = SandboxState::Running;
        running.pid = Some(4242);
        running.limits = Limits {
            memory_bytes: Some(512 << 20),
            cpus: Some(1.5),
            pids: None,
        };
        let text = render(&running);
        assert!(text.contains("network: host\n"), "{text}");
        assert!(
            text.contains("limits:  memory 512.0 MiB, cpus 1.5\n"),
            "{text}"
        );
        assert!(text.contains("pid:     4242\n"), "{text}");
        assert!(render(&sandbox("a", None)).contains("limits:  none\n"));
    }
}
