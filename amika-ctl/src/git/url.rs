//! Telling a network repository URL, which the daemon may clone, from a local path, which only
//! the client may read.
//!
//! The daemon runs as root: a local path or `file://` URL handed to it would let a user have
//! it read a repository the user cannot. So only the network forms pass: `https://`,
//! `http://`, `git://`, `ssh://`, and git's scp-like `[user@]host:path`.

use std::path::PathBuf;

use amika_api::paths::decode_segment;

use crate::error::CtlError;

/// The URL schemes the daemon clones.
const NETWORK_SCHEMES: [&str; 4] = ["https://", "http://", "git://", "ssh://"];

/// What `--git VALUE` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A network repository, for the daemon to clone.
    Url(String),
    /// A local repository (or a directory inside one), for the client to read.
    Path(PathBuf),
}

/// Sorts the value of `--git`. A `file://` URL becomes the path it names, so it is read here
/// like any path; a URL of any other scheme is refused.
pub fn classify(value: &str) -> Result<Location, CtlError> {
    if value.is_empty() {
        return Err(CtlError::Usage(
            "--git needs a path or a URL; give --git alone for the repository around the \
             current directory"
                .into(),
        ));
    }
    if is_network(value) {
        return Ok(Location::Url(value.to_string()));
    }
    if let Some(rest) = strip_prefix_ignoring_case(value, "file://") {
        return file_url_path(value, rest).map(Location::Path);
    }
    if value.contains("://") {
        return Err(CtlError::Usage(format!(
            "--git {value}: unsupported URL scheme; use https://, http://, git://, ssh://, \
             user@host:path, or a local path"
        )));
    }
    Ok(Location::Path(PathBuf::from(value)))
}

/// Whether `url` is a network repository URL.
pub fn is_network(url: &str) -> bool {
    let has_scheme = NETWORK_SCHEMES
        .iter()
        .any(|scheme| strip_prefix_ignoring_case(url, scheme).is_some_and(|rest| !rest.is_empty()));
    has_scheme || is_scp_like(url)
}

/// `[user@]host:path`, as git reads it: a colon before any slash, with text on both sides.
/// `./a:b` and `/a:b` are paths, since their slash comes first.
fn is_scp_like(url: &str) -> bool {
    if url.contains("://") {
        return false;
    }
    let Some(colon) = url.find(':') else {
        return false;
    };
    if url.find('/').is_some_and(|slash| slash < colon) {
        return false;
    }
    let (before, path) = (&url[..colon], &url[colon + 1..]);
    let host = before.rsplit_once('@').map_or(before, |(_, host)| host);
    !host.is_empty() && !path.is_empty()
}

/// The local path of `file:///path`; `rest` is what follows `file://`.
fn file_url_path(value: &str, rest: &str) -> Result<PathBuf, CtlError> {
    if !rest.starts_with('/') {
        return Err(CtlError::Usage(format!(
            "--git {value}: only file:///path URLs name a local repository; pass the path itself"
        )));
    }
    let path = decode_segment(rest).ok_or_else(|| {
        CtlError::Usage(format!(
            "--git {value}: malformed %-escape in the URL; pass the path itself"
        ))
    })?;
    Ok(PathBuf::from(path))
}

fn strip_prefix_ignoring_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_forms_are_urls() {
        for url in [
            "https://github.com/org/app.git",
            "HTTP://git.example/app",
            "git://git.example/app",
            "ssh://git@git.example:2222/org/app.git",
            "git@github.com:org/app.git",
            "github.com:org/app",
        ] {
            assert!(is_network(url), "{url}");
            assert_eq!(classify(url).unwrap(), Location::Url(url.to_string()));
        }
    }

    #[test]
    fn local_forms_are_not_network() {
        for path in [
            "/srv/git/app.git",
            "../app",
            "./a:b",
            "app",
            "file:///srv/git/app.git",
            "https://",
            "user@:path",
            "host:",
            "ftp://example/app",
        ] {
            assert!(!is_network(path), "{path}");
        }
    }

    #[test]
    fn paths_and_file_urls_are_read_locally() {
        assert_eq!(
            classify("../app").unwrap(),
            Location::Path(PathBuf::from("../app"))
        );
        assert_eq!(
            classify("file:///home/me/my%20app").unwrap(),
            Location::Path(PathBuf::from("/home/me/my app"))
        );
    }

    #[test]
    fn other_urls_are_usage_errors_that_name_the_forms() {
        for bad in ["ftp://example/app", "file://host/app", "file:///a%zz", ""] {
            let err = classify(bad).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad}");
        }
        let message = classify("ftp://example/app").unwrap_err().to_string();
        assert!(
            message.contains("https://, http://, git://, ssh://"),
            "{message}"
        );
    }
}
