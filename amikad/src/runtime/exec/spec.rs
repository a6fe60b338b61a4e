//! The exec spec and how it reaches the helper: encoded into a sealed memfd that only the
//! spawned helper inherits, with nothing but the descriptor's number on its command line.
//!
//! The encoding is private to one binary talking to itself, so it has no versioning beyond
//! a marker: length-prefixed little-endian fields in a fixed order.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, FdFlag, SealFlag};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};

use super::error::io_errno;
use super::ARG;

/// Marks the start of an encoded spec, so a stray descriptor is not mistaken for one.
const MAGIC: &[u8] = b"amika-exec/2\n";

/// Everything the helper needs to run one command in a sandbox.
#[derive(Clone, PartialEq, Eq)]
pub struct ExecSpec {
    /// The sandbox's init, whose namespaces and root the command enters.
    pub init_pid: i32,
    /// `cgroup.procs` files the helper joins before entering the namespaces, unless the
    /// command can be started in [`ExecSpec::cgroup_dir`].
    pub cgroup_procs: Vec<PathBuf>,
    /// On cgroup v2, the sandbox's cgroup directory, to start the command in directly while
    /// the helper stays outside; when that fails, the helper joins `cgroup_procs` after all.
    pub cgroup_dir: Option<PathBuf>,
    /// The command's user id.
    pub uid: u32,
    /// The command's primary group id.
    pub gid: u32,
    /// The command's supplementary groups.
    pub groups: Vec<u32>,
    /// The working directory, inside the sandbox; `/` is used when it cannot be entered.
    pub workdir: PathBuf,
    /// The complete environment of the command. Values may be secrets.
    pub env: Vec<(String, String)>,
    /// Program and arguments; a program without `/` is looked up on the `PATH` of `env`.
    pub command: Vec<OsString>,
    /// Stdin is a terminal slave that the command takes as its controlling terminal.
    pub tty: bool,
    /// The helper binary: `/proc/self/exe` in the daemon.
    pub exe: PathBuf,
}

impl fmt::Debug for ExecSpec {
    // Written by hand so that environment values never reach a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env_names: Vec<&str> = self.env.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("ExecSpec")
            .field("init_pid", &self.init_pid)
            .field("cgroup_procs", &self.cgroup_procs)
            .field("cgroup_dir", &self.cgroup_dir)
            .field("uid", &self.uid)
            .field("gid", &self.gid)
            .field("groups", &self.groups)
            .field("workdir", &self.workdir)
            .field("env_names", &env_names)
            .field("command", &self.command)
            .field("tty", &self.tty)
            .field("exe", &self.exe)
            .finish()
    }
}

