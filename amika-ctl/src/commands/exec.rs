//! `amika-ctl sandbox exec`, `connect` and `ssh`: sessions inside a running sandbox.
//!
//! Each is one upgraded `POST .../exec`; they differ only in the request they send. Once the
//! command runs, its exit code becomes amika-ctl's, so a script cannot tell `exec box -- false`
//! from a failed API call by the code alone; the stderr message tells them apart.

use std::io::{self, IsTerminal};
use std::os::fd::AsFd;

use amika_api::ExecRequest;
use tokio::sync::mpsc;

use super::check_name;
use crate::cli::{ConnectArgs, ExecArgs};
use crate::client::{Client, HINT_DROPPED};
use crate::error::CtlError;
use crate::session::{self, Event, SessionError, Stdio};
use crate::signals;
use crate::terminal::{self, RawMode};
use crate::upgrade::{self, SessionStream};

/// The only user interactive sessions run as.
const SESSION_USER: &str = "amika";

/// `sandbox exec`: runs a command, on a terminal with `--tty`.
pub async fn exec(client: &Client, args: ExecArgs) -> Result<u8, CtlError> {
    check_name(&args.name)?;
    let mut request = ExecRequest {
        command: args.command,
        user: Some(args.user.as_str().to_string()),
        workdir: args.workdir,
        env: args.env,
        ..ExecRequest::default()
    };
    if args.tty {
        describe_terminal(&mut request);
    }
    run(client, &args.name, &request).await
}

/// `sandbox connect` and `sandbox ssh`: an interactive terminal session as `amika`, running
/// `command`, or `--shell` as a login shell, or the user's own login shell.
pub async fn connect(
    client: &Client,
    args: ConnectArgs,
    command: Vec<String>,
) -> Result<u8, CtlError> {
    check_name(&args.name)?;
    let request = interactive_request(args.shell, command);
    run(client, &args.name, &request).await
}

/// The request for an interactive session. An empty command asks the daemon for the user's
/// login shell.
fn interactive_request(shell: Option<String>, command: Vec<String>) -> ExecRequest {
    let command = match shell {
        Some(shell) => vec![shell, "-l".to_string()],
        None => command,
    };
    let mut request = ExecRequest {
        command,
        user: Some(SESSION_USER.to_string()),
        ..ExecRequest::default()
    };
    describe_terminal(&mut request);
    request
}

/// Asks for a terminal the size and type of ours.
fn describe_terminal(request: &mut ExecRequest) {
    request.tty = true;
    if let Some((rows, cols)) = terminal::size() {
        request.rows = Some(rows);
        request.cols = Some(cols);
    }
    request.term = std::env::var("TERM").ok().filter(|term| !term.is_empty());
}

/// Opens the session and pumps it to the end, with the terminal raw for its duration when
/// the session has one and stdin is a terminal.
async fn run(client: &Client, reference: &str, request: &ExecRequest) -> Result<u8, CtlError> {
    let mut events = signals::watch(request.tty)
        .map_err(|e| CtlError::io("cannot install the signal handlers", e))?;
    let stream = match open(client, reference, request, &mut events).await? {
        Opened::Session(stream) => stream,
        Opened::Interrupted(code) => return Ok(code),
    };

    let stdin = io::stdin();
    let raw = if request.tty && stdin.is_terminal() {
        let guard = RawMode::enable(stdin.as_fd())
            .map_err(|e| CtlError::io("cannot put the terminal in raw mode", e))?;
        Some(guard)
    } else {
        None
    };
    let outcome = session::run(stream, Stdio::process(), events, request.tty).await;
    // Restore before any error is printed, so the message lands on a sane terminal.
    drop(raw);
    outcome.map_err(|err| match err {
        SessionError::Lost(_) => client.unreachable(err.to_string(), HINT_DROPPED),
        SessionError::Corrupt(_) | SessionError::Unexpected(_) => {
            CtlError::BadResponse(err.to_string())
        }
        SessionError::Output(source) => CtlError::io("cannot write to stdout", source),
    })
}

enum Opened {
    Session(SessionStream),
    Interrupted(u8),
}

/// Opens the session, unless a signal asks amika-ctl to stop first: nothing runs yet, so
/// there is nothing to forward it to.
async fn open(
    client: &Client,
    reference: &str,
    request: &ExecRequest,
    events: &mut mpsc::UnboundedReceiver<Event>,
) -> Result<Opened, CtlError> {
    let opening = upgrade::open_exec(client, reference, request);
    let mut opening = std::pin::pin!(opening);
    loop {
        tokio::select! {
            opened = &mut opening => return opened.map(Opened::Session),
            Some(event) = events.recv() => {
                if let Event::Signal(number) = event {
                    return Ok(Opened::Interrupted(session::signal_exit_code(number)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_without_a_command_asks_for_the_login_shell() {
        let request = interactive_request(None, Vec::new());
        assert!(request.command.is_empty());
        assert!(request.tty);
        assert_eq!(request.user.as_deref(), Some("amika"));
    }

    #[test]
    fn a_chosen_shell_runs_as_a_login_shell() {
        let request = interactive_request(Some("/bin/bash".into()), Vec::new());
        assert_eq!(request.command, ["/bin/bash", "-l"]);
    }

    #[test]
    fn ssh_runs_its_command_on_a_terminal() {
        let request = interactive_request(None, vec!["top".into(), "-b".into()]);
        assert_eq!(request.command, ["top", "-b"]);
        assert!(request.tty);
    }
}
