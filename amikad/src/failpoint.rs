//! Failpoints: named places where a test can make the daemon die on purpose.
//!
//! Crash safety is only believable if it is tested, and the only honest way to test it is to
//! kill the real daemon between two real steps. `AMIKA_FAILPOINTS` holds a comma-separated list
//! of names; when execution reaches a listed name the process sends itself SIGKILL, so no
//! destructor, no flush and no unwinding softens the crash. With the variable unset (the normal
//! case) a failpoint costs one lookup in an empty set.

use std::collections::HashSet;
use std::sync::OnceLock;

fn armed() -> &'static HashSet<String> {
    static ARMED: OnceLock<HashSet<String>> = OnceLock::new();
    ARMED.get_or_init(|| {
        std::env::var("AMIKA_FAILPOINTS")
            .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect())
            .unwrap_or_default()
    })
}

/// Kills the daemon with SIGKILL if the failpoint `name` is armed.
pub fn hit(name: &str) {
    if armed().contains(name) {
        tracing::warn!(failpoint = name, "failpoint armed: killing the daemon");
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}
