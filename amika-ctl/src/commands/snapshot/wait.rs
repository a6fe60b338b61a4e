//! Following a capture until its snapshot is active or failed, with a line per state on
//! stderr.
//!
//! The event stream is the fast path. Because a stream can end under a slow reader, and an
//! event could in principle never be sent, the snapshot is also read once a second while
//! events flow, and every 100 ms once the stream is gone.

use std::time::{Duration, Instant};

use amika_api::{paths, Event, Snapshot, SnapshotState};
use hyper::body::Incoming;

use crate::client::Client;
use crate::commands::feed::Feed;
use crate::error::CtlError;

/// Pause between two reads of the snapshot once the event stream is gone.
const POLL_EVERY: Duration = Duration::from_millis(100);
/// How often the snapshot is read while events still flow, in case one never comes.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The progress display: one line per state, never going backwards.
#[derive(Debug)]
pub struct Progress {
    started: Instant,
    last: Option<SnapshotState>,
}

impl Progress {
    /// A display whose times count from `started`, the moment the capture was requested.
    pub fn new(started: Instant) -> Self {
        Self {
            started,
            last: None,
        }
    }

    /// Prints a line for `state` unless it is the state already shown or an earlier one,
    /// which a late event or a stale read can report.
    pub fn show(&mut self, state: SnapshotState) {
        if self.last.is_some_and(|last| rank(state) <= rank(last)) {
            return;
        }
        self.last = Some(state);
        eprintln!("{}", line(state, self.started.elapsed()));
    }
}

/// The progress line for reaching `state` after `elapsed`: `finalizing… 0.4s`,
/// `active in 0.5s`.
pub fn line(state: SnapshotState, elapsed: Duration) -> String {
    let seconds = elapsed.as_secs_f64();
    match state {
        SnapshotState::Capturing | SnapshotState::Finalizing => {
            format!("{}… {seconds:.1}s", state.as_str())
        }
        SnapshotState::Active => format!("active in {seconds:.1}s"),
        SnapshotState::Failed => format!("failed after {seconds:.1}s"),
    }
}

/// Where a state sits in the life cycle; both ends share the last place.
fn rank(state: SnapshotState) -> u8 {
    match state {
        SnapshotState::Capturing => 0,
        SnapshotState::Finalizing => 1,
        SnapshotState::Active | SnapshotState::Failed => 2,
    }
}

/// Whether the capture is over.
pub fn is_settled(state: SnapshotState) -> bool {
    rank(state) == 2
}

/// The state `event` reports for the snapshot `id`; `None` for any other object, or for a
/// state this client does not know.
pub fn state_of(event: &Event, id: &str) -> Option<SnapshotState> {
    if event.kind != "snapshot" || event.id != id {
        return None;
    }
    serde_json::from_value(serde_json::Value::from(event.state.as_str())).ok()
}

/// Waits until the snapshot `accepted` describes is active or failed, and returns it as it
/// then is. `feed` must have been subscribed before the capture was requested.
pub async fn until_settled(
    client: &Client,
    feed: Option<Feed<Incoming>>,
    accepted: Snapshot,
    progress: &mut Progress,
) -> Result<Snapshot, CtlError> {
    progress.show(accepted.state);
    if is_settled(accepted.state) {
        return Ok(accepted);
    }
    if let Some(feed) = feed {
        follow(client, feed, &accepted.id, progress).await?;
    }
    // Also the way to the final object after a settling event, which carries no snapshot.
    poll(client, &accepted.id, progress).await
}

/// Shows the states events report until one is final or the stream fails.
async fn follow(
    client: &Client,
    mut feed: Feed<Incoming>,
    id: &str,
    progress: &mut Progress,
) -> Result<(), CtlError> {
    let first_check = tokio::time::Instant::now() + CHECK_EVERY;
    let mut check = tokio::time::interval_at(first_check, CHECK_EVERY);
    loop {
        let state = tokio::select! {
            event = feed.next() => match event {
                Ok(event) => match state_of(&event, id) {
                    Some(state) => state,
                    None => continue,
                },
                // Events may have been lost; polling takes over without a gap.
                Err(_) => return Ok(()),
            },
            _ = check.tick() => fetch(client, id).await?.state,
        };
        progress.show(state);
        if is_settled(state) {
            return Ok(());
        }
    }
}

/// Reads the snapshot until it is active or failed.
async fn poll(client: &Client, id: &str, progress: &mut Progress) -> Result<Snapshot, CtlError> {
    loop {
        let snapshot = fetch(client, id).await?;
        progress.show(snapshot.state);
        if is_settled(snapshot.state) {
            return Ok(snapshot);
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

async fn fetch(client: &Client, id: &str) -> Result<Snapshot, CtlError> {
    client.get_json(&paths::snapshot(id)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, id: &str, state: &str) -> Event {
        Event {
            time: "2026-05-01T12:00:00Z".into(),
            kind: kind.into(),
            id: id.into(),
            name: "base-v1".into(),
            state: state.into(),
            message: None,
        }
    }

    #[test]
    fn lines_name_the_state_and_the_time_so_far() {
        let ms = Duration::from_millis;
        assert_eq!(line(SnapshotState::Capturing, ms(0)), "capturing… 0.0s");
        assert_eq!(line(SnapshotState::Finalizing, ms(420)), "finalizing… 0.4s");
        assert_eq!(line(SnapshotState::Active, ms(460)), "active in 0.5s");
        assert_eq!(
            line(SnapshotState::Failed, ms(61_240)),
            "failed after 61.2s"
        );
    }

    #[test]
    fn only_events_of_this_snapshot_count() {
        let id = "00000000000000ab";
        let ours = event("snapshot", id, "finalizing");
        assert_eq!(state_of(&ours, id), Some(SnapshotState::Finalizing));
        assert_eq!(state_of(&event("sandbox", id, "running"), id), None);
        assert_eq!(state_of(&event("snapshot", "other", "active"), id), None);
        assert_eq!(state_of(&event("snapshot", id, "thawing"), id), None);
    }

    #[test]
    fn progress_never_goes_backwards() {
        let mut progress = Progress::new(Instant::now());
        progress.show(SnapshotState::Finalizing);
        progress.show(SnapshotState::Capturing);
        assert_eq!(progress.last, Some(SnapshotState::Finalizing));
        progress.show(SnapshotState::Failed);
        progress.show(SnapshotState::Active);
        assert_eq!(progress.last, Some(SnapshotState::Failed));
        assert!(is_settled(SnapshotState::Active) && !is_settled(SnapshotState::Finalizing));
    }
}
