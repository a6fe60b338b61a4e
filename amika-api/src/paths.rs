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

/// `GET`: a sandbox's setup log as plain text; `?follow=true` keeps the stream open until the
/// setup script has finished.
pub fn sandbox_setup_log(reference: &str) -> String {
    format!("{SANDBOXES}/{reference}/logs/setup")
}

/// The repository collection: `GET` lists.
pub const REPOSITORIES: &str = "/v1/repositories";

/// One repository by id, URL or name: `GET` shows. The reference is percent-encoded, since a
/// URL contains slashes.
pub fn repository(reference: &str) -> String {
    format!("{REPOSITORIES}/{}", encode_segment(reference))
}

/// `PUT` with a [`crate::SetDefaultSnapshot`] sets, `DELETE` clears a repository's default.
pub fn repository_default_snapshot(reference: &str) -> String {
    format!("{}/default-snapshot", repository(reference))
}

/// `GET`: every snapshot captured from a sandbox of the repository.
pub fn repository_snapshots(reference: &str) -> String {
    format!("{}/snapshots", repository(reference))
}

/// Percent-encodes everything but unreserved characters, so any text fits one path segment.
pub fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Reverses [`encode_segment`]; `None` when an escape is malformed or the text is not UTF-8.
pub fn decode_segment(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_round_trips_through_one_segment() {
        let url = "https://github.com/org/repo.git";
        let encoded = encode_segment(url);
        assert!(!encoded.contains('/'), "{encoded}");
        assert_eq!(decode_segment(&encoded).as_deref(), Some(url));
        assert_eq!(
            repository_snapshots("a/b"),
            "/v1/repositories/a%2Fb/snapshots"
        );
    }

    #[test]
    fn malformed_escapes_are_refused() {
        assert_eq!(decode_segment("%4"), None);
        assert_eq!(decode_segment("%zz"), None);
        assert_eq!(decode_segment("%FF"), None);
    }
}
