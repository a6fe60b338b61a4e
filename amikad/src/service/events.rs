//! The event bus behind `GET /v1/events`.

use amika_api::{Event, ImageState, SandboxState, SetupState, SnapshotState};
use tokio::sync::broadcast;

use super::Service;
use crate::state::rfc3339;

/// Events buffered per subscriber before it counts as too slow and is disconnected.
pub const EVENT_BUFFER: usize = 1024;

impl Service {
    /// A new subscription to every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Publishes a snapshot state change.
    pub(super) fn snapshot_event(
        &self,
        id: &str,
        name: &str,
        state: SnapshotState,
        msg: Option<&str>,
    ) {
        self.publish("snapshot", id, name, state.as_str(), msg);
    }

    fn publish(&self, kind: &str, id: &str, name: &str, state: &str, msg: Option<&str>) {
        let _ = self.events.send(Event {
            time: rfc3339(crate::state::now()),
            kind: kind.to_owned(),
            id: id.to_owned(),
            name: name.to_owned(),
            state: state.to_owned(),
            message: msg.map(str::to_owned),
        });
    }

    /// Publishes a sandbox state change. Nobody listening is not an error.
    pub(super) fn sandbox_event(
        &self,
        id: &str,
        name: &str,
        state: SandboxState,
        msg: Option<&str>,
    ) {
        self.publish("sandbox", id, name, state.as_str(), msg);
    }

    /// Publishes a move of a sandbox's setup track.
    pub(super) fn setup_event(&self, id: &str, name: &str, setup: SetupState, msg: Option<&str>) {
        self.publish("setup", id, name, setup.as_str(), msg);
    }

    /// Publishes an image's progress or state change.
    pub(super) fn image_event(&self, id: &str, name: &str, state: ImageState, msg: Option<&str>) {
        self.publish("image", id, name, image_state(state), msg);
    }
}

/// The wire name of an image state.
fn image_state(state: ImageState) -> &'static str {
    match state {
        ImageState::Building => "building",
        ImageState::Ready => "ready",
        ImageState::Failed => "failed",
    }
}
