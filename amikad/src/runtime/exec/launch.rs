//! What `execve` gets: program candidates, argv and envp, converted before the fork so that
//! bad input fails with a clear message, and the search that tries them in turn.

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;

use super::spec::{ExecSpec, SpecError};

/// The search path used when the environment has no `PATH`.
const FALLBACK_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What `execve` needs, converted before the fork so that bad input fails with a clear message.
pub(super) struct Launch {
    /// The program paths to try in order: one for a path, one per `PATH` entry for a name.
    candidates: Vec<CString>,
    argv: Vec<CString>,
    envp: Vec<CString>,
}

impl Launch {
    /// Converts the command, environment and working directory of `spec`.
    pub(super) fn new(spec: &ExecSpec) -> Result<Launch, SpecError> {
        let program = spec.command.first().ok_or(SpecError::EmptyCommand)?;
        let argv = spec
            .command
            .iter()
            .map(|arg| c_string(arg.as_bytes(), "a command argument"))
            .collect::<Result<_, _>>()?;
        let mut envp = Vec::with_capacity(spec.env.len());
        for (name, value) in &spec.env {
            if name.is_empty() || name.contains('=') {
                return Err(SpecError::BadEnvName(name.clone()));
            }
            let entry = format!("{name}={value}");
            envp.push(c_string(entry.as_bytes(), &format!("variable {name}"))?);
        }
        c_string(spec.workdir.as_os_str().as_bytes(), "the working directory")?;
        Ok(Launch {
            candidates: candidates(program, &spec.env)?,
            argv,
            envp,
        })
    }

    /// Tries each candidate in turn and returns the error that best explains the failure.
    pub(super) fn exec_first(&self) -> Errno {
        let mut saw_eacces = false;
        let mut last = Errno::ENOENT;
        for program in &self.candidates {
            let errno = match nix::unistd::execve(program, &self.argv, &self.envp) {
                Ok(never) => match never {},
                Err(errno) => errno,
            };
            match errno {
                // Not here: keep looking, as a shell would.
                Errno::ENOENT | Errno::ENOTDIR | Errno::ESTALE | Errno::ENODEV => {}
                Errno::EACCES => saw_eacces = true,
                other => return other,
            }
            last = errno;
        }
        if saw_eacces {
            Errno::EACCES
        } else {
            last
        }
    }
}

fn c_string(bytes: &[u8], what: &str) -> Result<CString, SpecError> {
    CString::new(bytes).map_err(|_| SpecError::Nul(what.to_owned()))
}

/// Where to look for `program`: itself when it has a `/`, otherwise each `PATH` directory.
fn candidates(program: &OsStr, env: &[(String, String)]) -> Result<Vec<CString>, SpecError> {
    if program.as_bytes().contains(&b'/') {
        return Ok(vec![c_string(program.as_bytes(), "the program")?]);
    }
    // The first entry, as getenv in the command itself would pick.
    let path = env
        .iter()
        .find(|(name, _)| name == "PATH")
        .map_or(FALLBACK_PATH, |(_, value)| value.as_str());
    // An empty entry would mean the working directory, an old way to run a planted binary by
    // accident; it is skipped.
    path.split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| {
            let full = Path::new(dir).join(program);
            c_string(full.as_os_str().as_bytes(), "the program")
        })
        .collect()
}
