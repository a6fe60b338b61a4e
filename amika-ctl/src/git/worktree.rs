//! The working tree as it is, for `--no-clean`: every file git tracks or would track (not
//! ignored), uncommitted changes included, as a tar relative to the repository's top.
//!
//! Symlinks stay symlinks and are never followed; file modes are kept. Directories that git
//! lists as entries are submodules or nested repositories, which carry their own history and
//! are skipped. A tracked file deleted from the working tree is simply not there. Files
//! hard-linked to each other arrive as separate copies.

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use tar::Builder;

use super::command;
use crate::error::CtlError;
use crate::tarball;

/// Writes the working tree of the repository at `top` to `out` as a tar archive.
pub fn write_tar<W: Write>(top: &Path, out: W) -> Result<(), CtlError> {
    let listed = listed(top)?;
    let failed = |e: io::Error| {
        CtlError::Local(format!(
            "cannot send the working tree of {}: {e}; make it readable, or leave out --no-clean",
            top.display()
        ))
    };
    let mut builder = Builder::new(out);
    for rel in listed {
        let path = top.join(&rel);
        let meta = match fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(failed(e)),
        };
        let kind = meta.file_type();
        if kind.is_symlink() {
            tarball::append_symlink(&mut builder, &path, &rel, &meta).map_err(failed)?;
        } else if kind.is_file() {
            tarball::append_file(&mut builder, &path, &rel, &meta).map_err(failed)?;
        }
    }
    builder
        .into_inner()
        .and_then(|mut out| out.flush())
        .map_err(failed)
}

/// The paths git tracks, or would track, relative to `top`, sorted and each once (a path
/// with a merge conflict is listed once per side).
fn listed(top: &Path) -> Result<Vec<PathBuf>, CtlError> {
    let args = [
        "ls-files",
        "-z",
        "--cached",
        "--others",
        "--exclude-standard",
    ];
    let out = command::run(top, &args)?;
    let mut paths: Vec<PathBuf> = out
        .split(|&byte| byte == 0)
        .filter(|path| !path.is_empty())
        .map(|path| PathBuf::from(OsStr::from_bytes(path)))
        .collect();
    paths.sort();
    paths.dedup();
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Read;
    use std::os::unix::fs::{symlink, PermissionsExt};

    use tar::{Archive, EntryType};

    use super::*;
    use crate::git::testing::{git, repo};

    /// Each entry's path, with its type, mode, link target and content.
    fn entries(bytes: &[u8]) -> BTreeMap<String, (EntryType, u32, Option<String>, String)> {
        let mut archive = Archive::new(bytes);
        let mut found = BTreeMap::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().display().to_string();
            let header = entry.header();
            let kind = header.entry_type();
            let mode = header.mode().unwrap();
            let link = entry.link_name().unwrap().map(|l| l.display().to_string());
            let mut data = String::new();
            entry.read_to_string(&mut data).unwrap();
            found.insert(path, (kind, mode, link, data));
        }
        found
    }

    #[test]
    fn the_tree_is_sent_as_it_is_without_ignored_files() {
        let (_dir, top) = repo();
        fs::write(top.join(".gitignore"), "target/\n*.log\n").unwrap();
        fs::write(top.join("run.sh"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(top.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(top.join("gone.txt"), "soon gone\n").unwrap();
        git(&top, &["add", ".gitignore", "run.sh", "gone.txt"]);
        git(&top, &["commit", "-q", "-m", "more"]);

        fs::write(top.join("README.md"), "# app, edited\n").unwrap();
        fs::remove_file(top.join("gone.txt")).unwrap();
        fs::create_dir_all(top.join("src")).unwrap();
        fs::write(top.join("src/new.rs"), "fn main() {}\n").unwrap();
        symlink("../README.md", top.join("src/readme")).unwrap();
        fs::create_dir(top.join("target")).unwrap();
        fs::write(top.join("target/out"), "built").unwrap();
        fs::write(top.join("debug.log"), "noise").unwrap();

        let mut bytes = Vec::new();
        write_tar(&top, &mut bytes).unwrap();
        let found = entries(&bytes);
        let names: Vec<&str> = found.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                ".gitignore",
                "README.md",
                "run.sh",
                "src/new.rs",
                "src/readme"
            ]
        );
        assert_eq!(found["README.md"].3, "# app, edited\n");
        assert_eq!(found["run.sh"].1 & 0o777, 0o755);
        let readme_link = &found["src/readme"];
        assert_eq!(readme_link.0, EntryType::Symlink);
        assert_eq!(readme_link.2.as_deref(), Some("../README.md"));
    }

    #[test]
    fn submodules_are_left_out() {
        let (_dir, top) = repo();
        let commit = git(&top, &["rev-parse", "HEAD"]);
        let gitlink = format!("160000,{},vendor/lib", commit.trim());
        git(&top, &["update-index", "--add", "--cacheinfo", &gitlink]);
        fs::create_dir_all(top.join("vendor/lib")).unwrap();
        fs::write(top.join("vendor/lib/inner.c"), "int x;\n").unwrap();

        let mut bytes = Vec::new();
        write_tar(&top, &mut bytes).unwrap();
        let names: Vec<String> = entries(&bytes).into_keys().collect();
        assert_eq!(names, ["README.md"]);
    }
}
