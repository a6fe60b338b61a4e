//! `amika-ctl snapshot create`: settle what to capture, from the flags or by asking, request
//! the capture, and follow it to its end.

use std::io::{self, IsTerminal, Stderr, StdinLock};
use std::time::Instant;

use amika_api::{
    paths, CreateSnapshot, Sandbox, ScrubPreview, Snapshot, SnapshotMode, SnapshotState,
};

use super::wait::{self, Progress};
use super::{preview_text, prompt, render};
use crate::cli::{OutputFormat, SnapshotCreateArgs};
use crate::client::Client;
use crate::commands::check_name;
use crate::commands::feed::Feed;
use crate::error::{CtlError, EXIT_FAILED};
use crate::output;

/// Captures a sandbox and returns the exit code: 0 once the snapshot is active (or accepted,
/// with `--no-wait`), 1 if it failed.
pub async fn run(
    client: &Client,
    format: OutputFormat,
    args: SnapshotCreateArgs,
) -> Result<u8, CtlError> {
    check_name(&args.sandbox)?;
    if let Some(name) = &args.name {
        check_name(name)?;
    }
    let stdin_tty = io::stdin().is_terminal();
    let stderr_tty = io::stderr().is_terminal();
    let request = match no_prompt_reason(args.no_interactive, format, stdin_tty, stderr_tty) {
        Some(reason) => from_flags(&args, reason)?,
        None => ask(client, &args)
            .await?
            .ok_or_else(|| CtlError::Local("cancelled; no snapshot was created".into()))?,
    };

    if args.no_wait {
        let accepted: Snapshot = client.post_json(paths::SNAPSHOTS, &request).await?;
        return output::show(format, &accepted, render).map(|()| 0);
    }
    // Subscribing before the request means no state change can fall between the answer and
    // the first read. Without a stream the capture is still followed, by polling.
    let feed = match client.get_stream(paths::EVENTS).await {
        Ok(body) => Some(Feed::new(body)),
        Err(err @ CtlError::Unreachable { .. }) => return Err(err),
        Err(_) => None,
    };
    let mut progress = Progress::new(Instant::now());
    let accepted: Snapshot = client.post_json(paths::SNAPSHOTS, &request).await?;
    let settled = wait::until_settled(client, feed, accepted, &mut progress).await?;
    report(format, &settled)
}

/// Why the command may not prompt, or `None` when it may: prompts need a person at a
/// terminal, and JSON output is for scripts.
pub fn no_prompt_reason(
    no_interactive: bool,
    format: OutputFormat,
    stdin_tty: bool,
    stderr_tty: bool,
) -> Option<&'static str> {
    if no_interactive {
        Some("--no-interactive was given")
    } else if format != OutputFormat::Text {
        Some("the output is JSON")
    } else if !stdin_tty {
        Some("stdin is not a terminal")
    } else if !stderr_tty {
        Some("stderr is not a terminal")
    } else {
        None
    }
}

/// The request from the flags alone. `--mode` is required here rather than defaulted, so a
/// script never deletes a sandbox it did not say to delete.
pub fn from_flags(args: &SnapshotCreateArgs, reason: &str) -> Result<CreateSnapshot, CtlError> {
    let (Some(mode), Some(name)) = (args.mode, &args.name) else {
        let missing = match (args.mode, &args.name) {
            (None, None) => "--mode and --name are",
            (None, Some(_)) => "--mode is",
            _ => "--name is",
        };
        return Err(CtlError::Usage(format!(
            "{missing} required when snapshot create cannot ask ({reason}); \
             --mode takes scrub_and_delete, scrub or full"
        )));
    };
    Ok(CreateSnapshot {
        sandbox: args.sandbox.clone(),
        name: name.clone(),
        mode: mode.into(),
        description: args.description.clone(),
    })
}

/// Asks for what the flags left out, shows what the capture will do, and asks for a yes.
/// `None` when the user declines or walks away.
async fn ask(
    client: &Client,
    args: &SnapshotCreateArgs,
) -> Result<Option<CreateSnapshot>, CtlError> {
    // Looking the sandbox up first spares questions about one that does not exist, and gives
    // its name for the confirmation when an id was typed.
    let sandbox: Sandbox = client.get_json(&paths::sandbox(&args.sandbox)).await?;
    let mode = match args.mode {
        Some(mode) => mode.into(),
        None => match on_terminal(prompt::choose_mode).await? {
            Some(mode) => mode,
            None => return Ok(None),
        },
    };
    let name = match &args.name {
        Some(name) => name.clone(),
        None => match on_terminal(prompt::ask_name).await? {
            Some(name) => name,
            None => return Ok(None),
        },
    };

    let notice = if mode.scrubs() {
        let path = paths::sandbox_scrub_preview(&sandbox.id);
        let preview: ScrubPreview = client.get_json(&path).await?;
        scrub_notice(&preview, mode, &sandbox.name)
    } else {
        prompt::FULL_WARNING.to_string()
    };
    eprint!("{notice}");
    let question = format!(
        "Create snapshot {name} of {} ({})?",
        sandbox.name,
        mode.as_str()
    );
    if !on_terminal(move |input, out| prompt::confirm(input, out, &question)).await? {
        return Ok(None);
    }
    Ok(Some(CreateSnapshot {
        sandbox: sandbox.id,
        name,
        mode,
        description: args.description.clone(),
    }))
}

