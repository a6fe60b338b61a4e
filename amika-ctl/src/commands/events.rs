//! `amika-ctl events`: follow the daemon's event stream.

use amika_api::{paths, Event};
use http_body_util::BodyExt;

use crate::cli::OutputFormat;
use crate::client::Client;
use crate::error::CtlError;
use crate::output::{self, short_time};

/// Why a stream that never ends on its own may have ended.
const HINT_STREAM_ENDED: &str = "amikad closed it: it may be stopping, or this reader fell too \
     far behind; run the command again";

/// Prints events as they arrive until the stream or stdout closes.
pub async fn run(client: &Client, format: OutputFormat) -> Result<(), CtlError> {
    let mut body = client.get_stream(paths::EVENTS).await?;
    let mut pending = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            client.unreachable(
                format!("the event stream was cut off ({e})"),
                HINT_STREAM_ENDED,
            )
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        pending.extend_from_slice(&data);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let Some(text) = render(format, &line)? else {
                continue;
            };
            if !output::emit_while_open(&text)? {
                return Ok(());
            }
        }
    }
    Err(client.unreachable("the event stream ended".to_string(), HINT_STREAM_ENDED))
}

/// One line of the stream as it is printed; `None` for a blank line.
fn render(format: OutputFormat, line: &[u8]) -> Result<Option<String>, CtlError> {
    if line.trim_ascii().is_empty() {
        return Ok(None);
    }
    let event: Event = serde_json::from_slice(line).map_err(|e| {
        let text = String::from_utf8_lossy(line);
        CtlError::BadResponse(format!("event '{}': {e}", text.trim_end()))
    })?;
    match format {
        OutputFormat::Text => Ok(Some(text(&event))),
        OutputFormat::Json | OutputFormat::JsonPretty => output::to_json(format, &event).map(Some),
    }
}

fn text(event: &Event) -> String {
    let mut line = format!(
        "{} {} {} {}",
        short_time(&event.time),
        event.kind,
        event.name,
        event.state
    );
    if let Some(message) = &event.message {
        line.push(' ');
        line.push_str(message);
    }
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    const STARTED: &[u8] = br#"{"time":"2026-05-01T12:00:00.5Z","kind":"sandbox","id":"ab",
        "name":"red-oslo","state":"running"}"#;

    #[test]
    fn text_lines_read_time_kind_name_state() {
        let text = render(OutputFormat::Text, STARTED).unwrap().unwrap();
        assert_eq!(text, "2026-05-01T12:00:00Z sandbox red-oslo running\n");
    }

    #[test]
    fn text_lines_end_with_the_message_when_there_is_one() {
        let line = br#"{"time":"t","kind":"image","id":"1","name":"coder","state":"failed",
            "message":"apt-get failed"}"#;
        let text = render(OutputFormat::Text, line).unwrap().unwrap();
        assert_eq!(text, "t image coder failed apt-get failed\n");
    }

    #[test]
    fn json_lines_are_one_compact_object_each() {
        let json = render(OutputFormat::Json, STARTED).unwrap().unwrap();
        assert!(
            json.ends_with("}\n") && json.matches('\n').count() == 1,
            "{json}"
        );
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["name"], "red-oslo");
        assert!(value.get("message").is_none());
    }

    #[test]
    fn blank_lines_are_skipped_and_garbage_is_an_error() {
        assert!(render(OutputFormat::Text, b"\n").unwrap().is_none());
        let err = render(OutputFormat::Text, b"not json\n").unwrap_err();
        assert_eq!(err.exit_code(), 1);
        assert!(err.to_string().contains("event 'not json'"), "{err}");
    }
}
