//! Users inside a sandbox, read from the tree's own `/etc/passwd` and `/etc/group`.

use std::path::Path;

use crate::safefs::TreeRoot;

/// An account inside a sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Login name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups (including the primary one).
    pub groups: Vec<u32>,
    /// Home directory.
    pub home: String,
    /// Login shell.
    pub shell: String,
}

/// Looks `name` up in the tree's passwd and group files. Returns `None` when the user does
/// not exist there.
pub fn lookup(tree: &TreeRoot, name: &str) -> Option<Account> {
    let passwd = tree.read_file(Path::new("etc/passwd")).ok()?;
    let passwd = String::from_utf8_lossy(&passwd);
    let mut account = parse_passwd(&passwd, name)?;
    if let Ok(group) = tree.read_file(Path::new("etc/group")) {
        account.groups = groups_of(&String::from_utf8_lossy(&group), name, account.gid);
    }
    Some(account)
}

fn parse_passwd(passwd: &str, name: &str) -> Option<Account> {
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 || f[0] != name {
            return None;
        }
        Some(Account {
            name: name.to_owned(),
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            groups: vec![f[3].parse().ok()?],
            home: f[5].to_owned(),
            shell: if f[6].is_empty() {
                "/bin/sh".into()
            } else {
                f[6].to_owned()
            },
        })
    })
}

fn groups_of(group: &str, name: &str, primary: u32) -> Vec<u32> {
    let mut groups = vec![primary];
    for line in group.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 4 && f[3].split(',').any(|m| m == name) {
            if let Ok(gid) = f[2].parse() {
                if !groups.contains(&gid) {
                    groups.push(gid);
                }
            }
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_accounts_and_groups() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\namika:x:1000:1000::/home/amika:/bin/zsh\n";
        let a = parse_passwd(passwd, "amika").unwrap();
        assert_eq!(
            (a.uid, a.gid, a.home.as_str(), a.shell.as_str()),
            (1000, 1000, "/home/amika", "/bin/zsh")
        );
        assert!(parse_passwd(passwd, "nobody").is_none());
        let group = "amika:x:1000:\nsudo:x:27:amika\nusers:x:100:bob,amika\n";
        assert_eq!(groups_of(group, "amika", 1000), vec![1000, 27, 100]);
    }
}
