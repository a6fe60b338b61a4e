//! Turning the requested limits into control-file values shared by both versions.

use super::{CgroupError, Result};

/// The CFS period that quotas are measured against.
pub(super) const CPU_PERIOD_US: u64 = 100_000;

/// The kernel refuses CFS quotas below 1 ms.
pub(super) const MIN_QUOTA_US: u64 = 1_000;

/// The CFS quota for `cpus` cores over one period, or `None` for no limit.
pub(super) fn cpu_quota(name: &str, cpus: Option<f64>) -> Result<Option<u64>> {
    let Some(cpus) = cpus else {
        return Ok(None);
    };
    if !cpus.is_finite() || cpus <= 0.0 {
        let name = name.to_owned();
        return Err(CgroupError::InvalidCpus { name, cpus });
    }
    // Saturating float-to-int conversion is the wanted behaviour for absurdly large values.
    let quota = (cpus * CPU_PERIOD_US as f64).round() as u64;
    Ok(Some(quota.max(MIN_QUOTA_US)))
}

/// The number as text, or `max` (no limit) for none.
pub(super) fn max_or(value: Option<u64>) -> String {
    value.map_or_else(|| "max".to_owned(), |v| v.to_string())
}
