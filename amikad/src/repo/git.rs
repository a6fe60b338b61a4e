//! Running the host's `git` for the daemon, isolated from the host's git configuration.
//!
//! The daemon runs git as root on data it does not trust (a bundle a client made, a URL a
//! user typed), so every run starts from an empty environment: no system or global
//! configuration, no hooks, no terminal prompts, ssh in batch mode, and a private home.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::command::{self, CommandError};

/// Options given to every run, ahead of the subcommand.
const SAFE_OPTIONS: &[&str] = &[
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "transfer.fsckObjects=true",
    "-c",
    "advice.detachedHead=false",
    "-c",
    "init.defaultBranch=main",
    "-c",
    "http.lowSpeedLimit=1000",
    "-c",
    "http.lowSpeedTime=60",
];

/// The host's git, ready to run.
#[derive(Debug, Clone)]
pub struct Git {
    program: PathBuf,
    home: PathBuf,
}

impl Git {
    /// Finds `git` among the system tool directories; `home` is an empty private directory
    /// that git may use as `$HOME`.
    pub fn find(home: &Path) -> Result<Self, CommandError> {
        Ok(Self {
            program: command::find_tool("git")?,
            home: home.to_owned(),
        })
    }

    /// Runs `git <args>` in `dir` and returns its standard output, trimmed.
    pub fn run(&self, dir: Option<&Path>, args: &[&str]) -> Result<String, CommandError> {
        let mut all: Vec<&OsStr> = SAFE_OPTIONS.iter().map(OsStr::new).collect();
        all.extend(args.iter().map(OsStr::new));
        let output = command::run_with(&self.program, &all, |command| {
            command
                .env_clear()
                .env("PATH", "/usr/local/bin:/usr/bin:/bin")
                .env("HOME", &self.home)
                .env("LANG", "C")
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("GIT_TERMINAL_PROMPT", "0")
                .env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes");
            if let Some(dir) = dir {
                command.current_dir(dir);
            }
        })?;
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }
}
