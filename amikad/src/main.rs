//! `amikad`: the amika daemon.
//!
//! Parses flags and the configuration file, takes what systemd passed, detaches when asked,
//! starts logging, and hands over to `amikad::daemon::run`. Any start-up failure is printed as
//! one line naming the thing and the fix, with exit status 1.

use std::path::{Path, PathBuf};

use amikad::config::{Config, Flags};
use amikad::daemon::Launch;
use amikad::detach::{self, Detached};
use clap::Parser;

fn main() {
    // The daemon re-executes itself for the two small programs that must start
    // single-threaded: a sandbox's init, and the helper that enters a sandbox to run a command.
    let mut args = std::env::args_os().skip(1);
    match args.next().as_deref().and_then(|a| a.to_str()) {
        Some(amikad::runtime::init::ARG) => amikad::runtime::init::main(args.collect()),
        Some(amikad::runtime::exec::ARG) => amikad::runtime::exec::main(args.collect()),
        _ => {}
    }

    let flags = Flags::parse();
    let mut config = Config::load(&flags).unwrap_or_else(|e| fail(&e));
    // Still one thread here: the environment may be changed and the process may fork.
    let activation = amikad::systemd::take_activation().unwrap_or_else(|e| fail(&e));
    let mut launch = Launch {
        listener: activation.listener,
        notifier: activation.notifier,
        parent: None,
        pid_file: None,
    };
    let pid_file = match (flags.daemonize, &flags.pid_file) {
        (true, Some(pid_file)) => {
            let pid_file = absolute(pid_file);
            config.make_absolute().unwrap_or_else(|e| fail(&e));
            launch.parent = Some(daemonize(&pid_file, flags.log_file.as_deref()));
            launch.pid_file = Some(pid_file.clone());
            Some(pid_file)
        }
        _ => None,
    };
    init_logging(&config.log_level);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("cannot start the async runtime: {e}")));
    let result = runtime.block_on(amikad::daemon::run(config, launch));
    if let Some(pid_file) = pid_file {
        let _ = std::fs::remove_file(pid_file);
    }
    if let Err(e) = result {
        tracing::error!("{e:#}");
        eprintln!("amikad: {e:#}");
        std::process::exit(1);
    }
}

/// Detaches; in the command the user ran this waits for the daemon and exits.
fn daemonize(pid_file: &Path, log_file: Option<&Path>) -> detach::StartupPipe {
    let log_file = log_file.map(absolute);
    match detach::detach(pid_file, log_file.as_deref()) {
        Ok(Detached::Daemon(pipe)) => pipe,
        Ok(Detached::Parent(Ok(()))) => std::process::exit(0),
        Ok(Detached::Parent(Err(reason))) => fail(&reason),
        Err(e) => fail(&e),
    }
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // The journal stamps every line itself; a second time stamp only costs width.
    if stderr_is_journal() {
        builder.without_time().init();
    } else {
        builder.init();
    }
}

/// True when standard error is the journal stream systemd set up (`JOURNAL_STREAM=dev:ino`).
fn stderr_is_journal() -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(stat) = nix::sys::stat::fstat(2) else {
        return false;
    };
    stream.to_str() == Some(&format!("{}:{}", stat.st_dev, stat.st_ino))
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|e| fail(&e))
}

fn fail(error: &dyn std::fmt::Display) -> ! {
    eprintln!("amikad: {error}");
    std::process::exit(1);
}
