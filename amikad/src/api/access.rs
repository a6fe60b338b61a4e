//! Who may use the API: root and the members of group `amika`.
//!
//! The socket's mode (0660, group `amika`) keeps everyone else out already, but a mode can be
//! widened or a socket bind-mounted elsewhere by mistake, so each connection is also checked
//! against the peer's kernel credentials (`SO_PEERCRED`). Membership is that of the peer
//! process, the sets the kernel itself judged when it let the process open the socket: the
//! primary group from the credentials, the supplementary groups from `/proc/<pid>/status`.
//! As with any group, a user just added must log in again before it counts.

use std::fmt;

use tokio::net::UnixStream;

/// The group whose members may use the daemon.
pub const GROUP: &str = "amika";

/// A refused peer, with the message every request on its connection is answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The peer's user name, or `uid-N` when it has none.
    pub user: String,
    /// The peer's uid.
    pub uid: u32,
    /// The peer's pid, when the kernel reports one.
    pub pid: Option<i32>,
    /// Why, and the fix.
    pub message: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Checks the peer of `stream`; `Err` carries the refusal to answer with.
pub async fn check(stream: &UnixStream) -> Result<(), Refusal> {
    let cred = match stream.peer_cred() {
        Ok(cred) => cred,
        Err(e) => {
            return Err(Refusal {
                user: "unknown".into(),
                uid: u32::MAX,
                pid: None,
                message: format!("cannot read the caller's credentials: {e}"),
            })
        }
    };
    // Root is the common case and needs no lookup.
    if cred.uid() == 0 {
        return Ok(());
    }
    let (uid, gid, pid) = (cred.uid(), cred.gid(), cred.pid());
    // Group and user lookups may go through NSS (LDAP and the like), which can block.
    tokio::task::spawn_blocking(move || check_member(uid, gid, pid))
        .await
        .unwrap_or_else(|e| {
            Err(Refusal {
                user: user_name(uid),
                uid,
                pid,
                message: format!("checking the caller's groups failed: {e}"),
            })
        })
}

fn check_member(uid: u32, gid: u32, pid: Option<i32>) -> Result<(), Refusal> {
    let group = nix::unistd::Group::from_name(GROUP).ok().flatten();
    if let Some(group) = &group {
        let amika = group.gid.as_raw();
        if gid == amika || peer_groups(uid, pid).contains(&amika) {
            return Ok(());
        }
    }
    let user = user_name(uid);
    let fix = format!("add the user to the group: usermod -aG {GROUP} {user}");
    let message = match group {
        Some(_) => format!(
            "user {user} (uid {uid}) may not use amikad: only root and members of group \
             {GROUP} may; {fix} (and log in again)"
        ),
        None => format!(
            "user {user} (uid {uid}) may not use amikad: only root and members of group \
             {GROUP} may, and that group does not exist; create it with groupadd --system \
             {GROUP}, then {fix}"
        ),
    };
    Err(Refusal {
        user,
        uid,
        pid,
        message,
    })
}

fn user_name(uid: u32) -> String {
    match nix::unistd::User::from_uid(uid.into()) {
        Ok(Some(user)) => user.name,
        _ => format!("uid-{uid}"),
    }
}

/// The supplementary groups of process `pid`, or none if it is gone or now runs as someone
/// else (its pid reused): a check must never lend one process's groups to another.
fn peer_groups(uid: u32, pid: Option<i32>) -> Vec<u32> {
    let Some(pid) = pid.filter(|p| *p > 0) else {
        return Vec::new();
    };
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| groups_from_status(&status, uid))
        .unwrap_or_default()
}

/// Parses the `Groups:` line of a `/proc/<pid>/status` text whose effective uid is `uid`.
fn groups_from_status(status: &str, uid: u32) -> Option<Vec<u32>> {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
    };
    // Uid: real, effective, saved, filesystem; SO_PEERCRED reports the effective one.
    let effective: u32 = field("Uid")?.split_whitespace().nth(1)?.parse().ok()?;
    if effective != uid {
        return None;
    }
    field("Groups")?
        .split_whitespace()
        .map(|g| g.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tamika-ctl\nUid:\t1001\t1001\t1001\t1001\n\
                          Gid:\t1001\t1001\t1001\t1001\nGroups:\t27 998 1001 \nNSpid:\t4242\n";

    #[test]
    fn supplementary_groups_are_read_for_the_same_user() {
        assert_eq!(groups_from_status(STATUS, 1001), Some(vec![27, 998, 1001]));
    }

    #[test]
    fn a_reused_pid_lends_no_groups() {
        assert_eq!(groups_from_status(STATUS, 1002), None);
    }

    #[test]
    fn no_supplementary_groups_is_an_empty_list() {
        let status = "Uid:\t5\t5\t5\t5\nGroups:\t\n";
        assert_eq!(groups_from_status(status, 5), Some(vec![]));
    }

    #[test]
    fn an_unknown_uid_is_named_by_number() {
        assert_eq!(user_name(4_000_000_000), "uid-4000000000");
    }
}
