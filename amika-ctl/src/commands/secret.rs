//! `amika-ctl secret ...`: set, list and delete secrets; `extract` lives in [`super::extract`].

use std::io::{IsTerminal, Read};
use std::path::Path;

use amika_api::{paths, Secret, SecretTargets, SetSecret};

use super::{check_name, check_names, each::delete_each, extract};
use crate::cli::{OutputFormat, SecretCommand, SetSecretArgs, ValueSource};
use crate::client::Client;
use crate::error::CtlError;
use crate::output::{self, short_time, Table};

/// Runs one `secret` subcommand.
pub async fn run(
    client: &Client,
    format: OutputFormat,
    command: SecretCommand,
) -> Result<(), CtlError> {
    match command {
        SecretCommand::Set(args) => set(client, format, args).await,
        SecretCommand::List => {
            let secrets: Vec<Secret> = client.get_json(paths::SECRETS).await?;
            output::show(format, &secrets, |secrets| table(secrets).render())
        }
        SecretCommand::Delete { names } => {
            check_names(&names)?;
            delete_each(client, format, &names, paths::secret).await
        }
        SecretCommand::Extract { yes } => extract::run(client, format, yes).await,
    }
}

async fn set(client: &Client, format: OutputFormat, args: SetSecretArgs) -> Result<(), CtlError> {
    check_name(&args.name)?;
    let request = SetSecret {
        targets: SecretTargets {
            env: args.env,
            file: args.file,
            git_host: args.git_host,
        },
        value: read_value(&args.source)?,
    };
    let secret: Secret = client
        .put_json(&paths::secret(&args.name), &request)
        .await?;
    output::show(format, &secret, render)
}

/// Reads the value from the one source clap let through.
fn read_value(source: &ValueSource) -> Result<String, CtlError> {
    if let Some(path) = &source.from_file {
        return read_file(path).map(drop_one_newline);
    }
    if let Some(var) = &source.from_env {
        return std::env::var(var).map_err(|e| match e {
            std::env::VarError::NotPresent => {
                CtlError::Local(format!("environment variable {var} is not set"))
            }
            std::env::VarError::NotUnicode(_) => {
                CtlError::Local(format!("environment variable {var} is not UTF-8 text"))
            }
        });
    }
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("Type the value, then press Enter and Ctrl-D:");
    }
    let mut value = Vec::new();
    stdin
        .read_to_end(&mut value)
        .map_err(|e| CtlError::io("cannot read the value from stdin", e))?;
    let value = String::from_utf8(value)
        .map_err(|_| CtlError::Local("the value on stdin is not UTF-8 text".to_string()))?;
    Ok(drop_one_newline(value))
}

fn read_file(path: &Path) -> Result<String, CtlError> {
    let bytes = std::fs::read(path)
        .map_err(|e| CtlError::io(format!("cannot read {}", path.display()), e))?;
    String::from_utf8(bytes)
        .map_err(|_| CtlError::Local(format!("{} is not UTF-8 text", path.display())))
}

/// Drops one trailing `\n` or `\r\n`: the one an editor or `echo` adds. Any further line
/// break is kept, on the view that it belongs to the value.
pub fn drop_one_newline(mut value: String) -> String {
    if value.ends_with('\n') {
        value.pop();
        if value.ends_with('\r') {
            value.pop();
        }
    }
    value
}

/// `env:A,B  file:.netrc  git:github.com`, or `-` for none.
pub fn targets(targets: &SecretTargets) -> String {
    let mut parts = Vec::new();
    if !targets.env.is_empty() {
        parts.push(format!("env:{}", targets.env.join(",")));
    }
    if let Some(file) = &targets.file {
        parts.push(format!("file:{file}"));
    }
    if let Some(host) = &targets.git_host {
        parts.push(format!("git:{host}"));
    }
    if parts.is_empty() {
        return "-".to_string();
    }
    parts.join(" ")
}

fn table(secrets: &[Secret]) -> Table {
    let mut table = Table::new(vec!["NAME", "TARGETS", "PREVIEW", "UPDATED"]);
    for secret in secrets {
        table.push(vec![
            secret.name.clone(),
            targets(&secret.targets),
            secret.preview.clone(),
            short_time(&secret.updated_at),
        ]);
    }
    table
}

fn render(secret: &Secret) -> String {
    output::fields(&[
        ("name", secret.name.clone()),
        ("targets", targets(&secret.targets)),
        ("preview", secret.preview.clone()),
        ("updated", secret.updated_at.clone()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(name: &str, env: &[&str], file: Option<&str>, host: Option<&str>) -> Secret {
        Secret {
            name: name.into(),
            targets: SecretTargets {
                env: env.iter().map(|v| v.to_string()).collect(),
                file: file.map(str::to_owned),
                git_host: host.map(str::to_owned),
            },
            preview: "sk-a…yz (40 chars)".into(),
            updated_at: "2026-05-01T12:00:00.5Z".into(),
        }
    }

    #[test]
    fn only_one_trailing_newline_is_dropped() {
        assert_eq!(drop_one_newline("tok\n".into()), "tok");
        assert_eq!(drop_one_newline("tok\r\n".into()), "tok");
        assert_eq!(drop_one_newline("tok\n\n".into()), "tok\n");
        assert_eq!(drop_one_newline("tok".into()), "tok");
        assert_eq!(drop_one_newline("\n".into()), "");
    }

    #[test]
    fn list_shows_targets_and_previews() {
        let secrets = [
            secret("claude", &[], Some(".claude.json"), None),
            secret(
                "gh",
                &["GH_TOKEN", "GITHUB_TOKEN"],
                None,
                Some("github.com"),
            ),
        ];
        let expected = "\
NAME    TARGETS                                   PREVIEW             UPDATED
claude  file:.claude.json                         sk-a…yz (40 chars)  2026-05-01T12:00:00Z
gh      env:GH_TOKEN,GITHUB_TOKEN git:github.com  sk-a…yz (40 chars)  2026-05-01T12:00:00Z
";
        assert_eq!(table(&secrets).render(), expected);
    }

    #[test]
    fn show_lists_every_field() {
        let text = render(&secret("k", &["K"], None, None));
        assert_eq!(
            text,
            "name:    k\ntargets: env:K\npreview: sk-a…yz (40 chars)\nupdated: \
             2026-05-01T12:00:00.5Z\n"
        );
    }

    #[test]
    fn a_file_source_is_read_with_one_newline_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "ghp_abc\n").unwrap();
        let source = ValueSource {
            from_file: Some(path),
            from_env: None,
            value_stdin: false,
        };
        assert_eq!(read_value(&source).unwrap(), "ghp_abc");
        let missing = ValueSource {
            from_file: Some(dir.path().join("absent")),
            from_env: None,
            value_stdin: false,
        };
        let err = read_value(&missing).unwrap_err();
        assert!(err.to_string().contains("absent"), "{err}");
    }
}
