//! Limits on cgroup v1, one file per controller hierarchy.

use std::path::Path;

use amika_api::Limits;

use super::files::{read_u64, write_file};
use super::limits::{max_or, CPU_PERIOD_US};
use super::tree::V1Dirs;
use super::Result;

/// Writes the memory, CPU and pids limits into each controller's directory.
pub(super) fn apply(dirs: &V1Dirs, limits: &Limits, quota: Option<u64>) -> Result<()> {
    apply_memory(&dirs.memory, limits.memory_bytes)?;
    write_file(
        &dirs.cpu.join("cpu.cfs_period_us"),
        &CPU_PERIOD_US.to_string(),
    )?;
    let quota = quota.map_or_else(|| "-1".to_owned(), |q| q.to_string());
    write_file(&dirs.cpu.join("cpu.cfs_quota_us"), &quota)?;
    write_file(&dirs.pids.join("pids.max"), &max_or(limits.pids))
}

/// Sets the memory limit and, where swap accounting exists, memory+swap to the same value.
///
/// The kernel keeps memory+swap at or above memory alone, so the larger of the two moves first.
fn apply_memory(dir: &Path, limit: Option<u64>) -> Result<()> {
    let memory = dir.join("memory.limit_in_bytes");
    let memsw = dir.join("memory.memsw.limit_in_bytes");
    let value = limit.map_or_else(|| "-1".to_owned(), |bytes| bytes.to_string());
    if !memsw.exists() {
        return write_file(&memory, &value);
    }
    let current = read_u64(&memory)?;
    let raising = !matches!(limit, Some(bytes) if bytes < current);
    let order = if raising {
        [&memsw, &memory]
    } else {
        [&memory, &memsw]
    };
    order.iter().try_for_each(|file| write_file(file, &value))
}
