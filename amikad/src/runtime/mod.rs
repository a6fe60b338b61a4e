//! The process runtime: a sandbox's init in its own namespaces, its cgroup, and commands
//! run inside it.

pub mod caps;
pub mod cgroup;
pub mod clone_into;
pub mod exec;
pub mod identity;
pub mod init;
pub mod mounts;
pub mod spawn;
pub mod supervisor;
#[cfg(test)]
mod test_support;
pub mod users;
