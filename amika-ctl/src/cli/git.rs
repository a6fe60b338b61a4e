//! The repository flags of `amika-ctl sandbox create`.
//!
//! Which repository a create uses depends on the current directory as well as the flags, so
//! clap only refuses the combinations that can never make sense; `commands::sandbox` decides
//! the rest.

use clap::Args;

/// `--git`, `--no-git` and the flags that shape the checkout.
#[derive(Debug, Clone, Default, Args)]
pub struct GitArgs {
    /// Check out a repository at /home/amika/workspace/<repo>. A local PATH is read with your
    /// own permissions and sent as a git bundle; a URL (https://, http://, git://, ssh://,
    /// user@host:path) is cloned by amikad. --git alone means the repository around the
    /// current directory, which is also used when neither --git nor --no-git is given.
    #[arg(long, value_name = "PATH|URL", num_args = 0..=1)]
    pub git: Option<Option<String>>,
    /// No repository, even when the current directory is in one.
    #[arg(long, conflicts_with_all = ["git", "no_clean", "branch", "new_branch"])]
    pub no_git: bool,
    /// Send the working tree as it is: uncommitted changes and files that are not ignored
    /// come along. Local repositories only.
    #[arg(long)]
    pub no_clean: bool,
    /// Check out this branch instead of the one checked out here (or the default one).
    #[arg(long, value_name = "BRANCH")]
    pub branch: Option<String>,
    /// Create this branch (from --branch, or the checked-out one) and check it out.
    #[arg(long, value_name = "BRANCH")]
    pub new_branch: Option<String>,
}

impl GitArgs {
    /// The flags given that only mean something with a repository, as they are spelled.
    pub fn needing_a_repository(&self) -> Vec<&'static str> {
        let given = [
            (self.branch.is_some(), "--branch"),
            (self.new_branch.is_some(), "--new-branch"),
            (self.no_clean, "--no-clean"),
        ];
        given
            .into_iter()
            .filter_map(|(given, flag)| given.then_some(flag))
            .collect()
    }
}
