//! Removing injected tokens from git's configuration and credential files.
//!
//! A token reaches git as the user information of a URL (`https://x-access-token:TOKEN@
//! github.com/o/r.git`, `https://TOKEN@github.com/...`) in a remote, an `insteadOf`
//! section or a line of a credential store. For the hosts in the ledger, and for any URL
//! whose user information holds an injected value, the user information is cut out and the
//! rest of the file is kept byte for byte. A configuration line that still holds a value
//! afterwards (an `http.extraHeader` with a basic-auth header, say) is dropped whole, and
//! so is a credential line for a ledger host.
//!
//! Symlinked git files are left alone rather than followed; if they hold a token,
//! verification finds it and fails.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::ops::Range;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::ledger::sandbox_path;
use super::needles::Needles;
use super::tree::{absent, Kind, Tree};
use super::{ScrubError, TreeRoot};

/// Git files larger than this are not rewritten (verification still scans them): no real
/// configuration is this big, and the rewrite holds the whole file in memory.
const MAX_GIT_FILE: u64 = 4 << 20;

/// Configuration files below the home directory, besides those of repositories.
const HOME_CONFIGS: &[&str] = &[".gitconfig", ".config/git/config"];

/// Credential stores below the home directory (`git credential-store` reads both).
pub(super) const HOME_CREDENTIALS: &[&str] = &[".git-credentials", ".config/git/credentials"];

/// What counts as a token to remove.
pub(super) struct Tokens<'a> {
    hosts: Vec<&'a str>,
    needles: &'a Needles,
}

impl<'a> Tokens<'a> {
    /// Tokens for `hosts` (from the ledger's git injections) and any of the values.
    pub fn new(hosts: Vec<&'a str>, needles: &'a Needles) -> Tokens<'a> {
        Tokens { hosts, needles }
    }

    fn for_host(&self, url: &[u8], auth: &Authority) -> bool {
        let (hostport, host) = (&url[auth.hostport.clone()], &url[auth.host.clone()]);
        self.hosts.iter().any(|h| {
            h.as_bytes().eq_ignore_ascii_case(hostport) || h.as_bytes().eq_ignore_ascii_case(host)
        })
    }

    fn holds_value(&self, text: &[u8]) -> bool {
        self.needles.find(text).is_some()
    }
}

/// Cleans every git file of the sandbox and returns the sandbox paths of those changed.
pub(super) fn clean(
    capture: &TreeRoot,
    tree: &Tree,
    home: &Path,
    tokens: &Tokens<'_>,
) -> Result<Vec<String>, ScrubError> {
    let mut configs: Vec<PathBuf> = HOME_CONFIGS.iter().map(|name| home.join(name)).collect();
    tree.walk(&home.join("workspace"), &mut |rel, node| {
        if node.kind == Kind::File && is_repository_config(rel) {
            configs.push(rel.to_path_buf());
        }
        Ok(())
    })?;

    let mut cleaned = Vec::new();
    for rel in &configs {
        if rewrite(capture, rel, |text| clean_config(text, tokens))? {
            cleaned.push(sandbox_path(rel).to_string_lossy().into_owned());
        }
    }
    for name in HOME_CREDENTIALS {
        let rel = home.join(name);
        if rewrite(capture, &rel, |text| clean_credentials(text, tokens))? {
            cleaned.push(sandbox_path(&rel).to_string_lossy().into_owned());
        }
    }
    Ok(cleaned)
}

/// Whether `rel` is a repository's `.git/config`, or a submodule's below `.git/modules`.
fn is_repository_config(rel: &Path) -> bool {
    let names: Vec<&OsStr> = rel.iter().collect();
    let Some((last, dirs)) = names.split_last() else {
        return false;
    };
    if *last != "config" {
        return false;
    }
    if dirs.last().is_some_and(|dir| *dir == ".git") {
        return true;
    }
    dirs.windows(2)
        .any(|pair| pair[0] == ".git" && pair[1] == "modules")
}

