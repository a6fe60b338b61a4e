//! `amika-ctl repo ...`: list and show repositories, set and clear their default snapshot,
//! and list the snapshots captured from their sandboxes.
//!
//! A repository is named by id, URL or name, and the daemon resolves it; a URL has slashes,
//! so the reference is percent-encoded into one path segment.

use amika_api::{
    paths, DefaultSource, Repository, RepositoryDefault, SetDefaultSnapshot, Snapshot,
};

use super::check_name;
use super::snapshot::table as snapshot_table;
use crate::cli::{OutputFormat, RepoCommand};
use crate::client::Client;
use crate::error::CtlError;
use crate::output::{self, short_time, Table};

/// Runs one `repo` subcommand.
pub async fn run(
    client: &Client,
    format: OutputFormat,
    command: RepoCommand,
) -> Result<(), CtlError> {
    match command {
        RepoCommand::List => {
            let repositories: Vec<Repository> = client.get_json(paths::REPOSITORIES).await?;
            output::show(format, &repositories, |list| table(list).render())
        }
        RepoCommand::Show { repo } => show(client, format, &repo).await,
        RepoCommand::SetDefaultSnapshot { repo, snapshot } => {
            check_reference(&repo)?;
            check_name(&snapshot)?;
            let request = SetDefaultSnapshot { snapshot };
            let path = paths::repository_default_snapshot(&repo);
            client.put(&path, &request).await?;
            show(client, format, &repo).await
        }
        RepoCommand::ClearDefaultSnapshot { repo } => {
            check_reference(&repo)?;
            client
                .delete(&paths::repository_default_snapshot(&repo))
                .await?;
            // Shown afterwards because a default from the configuration file may now apply.
            show(client, format, &repo).await
        }
        RepoCommand::Snapshots { long, repo } => {
            check_reference(&repo)?;
            let path = paths::repository_snapshots(&repo);
            let snapshots: Vec<Snapshot> = client.get_json(&path).await?;
            output::show(format, &snapshots, |list| {
                snapshot_table(list, long).render()
            })
        }
    }
}

async fn show(client: &Client, format: OutputFormat, repo: &str) -> Result<(), CtlError> {
    check_reference(repo)?;
    let repository: Repository = client.get_json(&paths::repository(repo)).await?;
    output::show(format, &repository, render)
}

/// Any text can be encoded into the path; only an empty reference is surely a mistake.
fn check_reference(repo: &str) -> Result<(), CtlError> {
    if repo.is_empty() {
        return Err(CtlError::Usage(
            "the repository is empty; give its id, URL or name (see amika-ctl repo list)".into(),
        ));
    }
    Ok(())
}

fn table(repositories: &[Repository]) -> Table {
    let mut table = Table::new(vec!["NAME", "DEFAULT", "SOURCE", "SANDBOXES", "KEY"]);
    for repository in repositories {
        let (default, source) = match &repository.default_snapshot {
            Some(default) => {
                let missing = if default.missing { " (missing)" } else { "" };
                let name = format!("{}{missing}", default.snapshot);
                (name, default.source.as_str().to_string())
            }
            None => ("-".to_string(), "-".to_string()),
        };
        table.push(vec![
            repository.name.clone(),
            default,
            source,
            repository.sandboxes.to_string(),
            repository.key.clone(),
        ]);
    }
    table
}

/// The repository as a `key: value` block, saying where its default snapshot comes from and
/// what to do when that snapshot is gone.
fn render(repository: &Repository) -> String {
    let mut pairs = vec![
        ("name", repository.name.clone()),
        ("id", repository.id.clone()),
        ("key", repository.key.clone()),
    ];
    if let Some(url) = &repository.url {
        pairs.push(("url", url.clone()));
    }
    match &repository.default_snapshot {
        Some(default) => pairs.extend(default_fields(default, &repository.name)),
        None => pairs.push(("default snapshot", "none".to_string())),
    }
    if let Some(configured) = &repository.config_snapshot {
        pairs.push(("config snapshot", configured.clone()));
    }
    pairs.extend([
        ("sandboxes", repository.sandboxes.to_string()),
        ("created", short_time(&repository.created_at)),
        ("updated", short_time(&repository.updated_at)),
    ]);
    output::fields(&pairs)
}

