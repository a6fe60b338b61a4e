//! Named build steps for presets made with Debian's own tools.
//!
//! Each step runs in a private mount and pid namespace, so a mount it makes (`/proc`, `/dev`)
//! or a process it leaves behind disappears with it, even when the step fails or the daemon
//! gives up half way.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::command::{self, CommandError};

/// Prepended to every script run inside the tree: one output stream (so a failure's stderr
/// tail shows what apt or npm printed last), the kernel file systems package scripts
/// expect, and an environment that never prompts.
const CHROOT_PRELUDE: &str = "exec 1>&2
set -eu
mount -t proc proc /proc
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 HOME=/root
";

/// Why a preset could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A step ran and failed; the end of its output usually says why.
    #[error("step '{step}' failed ({status}): {output}")]
    Step {
        /// What the step was doing, as shown in progress.
        step: String,
        /// How it ended, e.g. "exit status 100".
        status: String,
        /// The tail of its output.
        output: String,
    },

    /// A step could not be started.
    #[error("step '{step}' could not run: {source}")]
    Start {
        /// What the step was doing, as shown in progress.
        step: String,
        /// Why it could not run.
        source: CommandError,
    },

    /// Reading or writing a file of the tree failed.
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        /// What was being attempted, e.g. "write".
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// A shell script that runs its arguments as a command, standard output joined to standard
/// error.
const MERGED: &str = "exec \"$@\" 1>&2";

/// Reports a step as started, then runs `program` with `args` inside fresh mount and pid
/// namespaces on the host. Its output is kept as one stream, since tools such as
/// debootstrap print their reason for failing on standard output.
pub fn host(
    progress: &dyn Fn(&str),
    step: &str,
    program: &str,
    args: &[&OsStr],
) -> Result<(), BuildError> {
    progress(step);
    let failed = |source| step_error(step, source);
    let unshare = command::find_tool("unshare").map_err(failed)?;
    let sh = command::find_tool("sh").map_err(failed)?;
    let program = command::find_tool(program).map_err(failed)?;
    let mut full: Vec<&OsStr> = isolation().to_vec();
    let merged = [
        sh.as_os_str(),
        OsStr::new("-c"),
        OsStr::new(MERGED),
        OsStr::new("sh"),
    ];
    full.extend_from_slice(&merged);
    full.push(program.as_os_str());
    full.extend_from_slice(args);
    command::run(&unshare, &full).map(drop).map_err(failed)
}

/// Reports a step as started, then runs the shell `script` chrooted into `root`, with
/// `/proc` mounted and the host's `/dev` bound in for the step's lifetime only.
pub fn chroot(
    progress: &dyn Fn(&str),
    root: &Path,
    step: &str,
    script: &str,
) -> Result<(), BuildError> {
    let dev = root.join("dev");
    // The outer shell runs on the host, inside the new namespaces; the tree's own shell
    // then runs the step.
    let outer = "mount --rbind /dev \"$1\" && exec chroot \"$2\" /bin/sh -c \"$3\"";
    let inner = format!("{CHROOT_PRELUDE}{script}");
    let args = [
        OsStr::new("-c"),
        OsStr::new(outer),
        OsStr::new("sh"),
        dev.as_os_str(),
        root.as_os_str(),
        OsStr::new(&inner),
    ];
    host(progress, step, "sh", &args)
}

/// The `unshare` arguments of a step: private mounts, its own pid namespace whose processes
/// all end with it.
fn isolation() -> [&'static OsStr; 5] {
    [
        OsStr::new("--mount"),
        OsStr::new("--propagation=private"),
        OsStr::new("--pid"),
        OsStr::new("--fork"),
        OsStr::new("--kill-child"),
    ]
}

/// Writes `content` to `relative` under `root` with `mode`, replacing what was there.
pub fn write_file(root: &Path, relative: &str, content: &str, mode: u32) -> Result<(), BuildError> {
    use std::os::unix::fs::PermissionsExt;
    let path = root.join(relative);
    // A link left by a package would otherwise redirect the write.
    match fs::remove_file(&path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_error("replace", &path, e)),
        _ => {}
    }
    fs::write(&path, content).map_err(|e| io_error("write", &path, e))?;
    fs::set_permissions(&path, fs::Permissions::from_mode(mode))
        .map_err(|e| io_error("set permissions of", &path, e))
}

/// Where the build finds the certificate authorities the host trusts, inside the tree.
pub const HOST_CA_BUNDLE: &str = "/tmp/amika-build-ca.pem";

/// The host's bundle of trusted certificate authorities (Debian's location).
const HOST_CA_SOURCE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Lends the tree the host's network set-up for the build: its resolver configuration, and
/// the authorities it trusts at [`HOST_CA_BUNDLE`], so a step reaches HTTPS servers exactly
/// when the host could (a host behind an intercepting proxy trusts the proxy's authority).
pub fn lend_network(root: &Path) -> Result<(), BuildError> {
    let host = Path::new("/etc/resolv.conf");
    // Read, not copied as a link: the host's file is often a symlink into /run.
    let resolv = fs::read_to_string(host).map_err(|e| io_error("read", host, e))?;
    write_file(root, "etc/resolv.conf", &resolv, 0o644)?;
    match fs::read_to_string(HOST_CA_SOURCE) {
        Ok(bundle) => write_file(root, &HOST_CA_BUNDLE[1..], &bundle, 0o644),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error("read", Path::new(HOST_CA_SOURCE), e)),
    }
}

/// Takes back what [`lend_network`] lent, and the resolver debootstrap copies; a sandbox
/// gets its own resolver at boot.
pub fn return_network(root: &Path) -> Result<(), BuildError> {
    for relative in ["etc/resolv.conf", &HOST_CA_BUNDLE[1..]] {
        let path = root.join(relative);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(io_error("remove", &path, e))
            }
            _ => {}
        }
    }
    Ok(())
}

/// The error of a failed step: what it printed last when it ran, else why it could not.
pub fn step_error(step: &str, source: CommandError) -> BuildError {
    match source {
        CommandError::Failed { status, stderr, .. } => BuildError::Step {
            step: step.to_owned(),
            status: status.to_string(),
            output: stderr,
        },
        source => BuildError::Start {
            step: step.to_owned(),
            source,
        },
    }
}

fn io_error(action: &'static str, path: &Path, source: io::Error) -> BuildError {
    BuildError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}
