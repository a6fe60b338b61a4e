//! Telling which compression an archive uses, so the upload can declare it.

use std::io::{self, Read};

/// How many leading bytes [`Compression::sniff`] looks at.
pub const MAGIC_LEN: usize = 4;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// The compression of a tar stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar stream.
    None,
    /// gzip.
    Gzip,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// Guesses from a file name; `None` when the name says nothing.
    pub fn from_file_name(name: &str) -> Option<Self> {
        let name = name.to_ascii_lowercase();
        let ends = |suffixes: &[&str]| suffixes.iter().any(|s| name.ends_with(s));
        if ends(&[".tar"]) {
            Some(Self::None)
        } else if ends(&[".tar.gz", ".tgz"]) {
            Some(Self::Gzip)
        } else if ends(&[".tar.zst", ".tzst"]) {
            Some(Self::Zstd)
        } else {
            None
        }
    }

    /// Recognises the gzip and zstd magic numbers; anything else is taken for plain tar.
    pub fn sniff(prefix: &[u8]) -> Self {
        if prefix.starts_with(&GZIP_MAGIC) {
            Self::Gzip
        } else if prefix.starts_with(&ZSTD_MAGIC) {
            Self::Zstd
        } else {
            Self::None
        }
    }

    /// The `Content-Encoding` header value, absent for plain tar.
    pub fn content_encoding(self) -> Option<&'static str> {
        match self {
            Self::None => None,
            Self::Gzip => Some("gzip"),
            Self::Zstd => Some("zstd"),
        }
    }
}

/// Reads up to [`MAGIC_LEN`] bytes, fewer only at end of input.
///
/// A single `read` may stop short on a pipe, so this loops; the bytes read are returned
/// because a pipe cannot be rewound and they must still be uploaded.
pub fn read_prefix(reader: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut prefix = vec![0; MAGIC_LEN];
    let mut filled = 0;
    while filled < MAGIC_LEN {
        match reader.read(&mut prefix[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        }
    }
    prefix.truncate(filled);
    Ok(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_decide_when_they_can() {
        assert_eq!(
            Compression::from_file_name("rootfs.tar"),
            Some(Compression::None)
        );
        assert_eq!(
            Compression::from_file_name("rootfs.tar.gz"),
            Some(Compression::Gzip)
        );
        assert_eq!(
            Compression::from_file_name("ROOTFS.TGZ"),
            Some(Compression::Gzip)
        );
        assert_eq!(
            Compression::from_file_name("rootfs.tar.zst"),
            Some(Compression::Zstd)
        );
        assert_eq!(
            Compression::from_file_name("rootfs.tzst"),
            Some(Compression::Zstd)
        );
        assert_eq!(Compression::from_file_name("rootfs"), None);
        assert_eq!(Compression::from_file_name("rootfs.gz"), None);
    }

    #[test]
    fn magic_bytes_decide_otherwise() {
        assert_eq!(
            Compression::sniff(&[0x1f, 0x8b, 0x08, 0x00]),
            Compression::Gzip
        );
        assert_eq!(
            Compression::sniff(&[0x28, 0xb5, 0x2f, 0xfd]),
            Compression::Zstd
        );
        assert_eq!(Compression::sniff(b"etc/"), Compression::None);
        assert_eq!(Compression::sniff(&[0x28, 0xb5]), Compression::None);
        assert_eq!(Compression::sniff(&[]), Compression::None);
    }

    #[test]
    fn plain_tar_has_no_content_encoding() {
        assert_eq!(Compression::None.content_encoding(), None);
        assert_eq!(Compression::Gzip.content_encoding(), Some("gzip"));
        assert_eq!(Compression::Zstd.content_encoding(), Some("zstd"));
    }

    /// Hands out one byte per read, like a slow pipe.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some((first, rest)) = self.0.split_first() else {
                return Ok(0);
            };
            buf[0] = *first;
            self.0 = rest;
            Ok(1)
        }
    }

    #[test]
    fn prefix_survives_short_reads_and_short_input() {
        let prefix = read_prefix(&mut Trickle(&[0x28, 0xb5, 0x2f, 0xfd, 0x00])).unwrap();
        assert_eq!(prefix, [0x28, 0xb5, 0x2f, 0xfd]);
        assert_eq!(read_prefix(&mut Trickle(b"ab")).unwrap(), b"ab");
    }
}