fn default_fields(default: &RepositoryDefault, repo: &str) -> Vec<(&'static str, String)> {
    let snapshot = match &default.snapshot_id {
        Some(id) => format!("{} ({id})", default.snapshot),
        None => default.snapshot.clone(),
    };
    let source = match default.source {
        DefaultSource::StateStore => "state-store (set with repo set-default-snapshot)",
        DefaultSource::Config => "config ([sandbox] snapshot in .amika/config.toml)",
    };
    let mut pairs = vec![
        ("default snapshot", snapshot),
        ("default source", source.to_string()),
    ];
    if default.missing {
        let fix = match default.source {
            DefaultSource::StateStore => {
                format!("amika-ctl repo clear-default-snapshot {repo}")
            }
            DefaultSource::Config => "change [sandbox] snapshot in .amika/config.toml".to_string(),
        };
        pairs.push((
            "missing",
            format!(
                "no snapshot {} exists, so a create that relies on this default fails; set \
                 another with amika-ctl repo set-default-snapshot {repo} SNAPSHOT, or {fix}",
                default.snapshot
            ),
        ));
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repository(default: Option<RepositoryDefault>) -> Repository {
        Repository {
            id: "00000000000000d1".into(),
            name: "app".into(),
            key: "github.com/org/app".into(),
            url: Some("https://github.com/org/app.git".into()),
            default_snapshot: default,
            config_snapshot: None,
            sandboxes: 2,
            created_at: "2026-05-01T12:00:00.5Z".into(),
            updated_at: "2026-05-01T12:05:00Z".into(),
        }
    }

    fn default(source: DefaultSource, missing: bool) -> RepositoryDefault {
        RepositoryDefault {
            snapshot: "app-base".into(),
            snapshot_id: (!missing).then(|| "00000000000000c1".into()),
            source,
            missing,
        }
    }

    #[test]
    fn list_shows_each_default_and_its_source() {
        let mut local = repository(None);
        local.name = "scratch".into();
        local.key = "commit:3f2a".into();
        local.sandboxes = 0;
        let repositories = [
            repository(Some(default(DefaultSource::StateStore, false))),
            local,
        ];
        let expected = "\
NAME     DEFAULT   SOURCE       SANDBOXES  KEY
app      app-base  state-store  2          github.com/org/app
scratch  -         -            0          commit:3f2a
";
        assert_eq!(table(&repositories).render(), expected);
        let missing = [repository(Some(default(DefaultSource::Config, true)))];
        assert!(table(&missing)
            .render()
            .contains("app-base (missing)  config"));
    }

    #[test]
    fn show_says_where_the_default_comes_from() {
        let text = render(&repository(Some(default(DefaultSource::StateStore, false))));
        assert!(
            text.contains("default snapshot: app-base (00000000000000c1)\n"),
            "{text}"
        );
        assert!(
            text.contains("default source:   state-store (set with repo set-default-snapshot)\n"),
            "{text}"
        );
        assert!(!text.contains("missing"), "{text}");
        assert!(text.contains("sandboxes:        2\n"), "{text}");

        let mut configured = repository(Some(default(DefaultSource::Config, false)));
        configured.config_snapshot = Some("app-base".into());
        let text = render(&configured);
        assert!(
            text.contains("config ([sandbox] snapshot in .amika/config.toml)"),
            "{text}"
        );
        assert!(text.contains("config snapshot:  app-base\n"), "{text}");

        let text = render(&repository(None));
        assert!(text.contains("default snapshot: none\n"), "{text}");
        assert!(!text.contains("default source"), "{text}");
    }

    #[test]
    fn a_missing_default_says_how_to_fix_it() {
        let text = render(&repository(Some(default(DefaultSource::StateStore, true))));
        assert!(text.contains("default snapshot: app-base\n"), "{text}");
        assert!(
            text.contains(
                "missing:          no snapshot app-base exists, so a create that relies on this \
                 default fails; set another with amika-ctl repo set-default-snapshot app \
                 SNAPSHOT, or amika-ctl repo clear-default-snapshot app\n"
            ),
            "{text}"
        );
        let text = render(&repository(Some(default(DefaultSource::Config, true))));
        assert!(
            text.contains("or change [sandbox] snapshot in .amika/config.toml\n"),
            "{text}"
        );
    }

    #[test]
    fn an_empty_reference_is_a_usage_error() {
        assert_eq!(check_reference("").unwrap_err().exit_code(), 2);
        assert!(check_reference("https://github.com/org/app.git").is_ok());
    }
}
