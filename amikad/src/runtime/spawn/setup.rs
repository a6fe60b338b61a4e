//! What the cloned child needs, made before the clone: its namespaces, descriptors above the
//! standard streams, and every string as a C string, since the child may not allocate.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use amika_api::NetworkMode;
use nix::fcntl::{fcntl, FcntlArg};
use nix::sched::CloneFlags;

use super::{InitSpec, SpawnError};
use crate::runtime::init;

/// Namespaces the child is cloned into.
pub(super) fn clone_flags(network: NetworkMode) -> CloneFlags {
    let mut flags = CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC;
    if network == NetworkMode::None {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    flags
}

/// Moves `fd` to a number above the standard streams, which the child replaces.
pub(super) fn above_stdio(fd: OwnedFd) -> Result<OwnedFd, SpawnError> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    let raw =
        fcntl(fd.as_raw_fd(), FcntlArg::F_DUPFD_CLOEXEC(3)).map_err(|e| SpawnError::Prepare {
            what: "move a descriptor above the standard streams",
            source: e.into(),
        })?;
    // SAFETY: fcntl just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// `/dev/null` for the child's standard streams.
pub(super) fn open_null() -> Result<OwnedFd, SpawnError> {
    let file = File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| SpawnError::Prepare {
            what: "open /dev/null",
            source: e,
        })?;
    above_stdio(file.into())
}

/// Everything the cloned child uses, made before the clone.
pub(super) struct ChildPlan {
    /// The binary to execute.
    pub(super) exe: CString,
    /// Its arguments, the program name first.
    pub(super) argv: Vec<CString>,
    /// The `cgroup.procs` files to join.
    pub(super) procs: Vec<CString>,
    /// The cgroup v2 directory to start the child in, when there is one and it opened.
    pub(super) cgroup: Option<OwnedFd>,
    /// The write end of the readiness pipe, kept open across the exec.
    pub(super) ready_fd: RawFd,
    /// `/dev/null`, for the standard streams.
    pub(super) null_fd: RawFd,
}

impl ChildPlan {
    /// Converts `spec` for a child that reports on `ready_fd` and reads `null_fd`.
    pub(super) fn new(
        spec: &InitSpec,
        ready_fd: RawFd,
        null_fd: RawFd,
    ) -> Result<ChildPlan, SpawnError> {
        let line = init::command_line(
            &spec.root,
            &spec.hostname,
            spec.network,
            spec.identity.as_deref(),
            ready_fd,
        );
        let argv = line
            .iter()
            .map(|arg| c_string("init argument", arg))
            .collect::<Result<_, _>>()?;
        let procs = spec
            .cgroup_procs
            .iter()
            .map(|p| c_string("cgroup.procs path", p.as_os_str()))
            .collect::<Result<_, _>>()?;
        // One that cannot be opened is left to the join, which reports the path if it fails.
        let cgroup = spec
            .cgroup_dir
            .as_deref()
            .and_then(|dir| crate::runtime::clone_into::open_cgroup(dir).ok());
        Ok(ChildPlan {
            exe: c_string("init executable", spec.exe.as_os_str())?,
            argv,
            procs,
            cgroup,
            ready_fd,
            null_fd,
        })
    }
}

/// `value` as a C string, or an error naming it.
fn c_string(what: &'static str, value: &OsStr) -> Result<CString, SpawnError> {
    CString::new(value.as_bytes()).map_err(|_| SpawnError::Nul {
        what,
        value: value.to_string_lossy().into_owned(),
    })
}
