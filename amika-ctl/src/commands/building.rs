//! Showing an image build on stderr while a request that may start one waits for its answer.
//!
//! `image build` and `sandbox create --preset` can take minutes when the preset's image is
//! built first. The daemon reports each build step on the event stream; this module reads the
//! stream beside the request and prints the steps. Nothing is printed when no build happens,
//! and a stream that cannot be opened or breaks only costs the display.

use std::future::Future;
use std::io::{self, Write};
use std::pin::pin;
use std::time::{Duration, Instant};

use amika_api::{paths, Event};
use hyper::body::Incoming;

use super::feed::Feed;
use crate::cli::OutputFormat;
use crate::client::Client;
use crate::output;

/// How long a build's last event may trail the answer to the request before it is given up.
const LAST_EVENT_GRACE: Duration = Duration::from_millis(500);

/// A subscription to the event stream, or `None` when it cannot be opened. Call it before
/// sending the request, so no step can fall between the two.
pub async fn subscribe(client: &Client) -> Option<Feed<Incoming>> {
    client.get_stream(paths::EVENTS).await.ok().map(Feed::new)
}

/// Awaits `request` while `display` shows the builds that `feed` reports.
pub async fn during<T>(
    feed: Option<Feed<Incoming>>,
    display: &mut Display,
    request: impl Future<Output = T>,
) -> T {
    let Some(mut feed) = feed else {
        return request.await;
    };
    let mut request = pin!(request);
    let answer = tokio::select! {
        answer = &mut request => answer,
        () = follow(&mut feed, display) => request.await,
    };

    // The answer can overtake the build's final event, which travels on another connection.
    let last = async {
        while display.is_open() {
            match feed.next().await {
                Ok(event) => display.show(&event),
                Err(_) => break,
            }
        }
    };
    let _ = tokio::time::timeout(LAST_EVENT_GRACE, last).await;
    answer
}

/// Shows events until the stream ends or fails.
async fn follow(feed: &mut Feed<Incoming>, display: &mut Display) {
    while let Ok(event) = feed.next().await {
        display.show(&event);
    }
}

/// The progress lines of the image builds one command waits on.
#[derive(Debug)]
pub struct Display {
    format: OutputFormat,
    preset: Option<String>,
    started: Instant,
    /// The image whose build has been shown but not its end.
    open: Option<String>,
}

impl Display {
    /// A display of the builds of `preset`, or of any image when `None`, whose times count
    /// from `started`, the moment the command started.
    pub fn new(format: OutputFormat, preset: Option<&str>, started: Instant) -> Self {
        Self {
            format,
            preset: preset.map(str::to_string),
            started,
            open: None,
        }
    }

    /// Whether a build was shown whose end was not.
    fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// Prints `event` on stderr if it belongs to a build this display is for.
    pub fn show(&mut self, event: &Event) {
        if let Some(text) = self.render(event, self.started.elapsed()) {
            let _ = io::stderr().write_all(text.as_bytes());
        }
    }

    /// The line `event` shows after `elapsed`, newline included, or `None` when it shows
    /// nothing. An end is only shown for a build whose steps were.
    fn render(&mut self, event: &Event, elapsed: Duration) -> Option<String> {
        if event.kind != "image" || self.preset.as_deref().is_some_and(|p| p != event.name) {
            return None;
        }
        let name = &event.name;
        let text = match event.state.as_str() {
            "building" => {
                self.open = Some(name.clone());
                match &event.message {
                    Some(step) => format!("building {name}: {step} ({})\n", took(elapsed)),
                    None => format!("building {name} ({})\n", took(elapsed)),
                }
            }
            "ready" | "failed" if self.open.as_ref() == Some(name) => {
                self.open = None;
                if event.state == "ready" {
                    format!("built {name} in {}\n", took(elapsed))
                } else {
                    format!("build of {name} failed after {}\n", took(elapsed))
                }
            }
            _ => return None,
        };
        match self.format {
            OutputFormat::Text => Some(text),
            OutputFormat::Json | OutputFormat::JsonPretty => {
                output::to_json(OutputFormat::Json, event).ok()
            }
        }
    }
}

/// `12.3s` under a minute, `2m14s` from there on.
fn took(elapsed: Duration) -> String {
    let seconds = elapsed.as_secs_f64();
    if seconds < 60.0 {
        return format!("{seconds:.1}s");
    }
    let whole = elapsed.as_secs();
    format!("{}m{:02}s", whole / 60, whole % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, name: &str, state: &str, message: Option<&str>) -> Event {
        Event {
            time: "2026-05-01T12:00:00Z".into(),
            kind: kind.into(),
            id: "00000000000000aa".into(),
            name: name.into(),
            state: state.into(),
            message: message.map(str::to_string),
        }
    }

    fn step(name: &str) -> Event {
        let message = "debootstrap: fetching and installing the base system";
        event("image", name, "building", Some(message))
    }

    #[test]
    fn times_read_in_seconds_then_minutes() {
        assert_eq!(took(Duration::from_millis(12_340)), "12.3s");
        assert_eq!(took(Duration::from_millis(134_900)), "2m14s");
        assert_eq!(took(Duration::from_secs(64)), "1m04s");
    }

    #[test]
    fn a_build_shows_its_steps_and_its_end() {
        let mut display = Display::new(OutputFormat::Text, Some("coder"), Instant::now());
        let text = display.render(&step("coder"), Duration::from_millis(12_300));
        assert_eq!(
            text.as_deref(),
            Some("building coder: debootstrap: fetching and installing the base system (12.3s)\n")
        );
        assert!(display.is_open());
        let ready = event("image", "coder", "ready", None);
        let text = display.render(&ready, Duration::from_secs(134));
        assert_eq!(text.as_deref(), Some("built coder in 2m14s\n"));
        assert!(!display.is_open());
    }

    #[test]
    fn a_failure_names_the_time_it_took() {
        let mut display = Display::new(OutputFormat::Text, None, Instant::now());
        display.render(&step("minimal"), Duration::ZERO);
        let failed = event("image", "minimal", "failed", Some("apt-get failed"));
        let text = display.render(&failed, Duration::from_millis(40_100));
        assert_eq!(
            text.as_deref(),
            Some("build of minimal failed after 40.1s\n")
        );
    }

    #[test]
    fn other_objects_and_other_presets_show_nothing() {
        let mut display = Display::new(OutputFormat::Text, Some("coder"), Instant::now());
        assert!(display.render(&step("minimal"), Duration::ZERO).is_none());
        let sandbox = event("sandbox", "coder", "building", Some("x"));
        assert!(display.render(&sandbox, Duration::ZERO).is_none());
        let ready = event("image", "coder", "ready", None);
        assert!(
            display.render(&ready, Duration::ZERO).is_none(),
            "no end without a build"
        );
    }

    #[test]
    fn json_mode_writes_each_event_as_one_compact_line() {
        let mut display = Display::new(OutputFormat::JsonPretty, None, Instant::now());
        let text = display.render(&step("coder"), Duration::ZERO).unwrap();
        assert!(
            text.ends_with("}\n") && text.matches('\n').count() == 1,
            "{text}"
        );
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (&value["name"], &value["state"]),
            (&"coder".into(), &"building".into())
        );
    }
}
