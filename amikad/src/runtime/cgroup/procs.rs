//! The processes of a cgroup: moving them in, listing them and signalling them.

use std::fs;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use tracing::debug;

use super::files::{child_dirs, write_file};
use super::{Cgroup, CgroupError, Result};

/// Moves the calling process into every given `cgroup.procs` file.
///
/// Meant for a forked child before it execs (pass [`Cgroup::procs_files`] collected before
/// the fork): it only opens, writes and closes, and converts paths under 1024 bytes on the
/// stack, so it neither allocates nor takes locks. For the same reason it logs nothing.
pub fn enter(procs_files: &[PathBuf]) -> nix::Result<()> {
    for file in procs_files {
        let raw = nix::fcntl::open(
            file.as_path(),
            OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        // SAFETY: `open` just returned this descriptor and nothing else holds it, so the
        // `OwnedFd` is its only owner and closes it exactly once.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        nix::unistd::write(&fd, b"0")?;
    }
    Ok(())
}

impl Cgroup {
    /// Moves the running process `pid` (and, on v1, all its threads) into this cgroup.
    pub fn add_process(&self, pid: i32) -> Result<()> {
        let value = pid.to_string();
        self.procs_files()
            .iter()
            .try_for_each(|file| write_file(file, &value))
    }

    /// The processes in this cgroup and its child cgroups, sorted.
    ///
    /// A directory that does not exist contributes none.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let mut pids = Vec::new();
        collect_pids(self.tree.pids_dir(), &mut pids)?;
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// Sends `signal` to every process in the cgroup; returns how many received it.
    ///
    /// With `SIGKILL` the cgroup is thawed afterwards, because frozen v1 processes only die
    /// once they run again; other signals reach a frozen cgroup when it is thawed.
    pub fn kill_all(&self, signal: Signal) -> Result<usize> {
        let pids = self.pids()?;
        let mut sent = 0;
        for &pid in &pids {
            sent += usize::from(self.signal(pid, signal)?);
        }
        if signal == Signal::SIGKILL && !pids.is_empty() {
            self.thaw()?;
        }
        debug!(name = %self.name, %signal, sent, "signalled cgroup");
        Ok(sent)
    }

    /// Sends one signal; `false` when the process is already gone.
    fn signal(&self, pid: i32, signal: Signal) -> Result<bool> {
        match kill(Pid::from_raw(pid), signal) {
            Ok(()) => Ok(true),
            Err(Errno::ESRCH) => Ok(false),
            Err(source) => Err(CgroupError::Signal {
                name: self.name.clone(),
                pid,
                signal,
                source,
            }),
        }
    }
}

fn collect_pids(dir: &Path, out: &mut Vec<i32>) -> Result<()> {
    let file = dir.join("cgroup.procs");
    let text = match fs::read_to_string(&file) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(CgroupError::Read { path: file, source }),
    };
    out.extend(parse_pids(&file, &text)?);
    child_dirs(dir)?
        .iter()
        .try_for_each(|child| collect_pids(child, out))
}

/// Parses `cgroup.procs`; 0 stands for a process outside our pid namespace and is skipped.
pub(super) fn parse_pids(file: &Path, text: &str) -> Result<Vec<i32>> {
    let mut pids = Vec::new();
    for line in text.lines().map(str::trim).filter(|line| !line.is_empty()) {
        let pid: i32 = line.parse().map_err(|_| CgroupError::Parse {
            path: file.to_owned(),
            content: line.to_owned(),
        })?;
        if pid > 0 {
            pids.push(pid);
        }
    }
    Ok(pids)
}
