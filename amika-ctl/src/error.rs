//! Every way a command can fail, and the exit code and JSON body each one maps to.

use std::io;

use amika_api::ApiError;
use serde_json::{json, Value};

/// Exit code for a command that failed: the daemon refused it, or a local step failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code for a malformed command line; clap uses the same code for its own errors.
pub const EXIT_USAGE: u8 = 2;
/// Exit code for a daemon that cannot be reached.
pub const EXIT_UNREACHABLE: u8 = 3;

/// A failed command.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// The command line is well-formed for clap but wrong for amika, e.g. a bad name.
    #[error("{0}")]
    Usage(String),

    /// No conversation with the daemon was possible, or it hung up before answering.
    #[error("cannot reach amikad at {socket}: {reason}; {hint}")]
    Unreachable {
        /// The socket path that was tried.
        socket: String,
        /// What went wrong, usually the OS error.
        reason: String,
        /// What the user can do about it.
        hint: &'static str,
    },

    /// The daemon refused the request with its JSON error body.
    #[error("{0}")]
    Api(ApiError),

    /// The daemon answered with a failure this client cannot decode as an [`ApiError`].
    #[error("amikad answered {status}: {message}")]
    Status {
        /// The HTTP status line's code and reason.
        status: String,
        /// The error code from the body, when the body had one this client does not know.
        code: Option<String>,
        /// The body's message, or the body itself.
        message: String,
    },

    /// A success response whose body is not what this client expects.
    #[error("amikad sent a response amika-ctl cannot read: {0}")]
    BadResponse(String),

    /// A local step failed, such as reading the archive to upload.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the path.
        context: String,
        /// The underlying error.
        source: io::Error,
    },

    /// A local step failed and only its description survived, e.g. through the HTTP stack.
    #[error("{0}")]
    Local(String),

    /// Some items of a multi-item command failed; each was already reported on its own.
    #[error("{failed} of {total} operations failed")]
    Partial {
        /// How many items failed.
        failed: usize,
        /// How many were attempted.
        total: usize,
    },
}

impl CtlError {
    /// Wraps an I/O error with a description of the step, which should name the path.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    /// The process exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => EXIT_USAGE,
            Self::Unreachable { .. } => EXIT_UNREACHABLE,
            Self::Api(_)
            | Self::Status { .. }
            | Self::BadResponse(_)
            | Self::Io { .. }
            | Self::Local(_)
            | Self::Partial { .. } => EXIT_FAILED,
        }
    }

    /// The `{"code": ..., "message": ...}` object describing this failure in JSON output.
    ///
    /// Daemon errors keep their own code. Failures that never reached the daemon get codes of
    /// their own (`unreachable`, `local`, `bad_response`), except usage errors, which use
    /// `invalid_request` as the daemon would for the same mistake.
    pub fn json_body(&self) -> Value {
        let code = match self {
            Self::Api(err) => return json!(err),
            Self::Usage(_) => "invalid_request",
            Self::Unreachable { .. } => "unreachable",
            Self::Status {
                code: Some(code), ..
            } => code.as_str(),
            Self::Status { code: None, .. } | Self::BadResponse(_) => "bad_response",
            Self::Io { .. } | Self::Local(_) | Self::Partial { .. } => "local",
        };
        json!({ "code": code, "message": self.to_string() })
    }

    /// Whether the failure was already printed item by item, so nothing more should be said.
    pub fn already_reported(&self) -> bool {
        matches!(self, Self::Partial { .. })
    }
}

#[cfg(test)]
mod tests {
    use amika_api::ErrorCode;

    use super::*;

    fn api(code: ErrorCode) -> CtlError {
        CtlError::Api(ApiError {
            code,
            message: "sandbox 'a' not found".into(),
        })
    }

    fn unreachable() -> CtlError {
        CtlError::Unreachable {
            socket: "/run/amika/amikad.sock".into(),
            reason: "No such file or directory (os error 2)".into(),
            hint: "is the daemon running?",
        }
    }

    #[test]
    fn exit_codes_follow_the_failure_class() {
        assert_eq!(CtlError::Usage("bad name".into()).exit_code(), 2);
        assert_eq!(unreachable().exit_code(), 3);
        assert_eq!(api(ErrorCode::NotFound).exit_code(), 1);
        assert_eq!(
            CtlError::io("cannot read /x", io::ErrorKind::NotFound.into()).exit_code(),
            1
        );
        assert_eq!(
            CtlError::Partial {
                failed: 1,
                total: 2
            }
            .exit_code(),
            1
        );
    }

    #[test]
    fn unreachable_message_names_the_socket_and_the_fix() {
        let text = unreachable().to_string();
        assert_eq!(
            text,
            "cannot reach amikad at /run/amika/amikad.sock: \
             No such file or directory (os error 2); is the daemon running?"
        );
    }

    #[test]
    fn json_body_keeps_daemon_codes() {
        let body = api(ErrorCode::NotFound).json_body();
        assert_eq!(
            body,
            json!({"code": "not_found", "message": "sandbox 'a' not found"})
        );
    }

    #[test]
    fn json_body_marks_client_side_failures() {
        assert_eq!(unreachable().json_body()["code"], "unreachable");
        assert_eq!(
            CtlError::Usage("x".into()).json_body()["code"],
            "invalid_request"
        );
        assert_eq!(CtlError::Local("x".into()).json_body()["code"], "local");
        let unknown = CtlError::Status {
            status: "418 I'm a teapot".into(),
            code: Some("teapot".into()),
            message: "short and stout".into(),
        };
        assert_eq!(unknown.json_body()["code"], "teapot");
    }
}
