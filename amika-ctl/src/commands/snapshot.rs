//! `amika-ctl snapshot ...`: capture sandboxes as snapshots, preview what a scrub removes,
//! and list, show and delete snapshots.
//!
//! Capturing has modules of its own: [`create`] settles the request, [`prompt`] asks the
//! questions, and [`wait`] follows the capture through the event stream.

mod create;
mod prompt;
mod query;
mod wait;

use amika_api::{paths, ScrubPreview, Snapshot};

use super::each::delete_each;
use super::sandbox::base;
use super::{check_name, check_names, success};
use crate::cli::{OutputFormat, SnapshotCommand};
use crate::client::Client;
use crate::error::CtlError;
use crate::output::{self, optional_size, short_time, Table};

/// Runs one `snapshot` subcommand and returns the exit code.
pub async fn run(
    client: &Client,
    format: OutputFormat,
    command: SnapshotCommand,
) -> Result<u8, CtlError> {
    match command {
        SnapshotCommand::Create(args) => create::run(client, format, args).await,
        SnapshotCommand::ScrubPreview { sandbox } => {
            check_name(&sandbox)?;
            let path = paths::sandbox_scrub_preview(&sandbox);
            let preview: ScrubPreview = client.get_json(&path).await?;
            output::show(format, &preview, preview_text).map(success)
        }
        SnapshotCommand::List {
            long,
            sandbox,
            repo,
        } => {
            if let Some(sandbox) = &sandbox {
                check_name(sandbox)?;
            }
            let filters = [("sandbox", sandbox.as_deref()), ("repo", repo.as_deref())];
            let path = query::with_query(paths::SNAPSHOTS, &filters);
            let snapshots: Vec<Snapshot> = client.get_json(&path).await?;
            output::show(format, &snapshots, |list| table(list, long).render()).map(success)
        }
        SnapshotCommand::Show { name } => {
            check_name(&name)?;
            let snapshot: Snapshot = client.get_json(&paths::snapshot(&name)).await?;
            output::show(format, &snapshot, render).map(success)
        }
        SnapshotCommand::Delete { force, names } => {
            check_names(&names)?;
            let path_of = |name: &str| delete_path(name, force);
            delete_each(client, format, &names, path_of)
                .await
                .map(success)
        }
    }
}

/// The plain path unless `--force` was given, so an ordinary delete stays an ordinary call.
fn delete_path(name: &str, force: bool) -> String {
    let path = paths::snapshot(name);
    if force {
        format!("{path}?force=true")
    } else {
        path
    }
}

/// The snapshot table of `snapshot list`, also used for a repository's snapshots.
pub(super) fn table(snapshots: &[Snapshot], long: bool) -> Table {
    let mut table = if long {
        let headers = [
            "NAME",
            "ID",
            "STATE",
            "MODE",
            "SOURCE",
            "BASE",
            "SIZE",
            "CREATED",
            "DESCRIPTION",
            "ERROR",
        ];
        Table::new(headers.to_vec())
    } else {
        Table::new(vec!["NAME", "STATE", "MODE", "SOURCE", "SIZE", "CREATED"])
    };
    for snapshot in snapshots {
        let mut row = vec![snapshot.name.clone()];
        if long {
            row.push(snapshot.id.clone());
        }
        row.extend([
            snapshot.state.as_str().to_string(),
            snapshot.mode.as_str().to_string(),
            snapshot.source.name.clone(),
        ]);
        if long {
            row.push(base(&snapshot.base));
        }
        row.extend([
            optional_size(snapshot.size_bytes),
            short_time(&snapshot.created_at),
        ]);
        if long {
            row.push(or_dash(snapshot.description.as_deref()));
            row.push(or_dash(snapshot.error.as_deref()));
        }
        table.push(row);
    }
    table
}

/// A free-text cell on one line, or `-` when there is nothing to say.
fn or_dash(text: Option<&str>) -> String {
    match text.map(one_line) {
        Some(line) if !line.is_empty() => line,
        _ => "-".to_string(),
    }
}

/// Collapses line breaks and other runs of white space, which would tear a table or a
/// `key: value` block apart.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The snapshot as a `key: value` block; optional fields appear only when set.
fn render(snapshot: &Snapshot) -> String {
    let mut pairs = vec![
        ("name", snapshot.name.clone()),
        ("id", snapshot.id.clone()),
        ("state", snapshot.state.as_str().to_string()),
        ("mode", snapshot.mode.as_str().to_string()),
        (
            "source",
            format!("{} ({})", snapshot.source.name, snapshot.source.id),
        ),
        (
            "base",
            format!("{} ({})", base(&snapshot.base), snapshot.base.id),
        ),
    ];
    if let Some(preset) = &snapshot.preset {
        pairs.push(("preset", preset.clone()));
    }
    if let Some(repository) = &snapshot.repository {
        pairs.push(("repository", repository.clone()));
    }
    pairs.push(("size", optional_size(snapshot.size_bytes)));
    if let Some(description) = &snapshot.description {
        pairs.push(("description", one_line(description)));
    }
    pairs.extend([
        ("created", snapshot.created_at.clone()),
        ("updated", snapshot.updated_at.clone()),
    ]);
    if let Some(error) = &snapshot.error {
        pairs.push(("error", error.clone()));
    }
    output::fields(&pairs)
}

