//! One module per command group; each command is a few API calls and a rendering.

mod building;
mod each;
mod events;
mod exec;
mod extract;
mod feed;
mod image;
mod logs;
mod repo;
mod sandbox;
mod secret;
mod snapshot;
mod status;

use amika_api::names;

use crate::cli::{Cli, Command};
use crate::client::Client;
use crate::error::CtlError;

/// Runs the parsed command line against the daemon and returns the exit code: 0, or a
/// session's own code for the commands that run something inside a sandbox.
pub async fn run(cli: Cli) -> Result<u8, CtlError> {
    let client = Client::new(cli.socket);
    match cli.command {
        Command::Status => status::run(&client, cli.output).await.map(success),
        Command::Image(command) => image::run(&client, cli.output, command).await.map(success),
        Command::Sandbox(command) => sandbox::run(&client, cli.output, command).await,
        Command::Snapshot(command) => snapshot::run(&client, cli.output, command).await,
        Command::Repo(command) => repo::run(&client, cli.output, command).await.map(success),
        Command::Secret(command) => secret::run(&client, cli.output, command).await.map(success),
        Command::Events => events::run(&client, cli.output).await.map(success),
    }
}

/// The exit code of a command that completed.
fn success(_: ()) -> u8 {
    0
}

/// Refuses a malformed name before it is put into a request path.
///
/// Ids pass too: the daemon's ids are lower-case hex, a subset of the name rule.
fn check_name(name: &str) -> Result<(), CtlError> {
    names::check(name).map_err(CtlError::Usage)
}

/// [`check_name`] for every name, so a multi-name command fails before doing anything.
fn check_names(names: &[String]) -> Result<(), CtlError> {
    names.iter().try_for_each(|name| check_name(name))
}
