//! Per-sandbox identity written into the tree before each boot: hostname, hosts, a fresh
//! machine id, and the host's resolver configuration when the network is shared.
//!
//! Written through [`TreeRoot`], so a symlink the sandbox planted at `/etc/hostname` or at
//! `/etc` itself can never redirect the write to a host file.

use std::path::Path;

use amika_api::NetworkMode;
use rand::Rng;

use crate::safefs::TreeRoot;

/// Writes the identity files of sandbox `name` into `tree`.
pub fn write(tree: &TreeRoot, name: &str, network: NetworkMode) -> std::io::Result<()> {
    tree.create_dir_all(Path::new("etc"), 0o755)?;
    let file = |rel: &str, text: &str| {
        // Whatever the sandbox left at this path (a symlink, even to a host path) is
        // unlinked, never followed, and a fresh file takes its place.
        match tree.remove_file(Path::new(rel)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        tree.write_file(Path::new(rel), text.as_bytes(), 0o644, Some((0, 0)))
    };
    file("etc/hostname", &format!("{name}\n"))?;
    file(
        "etc/hosts",
        &format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n127.0.1.1\t{name}\n"),
    )?;
    file(
        "etc/machine-id",
        &format!("{:032x}\n", rand::thread_rng().gen::<u128>()),
    )?;
    if network == NetworkMode::Host {
        // The host's resolver may be a symlink into /run (systemd-resolved); its content is
        // what the sandbox needs.
        if let Ok(resolv) = std::fs::read_to_string("/etc/resolv.conf") {
            file("etc/resolv.conf", &resolv)?;
        }
    }
    Ok(())
}
