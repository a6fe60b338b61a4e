//! `amika-ctl`: the command-line client of the amikad daemon.
//!
//! Every command is one or a few calls to the daemon's HTTP API on its Unix socket; nothing
//! here needs privileges beyond access to that socket and to the files a user imports.

mod body;
mod cli;
mod client;
mod commands;
mod compression;
mod error;
mod git;
mod output;
mod progress;
mod repo_upload;
mod session;
mod signals;
mod tarball;
mod terminal;
mod upgrade;
mod upload;
mod values;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;
use crate::error::CtlError;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = cli.output;
    terminal::restore_on_panic();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            output::report_error(format, &err);
            ExitCode::from(err.exit_code())
        }
    }
}

fn run(cli: Cli) -> Result<u8, CtlError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CtlError::io("cannot start the async runtime", e))?;
    let result = runtime.block_on(commands::run(cli));
    // A reader thread may still be blocked on a pipe after a failed upload, or on the
    // terminal after a session; waiting for it would hang the exit.
    runtime.shutdown_background();
    result
}
