//! `amika-ctl sandbox ...`: create, list, show, start, stop and delete sandboxes. Creating
//! has modules of its own ([`create`], with [`repo_choice`] and [`setup_script`]); the
//! session commands live in [`super::exec`] and the setup log in [`super::logs`].

mod create;
mod repo_choice;
mod setup_script;

use amika_api::{paths, Base, BaseKind, Limits, Sandbox, SandboxRepository, StopSandbox};

use super::each::{delete_each, for_each, Action};
use super::{check_name, check_names, success};
use super::{exec, logs};
use crate::cli::{OutputFormat, SandboxCommand};
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
        SandboxCommand::Create(args) => create::run(client, format, args).await,
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
        SandboxCommand::Logs(args) => logs::run(client, args).await,
    }
}

async fn start(client: &Client, reference: &str) -> Result<Sandbox, CtlError> {
    client.post_empty(&paths::sandbox_start(reference)).await
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

/// The sandbox as a `key: value` block; optional fields appear only when set.
fn render(sandbox: &Sandbox) -> String {
    let mut pairs = vec![
        ("name", sandbox.name.clone()),
        ("id", sandbox.id.clone()),
        ("state", sandbox.state.as_str().to_string()),
        ("setup", setup(sandbox)),
    ];
    if let Some(error) = &sandbox.setup_error {
        pairs.push(("setup error", error.clone()));
    }
    pairs.push((
        "base",
        format!("{} ({})", base(&sandbox.base), sandbox.base.id),
    ));
    if let Some(rule) = sandbox.base.chosen_by {
        pairs.push(("chosen by", rule.as_str().to_string()));
    }
    if let Some(repository) = &sandbox.repository {
        pairs.extend(repository_fields(repository));
    }
    pairs.extend([
        ("network", sandbox.network.as_str().to_string()),
        ("limits", limits(&sandbox.limits)),
    ]);
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

/// The setup track, with the script's exit code once it has one.
fn setup(sandbox: &Sandbox) -> String {
    let track = sandbox.setup.as_str();
    match sandbox.setup_exit_code {
        Some(code) => format!("{track} (exit code {code})"),
        None => track.to_string(),
    }
}

/// The repository's name, where it is checked out, and its branch (`-` for a detached head
/// or a clone that failed).
fn repository_fields(repository: &SandboxRepository) -> [(&'static str, String); 3] {
    [
        ("repository", repository.name.clone()),
        ("repo path", repository.path.clone()),
        (
            "repo branch",
            repository.branch.clone().unwrap_or_else(|| "-".to_string()),
        ),
    ]
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
pub(crate) mod tests {
    use amika_api::{ChosenBy, NetworkMode, SandboxState, SetupState};

    use super::*;

    /// A stopped sandbox `name` from the minimal image, with no repository.
    pub(crate) fn sandbox(name: &str, error: Option<&str>) -> Sandbox {
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
        assert!(text.contains("network:   host\n"), "{text}");
        assert!(
            text.contains("limits:    memory 512.0 MiB, cpus 1.5\n"),
            "{text}"
        );
        assert!(text.contains("pid:       4242\n"), "{text}");
        assert!(render(&sandbox("a", None)).contains("limits:    none\n"));
    }

    #[test]
    fn show_says_which_rule_chose_the_base() {
        let mut booted = sandbox("red-oslo", None);
        booted.base = Base {
            kind: BaseKind::Snapshot,
            id: "00000000000000c1".into(),
            name: "app-base".into(),
            chosen_by: Some(ChosenBy::RepoDefault),
        };
        let text = render(&booted);
        assert!(
            text.contains(
                "base:      snapshot:app-base (00000000000000c1)\nchosen by: repo-default\n"
            ),
            "{text}"
        );
        booted.base.chosen_by = None;
        assert!(!render(&booted).contains("chosen by"));
    }

    #[test]
    fn show_includes_the_repository_and_how_setup_went() {
        let mut failed = sandbox("red-oslo", None);
        failed.setup = SetupState::SetupFailed;
        failed.setup_exit_code = Some(2);
        failed.setup_error = Some("setup script exited with code 2".into());
        failed.repository = Some(SandboxRepository {
            id: "00000000000000d1".into(),
            name: "app".into(),
            path: "/home/amika/workspace/app".into(),
            branch: Some("main".into()),
        });
        let text = render(&failed);
        let expected = "\
setup:       setup-failed (exit code 2)
setup error: setup script exited with code 2
base:        image:minimal (00000000000000aa)
chosen by:   flag
repository:  app
repo path:   /home/amika/workspace/app
repo branch: main
";
        assert!(text.contains(expected), "{text}");
        failed.repository.as_mut().unwrap().branch = None;
        assert!(render(&failed).contains("repo branch: -\n"));
        for absent in ["repository:", "setup error:", "exit code"] {
            assert!(!render(&sandbox("a", None)).contains(absent), "{absent}");
        }
    }
}