/// What a scrub removes, in three sections, or `nothing to scrub`.
fn preview_text(preview: &ScrubPreview) -> String {
    let sections = [
        ("Files", &preview.files),
        ("Variables", &preview.variables),
        ("Git hosts", &preview.git_hosts),
    ];
    if sections.iter().all(|(_, items)| items.is_empty()) {
        return "nothing to scrub\n".to_string();
    }
    let mut text = String::new();
    for (title, items) in sections {
        text.push_str(title);
        text.push_str(":\n");
        if items.is_empty() {
            text.push_str("  (none)\n");
        }
        for item in items {
            text.push_str(&format!("  {}\n", amika_api::secret::printable(item)));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use amika_api::{Base, BaseKind, SnapshotMode, SnapshotSource, SnapshotState};

    use super::*;

    /// An active `scrub_and_delete` snapshot of `base-box` named `name`.
    pub(super) fn snapshot(name: &str) -> Snapshot {
        Snapshot {
            id: "00000000000000c1".into(),
            name: name.into(),
            description: None,
            source: SnapshotSource {
                id: "00000000000000b0".into(),
                name: "base-box".into(),
            },
            repository: None,
            base: Base {
                kind: BaseKind::Image,
                id: "00000000000000aa".into(),
                name: "coder".into(),
                chosen_by: None,
            },
            preset: Some("coder".into()),
            mode: SnapshotMode::ScrubAndDelete,
            state: SnapshotState::Active,
            error: None,
            size_bytes: Some(3 << 29),
            created_at: "2026-05-01T12:00:00.25Z".into(),
            updated_at: "2026-05-01T12:00:01Z".into(),
        }
    }

    #[test]
    fn short_list_has_six_columns() {
        let mut capturing = snapshot("next");
        capturing.state = SnapshotState::Capturing;
        capturing.mode = SnapshotMode::Full;
        capturing.size_bytes = None;
        let expected = "\
NAME     STATE      MODE              SOURCE    SIZE     CREATED
base-v1  active     scrub_and_delete  base-box  1.5 GiB  2026-05-01T12:00:00Z
next     capturing  full              base-box  -        2026-05-01T12:00:00Z
";
        assert_eq!(
            table(&[snapshot("base-v1"), capturing], false).render(),
            expected
        );
    }

    #[test]
    fn long_list_adds_id_base_description_and_error() {
        let mut described = snapshot("a");
        described.description = Some("node 22,\n pnpm store".into());
        let mut failed = snapshot("b");
        failed.state = SnapshotState::Failed;
        failed.error = Some("scrub verification failed".into());
        let text = table(&[described, failed], true).render();
        let lines: Vec<&str> = text.lines().collect();
        let header: Vec<&str> = lines[0].split_whitespace().collect();
        assert_eq!(
            header,
            [
                "NAME",
                "ID",
                "STATE",
                "MODE",
                "SOURCE",
                "BASE",
                "SIZE",
                "CREATED",
                "DESCRIPTION",
                "ERROR"
            ]
        );
        assert!(lines[1].contains("  image:coder  "), "{}", lines[1]);
        assert!(
            lines[1].ends_with("  node 22, pnpm store  -"),
            "{}",
            lines[1]
        );
        assert!(
            lines[2].ends_with("  -                    scrub verification failed"),
            "{}",
            lines[2]
        );
    }

    #[test]
    fn show_adds_optional_fields_only_when_set() {
        let plain = render(&snapshot("base-v1"));
        assert!(
            plain.contains("source:  base-box (00000000000000b0)\n"),
            "{plain}"
        );
        assert!(
            plain.contains("base:    image:coder (00000000000000aa)\n"),
            "{plain}"
        );
        assert!(plain.contains("preset:  coder\n"), "{plain}");
        assert!(plain.contains("size:    1.5 GiB\n"), "{plain}");
        for absent in ["repository:", "description:", "error:"] {
            assert!(!plain.contains(absent), "{plain}");
        }
        let mut full = snapshot("base-v1");
        full.repository = Some("/home/me/src/app".into());
        full.description = Some("warm caches".into());
        full.error = Some("disk full".into());
        let text = render(&full);
        assert!(text.contains("repository:  /home/me/src/app\n"), "{text}");
        assert!(text.contains("description: warm caches\n"), "{text}");
        assert!(text.ends_with("error:       disk full\n"), "{text}");
    }

    #[test]
    fn preview_lists_three_sections_without_values() {
        let preview = ScrubPreview {
            files: vec!["/home/amika/.claude/.credentials.json".into()],
            variables: vec!["ANTHROPIC_API_KEY".into(), "OPENAI_API_KEY".into()],
            git_hosts: Vec::new(),
        };
        let expected = "\
Files:
  /home/amika/.claude/.credentials.json
Variables:
  ANTHROPIC_API_KEY
  OPENAI_API_KEY
Git hosts:
  (none)
";
        assert_eq!(preview_text(&preview), expected);
        assert_eq!(preview_text(&ScrubPreview::default()), "nothing to scrub\n");
    }

    #[test]
    fn preview_escapes_control_characters() {
        let preview = ScrubPreview {
            files: vec!["/home/amika/\x1b[2Jx\n".into()],
            ..ScrubPreview::default()
        };
        assert!(preview_text(&preview).contains("  /home/amika/\\u{1b}[2Jx\\n\n"));
    }

    #[test]
    fn force_is_sent_only_when_given() {
        assert_eq!(delete_path("base-v1", false), "/v1/snapshots/base-v1");
        assert_eq!(
            delete_path("base-v1", true),
            "/v1/snapshots/base-v1?force=true"
        );
    }
}
