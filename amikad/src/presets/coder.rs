//! The `coder` preset: the `debian` preset plus the tools of everyday development (git,
//! compilers, Python, Node.js with npm and pnpm, zsh, tmux), with `amika` using zsh and
//! allowed passwordless sudo.
//!
//! It runs the `debian` steps itself rather than cloning a `debian` image, so it does not
//! depend on which presets were built before. A first build takes several minutes.

use std::path::Path;

use super::debian;
use super::steps::{self, BuildError};

/// Packages added to Debian; without recommends, to keep the image small.
const PACKAGES: &str = "git curl ca-certificates build-essential python3 python3-pip \
    python3-venv nodejs npm zsh tmux vim sudo openssh-client jq ripgrep less locales";

/// pnpm's major version is pinned to one that runs on bookworm's Node.js 18.
const PNPM: &str = "pnpm@9";

/// Lets `amika` run anything as root without a password.
const SUDOERS: &str = "amika ALL=(ALL) NOPASSWD:ALL\n";

/// Makes zsh `amika`'s shell; the empty `.zshrc` keeps zsh from starting its set-up wizard
/// in every new terminal.
const CONFIGURE: &str = "usermod --shell /usr/bin/zsh amika
install -o amika -g amika -m 0644 /dev/null /home/amika/.zshrc
printf 'LANG=C.UTF-8\\n' > /etc/default/locale
visudo -c -f /etc/sudoers.d/amika
";

/// Removes what only the build needed: package lists, downloaded packages, npm's cache.
const CLEAN: &str = "apt-get clean
rm -rf /var/lib/apt/lists/* /root/.npm /tmp/*
";

/// Fills `root`, an empty directory the daemon owns, with the coder tree.
pub fn populate(root: &Path, progress: &dyn Fn(&str)) -> Result<(), BuildError> {
    debian::populate(root, progress)?;
    steps::lend_network(root)?;

    steps::chroot(
        progress,
        root,
        "apt: updating package lists",
        "apt-get update -q",
    )?;
    let install = format!("apt-get install -y -q --no-install-recommends {PACKAGES}");
    steps::chroot(progress, root, "apt: installing coder packages", &install)?;
    let ca = steps::HOST_CA_BUNDLE;
    let pnpm = format!(
        "if [ -f {ca} ]; then export NODE_EXTRA_CA_CERTS={ca}; fi
npm install --global --no-fund --no-audit {PNPM}"
    );
    steps::chroot(progress, root, "npm: installing pnpm", &pnpm)?;

    steps::write_file(root, "etc/sudoers.d/amika", SUDOERS, 0o440)?;
    steps::write_file(root, "etc/environment", "LANG=C.UTF-8\n", 0o644)?;
    steps::chroot(
        progress,
        root,
        "system: zsh, locale and sudo for amika",
        CONFIGURE,
    )?;

    steps::chroot(progress, root, "apt: removing caches", CLEAN)?;
    steps::return_network(root)
}
