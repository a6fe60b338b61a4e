//! The one JSON error body every failed API call returns.

use serde::{Deserialize, Serialize};

/// A machine-readable class of failure; the daemon maps each one to exactly one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request itself is malformed: bad JSON, a bad field, a bad name.
    InvalidRequest,
    /// The named object does not exist.
    NotFound,
    /// The object already exists, or is in a state that forbids the operation.
    Conflict,
    /// The caller is not allowed to use the daemon.
    Forbidden,
    /// An uploaded archive holds an entry the daemon refuses (an escape, a bad type).
    RejectedContent,
    /// The storage pool failed or is out of space.
    Storage,
    /// Anything else: a bug or an unexpected host failure.
    Internal,
}

/// The body of every non-2xx response: `{"code": "...", "message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// The class of failure.
    pub code: ErrorCode,
    /// A sentence for a person: names the thing that failed and, where there is one, the fix.
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}
