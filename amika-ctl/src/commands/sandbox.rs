//! `amika-ctl sandbox ...`: create, list, show and delete sandboxes.

use amika_api::{paths, Base, BaseKind, CreateSandbox, Sandbox};

use super::{check_name, check_names, delete::delete_each};
use crate::cli::{CreateArgs, OutputFormat, SandboxCommand};
use crate::client::Client;
use crate::error::CtlError;
use crate::output::{self, short_time, Table};

/// Runs one `sandbox` subcommand.
pub async fn run(
    client: &Client,
    format: OutputFormat,
    command: SandboxCommand,
) -> Result<(), CtlError> {
    match command {
        SandboxCommand::Create(args) => {
            let request = create_request(args)?;
            let sandbox: Sandbox = client.post_json(paths::SANDBOXES, &request).await?;
            output::show(format, &sandbox, render)
        }
        SandboxCommand::List { long } => {
            let sandboxes: Vec<Sandbox> = client.get_json(paths::SANDBOXES).await?;
            output::show(format, &sandboxes, |list| table(list, long).render())
        }
        SandboxCommand::Show { name } => {
            check_name(&name)?;
            let sandbox: Sandbox = client.get_json(&paths::sandbox(&name)).await?;
            output::show(format, &sandbox, render)
        }
        SandboxCommand::Delete { force, names } => {
            check_names(&names)?;
            let path_of = |name: &str| format!("{}?force={force}", paths::sandbox(name));
            delete_each(client, format, &names, path_of).await
        }
    }
}

/// Builds the request, checking every name it carries; clap already refused `--image` with
/// `--preset`.
fn create_request(args: CreateArgs) -> Result<CreateSandbox, CtlError> {
    let given = [&args.name, &args.image, &args.preset];
    given
        .into_iter()
        .flatten()
        .try_for_each(|name| check_name(name))?;
    Ok(CreateSandbox {
        name: args.name,
        image: args.image,
        preset: args.preset,
        ..CreateSandbox::default()
    })
}

fn base(base: &Base) -> String {
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
        ("created", sandbox.created_at.clone()),
        ("updated", sandbox.updated_at.clone()),
    ];
    if let Some(error) = &sandbox.error {
        pairs.push(("error", error.clone()));
    }
    output::fields(&pairs)
}

#[cfg(test)]
mod tests {
    use amika_api::{SandboxState, SetupState};

    use super::*;

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
            },
            error: error.map(str::to_string),
            created_at: "2026-05-01T12:00:00Z".into(),
            updated_at: "2026-05-01T12:05:00.1Z".into(),
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
    fn create_checks_every_name_it_sends() {
        let args = CreateArgs {
            name: Some("Bad_Name".into()),
            image: None,
            preset: None,
        };
        assert_eq!(create_request(args).unwrap_err().exit_code(), 2);
        let args = CreateArgs {
            name: None,
            image: None,
            preset: Some("minimal".into()),
        };
        let request = create_request(args).unwrap();
        assert_eq!(request.preset.as_deref(), Some("minimal"));
        assert!(request.name.is_none() && request.image.is_none());
    }
}