/// What a scrubbing capture will remove, and whether the source goes too.
fn scrub_notice(preview: &ScrubPreview, mode: SnapshotMode, sandbox: &str) -> String {
    let mut text = if is_empty(preview) {
        preview_text(preview)
    } else {
        format!(
            "The scrub removes these from the capture:\n{}",
            preview_text(preview)
        )
    };
    if mode == SnapshotMode::ScrubAndDelete {
        text.push_str(&format!(
            "Sandbox {sandbox} is deleted once the snapshot is captured.\n"
        ));
    }
    text
}

fn is_empty(preview: &ScrubPreview) -> bool {
    preview.files.is_empty() && preview.variables.is_empty() && preview.git_hosts.is_empty()
}

/// Runs one question on a blocking thread, so the runtime keeps serving the connections it
/// holds while a person thinks.
async fn on_terminal<T, F>(ask: F) -> Result<T, CtlError>
where
    T: Send + 'static,
    F: FnOnce(&mut StdinLock<'static>, &mut Stderr) -> io::Result<T> + Send + 'static,
{
    let answer =
        tokio::task::spawn_blocking(move || ask(&mut io::stdin().lock(), &mut io::stderr()))
            .await
            .map_err(|e| CtlError::Local(format!("the prompt failed: {e}")))?;
    answer.map_err(|e| CtlError::io("cannot read the answer from the terminal", e))
}

/// Prints the settled snapshot and returns the exit code. A failed capture is reported on
/// stderr; JSON output still gets the snapshot, whose `error` says why.
fn report(format: OutputFormat, snapshot: &Snapshot) -> Result<u8, CtlError> {
    if snapshot.state == SnapshotState::Active {
        return output::show(format, snapshot, render).map(|()| 0);
    }
    eprintln!("amika-ctl: {}", failure(snapshot));
    if format != OutputFormat::Text {
        output::emit(&output::to_json(format, snapshot)?)?;
    }
    Ok(EXIT_FAILED)
}

/// The sentence for a failed capture.
fn failure(snapshot: &Snapshot) -> String {
    let reason = snapshot.error.as_deref().unwrap_or("amikad gave no reason");
    format!("snapshot {} failed: {reason}", snapshot.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::snapshot::CaptureMode;
    use crate::commands::snapshot::tests::snapshot;

    fn args(name: Option<&str>, mode: Option<CaptureMode>) -> SnapshotCreateArgs {
        SnapshotCreateArgs {
            sandbox: "base-box".into(),
            name: name.map(str::to_string),
            mode,
            description: Some("node 22 and pnpm".into()),
            no_interactive: true,
            no_wait: false,
        }
    }

    #[test]
    fn prompts_need_text_output_and_two_terminals() {
        let text = OutputFormat::Text;
        assert_eq!(no_prompt_reason(false, text, true, true), None);
        let reason = |flag, format, stdin, stderr| no_prompt_reason(flag, format, stdin, stderr);
        assert_eq!(
            reason(true, text, true, true),
            Some("--no-interactive was given")
        );
        assert_eq!(
            reason(false, OutputFormat::Json, true, true),
            Some("the output is JSON")
        );
        let pretty = OutputFormat::JsonPretty;
        assert_eq!(
            reason(false, pretty, true, true),
            Some("the output is JSON")
        );
        assert_eq!(
            reason(false, text, false, true),
            Some("stdin is not a terminal")
        );
        assert_eq!(
            reason(false, text, true, false),
            Some("stderr is not a terminal")
        );
    }

    #[test]
    fn without_prompts_mode_and_name_are_required() {
        let cases = [
            (None, None, "--mode and --name are required"),
            (Some("v1"), None, "--mode is required"),
            (None, Some(CaptureMode::Full), "--name is required"),
        ];
        for (name, mode, expected) in cases {
            let err = from_flags(&args(name, mode), "the output is JSON").unwrap_err();
            assert_eq!(err.exit_code(), 2);
            let message = err.to_string();
            assert!(message.starts_with(expected), "{message}");
            assert!(message.contains("(the output is JSON)"), "{message}");
        }
    }

    #[test]
    fn flags_make_the_whole_request() {
        let request = from_flags(&args(Some("v1"), Some(CaptureMode::Scrub)), "x").unwrap();
        let expected = CreateSnapshot {
            sandbox: "base-box".into(),
            name: "v1".into(),
            mode: SnapshotMode::Scrub,
            description: Some("node 22 and pnpm".into()),
        };
        assert_eq!(request, expected);
    }

    #[test]
    fn the_notice_warns_when_the_source_will_go() {
        let preview = ScrubPreview {
            variables: vec!["ANTHROPIC_API_KEY".into()],
            ..ScrubPreview::default()
        };
        let text = scrub_notice(&preview, SnapshotMode::ScrubAndDelete, "base-box");
        assert!(
            text.starts_with("The scrub removes these from the capture:\n"),
            "{text}"
        );
        assert!(text.contains("  ANTHROPIC_API_KEY\n"), "{text}");
        assert!(text.ends_with("Sandbox base-box is deleted once the snapshot is captured.\n"));
        let empty = scrub_notice(&ScrubPreview::default(), SnapshotMode::Scrub, "base-box");
        assert_eq!(empty, "nothing to scrub\n");
    }

    #[test]
    fn a_failure_names_the_snapshot_and_the_reason() {
        let mut failed = snapshot("base-v1");
        failed.state = SnapshotState::Failed;
        failed.error = Some("verification found a secret in /home/amika/.netrc".into());
        assert_eq!(
            failure(&failed),
            "snapshot base-v1 failed: verification found a secret in /home/amika/.netrc"
        );
        failed.error = None;
        assert_eq!(
            failure(&failed),
            "snapshot base-v1 failed: amikad gave no reason"
        );
    }
}