/// Rewrites the regular file `rel` with what `change` makes of it, keeping its owner and
/// mode; a result that is only blank lines deletes the file. Returns whether it changed.
///
/// The old file is unlinked before the new one is written, so a hard link elsewhere in the
/// tree is never rewritten through this name.
fn rewrite(
    capture: &TreeRoot,
    rel: &Path,
    change: impl Fn(&[u8]) -> Option<Vec<u8>>,
) -> Result<bool, ScrubError> {
    let meta = match capture.symlink_metadata(rel) {
        Ok(meta) => meta,
        Err(e) if absent(&e) => return Ok(false),
        Err(e) => return Err(ScrubError::io("stat", rel, e)),
    };
    let shown = sandbox_path(rel);
    if !meta.is_file() {
        tracing::debug!(path = %shown.display(), "git file is not a regular file; left alone");
        return Ok(false);
    }
    if meta.len() > MAX_GIT_FILE {
        let size = meta.len();
        tracing::warn!(path = %shown.display(), size, "git file too large to clean");
        return Ok(false);
    }

    let text = capture
        .read_file(rel)
        .map_err(|e| ScrubError::io("read", rel, e))?;
    let Some(new) = change(&text) else {
        return Ok(false);
    };
    capture
        .remove_file(rel)
        .map_err(|e| ScrubError::io("remove", rel, e))?;
    if new.iter().all(u8::is_ascii_whitespace) {
        return Ok(true);
    }
    let owner = Some((meta.uid(), meta.gid()));
    capture
        .write_file(rel, &new, meta.mode(), owner)
        .map_err(|e| ScrubError::io("rewrite", rel, e))?;
    Ok(true)
}

/// Cleans a git configuration file; `None` when nothing had to change.
pub(super) fn clean_config(text: &[u8], tokens: &Tokens<'_>) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut changed = false;
    for line in text.split_inclusive(|&b| b == b'\n') {
        let stripped = strip_userinfo(line, tokens);
        changed |= matches!(stripped, Cow::Owned(_));
        if tokens.holds_value(&stripped) {
            changed = true;
            continue;
        }
        out.extend_from_slice(&stripped);
    }
    changed.then_some(out)
}

/// Cleans a credential store (one URL per line); `None` when nothing had to change.
pub(super) fn clean_credentials(text: &[u8], tokens: &Tokens<'_>) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut changed = false;
    for line in text.split_inclusive(|&b| b == b'\n') {
        let for_host = authorities(line)
            .iter()
            .any(|auth| tokens.for_host(line, auth));
        if for_host || tokens.holds_value(line) {
            changed = true;
            continue;
        }
        out.extend_from_slice(line);
    }
    changed.then_some(out)
}

/// `line` without the user information of URLs whose token must go.
fn strip_userinfo<'l>(line: &'l [u8], tokens: &Tokens<'_>) -> Cow<'l, [u8]> {
    let mut out = Vec::new();
    let mut copied = None;
    for auth in authorities(line) {
        let Some(userinfo) = auth.userinfo.clone() else {
            continue;
        };
        if tokens.for_host(line, &auth) || tokens.holds_value(&line[userinfo.clone()]) {
            out.extend_from_slice(&line[copied.unwrap_or(0)..userinfo.start]);
            // Skip the `@` that ends the user information too.
            copied = Some(userinfo.end + 1);
        }
    }
    match copied {
        None => Cow::Borrowed(line),
        Some(from) => {
            out.extend_from_slice(&line[from..]);
            Cow::Owned(out)
        }
    }
}

/// The authority part of a URL (`user:token@host:port`), as ranges into the line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Authority {
    /// The user information, without the `@` after it.
    userinfo: Option<Range<usize>>,
    /// The host with its port.
    hostport: Range<usize>,
    /// The host alone.
    host: Range<usize>,
}

/// Finds the authority of every `scheme://` URL in `line`.
fn authorities(line: &[u8]) -> Vec<Authority> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(pos) = line[from..].windows(3).position(|w| w == b"://") {
        let sep = from + pos;
        let start = sep + 3;
        let len = line[start..]
            .iter()
            .position(|&b| ends_authority(b))
            .unwrap_or(line.len() - start);
        let end = start + len;
        from = end.max(start);
        if sep == 0 || !is_scheme_byte(line[sep - 1]) {
            continue;
        }

        let (userinfo, host_start) = match line[start..end].iter().rposition(|&b| b == b'@') {
            Some(at) => (Some(start..start + at), start + at + 1),
            None => (None, start),
        };
        let hostport = &line[host_start..end];
        let host_len = if hostport.first() == Some(&b'[') {
            hostport
                .iter()
                .position(|&b| b == b']')
                .map_or(hostport.len(), |i| i + 1)
        } else {
            hostport
                .iter()
                .position(|&b| b == b':')
                .unwrap_or(hostport.len())
        };
        found.push(Authority {
            userinfo,
            hostport: host_start..end,
            host: host_start..host_start + host_len,
        });
    }
    found
}

