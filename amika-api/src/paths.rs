//! Route paths of the v1 API, so the daemon's route table and the client never disagree.

/// Daemon version, storage backend and pool usage.
pub const STATUS: &str = "/v1/status";
/// The image collection: `GET` lists.
pub const IMAGES: &str = "/v1/images";
/// `POST` with a [`crate::BuildImage`] body: build a preset's image.
pub const IMAGES_BUILD: &str = "/v1/images/build";
/// The sandbox collection: `GET` lists, `POST` creates.
pub const SANDBOXES: &str = "/v1/sandboxes";

/// One image: `PUT` imports a tar stream under this name, `GET` shows, `DELETE` removes.
pub fn image(name: &str) -> String {
    format!("{IMAGES}/{name}")
}

/// One sandbox by name or id: `GET` shows, `DELETE` removes.
pub fn sandbox(reference: &str) -> String {
    format!("{SANDBOXES}/{reference}")
}

/// The event stream.
pub const EVENTS: &str = "/v1/events";

/// `POST`: start a stopped sandbox.
pub fn sandbox_start(reference: &str) -> String {
    format!("{SANDBOXES}/{reference}/start")
}

/// `POST` with a [`crate::StopSandbox`] body: stop a running sandbox.
pub fn sandbox_stop(reference: &str) -> String {
    format!("{SANDBOXES}/{reference}/stop")
}

/// `POST` with an [`crate::ExecRequest`] body and an upgrade: run a command inside.
pub fn sandbox_exec(reference: &str) -> String {
    format!("{SANDBOXES}/{reference}/exec")
}

/// The secret collection: `GET` lists.
pub const SECRETS: &str = "/v1/secrets";

/// One secret: `PUT` stores a [`crate::SetSecret`], `DELETE` removes it.
pub fn secret(name: &str) -> String {
    format!("{SECRETS}/{name}")
}

/// The snapshot collection: `GET` lists (`?sandbox=S&repo=R` filter), `POST` captures.
pub const SNAPSHOTS: &str = "/v1/snapshots";

/// One snapshot by name or id: `GET` shows, `DELETE` removes (a missing one is not an error).
pub fn snapshot(reference: &str) -> String {
    format!("{SNAPSHOTS}/{reference}")
}

/// `GET`: what a scrub of this sandbox would remove.
pub fn sandbox_scrub_preview(reference: &str) -> String {
    format!("{SANDBOXES}/{reference}/scrub-preview")
}
