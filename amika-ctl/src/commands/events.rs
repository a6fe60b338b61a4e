//! `amika-ctl events`: follow the daemon's event stream.

use amika_api::{paths, Event};

use super::feed::{Feed, FeedError};
use crate::cli::OutputFormat;
use crate::client::Client;
use crate::error::CtlError;
use crate::output::{self, short_time};

/// Why a stream that never ends on its own may have ended.
const HINT_STREAM_ENDED: &str = "amikad closed it: it may be stopping, or this reader fell too \
     far behind; run the command again";

/// Prints events as they arrive until the stream or stdout closes.
pub async fn run(client: &Client, format: OutputFormat) -> Result<(), CtlError> {
    let mut feed = Feed::new(client.get_stream(paths::EVENTS).await?);
    loop {
        let event = match feed.next().await {
            Ok(event) => event,
            Err(FeedError::Garbled(why)) => {
                return Err(CtlError::BadResponse(format!("an event line: {why}")))
            }
            Err(ended) => return Err(client.unreachable(ended.to_string(), HINT_STREAM_ENDED)),
        };
        if !output::emit_while_open(&render(format, &event)?)? {
            return Ok(());
        }
    }
}

/// One event as it is printed.
fn render(format: OutputFormat, event: &Event) -> Result<String, CtlError> {
    match format {
        OutputFormat::Text => Ok(text(event)),
        OutputFormat::Json | OutputFormat::JsonPretty => output::to_json(format, event),
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

    fn event(line: &[u8]) -> Event {
        serde_json::from_slice(line).unwrap()
    }

    #[test]
    fn text_lines_read_time_kind_name_state() {
        let text = render(OutputFormat::Text, &event(STARTED)).unwrap();
        assert_eq!(text, "2026-05-01T12:00:00Z sandbox red-oslo running\n");
    }

    #[test]
    fn text_lines_end_with_the_message_when_there_is_one() {
        let line = br#"{"time":"t","kind":"image","id":"1","name":"coder","state":"failed",
            "message":"apt-get failed"}"#;
        let text = render(OutputFormat::Text, &event(line)).unwrap();
        assert_eq!(text, "t image coder failed apt-get failed\n");
    }

    #[test]
    fn json_lines_are_one_compact_object_each() {
        let json = render(OutputFormat::Json, &event(STARTED)).unwrap();
        assert!(
            json.ends_with("}\n") && json.matches('\n').count() == 1,
            "{json}"
        );
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["name"], "red-oslo");
        assert!(value.get("message").is_none());
    }
}
