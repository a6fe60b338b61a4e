//! Repositories on the daemon's side: their URLs and keys, their configuration file, and
//! the checkout that lands in a sandbox's workspace.

pub mod checkout;
pub mod config;
pub mod copy;
pub mod git;
pub mod url;
