//! Turning a user's archive file or directory into a streaming tar upload.
//!
//! The files are opened here, with the caller's own permissions: the daemon runs as root and
//! never opens a path a user names, so a user can only import what they can read.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::body::{self, Producer, UploadBody, UploadError, CHUNK_SIZE};
use crate::compression::{read_prefix, Compression};
use crate::error::CtlError;
use crate::progress::Progress;
use crate::tarball;

/// A tar stream ready to be sent.
#[derive(Debug)]
pub struct Upload {
    /// The stream itself; a blocking thread is already filling it.
    pub body: UploadBody,
    /// How the stream is compressed.
    pub compression: Compression,
}

/// Checks that `path` can be read and starts streaming it.
///
/// Every failure that can be detected before the first byte is sent is returned here, so a
/// missing or unreadable path never reaches the daemon. Must be called inside the runtime.
pub fn start(path: &Path, progress: Progress) -> Result<Upload, CtlError> {
    let shown = path.display();
    let metadata =
        fs::metadata(path).map_err(|e| CtlError::io(format!("cannot read {shown}"), e))?;
    let (producer, body) = body::channel(progress);
    if metadata.is_dir() {
        fs::read_dir(path).map_err(|e| CtlError::io(format!("cannot read {shown}"), e))?;
        // The archiver follows no symlink, the top one included; a link the user named on the
        // command line is meant to be followed, so resolve it here.
        let dir = fs::canonicalize(path)
            .map_err(|e| CtlError::io(format!("cannot resolve {shown}"), e))?;
        tokio::task::spawn_blocking(move || stream_dir(dir, producer));
        return Ok(Upload {
            body,
            compression: Compression::None,
        });
    }

    let mut file = File::open(path).map_err(|e| CtlError::io(format!("cannot open {shown}"), e))?;
    let prefix =
        read_prefix(&mut file).map_err(|e| CtlError::io(format!("cannot read {shown}"), e))?;
    let compression = path
        .file_name()
        .and_then(|name| name.to_str())
        .and_then(Compression::from_file_name)
        .unwrap_or_else(|| Compression::sniff(&prefix));
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || stream_file(file, prefix, path, producer));
    Ok(Upload { body, compression })
}

fn stream_file(mut file: File, prefix: Vec<u8>, path: PathBuf, producer: Producer) {
    let result = copy_chunks(&mut file, prefix, &producer)
        .map_err(|e| UploadError::new(format!("cannot read {}: {e}", path.display())));
    producer.finish(result);
}

/// Sends `prefix`, already read for sniffing, then the rest of `file`.
fn copy_chunks(file: &mut impl Read, prefix: Vec<u8>, producer: &Producer) -> io::Result<()> {
    if !prefix.is_empty() {
        producer.send(Bytes::from(prefix))?;
    }
    let mut buf = vec![0; CHUNK_SIZE];
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => producer.send(Bytes::copy_from_slice(&buf[..n]))?,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        }
    }
}

fn stream_dir(dir: PathBuf, producer: Producer) {
    let mut out = producer.writer();
    let result = tarball::write_dir_tar(&dir, &mut out).and_then(|()| out.flush());
    drop(out);
    // The archiver's errors already name the entry that failed.
    producer.finish(result.map_err(|e| UploadError::new(e.to_string())));
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    fn upload(path: &Path) -> Result<(Compression, Vec<u8>), CtlError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let upload = start(path, Progress::hidden())?;
            let bytes = upload
                .body
                .collect()
                .await
                .map_err(|e| CtlError::Local(e.to_string()))?;
            Ok((upload.compression, bytes.to_bytes().to_vec()))
        })
    }

    #[test]
    fn missing_path_fails_before_any_request_and_names_the_path() {
        let err = upload(Path::new("/nonexistent/rootfs.tar")).unwrap_err();
        assert_eq!(err.exit_code(), 1);
        assert!(
            err.to_string()
                .starts_with("cannot read /nonexistent/rootfs.tar: "),
            "{err}"
        );
    }

    #[test]
    fn file_is_sent_whole_with_the_sniffed_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rootfs");
        let content: Vec<u8> = [0x28, 0xb5, 0x2f, 0xfd]
            .into_iter()
            .chain(0..=255)
            .collect();
        let big: Vec<u8> = content
            .iter()
            .copied()
            .cycle()
            .take(CHUNK_SIZE * 3 + 7)
            .collect();
        fs::write(&path, &big).unwrap();
        let (compression, sent) = upload(&path).unwrap();
        assert_eq!(compression, Compression::Zstd);
        assert_eq!(sent, big);
    }

    #[test]
    fn file_name_beats_magic_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rootfs.tar");
        fs::write(&path, [0x1f, 0x8b]).unwrap();
        assert_eq!(
            upload(&path).unwrap(),
            (Compression::None, vec![0x1f, 0x8b])
        );
    }
}
