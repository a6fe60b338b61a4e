//! Deleting several objects by name, one API call each, reporting every outcome.

use serde::Serialize;
use serde_json::Value;

use crate::cli::OutputFormat;
use crate::client::Client;
use crate::error::CtlError;
use crate::output;

/// One name's outcome, as JSON output shows it.
#[derive(Debug, Serialize)]
struct Outcome<'a> {
    name: &'a str,
    deleted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Value>,
}

/// Deletes each of `names` at the path `path_of(name)`.
///
/// Text output reports each name as it goes; JSON output is one array at the end. A daemon
/// that cannot be reached stops the loop at once, since every later call would fail the same
/// way; any other failure is reported and the loop carries on.
pub async fn delete_each(
    client: &Client,
    format: OutputFormat,
    names: &[String],
    path_of: impl Fn(&str) -> String,
) -> Result<(), CtlError> {
    let mut outcomes = Vec::with_capacity(names.len());
    for name in names {
        let outcome = match client.delete(&path_of(name)).await {
            Ok(()) => Outcome {
                name,
                deleted: true,
                error: None,
            },
            Err(err @ CtlError::Unreachable { .. }) => return Err(err),
            Err(err) => {
                if format == OutputFormat::Text {
                    eprintln!("amika-ctl: {name}: {err}");
                }
                Outcome {
                    name,
                    deleted: false,
                    error: Some(err.json_body()),
                }
            }
        };
        if format == OutputFormat::Text && outcome.deleted {
            output::emit(&format!("deleted {name}\n"))?;
        }
        outcomes.push(outcome);
    }

    if format != OutputFormat::Text {
        output::emit(&output::to_json(format, &outcomes)?)?;
    }
    match outcomes.iter().filter(|o| !o.deleted).count() {
        0 => Ok(()),
        failed => Err(CtlError::Partial {
            failed,
            total: names.len(),
        }),
    }
}
