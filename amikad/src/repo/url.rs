//! Repository URLs: which ones are on the network, and the key that identifies a repository
//! however its URL is spelled.
//!
//! `git@github.com:org/repo.git`, `ssh://git@github.com/org/repo` and
//! `https://github.com/Org/repo/` all name one repository, so all of them normalise to the
//! key `github.com/Org/repo`: the host lowercased, the user, port, scheme, a trailing `.git`
//! and slashes dropped. The path keeps its case, since most hosts treat it as significant.

/// A network URL, split into the parts the key is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkUrl {
    /// The host, lowercased.
    pub host: String,
    /// The path on the host, without leading or trailing slashes or a `.git` suffix.
    pub path: String,
    /// Credentials were written into the URL (`https://user:token@host/...`).
    pub has_password: bool,
}

impl NetworkUrl {
    /// The repository key: `host/path`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.host, self.path)
    }

    /// The repository's short name: the last part of its path.
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// Parses `url` if it names a repository on the network: `https://`, `http://`, `git://`,
/// `ssh://` or the scp-like `user@host:path`. Local paths and `file://` give `None`.
pub fn parse_network(url: &str) -> Option<NetworkUrl> {
    let (authority_and_path, scp_like) = match url.split_once("://") {
        Some((scheme, rest)) => {
            let scheme = scheme.to_ascii_lowercase();
            if !matches!(
                scheme.as_str(),
                "https" | "http" | "git" | "ssh" | "git+ssh"
            ) {
                return None;
            }
            (rest, false)
        }
        None => (url, true),
    };
    let (authority, path) = if scp_like {
        // `host:path` with an optional `user@`; a colon after a slash is a local path.
        let (authority, path) = authority_and_path.split_once(':')?;
        if authority.is_empty() || authority.contains('/') {
            return None;
        }
        (authority, path)
    } else {
        match authority_and_path.split_once('/') {
            Some((authority, path)) => (authority, path),
            None => (authority_and_path, ""),
        }
    };
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((user, host)) => (Some(user), host),
        None => (None, authority),
    };
    let host = match host_port.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    };
    let path = path.trim_matches('/');
    let path = path
        .strip_suffix(".git")
        .unwrap_or(path)
        .trim_end_matches('/');
    if host.is_empty() || path.is_empty() || host.chars().any(char::is_whitespace) {
        return None;
    }
    Some(NetworkUrl {
        host: host.to_ascii_lowercase(),
        path: path.to_owned(),
        has_password: userinfo.is_some_and(|u| u.contains(':')),
    })
}

/// `url` with any `user:password@` credentials removed, for display and storage.
pub fn without_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    match authority.rsplit_once('@') {
        Some((user, host)) if user.contains(':') => {
            let user = user.split(':').next().unwrap_or("");
            let at = if user.is_empty() { "" } else { "@" };
            format!("{scheme}://{user}{at}{host}/{path}")
        }
        _ => url.to_owned(),
    }
}

/// The key of a repository without a network remote, from its first commit.
pub fn commit_key(root_commit: &str) -> String {
    format!("commit:{root_commit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_repository_share_a_key() {
        for url in [
            "git@github.com:org/repo.git",
            "ssh://git@github.com/org/repo",
            "ssh://git@GitHub.com:22/org/repo.git/",
            "https://github.com/org/repo",
            "https://user@github.com/org/repo.git",
            "git://github.com/org/repo.git",
        ] {
            let parsed = parse_network(url).unwrap_or_else(|| panic!("{url} is a network URL"));
            assert_eq!(parsed.key(), "github.com/org/repo", "{url}");
            assert_eq!(parsed.name(), "repo");
        }
    }

    #[test]
    fn local_paths_and_files_are_not_network_urls() {
        for url in ["/srv/git/repo", "../repo", "file:///srv/git/repo", "./a:b"] {
            assert_eq!(parse_network(url), None, "{url}");
        }
    }

    #[test]
    fn passwords_are_noticed_and_stripped() {
        let url = "https://me:ghp_secret@github.com/org/repo.git";
        assert!(parse_network(url).unwrap().has_password);
        assert_eq!(
            without_credentials(url),
            "https://me@github.com/org/repo.git"
        );
        assert_eq!(without_credentials("https://:tok@host/r"), "https://host/r");
        assert!(
            !parse_network("git@github.com:org/repo")
                .unwrap()
                .has_password
        );
    }

    #[test]
    fn the_path_keeps_its_case_and_depth() {
        let parsed = parse_network("https://gitlab.example.com/Group/Sub/Project.git").unwrap();
        assert_eq!(parsed.key(), "gitlab.example.com/Group/Sub/Project");
        assert_eq!(parsed.name(), "Project");
    }
}
