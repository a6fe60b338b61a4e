//! The daemon's one error type and its single mapping onto API error codes.

use amika_api::ErrorCode;

/// Every failure a service function can report to an API caller.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed; the message says which field and how to fix it.
    #[error("{0}")]
    InvalidRequest(String),
    /// The named object does not exist.
    #[error("{kind} '{name}' not found")]
    NotFound {
        /// `sandbox`, `image`, ...
        kind: &'static str,
        /// The name or id the caller gave.
        name: String,
    },
    /// The object exists already or its state forbids the operation.
    #[error("{0}")]
    Conflict(String),
    /// An uploaded archive was refused.
    #[error("{0}")]
    RejectedContent(String),
    /// The storage pool failed.
    #[error("storage: {0}")]
    Storage(String),
    /// The state store failed.
    #[error("state store: {0}")]
    State(#[from] rusqlite::Error),
    /// Anything else.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// The wire code for this error. This match is the only place that decides it.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidRequest(_) => ErrorCode::InvalidRequest,
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::RejectedContent(_) => ErrorCode::RejectedContent,
            Self::Storage(_) => ErrorCode::Storage,
            Self::State(_) | Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// Shorthand for a missing object.
    pub fn not_found(kind: &'static str, name: impl Into<String>) -> Self {
        Self::NotFound {
            kind,
            name: name.into(),
        }
    }
}

impl From<crate::storage::StorageError> for Error {
    fn from(e: crate::storage::StorageError) -> Self {
        Self::Storage(e.to_string())
    }
}

/// The result type of every service function.
pub type Result<T, E = Error> = std::result::Result<T, E>;
