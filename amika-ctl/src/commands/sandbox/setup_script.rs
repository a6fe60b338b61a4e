//! Reading the file `--setup-script` names, with the caller's own permissions.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use amika_api::sandbox::MAX_SETUP_SCRIPT_BYTES;

use crate::error::CtlError;

/// The script's text. A file the caller cannot read, one over [`MAX_SETUP_SCRIPT_BYTES`] and
/// one that is not UTF-8 are refused, naming the file.
pub fn read(path: &Path) -> Result<String, CtlError> {
    let shown = path.display();
    let cannot_read = |e| CtlError::io(format!("cannot read setup script {shown}"), e);
    let file = File::open(path).map_err(cannot_read)?;
    // One byte past the limit is enough to tell; a huge file is never read whole.
    let mut bytes = Vec::new();
    file.take(MAX_SETUP_SCRIPT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot_read)?;
    if bytes.len() > MAX_SETUP_SCRIPT_BYTES {
        return Err(CtlError::Local(format!(
            "setup script {shown} is larger than {} MiB; keep it short and have it run the \
             bigger steps from files in the repository",
            MAX_SETUP_SCRIPT_BYTES >> 20
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        CtlError::Local(format!(
            "setup script {shown} is not UTF-8 text (byte {} is not); save it as UTF-8",
            e.utf8_error().valid_up_to()
        ))
    })
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn a_script_is_sent_as_its_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("setup.sh");
        fs::write(&path, "#!/bin/sh\npnpm install # ünïcode\n").unwrap();
        assert_eq!(read(&path).unwrap(), "#!/bin/sh\npnpm install # ünïcode\n");
    }

    #[test]
    fn a_script_of_exactly_the_limit_passes_and_one_byte_more_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.sh");
        fs::write(&path, "#".repeat(MAX_SETUP_SCRIPT_BYTES)).unwrap();
        assert_eq!(read(&path).unwrap().len(), MAX_SETUP_SCRIPT_BYTES);
        fs::write(&path, "#".repeat(MAX_SETUP_SCRIPT_BYTES + 1)).unwrap();
        let message = read(&path).unwrap_err().to_string();
        assert!(
            message.starts_with(&format!(
                "setup script {} is larger than 1 MiB; ",
                path.display()
            )),
            "{message}"
        );
    }

    #[test]
    fn binary_and_missing_files_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("setup.bin");
        fs::write(&path, b"echo hi\n\xff\xfe").unwrap();
        let err = read(&path).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "setup script {} is not UTF-8 text (byte 8 is not); save it as UTF-8",
                path.display()
            )
        );
        assert_eq!(err.exit_code(), 1);
        let missing = dir.path().join("none.sh");
        let message = read(&missing).unwrap_err().to_string();
        assert!(
            message.starts_with(&format!("cannot read setup script {}: ", missing.display())),
            "{message}"
        );
    }
}
