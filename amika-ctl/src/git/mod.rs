//! Reading the caller's own git repositories for `sandbox create --git`.
//!
//! The daemon runs as root and never opens a path a user names, so a local repository is read
//! here, by `git` running as the calling user: [`discover`] finds it and checks it can be
//! read, [`describe`] collects what the daemon needs to know about it, [`bundle`] packs its
//! history and [`worktree`] its working tree. [`url`] tells a network URL, which the daemon
//! clones itself, from a local path.

pub mod bundle;
mod command;
pub mod describe;
pub mod discover;
pub mod url;
pub mod worktree;

#[cfg(test)]
pub mod testing;
