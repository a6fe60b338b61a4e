//! `amika-ctl sandbox logs`: print a sandbox's setup log as it arrives and, when following,
//! tell by the exit code how setup ended, so scripts can wait for setup with it.
//!
//! The log is the script's own output, so it is printed raw in every output format, as
//! `exec` prints a command's output; only errors before it starts follow `-o json`.

use amika_api::{paths, Sandbox, SetupState};
use http_body_util::BodyExt;

use super::check_name;
use crate::cli::LogsArgs;
use crate::client::{Client, HINT_DROPPED};
use crate::error::{CtlError, EXIT_FAILED};
use crate::output;

/// Prints the log and returns the exit code: 0, or with `--follow`, 1 when setup failed.
pub async fn run(client: &Client, args: LogsArgs) -> Result<u8, CtlError> {
    check_name(&args.name)?;
    let mut body = client
        .get_stream(&log_path(&args.name, args.follow))
        .await?;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            client.unreachable(format!("the setup log was cut off ({e})"), HINT_DROPPED)
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if !output::emit_bytes_while_open(&data)? {
            // Whoever reads stdout has left; there is nobody to tell how setup ends.
            return Ok(0);
        }
    }
    if !args.follow {
        return Ok(0);
    }
    let sandbox: Sandbox = client.get_json(&paths::sandbox(&args.name)).await?;
    if sandbox.setup == SetupState::SetupRunning {
        return Err(CtlError::Local(format!(
            "the setup log of {} ended while its setup was still running; amikad may be \
             stopping: run the command again",
            sandbox.name
        )));
    }
    match failure(&sandbox) {
        Some(line) => {
            // Not an error return: in JSON output that would add an object to the raw log.
            eprintln!("amika-ctl: {line}");
            Ok(EXIT_FAILED)
        }
        None => Ok(0),
    }
}

/// The log's path; following asks the daemon to keep it open until setup is over.
fn log_path(name: &str, follow: bool) -> String {
    let path = paths::sandbox_setup_log(name);
    if follow {
        format!("{path}?follow=true")
    } else {
        path
    }
}

/// The line that says why setup failed, or `None` when it did not.
fn failure(sandbox: &Sandbox) -> Option<String> {
    let what = match sandbox.setup {
        SetupState::SetupFailed => "setup",
        SetupState::GitFailed => "the repository clone",
        SetupState::None | SetupState::SetupRunning | SetupState::Ok => return None,
    };
    let reason = match (&sandbox.setup_error, sandbox.setup_exit_code) {
        (Some(error), _) => error.clone(),
        (None, Some(code)) => format!("the setup script exited with code {code}"),
        (None, None) => "amikad gave no reason".to_string(),
    };
    Some(format!("{what} of {} failed: {reason}", sandbox.name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::sandbox::tests::sandbox;

    #[test]
    fn following_asks_the_daemon_to_keep_the_log_open() {
        assert_eq!(
            log_path("red-oslo", false),
            "/v1/sandboxes/red-oslo/logs/setup"
        );
        assert_eq!(
            log_path("red-oslo", true),
            "/v1/sandboxes/red-oslo/logs/setup?follow=true"
        );
    }

    #[test]
    fn only_a_failed_setup_or_clone_is_a_failure() {
        let mut done = sandbox("red-oslo", None);
        for state in [SetupState::None, SetupState::Ok, SetupState::SetupRunning] {
            done.setup = state;
            assert_eq!(failure(&done), None, "{state:?}");
        }
        done.setup = SetupState::SetupFailed;
        done.setup_exit_code = Some(3);
        assert_eq!(
            failure(&done).as_deref(),
            Some("setup of red-oslo failed: the setup script exited with code 3")
        );
        done.setup_error = Some("pnpm install exited with code 3".into());
        assert_eq!(
            failure(&done).as_deref(),
            Some("setup of red-oslo failed: pnpm install exited with code 3")
        );
        done.setup = SetupState::GitFailed;
        done.setup_exit_code = None;
        done.setup_error = Some("branch 'dev' not found".into());
        assert_eq!(
            failure(&done).as_deref(),
            Some("the repository clone of red-oslo failed: branch 'dev' not found")
        );
    }
}
