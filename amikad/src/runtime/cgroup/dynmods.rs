//! The kernel's `favordynmods` cgroup option, which the daemon turns on only when its
//! configuration asks (`cgroup_favordynmods = true`).
//!
//! Moving a process into a cgroup by writing `cgroup.procs` takes the kernel's threadgroup
//! lock for writing. Unless a hierarchy carries `favordynmods`, taking it waits for an RCU
//! grace period whenever no other move happened just before: 8 to 30 ms on the machine of
//! `docs/benchmarks.md`, paid on cgroup v1 by every sandbox start and by every exec, whose
//! helper joins the sandbox's cgroups (on v2 both start inside the cgroup instead, see
//! [`clone_into`](crate::runtime::clone_into)). With the option a move costs a fraction of a millisecond. Before Linux
//! 6.18 the price is a slower fork and exit for every process on the host, which is the
//! administrator's trade to make, so it is never a default.
//!
//! The lock is shared by every hierarchy, so one mount carries the option: the cgroup2 mount
//! when there is one (a v1 host usually has it beside the v1 hierarchies), else the memory
//! hierarchy. A reconfiguration replaces the superblock's options, so the ones it has are set
//! again with `favordynmods` added, through `fspick` and `fsconfig`, which leave the mount's
//! own flags (`nosuid`, `nodev`, ...) alone. Kernels before 6.0 do not know the option and
//! refuse; the caller reports that and carries on without it.

use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use super::files::read_file;
use crate::mountinfo::{self, Mount};

/// The option, as mountinfo shows it and `fsconfig` takes it.
const OPTION: &str = "favordynmods";

// From <linux/mount.h>.
const FSPICK_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_FLAG: libc::c_uint = 0;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_RECONFIGURE: libc::c_uint = 7;

/// What [`favor_dynmods`] found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The mount at this path carried the option already.
    AlreadyOn(PathBuf),
    /// The mount at this path was reconfigured to carry it.
    Enabled(PathBuf),
}

/// Why the option could not be turned on.
#[derive(Debug, thiserror::Error)]
pub enum DynmodsError {
    /// Neither a cgroup2 mount nor a v1 memory hierarchy is mounted.
    #[error("no cgroup2 mount and no cgroup v1 memory hierarchy to set favordynmods on")]
    NoMount,
    /// Mountinfo could not be read.
    #[error("reading /proc/self/mountinfo: {0}")]
    Mountinfo(String),
    /// The kernel refused a step.
    #[error(
        "{step} {}: {errno}; favordynmods needs Linux 6.0 or later (set \
         cgroup_favordynmods = false to stop trying)",
        .point.display()
    )]
    Kernel {
        /// What was being done.
        step: &'static str,
        /// The mount.
        point: PathBuf,
        /// The kernel's answer.
        errno: Errno,
    },
}

/// Makes sure one cgroup mount carries `favordynmods`.
pub fn favor_dynmods() -> Result<Outcome, DynmodsError> {
    let text = read_file(Path::new(mountinfo::PATH))
        .map_err(|e| DynmodsError::Mountinfo(e.to_string()))?;
    let mounts = mountinfo::parse(&text);
    let mount = choose(&mounts).ok_or(DynmodsError::NoMount)?;
    if mount.super_options.iter().any(|o| o == OPTION) {
        return Ok(Outcome::AlreadyOn(mount.point.clone()));
    }
    reconfigure(&mount.point, &options_with_dynmods(&mount.super_options))?;
    Ok(Outcome::Enabled(mount.point.clone()))
}

/// The mount to set the option on: the first cgroup2 mount, else the v1 memory hierarchy.
fn choose(mounts: &[Mount]) -> Option<&Mount> {
    let v1_memory =
        |m: &&Mount| m.fstype == "cgroup" && m.super_options.iter().any(|o| o == "memory");
    mounts
        .iter()
        .find(|m| m.fstype == "cgroup2")
        .or_else(|| mounts.iter().find(v1_memory))
}

/// The superblock options to set again, with the option added: everything but `rw` and
/// `ro`, which are not the hierarchy's to change.
fn options_with_dynmods(super_options: &[String]) -> Vec<String> {
    super_options
        .iter()
        .filter(|o| !matches!(o.as_str(), "rw" | "ro" | ""))
        .cloned()
        .chain(std::iter::once(OPTION.to_owned()))
        .collect()
}

/// Reconfigures the superblock mounted at `point` with exactly `options`.
fn reconfigure(point: &Path, options: &[String]) -> Result<(), DynmodsError> {
    let fail = |step, errno| DynmodsError::Kernel {
        step,
        point: point.to_owned(),
        errno,
    };
    let path =
        CString::new(point.as_os_str().as_bytes()).map_err(|_| fail("open", Errno::EINVAL))?;
    // SAFETY: fspick reads the NUL-terminated path and returns a new descriptor or -1.
    let raw = unsafe {
        libc::syscall(
            libc::SYS_fspick,
            libc::AT_FDCWD,
            path.as_ptr(),
            FSPICK_CLOEXEC,
        )
    };
    if raw < 0 {
        return Err(fail("open the superblock of", Errno::last()));
    }
    // SAFETY: fspick just returned this descriptor and nothing else owns it.
    let context = unsafe { OwnedFd::from_raw_fd(raw as RawFd) };
    let context = std::os::fd::AsRawFd::as_raw_fd(&context);
    for option in options {
        let (key, value) = match option.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (option.as_str(), None),
        };
        let key = CString::new(key).map_err(|_| fail("set an option of", Errno::EINVAL))?;
        let value = value
            .map(CString::new)
            .transpose()
            .map_err(|_| fail("set an option of", Errno::EINVAL))?;
        let (command, value_ptr) = match &value {
            Some(v) => (FSCONFIG_SET_STRING, v.as_ptr()),
            None => (FSCONFIG_SET_FLAG, std::ptr::null()),
        };
        // SAFETY: both strings are NUL-terminated and outlive the call; the descriptor is
        // the open filesystem context.
        let done = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                context,
                command,
                key.as_ptr(),
                value_ptr,
                0,
            )
        };
        if done < 0 {
            return Err(fail("set an option of", Errno::last()));
        }
    }
    // SAFETY: the command takes no key or value.
    let done = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            context,
            FSCONFIG_CMD_RECONFIGURE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    if done < 0 {
        return Err(fail("reconfigure", Errno::last()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mounts(lines: &str) -> Vec<Mount> {
        mountinfo::parse(lines)
    }

    #[test]
    fn the_cgroup2_mount_is_chosen_and_its_options_are_kept() {
        let hybrid = mounts(
            "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
             41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n",
        );
        let chosen = choose(&hybrid).unwrap();
        assert_eq!(chosen.point, Path::new("/sys/fs/cgroup/unified"));
        assert_eq!(
            options_with_dynmods(&chosen.super_options),
            ["nsdelegate", "favordynmods"]
        );
    }

    #[test]
    fn a_pure_v1_host_uses_the_memory_hierarchy_with_its_controllers() {
        let v1 = mounts(
            "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu,cpuacct\n\
             35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n",
        );
        let chosen = choose(&v1).unwrap();
        assert_eq!(chosen.point, Path::new("/sys/fs/cgroup/memory"));
        assert_eq!(
            options_with_dynmods(&chosen.super_options),
            ["memory", "favordynmods"]
        );
        assert!(choose(&mounts("1 0 0:1 / / rw - ext4 /dev/sda rw\n")).is_none());
    }
}
