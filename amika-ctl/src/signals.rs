//! The signals amika-ctl handles during a session, delivered as [`Event`]s.
//!
//! Once watched, SIGINT, SIGTERM and SIGHUP no longer kill amika-ctl: the session decides
//! what each means (forward it, or end and restore the terminal), so watching starts just
//! before a session is opened and never for ordinary commands.

use std::io;

use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::mpsc;

use crate::session::Event;
use crate::terminal;

/// Starts turning signals into events. With `tty`, window-size changes become
/// [`Event::Resize`] with the terminal's new size.
pub fn watch(tty: bool) -> io::Result<mpsc::UnboundedReceiver<Event>> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let mut resize = tty
        .then(|| signal(SignalKind::window_change()))
        .transpose()?;

    let (events, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let event = tokio::select! {
                Some(()) = interrupt.recv() => Event::Signal(libc::SIGINT),
                Some(()) = terminate.recv() => Event::Signal(libc::SIGTERM),
                Some(()) = hangup.recv() => Event::Signal(libc::SIGHUP),
                Some(()) = next(&mut resize) => match terminal::size() {
                    Some((rows, cols)) => Event::Resize { rows, cols },
                    None => continue,
                },
                else => return,
            };
            if events.send(event).is_err() {
                return;
            }
        }
    });
    Ok(receiver)
}

/// The next delivery of an optional signal; never, when it is not watched.
async fn next(signal: &mut Option<Signal>) -> Option<()> {
    match signal {
        Some(signal) => signal.recv().await,
        None => std::future::pending().await,
    }
}
