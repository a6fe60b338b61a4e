//! The `debian` preset: a minimal Debian bookworm made by `debootstrap`, with the `amika`
//! user.
//!
//! Building needs the Debian archive over the network and takes a minute or two. When the
//! host lacks `debootstrap`, it is installed with apt first, and progress says so.

use std::ffi::OsStr;
use std::path::Path;

use super::steps::{self, BuildError};
use crate::command;

/// The Debian release the preset installs.
const SUITE: &str = "bookworm";

/// Where packages come from.
pub const ARCHIVE: &str = "http://deb.debian.org/debian";

/// Creates the sandbox user with the ids, home and shell the product promises.
const ADD_USER: &str = "useradd --uid 1000 --user-group --create-home --home-dir /home/amika \
    --shell /bin/bash amika
install -d -o amika -g amika -m 0755 /home/amika/workspace
";

/// Fills `root`, an empty directory the daemon owns, with Debian from the default archive.
pub fn populate(root: &Path, progress: &dyn Fn(&str)) -> Result<(), BuildError> {
    populate_from(root, ARCHIVE, progress)
}

/// Fills `root` with Debian fetched from `archive`.
pub fn populate_from(
    root: &Path,
    archive: &str,
    progress: &dyn Fn(&str),
) -> Result<(), BuildError> {
    ensure_debootstrap(progress)?;
    let args = [
        OsStr::new("--variant=minbase"),
        OsStr::new(SUITE),
        root.as_os_str(),
        OsStr::new(archive),
    ];
    let step = format!("debootstrap: fetching and installing Debian {SUITE} from {archive}");
    steps::host(progress, &step, "debootstrap", &args)?;

    steps::chroot(progress, root, "users: adding amika (uid 1000)", ADD_USER)?;
    // The secret scrub restores this file to its image content, so it must exist.
    if !root.join("etc/environment").exists() {
        steps::write_file(root, "etc/environment", "LANG=C.UTF-8\n", 0o644)?;
    }
    // debootstrap copies the host's resolver; a sandbox gets its own at boot instead.
    steps::return_network(root)
}

/// Installs `debootstrap` on the host with apt when it is missing.
fn ensure_debootstrap(progress: &dyn Fn(&str)) -> Result<(), BuildError> {
    if command::find_tool("debootstrap").is_ok() {
        return Ok(());
    }
    let step = "host: debootstrap is missing; installing it with apt-get";
    progress(step);
    // A host that never ran `apt-get update` has no lists to install from.
    let script = "export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q debootstrap || { apt-get update -q && apt-get install -y -q debootstrap; }";
    let failed = |source| steps::step_error(step, source);
    let sh = command::find_tool("sh").map_err(failed)?;
    command::run(&sh, &[OsStr::new("-c"), OsStr::new(script)])
        .map(drop)
        .map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_archive_fails_naming_the_archive() {
        assert!(
            nix::unistd::geteuid().is_root(),
            "this test runs debootstrap and must run as root"
        );
        let dir = tempfile::tempdir().unwrap();
        let archive = "http://127.0.0.1:9/debian";
        let steps = std::cell::RefCell::new(Vec::new());
        let err = populate_from(dir.path(), archive, &|s| {
            steps.borrow_mut().push(s.to_owned())
        })
        .unwrap_err();
        let message = err.to_string();
        assert!(message.contains(archive), "{message}");
        assert!(message.contains("Failed getting release file"), "{message}");
        assert!(steps.borrow().iter().any(|s| s.starts_with("debootstrap")));
    }
}
