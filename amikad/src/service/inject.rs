//! Putting stored secrets into a new sandbox: files, environment variables and git
//! credentials.
//!
//! Every target is written to the ledger before anything touches the tree, and every write
//! goes through [`TreeRoot`], so a symlink planted in the sandbox never redirects a secret to
//! a host path.

use std::path::{Component, Path, PathBuf};

use super::Service;
use crate::error::{Error, Result};
use crate::runtime::users::{self, Account};
use crate::safefs::TreeRoot;
use crate::state::{InjectionKind, InjectionRow};

/// Marks the start of the daemon's block in `/etc/environment`.
pub const ENV_BLOCK_START: &str = "# >>> amika secrets (managed by amikad) >>>";
/// Marks its end.
pub const ENV_BLOCK_END: &str = "# <<< amika secrets <<<";

/// The user secrets belong to.
const SECRET_USER: &str = "amika";

impl Service {
    /// Injects the named secrets into the tree of sandbox `sandbox_id`, each to its stored
    /// targets, and each `(variable, secret)` of `env_secrets` (a repository's `[env]`
    /// entries that name a secret) as that variable.
    pub(super) fn inject_secrets(
        &self,
        sandbox_id: &str,
        tree: &TreeRoot,
        names: &[String],
        env_secrets: &[(String, String)],
    ) -> Result<()> {
        if names.is_empty() && env_secrets.is_empty() {
            return Ok(());
        }
        let account = users::lookup(tree, SECRET_USER).ok_or_else(|| {
            Error::InvalidRequest(format!(
                "secrets go to user '{SECRET_USER}', who does not exist in this sandbox's image"
            ))
        })?;
        let mut plan = Vec::new();
        for name in names {
            let (targets, value) = self.secret_for_injection(name)?;
            for var in &targets.env {
                plan.push(row(name, InjectionKind::Env, var, &value));
            }
            if let Some(file) = &targets.file {
                let path = Path::new(&account.home).join(file);
                plan.push(row(
                    name,
                    InjectionKind::File,
                    &path.to_string_lossy(),
                    &value,
                ));
            }
            if let Some(host) = &targets.git_host {
                plan.push(row(name, InjectionKind::Git, host, &value));
            }
        }
        for (var, name) in env_secrets {
            let (_, value) = self.secret_for_injection(name)?;
            plan.retain(|e| !(e.kind == InjectionKind::Env && &e.target == var));
            plan.push(row(name, InjectionKind::Env, var, &value));
        }
        // The ledger first: whatever happens next, the scrub knows every target.
        for entry in &plan {
            self.store.record_injection(sandbox_id, entry)?;
        }
        let failed =
            |e: std::io::Error| Error::Internal(format!("writing secrets into the sandbox: {e}"));
        self.write_env_block(sandbox_id, tree, &plan)
            .map_err(failed)?;
        for entry in plan.iter().filter(|e| e.kind == InjectionKind::File) {
            write_secret_file(tree, &account, &entry.target, &entry.value).map_err(|e| {
                Error::Conflict(format!(
                    "cannot write secret '{}' to {} in the sandbox: {e}; a directory on that \
                     path may be a symlink that leads nowhere inside the sandbox",
                    entry.secret, entry.target
                ))
            })?;
        }
        let git: Vec<_> = plan
            .iter()
            .filter(|e| e.kind == InjectionKind::Git)
            .collect();
        if !git.is_empty() {
            write_git_credentials(tree, &account, &git).map_err(failed)?;
        }
        let from_config: Vec<&str> = env_secrets.iter().map(|(_, n)| n.as_str()).collect();
        tracing::info!(sandbox = sandbox_id, secrets = ?names, config_secrets = ?from_config,
            targets = plan.len(), "secrets injected");
        Ok(())
    }

