//! Query strings for API paths.
//!
//! A repository filter can be a URL or a path, so values are percent-encoded rather than
//! pasted in: a `&` or `#` in a value must not change what the daemon parses.

/// `path` followed by a query string of the pairs that have a value; `path` alone if none do.
pub fn with_query(path: &str, pairs: &[(&str, Option<&str>)]) -> String {
    let mut out = path.to_string();
    let mut separator = '?';
    for (key, value) in pairs {
        let Some(value) = value else {
            continue;
        };
        out.push(separator);
        out.push_str(&encode(key));
        out.push('=');
        out.push_str(&encode(value));
        separator = '&';
    }
    out
}

/// Percent-encodes every byte outside RFC 3986's unreserved set.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_values_leave_no_trace() {
        assert_eq!(
            with_query("/v1/snapshots", &[("sandbox", None)]),
            "/v1/snapshots"
        );
        let path = with_query("/v1/snapshots", &[("sandbox", None), ("repo", Some("r"))]);
        assert_eq!(path, "/v1/snapshots?repo=r");
    }

    #[test]
    fn values_are_percent_encoded() {
        let pairs = [
            ("sandbox", Some("base-box")),
            ("repo", Some("https://git.example/a b?x=1&y#z/é")),
        ];
        assert_eq!(
            with_query("/p", &pairs),
            "/p?sandbox=base-box&repo=https%3A%2F%2Fgit.example%2Fa%20b%3Fx%3D1%26y%23z%2F%C3%A9"
        );
    }
}
