//! Cgroup v2: handing controllers down the unified tree, limits, and the freeze state in
//! `cgroup.events`.

use std::fs;
use std::path::Path;

use amika_api::Limits;

use super::files::{read_file, write_file};
use super::limits::{max_or, CPU_PERIOD_US};
use super::{CgroupError, Result};

/// The controllers a sandbox needs.
pub(super) const V2_CONTROLLERS: [&str; 3] = ["memory", "pids", "cpu"];

/// Whether the cgroup `dir` offers every controller amika needs.
pub(super) fn offers_controllers(dir: &Path) -> bool {
    let Ok(text) = fs::read_to_string(dir.join("cgroup.controllers")) else {
        return false;
    };
    V2_CONTROLLERS.iter().all(|c| has_word(&text, c))
}

/// Enables the controllers amika needs for the children of `dir`, writing only missing ones.
pub(super) fn enable_controllers(dir: &Path) -> Result<()> {
    let available = read_file(&dir.join("cgroup.controllers"))?;
    if let Some(&controller) = V2_CONTROLLERS.iter().find(|c| !has_word(&available, c)) {
        let path = dir.to_owned();
        return Err(CgroupError::MissingController { path, controller });
    }
    let control = dir.join("cgroup.subtree_control");
    let enabled = read_file(&control)?;
    let wanted: Vec<String> = V2_CONTROLLERS
        .iter()
        .filter(|c| !has_word(&enabled, c))
        .map(|c| format!("+{c}"))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    write_file(&control, &wanted.join(" "))
}

/// Writes the memory, swap, CPU and pids limits into the cgroup `dir`.
pub(super) fn apply(dir: &Path, limits: &Limits, quota: Option<u64>) -> Result<()> {
    write_file(&dir.join("memory.max"), &max_or(limits.memory_bytes))?;
    let swap = dir.join("memory.swap.max");
    if swap.exists() {
        let value = if limits.memory_bytes.is_some() {
            "0"
        } else {
            "max"
        };
        write_file(&swap, value)?;
    }
    write_file(&dir.join("cpu.max"), &cpu_max(quota))?;
    write_file(&dir.join("pids.max"), &max_or(limits.pids))
}

/// The `cpu.max` line: quota (or `max`) and period, in microseconds.
pub(super) fn cpu_max(quota: Option<u64>) -> String {
    format!("{} {CPU_PERIOD_US}", max_or(quota))
}

/// Whether a `cgroup.events` text says the cgroup is frozen.
pub(super) fn events_frozen(text: &str) -> bool {
    text.lines()
        .any(|line| line.split_whitespace().eq(["frozen", "1"]))
}

fn has_word(text: &str, word: &str) -> bool {
    text.split_whitespace().any(|w| w == word)
}