    /// Keeps the clean `/etc/environment` and appends the daemon's marked block.
    fn write_env_block(
        &self,
        sandbox_id: &str,
        tree: &TreeRoot,
        plan: &[InjectionRow],
    ) -> std::io::Result<()> {
        let vars: Vec<_> = plan
            .iter()
            .filter(|e| e.kind == InjectionKind::Env)
            .collect();
        if vars.is_empty() {
            return Ok(());
        }
        let rel = Path::new("etc/environment");
        let baseline = match tree.read_file(rel) {
            Ok(content) => content,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        self.store
            .set_env_baseline(sandbox_id, &baseline)
            .map_err(std::io::Error::other)?;
        let mut content = baseline;
        if !content.is_empty() && !content.ends_with(b"\n") {
            content.push(b'\n');
        }
        content.extend_from_slice(format!("{ENV_BLOCK_START}\n").as_bytes());
        for var in vars {
            content.extend_from_slice(format!("{}={}\n", var.target, quote(&var.value)).as_bytes());
        }
        content.extend_from_slice(format!("{ENV_BLOCK_END}\n").as_bytes());
        replace_file(tree, rel, &content, 0o644, (0, 0))
    }
}

fn row(secret: &str, kind: InjectionKind, target: &str, value: &str) -> InjectionRow {
    InjectionRow {
        secret: secret.to_owned(),
        kind,
        target: target.to_owned(),
        value: value.to_owned(),
    }
}

/// Double-quotes a value for `/etc/environment` (read by pam_env and by shells).
fn quote(value: &str) -> String {
    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}

/// The tree-relative form of an absolute in-sandbox path.
fn relative(path: &str) -> PathBuf {
    Path::new(path)
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect()
}

/// Replaces whatever is at `rel` (a symlink included, which is unlinked, never followed).
fn replace_file(
    tree: &TreeRoot,
    rel: &Path,
    content: &[u8],
    mode: u32,
    owner: (u32, u32),
) -> std::io::Result<()> {
    match tree.remove_file(rel) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    tree.write_file(rel, content, mode, Some(owner))
}

/// Creates the missing directories between the user's home and `rel`'s parent, owned by the
/// user, so that the user can manage the file later.
fn make_user_dirs(tree: &TreeRoot, account: &Account, rel: &Path) -> std::io::Result<()> {
    let home = relative(&account.home);
    let Some(parent) = rel.parent() else {
        return Ok(());
    };
    let mut dir = PathBuf::new();
    for part in parent.components() {
        dir.push(part);
        if !dir.starts_with(&home) || dir == home {
            continue;
        }
        if tree.symlink_metadata(&dir).is_err() {
            tree.create_dir_all(&dir, 0o700)?;
            tree.set_owner(&dir, account.uid, account.gid)?;
        }
    }
    tree.create_dir_all(parent, 0o755)
}

fn write_secret_file(
    tree: &TreeRoot,
    account: &Account,
    path: &str,
    value: &str,
) -> std::io::Result<()> {
    let rel = relative(path);
    make_user_dirs(tree, account, &rel)?;
    replace_file(
        tree,
        &rel,
        value.as_bytes(),
        0o600,
        (account.uid, account.gid),
    )
}

/// Writes `~/.git-credentials` with a line per host and makes git use it.
fn write_git_credentials(
    tree: &TreeRoot,
    account: &Account,
    entries: &[&InjectionRow],
) -> std::io::Result<()> {
    let home = relative(&account.home);
    let owner = (account.uid, account.gid);
    let lines: String = entries
        .iter()
        .map(|e| format!("https://amika:{}@{}\n", e.value, e.target))
        .collect();
    replace_file(
        tree,
        &home.join(".git-credentials"),
        lines.as_bytes(),
        0o600,
        owner,
    )?;

    let gitconfig = home.join(".gitconfig");
    let mut config = tree.read_file(&gitconfig).unwrap_or_default();
    if !String::from_utf8_lossy(&config).contains("helper = store") {
        config.extend_from_slice(b"[credential]\n\thelper = store\n");
        replace_file(tree, &gitconfig, &config, 0o644, owner)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_for_environment_files() {
        assert_eq!(quote("plain"), "\"plain\"");
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn absolute_paths_become_tree_relative() {
        assert_eq!(
            relative("/home/amika/.codex/auth.json"),
            Path::new("home/amika/.codex/auth.json")
        );
    }
}
