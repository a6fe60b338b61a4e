//! Commands that act on several objects by name, one API call each, reporting every outcome.

use std::future::Future;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::cli::OutputFormat;
use crate::client::Client;
use crate::error::CtlError;
use crate::output;

/// What is being done to each object, for the text lines and the JSON outcome field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `deleted NAME`; JSON `"deleted": true`.
    Delete,
    /// `started NAME`; JSON `"started": true`, with the sandbox.
    Start,
    /// `stopped NAME`; JSON `"stopped": true`, with the sandbox.
    Stop,
}

impl Action {
    fn past(self) -> &'static str {
        match self {
            Self::Delete => "deleted",
            Self::Start => "started",
            Self::Stop => "stopped",
        }
    }
}

/// Deletes each of `names` at the path `path_of(name)`.
pub async fn delete_each(
    client: &Client,
    format: OutputFormat,
    names: &[String],
    path_of: impl Fn(&str) -> String,
) -> Result<(), CtlError> {
    let call = |name: String| {
        let path = path_of(&name);
        async move { client.delete(&path).await }
    };
    for_each(format, Action::Delete, names, call).await
}

/// Runs `call(name)` for each of `names` in turn.
///
/// Text output reports each name as it goes; JSON output is one array at the end, one object
/// per name: `{"name", "<action>": bool, "error"?}`, plus `"sandbox"` when the call returned
/// something other than nothing. A daemon that cannot be reached stops the loop at once,
/// since every later call would fail the same way; any other failure is reported and the
/// loop carries on.
pub async fn for_each<T, F, Fut>(
    format: OutputFormat,
    action: Action,
    names: &[String],
    call: F,
) -> Result<(), CtlError>
where
    T: Serialize,
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<T, CtlError>>,
{
    let mut outcomes = Vec::with_capacity(names.len());
    let mut failed = 0;
    for name in names {
        let mut outcome = Map::new();
        outcome.insert("name".into(), Value::from(name.as_str()));
        match call(name.clone()).await {
            Ok(result) => {
                if format == OutputFormat::Text {
                    output::emit(&format!("{} {name}\n", action.past()))?;
                }
                outcome.insert(action.past().into(), Value::Bool(true));
                let result = serde_json::to_value(result).unwrap_or(Value::Null);
                if !result.is_null() {
                    outcome.insert("sandbox".into(), result);
                }
            }
            Err(err @ CtlError::Unreachable { .. }) => return Err(err),
            Err(err) => {
                if format == OutputFormat::Text {
                    eprintln!("amika-ctl: {name}: {err}");
                }
                failed += 1;
                outcome.insert(action.past().into(), Value::Bool(false));
                outcome.insert("error".into(), err.json_body());
            }
        }
        outcomes.push(Value::Object(outcome));
    }

    if format != OutputFormat::Text {
        output::emit(&output::to_json(format, &outcomes)?)?;
    }
    match failed {
        0 => Ok(()),
        failed => Err(CtlError::Partial {
            failed,
            total: names.len(),
        }),
    }
}
