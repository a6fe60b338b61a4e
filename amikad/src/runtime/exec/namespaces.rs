//! Entering the sandbox: its cgroup, then the namespaces of its init, all opened before any
//! is joined.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;

use super::error::HelperError;

/// The namespaces joined, in order. The mount namespace comes last because joining it changes
/// what every later path lookup means.
const NAMESPACES: [(&str, CloneFlags); 6] = [
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

/// Descriptors of the sandbox's init, all opened before any of them is joined.
pub(super) struct InitHandles {
    namespaces: Vec<(&'static str, CloneFlags, File)>,
    /// The init's root directory, which the command takes as its own.
    pub(super) root: File,
}

impl InitHandles {
    /// Opens the namespaces and root of process `pid`.
    pub(super) fn open(pid: i32) -> Result<InitHandles, HelperError> {
        // Everything is opened relative to one /proc/<pid> descriptor: if the pid is reused
        // while we work, lookups through it fail instead of reaching the newcomer.
        let dir_path = format!("/proc/{pid}");
        let dir = File::open(&dir_path).map_err(|source| HelperError::OpenInit {
            path: dir_path.clone(),
            source,
        })?;
        let mut namespaces = Vec::with_capacity(NAMESPACES.len());
        for (name, flag) in NAMESPACES {
            let file = open_in(&dir, &format!("ns/{name}"), OFlag::O_RDONLY)?;
            namespaces.push((name, flag, file));
        }
        let root = open_in(&dir, "root", OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
        Ok(InitHandles { namespaces, root })
    }

    /// Joins every namespace that differs from ours, but the cgroup one when `defer_cgroup`;
    /// returns which were joined, and whether the cgroup one is left for the command to join
    /// with [`InitHandles::enter_cgroup_namespace`].
    pub(super) fn enter(&self, defer_cgroup: bool) -> Result<Entered, HelperError> {
        // All compared before any is joined: inside the sandbox's mount namespace /proc is the
        // sandbox's, where this process has no pid and /proc/self leads nowhere.
        let mut to_join = Vec::new();
        for (name, flag, file) in &self.namespaces {
            if !same_namespace(name, file)? {
                to_join.push((*name, *flag, file));
            }
        }
        let cgroup_deferred = defer_cgroup
            && to_join
                .iter()
                .any(|(_, flag, _)| *flag == CloneFlags::CLONE_NEWCGROUP);
        for (ns, flag, file) in &to_join {
            if cgroup_deferred && *flag == CloneFlags::CLONE_NEWCGROUP {
                continue;
            }
            nix::sched::setns(file, *flag).map_err(|source| HelperError::Setns { ns, source })?;
        }
        Ok(Entered {
            pid: to_join
                .iter()
                .any(|(_, flag, _)| *flag == CloneFlags::CLONE_NEWPID),
            cgroup_deferred,
        })
    }

    /// Joins the sandbox's cgroup namespace: what the command does first when
    /// [`InitHandles::enter`] left it, because the helper stays outside the sandbox's cgroup.
    /// With `nsdelegate`, a process may only be started in (or moved into) a cgroup that its
    /// cgroup namespace shows, and the helper's cgroup lies outside the sandbox's namespace.
    pub(super) fn enter_cgroup_namespace(&self) -> Result<(), HelperError> {
        let (ns, flag, file) = self
            .namespaces
            .iter()
            .find(|(_, flag, _)| *flag == CloneFlags::CLONE_NEWCGROUP)
            .expect("the cgroup namespace is always opened");
        nix::sched::setns(file, *flag).map_err(|source| HelperError::Setns { ns, source })
    }
}

/// What [`InitHandles::enter`] did.
pub(super) struct Entered {
    /// The pid namespace was joined: the command forked next is in the sandbox's.
    pub(super) pid: bool,
    /// The cgroup namespace differs and was left for the command to join.
    pub(super) cgroup_deferred: bool,
}

/// Opens `path` under the directory `dir`, close-on-exec.
fn open_in(dir: &File, path: &str, flags: OFlag) -> Result<File, HelperError> {
    let flags = flags | OFlag::O_CLOEXEC;
    let fd =
        nix::fcntl::openat(Some(dir.as_raw_fd()), path, flags, Mode::empty()).map_err(|errno| {
            HelperError::OpenInit {
                path: path.to_owned(),
                source: io::Error::from(errno),
            }
        })?;
    // SAFETY: openat just returned this descriptor and nothing else owns it.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Whether the namespace behind `file` is the one this process is already in.
fn same_namespace(name: &str, file: &File) -> Result<bool, HelperError> {
    let ours_path = format!("/proc/self/ns/{name}");
    let ours = std::fs::metadata(&ours_path).map_err(|source| HelperError::Inspect {
        path: ours_path,
        source,
    })?;
    let theirs = file.metadata().map_err(|source| HelperError::Inspect {
        path: format!("the sandbox's {name} namespace"),
        source,
    })?;
    Ok(ours.dev() == theirs.dev() && ours.ino() == theirs.ino())
}

/// Opens `cgroup.procs` files for [`join_opened`], while host paths still resolve.
pub(super) fn open_procs(files: &[PathBuf]) -> Result<Vec<(PathBuf, File)>, HelperError> {
    files
        .iter()
        .map(|procs| {
            let file = OpenOptions::new()
                .write(true)
                .open(procs)
                .map_err(|source| HelperError::JoinCgroup {
                    path: procs.clone(),
                    source,
                })?;
            Ok((procs.clone(), file))
        })
        .collect()
}

/// Moves the helper into the cgroups whose `cgroup.procs` files [`open_procs`] opened.
pub(super) fn join_opened(files: &[(PathBuf, File)]) -> Result<(), HelperError> {
    for (path, file) in files {
        let mut file: &File = file;
        // "0" names the writing process, whatever pid namespace it is in.
        file.write_all(b"0")
            .map_err(|source| HelperError::JoinCgroup {
                path: path.clone(),
                source,
            })?;
    }
    Ok(())
}

/// Moves the helper (and so the command it forks) into a cgroup.
pub(super) fn join_cgroup(procs: &Path) -> Result<(), HelperError> {
    // "0" names the writing process, whatever pid namespace it is in.
    OpenOptions::new()
        .write(true)
        .open(procs)
        .and_then(|mut file| file.write_all(b"0"))
        .map_err(|source| HelperError::JoinCgroup {
            path: procs.to_owned(),
            source,
        })
}
