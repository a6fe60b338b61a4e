//! `amikad`: the amika daemon.
//!
//! Parses flags, starts logging, and hands over to `amikad::daemon::run`. Any start-up failure is
//! printed as one line naming the thing and the fix, with exit status 1.

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

    let flags = amikad::config::Flags::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&flags.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("amikad: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(amikad::daemon::run(flags)) {
        tracing::error!("{e:#}");
        eprintln!("amikad: {e:#}");
        std::process::exit(1);
    }
}
