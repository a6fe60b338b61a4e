//! The body of a create request that carries a local repository.
//!
//! It is a tar stream of [`CREATE_ARCHIVE_REQUEST`] (the request as JSON), then
//! [`CREATE_ARCHIVE_BUNDLE`] (the repository's history) and, for `--no-clean`,
//! [`CREATE_ARCHIVE_WORKTREE`] (the working tree as it is). The bundle and the inner tar are
//! made first, as the caller, in a private temporary directory; their sizes must be known
//! before their headers are written. The directory is removed as soon as both files are open,
//! so an upload that is interrupted leaves nothing behind. A client killed before that, while
//! git writes the bundle, leaves the directory in `$TMPDIR`: nothing removes it later.

use std::fs::{File, Permissions};
use std::io::{self, BufWriter, Read, Seek, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use amika_api::sandbox::{CREATE_ARCHIVE_BUNDLE, CREATE_ARCHIVE_REQUEST, CREATE_ARCHIVE_WORKTREE};
use amika_api::CreateSandbox;
use tar::{Builder, EntryType, Header};
use tempfile::TempDir;

use crate::body::{self, Producer, UploadBody, UploadError};
use crate::error::CtlError;
use crate::git::{bundle, worktree};
use crate::progress::Progress;

/// A repository packed for sending: open files whose names are already gone.
#[derive(Debug)]
pub struct Packed {
    bundle: File,
    worktree: Option<File>,
}

/// Packs the repository at `top`, and its working tree with `no_clean`. Every failure, git's
/// included, happens here, before anything is sent.
pub fn pack(top: &Path, no_clean: bool) -> Result<Packed, CtlError> {
    pack_in(&std::env::temp_dir(), top, no_clean)
}

/// [`pack`], with the private directory made in `parent`.
fn pack_in(parent: &Path, top: &Path, no_clean: bool) -> Result<Packed, CtlError> {
    let dir = private_dir(parent)?;
    let bundle_path = dir.path().join(CREATE_ARCHIVE_BUNDLE);
    bundle::create(top, &bundle_path)?;
    let bundle = File::open(&bundle_path)
        .map_err(|e| CtlError::io(format!("cannot open {}", bundle_path.display()), e))?;
    let worktree = if no_clean {
        Some(pack_worktree(
            top,
            &dir.path().join(CREATE_ARCHIVE_WORKTREE),
        )?)
    } else {
        None
    };
    let shown = dir.path().display().to_string();
    if let Err(e) = dir.close() {
        // The files are open already; a leftover directory is only clutter, but private.
        eprintln!("warning: cannot remove {shown}: {e}; remove it by hand");
    }
    Ok(Packed { bundle, worktree })
}

/// A new directory in `parent` that only the caller can enter.
fn private_dir(parent: &Path) -> Result<TempDir, CtlError> {
    tempfile::Builder::new()
        .prefix("amika-ctl-")
        .permissions(Permissions::from_mode(0o700))
        .tempdir_in(parent)
        .map_err(|e| {
            let context = format!(
                "cannot create a private directory in {} (set TMPDIR to a writable directory)",
                parent.display()
            );
            CtlError::io(context, e)
        })
}

/// Writes the working tree's tar to `path` and returns it open for reading, from the start.
fn pack_worktree(top: &Path, path: &Path) -> Result<File, CtlError> {
    let cannot = |e| CtlError::io(format!("cannot write {}", path.display()), e);
    let mut file = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(cannot)?;
    worktree::write_tar(top, BufWriter::new(&file))?;
    file.rewind().map_err(cannot)?;
    Ok(file)
}

/// Starts streaming `request` and the packed repository as the create archive. Must be called
/// inside the runtime.
pub fn start(
    request: &CreateSandbox,
    packed: Packed,
    progress: Progress,
) -> Result<UploadBody, CtlError> {
    let json = serde_json::to_vec(request)
        .map_err(|e| CtlError::Local(format!("cannot encode the request: {e}")))?;
    let (producer, body) = body::channel(progress);
    tokio::task::spawn_blocking(move || stream(json, packed, producer));
    Ok(body)
}

fn stream(json: Vec<u8>, packed: Packed, producer: Producer) {
    let mut out = producer.writer();
    let result = write_archive(&json, packed, &mut out).and_then(|()| out.flush());
    drop(out);
    let result = result.map_err(|e| UploadError::new(format!("cannot send the repository: {e}")));
    producer.finish(result);
}

/// Writes the archive's entries, in the order the daemon reads them.
pub fn write_archive<W: Write>(json: &[u8], packed: Packed, out: W) -> io::Result<()> {
    let mut tar = Builder::new(out);
    append(&mut tar, CREATE_ARCHIVE_REQUEST, json.len() as u64, json)?;
    append_file(&mut tar, CREATE_ARCHIVE_BUNDLE, packed.bundle)?;
    if let Some(worktree) = packed.worktree {
        append_file(&mut tar, CREATE_ARCHIVE_WORKTREE, worktree)?;
    }
    tar.into_inner()?.flush()
}

fn append_file<W: Write>(tar: &mut Builder<W>, name: &str, file: File) -> io::Result<()> {
    let size = file.metadata()?.len();
    // Taking exactly the size in the header keeps the stream sound even if the file changed.
    append(tar, name, size, file.take(size))
}

fn append<W: Write>(
    tar: &mut Builder<W>,
    name: &str,
    size: u64,
    data: impl Read,
) -> io::Result<()> {
    let mut header = Header::new_gnu();
    header.set_entry_type(EntryType::Regular);
    header.set_size(size);
    header.set_mode(0o600);
    tar.append_data(&mut header, name, data)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use amika_api::GitRequest;
    use http_body_util::BodyExt;
    use tar::Archive;

    use super::*;
    use crate::git::testing::{git, repo};

    /// The archive `start` streams, collected whole.
    fn streamed(request: &CreateSandbox, packed: Packed) -> Vec<u8> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let body = start(request, packed, Progress::hidden()).unwrap();
            body.collect().await.unwrap().to_bytes().to_vec()
        })
    }

    /// Each entry's name and content, in order.
    fn entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut archive = Archive::new(bytes);
        let mut found = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().display().to_string();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            found.push((name, data));
        }
        found
    }

    fn request() -> CreateSandbox {
        CreateSandbox {
            name: Some("box".into()),
            git: Some(GitRequest {
                name: Some("app".into()),
                head: Some("main".into()),
                ..GitRequest::default()
            }),
            ..CreateSandbox::default()
        }
    }

    #[test]
    fn the_archive_holds_the_request_then_a_bundle_that_clones() {
        let (dir, top) = repo();
        let sent = entries(&streamed(&request(), pack(&top, false).unwrap()));
        let names: Vec<&str> = sent.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["request.json", "repo.bundle"]);
        let decoded: CreateSandbox = serde_json::from_slice(&sent[0].1).unwrap();
        assert_eq!(decoded, request());

        let bundle = dir.path().join("received.bundle");
        fs::write(&bundle, &sent[1].1).unwrap();
        let clone = dir.path().join("clone");
        git(
            dir.path(),
            &[
                "clone",
                "-q",
                bundle.to_str().unwrap(),
                clone.to_str().unwrap(),
            ],
        );
        assert_eq!(
            fs::read_to_string(clone.join("README.md")).unwrap(),
            "# app\n"
        );
    }

    #[test]
    fn no_clean_adds_the_working_tree_last() {
        let (_dir, top) = repo();
        fs::write(top.join("README.md"), "# app, not committed\n").unwrap();
        let sent = entries(&streamed(&request(), pack(&top, true).unwrap()));
        let names: Vec<&str> = sent.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["request.json", "repo.bundle", "worktree.tar"]);
        let inner = entries(&sent[2].1);
        assert_eq!(
            inner,
            [("README.md".to_string(), b"# app, not committed\n".to_vec())]
        );
    }

    #[test]
    fn the_private_directory_is_closed_to_others_and_removed() {
        let parent = tempfile::tempdir().unwrap();
        let dir = private_dir(parent.path()).unwrap();
        let mode = fs::metadata(dir.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        drop(dir);

        let (_dir, top) = repo();
        let packed = pack_in(parent.path(), &top, true).unwrap();
        assert_eq!(fs::read_dir(parent.path()).unwrap().count(), 0);
        drop(packed);
    }

    #[test]
    fn a_failure_to_pack_names_the_repository() {
        let parent = tempfile::tempdir().unwrap();
        let (_dir, top) = crate::git::testing::empty_repo();
        let err = pack_in(parent.path(), &top, false).unwrap_err();
        assert!(err.to_string().contains("has no commits yet"), "{err}");
        assert_eq!(fs::read_dir(parent.path()).unwrap().count(), 0);
    }
}
