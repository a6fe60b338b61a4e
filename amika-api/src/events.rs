//! `GET /v1/events`: a stream of newline-delimited JSON [`Event`]s.
//!
//! A reader too slow to keep up is disconnected (its stream ends) rather than silently
//! skipped, so a consumer that sees its stream end knows it may have missed events.

use serde::{Deserialize, Serialize};

/// Something that happened to an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// RFC 3339 time.
    pub time: String,
    /// `sandbox`, `image` or `snapshot`.
    pub kind: String,
    /// The object's id.
    pub id: String,
    /// The object's name.
    pub name: String,
    /// Its new state.
    pub state: String,
    /// A detail for people, e.g. a failure's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
