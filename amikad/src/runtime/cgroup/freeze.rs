//! Freezing and thawing every process of a cgroup, and waiting until the kernel says it is
//! frozen.

use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use tracing::warn;

use super::files::{read_file, write_file};
use super::tree::Tree;
use super::v2::events_frozen;
use super::{Cgroup, CgroupError, Result, POLL_INTERVAL};

/// How long a freeze may take before it is undone.
pub(super) const FREEZE_TIMEOUT: Duration = Duration::from_secs(2);

impl Cgroup {
    /// Freezes every process and waits until the kernel reports the cgroup frozen.
    ///
    /// If that takes longer than two seconds the cgroup is thawed again and an error returned,
    /// so a failed freeze never leaves the sandbox half stopped.
    pub fn freeze(&self) -> Result<()> {
        let (file, value) = self.tree.freeze_control(true);
        write_file(&file, value)?;
        let waited = self.wait_frozen();
        if waited.is_err() {
            if let Err(err) = self.thaw() {
                warn!(name = %self.name, error = %err, "thawing after a failed freeze");
            }
        }
        waited
    }

    /// Lets frozen processes run again.
    pub fn thaw(&self) -> Result<()> {
        let (file, value) = self.tree.freeze_control(false);
        write_file(&file, value)
    }

    /// Polls the freeze state until it reads frozen, for up to [`FREEZE_TIMEOUT`].
    fn wait_frozen(&self) -> Result<()> {
        let (file, frozen): (PathBuf, fn(&str) -> bool) = match &self.tree {
            Tree::V1(dirs) => (dirs.freezer.join("freezer.state"), |s| s.trim() == "FROZEN"),
            Tree::V2(dir) => (dir.join("cgroup.events"), events_frozen),
        };
        let deadline = Instant::now() + FREEZE_TIMEOUT;
        // Most freezes finish within microseconds, and every moment spent here is a moment
        // the sandbox stands still: start polling fast and back off to the usual interval.
        let mut pause = Duration::from_micros(20);
        while !frozen(&read_file(&file)?) {
            if Instant::now() >= deadline {
                return Err(CgroupError::FreezeTimeout { path: file });
            }
            thread::sleep(pause);
            pause = (pause * 2).min(POLL_INTERVAL);
        }
        Ok(())
    }
}