impl ExecSpec {
    /// Builds the helper invocation; the caller sets its stdio and spawns it.
    ///
    /// The spec travels in a sealed memfd that only the spawned helper inherits. If that memfd
    /// cannot be made, spawning the returned command fails with the reason.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.exe);
        cmd.arg(ARG);
        match spec_memfd(&self.encode()) {
            Ok(fd) => {
                cmd.arg(fd.as_raw_fd().to_string());
                // SAFETY: the closure runs between fork and exec and only calls fcntl, which is
                // async-signal-safe, on a descriptor the closure itself keeps open.
                unsafe {
                    cmd.pre_exec(move || {
                        // The memfd is close-on-exec so that no other spawn inherits it; only
                        // this child, after fork, lets it through.
                        nix::fcntl::fcntl(fd.as_raw_fd(), FcntlArg::F_SETFD(FdFlag::empty()))?;
                        Ok(())
                    });
                }
            }
            Err(errno) => {
                cmd.arg("-");
                // SAFETY: the closure only builds an OS error value, which does not allocate.
                unsafe { cmd.pre_exec(move || Err(io::Error::from(errno))) };
            }
        }
        cmd
    }

    /// Serialises the spec as length-prefixed fields after [`MAGIC`].
    pub(super) fn encode(&self) -> Vec<u8> {
        let mut out = Encoder(MAGIC.to_vec());
        out.u32(self.init_pid as u32);
        out.u32(self.uid);
        out.u32(self.gid);
        out.u32(u32::from(self.tty));
        out.u32(self.groups.len() as u32);
        self.groups.iter().for_each(|g| out.u32(*g));
        out.u32(self.cgroup_procs.len() as u32);
        self.cgroup_procs
            .iter()
            .for_each(|p| out.bytes(p.as_os_str().as_bytes()));
        // Empty for none: a cgroup directory is an absolute path, never empty.
        let dir = self
            .cgroup_dir
            .as_deref()
            .unwrap_or(std::path::Path::new(""));
        out.bytes(dir.as_os_str().as_bytes());
        out.bytes(self.workdir.as_os_str().as_bytes());
        out.u32(self.env.len() as u32);
        for (name, value) in &self.env {
            out.bytes(name.as_bytes());
            out.bytes(value.as_bytes());
        }
        out.u32(self.command.len() as u32);
        self.command
            .iter()
            .for_each(|arg| out.bytes(arg.as_bytes()));
        out.0
    }

    /// The inverse of [`ExecSpec::encode`]; `exe` is not encoded and comes back empty.
    pub(super) fn decode(bytes: &[u8]) -> Result<ExecSpec, SpecError> {
        let rest = bytes.strip_prefix(MAGIC).ok_or(SpecError::BadMagic)?;
        let mut input = Decoder(rest);
        let init_pid = input.u32()? as i32;
        let uid = input.u32()?;
        let gid = input.u32()?;
        let tty = input.u32()? != 0;
        let groups = (0..input.count()?)
            .map(|_| input.u32())
            .collect::<Result<_, _>>()?;
        let cgroup_procs = (0..input.count()?)
            .map(|_| input.bytes().map(|b| PathBuf::from(OsStr::from_bytes(b))))
            .collect::<Result<_, _>>()?;
        let cgroup_dir = Some(input.bytes()?)
            .filter(|b| !b.is_empty())
            .map(|b| PathBuf::from(OsStr::from_bytes(b)));
        let workdir = PathBuf::from(OsStr::from_bytes(input.bytes()?));
        let env = (0..input.count()?)
            .map(|_| Ok::<_, SpecError>((input.string()?, input.string()?)))
            .collect::<Result<_, _>>()?;
        let command = (0..input.count()?)
            .map(|_| input.bytes().map(|b| OsString::from_vec(b.to_vec())))
            .collect::<Result<_, _>>()?;
        if !input.0.is_empty() {
            return Err(SpecError::Trailing(input.0.len()));
        }
        Ok(ExecSpec {
            init_pid,
            cgroup_procs,
            cgroup_dir,
            uid,
            gid,
            groups,
            workdir,
            env,
            command,
            tty,
            exe: PathBuf::new(),
        })
    }
}

/// Why an encoded spec was rejected.
#[derive(Debug, thiserror::Error)]
pub(super) enum SpecError {
    #[error("it does not start with the exec spec marker")]
    BadMagic,
    #[error("it ends in the middle of a field")]
    Truncated,
    #[error("{0} bytes follow the last field")]
    Trailing(usize),
    #[error("an environment entry is not UTF-8")]
    NotUtf8,
    #[error("the command is empty")]
    EmptyCommand,
    #[error("{0} contains a NUL byte")]
    Nul(String),
    #[error("environment variable name {0:?} is empty or contains '='")]
    BadEnvName(String),
}

/// Appends length-prefixed fields to a buffer.
struct Encoder(Vec<u8>);

impl Encoder {
    fn u32(&mut self, value: u32) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    fn bytes(&mut self, value: &[u8]) {
        self.u32(value.len() as u32);
        self.0.extend_from_slice(value);
    }
}

/// Reads fields written by [`Encoder`], never past the end of its input.
struct Decoder<'a>(&'a [u8]);

impl<'a> Decoder<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], SpecError> {
        if self.0.len() < len {
            return Err(SpecError::Truncated);
        }
        let (head, tail) = self.0.split_at(len);
        self.0 = tail;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, SpecError> {
        let raw = self.take(4)?;
        Ok(u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]))
    }

    /// A list length, checked against the input left so a corrupt one cannot drive a huge loop.
    fn count(&mut self) -> Result<usize, SpecError> {
        let count = self.u32()? as usize;
        if count > self.0.len() / 4 {
            return Err(SpecError::Truncated);
        }
        Ok(count)
    }

    fn bytes(&mut self) -> Result<&'a [u8], SpecError> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    fn string(&mut self) -> Result<String, SpecError> {
        let raw = self.bytes()?;
        String::from_utf8(raw.to_vec()).map_err(|_| SpecError::NotUtf8)
    }
}

/// Writes the encoded spec into a sealed, close-on-exec memfd.
fn spec_memfd(encoded: &[u8]) -> Result<OwnedFd, Errno> {
    let flags = MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING;
    let mut file = File::from(memfd_create(c"amika-exec-spec", flags)?);
    file.write_all(encoded).map_err(|e| io_errno(&e))?;
    let seals = SealFlag::F_SEAL_SEAL
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_WRITE;
    nix::fcntl::fcntl(file.as_raw_fd(), FcntlArg::F_ADD_SEALS(seals))?;
    Ok(file.into())
}