fn ends_authority(byte: u8) -> bool {
    byte.is_ascii_whitespace() || b"/?#\"'\\<>".contains(&byte)
}

fn is_scheme_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"+-.".contains(&byte)
}

#[cfg(test)]
mod tests {
    use super::super::encode::{base64, STANDARD};
    use super::*;

    const TOKEN: &str = "ghs_InjectedToken0123456789abcdef";

    fn needles() -> Needles {
        Needles::new(&[("gh".into(), TOKEN.as_bytes().to_vec())]).unwrap()
    }

    #[test]
    fn tokens_leave_remote_urls_and_the_rest_stays_byte_for_byte() {
        let needles = needles();
        let tokens = Tokens::new(vec!["github.com"], &needles);
        let header = base64(format!("x-access-token:{TOKEN}").as_bytes(), STANDARD);
        let header = String::from_utf8(header).unwrap();
        let text = format!(
            "[core]\n\trepositoryformatversion = 0\r\n\
             [remote \"origin\"]\n\turl = https://x-access-token:{TOKEN}@github.com/o/r.git\n\
             \tfetch = +refs/heads/*:refs/remotes/origin/*\n\
             [remote \"fork\"]\n\turl = https://someone@gitlab.com/o/r.git\n\
             [remote \"port\"]\n\turl = https://{TOKEN}@GitHub.com:443/o/r.git\n\
             [remote \"other\"]\n\turl = https://me:{TOKEN}@example.org/r.git\n\
             [url \"https://{TOKEN}@github.com/\"]\n\tinsteadOf = https://github.com/\n\
             [http \"https://github.com/\"]\n\textraheader = AUTHORIZATION: basic {header}\n\
             [user]\n\tname = A User\n"
        );
        let expected = "[core]\n\trepositoryformatversion = 0\r\n\
             [remote \"origin\"]\n\turl = https://github.com/o/r.git\n\
             \tfetch = +refs/heads/*:refs/remotes/origin/*\n\
             [remote \"fork\"]\n\turl = https://someone@gitlab.com/o/r.git\n\
             [remote \"port\"]\n\turl = https://GitHub.com:443/o/r.git\n\
             [remote \"other\"]\n\turl = https://example.org/r.git\n\
             [url \"https://github.com/\"]\n\tinsteadOf = https://github.com/\n\
             [http \"https://github.com/\"]\n\
             [user]\n\tname = A User\n";
        let cleaned = clean_config(text.as_bytes(), &tokens).expect("changed");
        assert_eq!(String::from_utf8(cleaned).unwrap(), expected);
        assert_eq!(clean_config(expected.as_bytes(), &tokens), None);
    }

    #[test]
    fn credential_lines_for_ledger_hosts_go() {
        let needles = needles();
        let tokens = Tokens::new(vec!["github.com"], &needles);
        let text = format!(
            "https://x-access-token:{TOKEN}@github.com\n\
             https://bob:hunter22@gitlab.com\n\
             https://carol:{TOKEN}@example.org\n"
        );
        let cleaned = clean_credentials(text.as_bytes(), &tokens).unwrap();
        assert_eq!(cleaned, b"https://bob:hunter22@gitlab.com\n");
        let only = format!("https://x-access-token:{TOKEN}@github.com\n");
        assert_eq!(clean_credentials(only.as_bytes(), &tokens).unwrap(), b"");
    }

    #[test]
    fn urls_are_split_into_their_parts() {
        let line = b"a = https://u:p@[::1]:8443/x git+ssh://host.example/y ://bare@x";
        let found = authorities(line);
        assert_eq!(found.len(), 2);
        assert_eq!(&line[found[0].userinfo.clone().unwrap()], b"u:p");
        assert_eq!(&line[found[0].host.clone()], b"[::1]");
        assert_eq!(&line[found[0].hostport.clone()], b"[::1]:8443");
        assert_eq!(found[1].userinfo, None);
        assert_eq!(&line[found[1].host.clone()], b"host.example");
    }

    #[test]
    fn repository_configs_are_recognised() {
        for yes in [
            "r/.git/config",
            "a/b/.git/modules/sub/config",
            ".git/config",
        ] {
            assert!(is_repository_config(Path::new(yes)), "{yes}");
        }
        for no in [
            "r/config",
            "r/.git/config.bak",
            "r/.git/hooks/x",
            "r/.gitconfig",
        ] {
            assert!(!is_repository_config(Path::new(no)), "{no}");
        }
    }
}
