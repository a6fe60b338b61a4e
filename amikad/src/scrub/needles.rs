//! The byte strings that betray an injected value, and a streaming search for them.
//!
//! Each value is searched for raw, percent-encoded (as in a URL), and base64-encoded in
//! both alphabets: standalone (padded or not) and embedded at any offset inside longer
//! encoded data, such as an HTTP basic-auth header. All forms of all values go into one
//! Aho-Corasick automaton, so a file is read and searched once however many secrets there
//! are.
//!
//! A value shorter than about 8 bytes is still searched for, but such a short string can
//! turn up by chance (in a binary, say), making verification fail on a file that never saw
//! the secret. That is the fail-closed side to err on; the fix is a longer secret.

use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

use aho_corasick::AhoCorasick;
use nix::errno::Errno;
use nix::unistd::{lseek, Whence};

use super::encode::{self, STANDARD, URL_SAFE};
use super::ScrubError;

/// How much of a file is read and searched at a time.
pub(super) const CHUNK: usize = 1 << 20;

/// Base64 of a value embedded in longer data is searched for only when this many characters
/// of it are certain; fewer would match unrelated base64 text too often to be useful.
const MIN_CORE_LEN: usize = 8;

/// A searcher for every form of every injected value.
pub(super) struct Needles {
    searcher: AhoCorasick,
    /// For each pattern, in the automaton's order: which secret and which form.
    owners: Vec<(usize, &'static str)>,
    secrets: Vec<String>,
    longest: usize,
    /// Whether some pattern contains a zero byte, which a file's holes could supply.
    has_nul: bool,
}

/// Which secret was found, and in which form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Hit {
    /// The secret's name.
    pub secret: String,
    /// The form it was written in, e.g. "base64".
    pub form: &'static str,
}

impl fmt::Debug for Needles {
    // The derived form would print the patterns, which are the secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Needles")
            .field("secrets", &self.secrets)
            .field("patterns", &self.owners.len())
            .finish()
    }
}

impl Needles {
    /// Prepares the search for `values`, given as (secret name, value). Empty values are
    /// skipped: they cannot leak anything.
    pub fn new(values: &[(String, Vec<u8>)]) -> Result<Needles, ScrubError> {
        let mut patterns = Vec::new();
        let mut owners = Vec::new();
        for (index, (_, value)) in values.iter().enumerate() {
            for (form, pattern) in forms(value) {
                owners.push((index, form));
                patterns.push(pattern);
            }
        }
        let searcher = AhoCorasick::new(&patterns).map_err(|e| ScrubError::Search {
            reason: e.to_string(),
        })?;
        Ok(Needles {
            searcher,
            owners,
            secrets: values.iter().map(|(name, _)| name.clone()).collect(),
            longest: patterns.iter().map(Vec::len).max().unwrap_or(0),
            has_nul: patterns.iter().any(|p| p.contains(&0)),
        })
    }

    /// Whether there is nothing to search for.
    pub fn is_empty(&self) -> bool {
        self.owners.is_empty()
    }

    /// Finds any form of any value in `haystack`.
    pub fn find(&self, haystack: &[u8]) -> Option<Hit> {
        let found = self.searcher.find(haystack)?;
        let (secret, form) = self.owners[found.pattern().as_usize()];
        Some(Hit {
            secret: self.secrets[secret].clone(),
            form,
        })
    }

    /// A buffer for [`scan_file`](Self::scan_file), to be reused from file to file.
    pub fn buffer(&self) -> Vec<u8> {
        vec![0; CHUNK + self.longest]
    }

    /// Searches the whole of `file` in chunks, reading into `buf` (from
    /// [`buffer`](Self::buffer)) and adding the bytes read to `scanned`.
    ///
    /// Holes in a sparse file read as zeros, so they are skipped unless a pattern contains
    /// a zero byte; a huge sparse file then costs only its data.
    pub fn scan_file(
        &self,
        file: &File,
        buf: &mut [u8],
        scanned: &mut u64,
    ) -> io::Result<Option<Hit>> {
        assert!(buf.len() >= CHUNK + self.longest, "scan buffer too small");
        if self.has_nul {
            return self.scan_region(file, 0, None, buf, scanned);
        }
        let mut pos = 0;
        loop {
            let start = match lseek(file.as_raw_fd(), pos, Whence::SeekData) {
                Ok(start) => start,
                // No data at or after `pos`: the rest of the file is a hole.
                Err(Errno::ENXIO) => return Ok(None),
                // No support for finding holes: read everything.
                Err(Errno::EINVAL) if pos == 0 => {
                    return self.scan_region(file, 0, None, buf, scanned)
                }
                Err(e) => return Err(e.into()),
            };
            let end = lseek(file.as_raw_fd(), start, Whence::SeekHole)?;
            let (from, to) = (offset(start)?, offset(end)?);
            if let Some(hit) = self.scan_region(file, from, Some(to), buf, scanned)? {
                return Ok(Some(hit));
            }
            if end <= start {
                return Ok(None);
            }
            pos = end;
        }
    }

    /// Searches `file` from `start` to `end` (or to its end), keeping the last
    /// `longest - 1` bytes of each chunk in front of the next so that a value split across
    /// two reads is still found whole.
    fn scan_region(
        &self,
        file: &File,
        start: u64,
        end: Option<u64>,
        buf: &mut [u8],
        scanned: &mut u64,
    ) -> io::Result<Option<Hit>> {
        let keep = self.longest.saturating_sub(1);
        let mut carried = 0;
        let mut at = start;
        loop {
            let left = end.map_or(CHUNK as u64, |end| end.saturating_sub(at));
            let want = usize::try_from(left).map_or(CHUNK, |left| left.min(CHUNK));
            let read = read_at(file, &mut buf[carried..carried + want], at)?;
            if read == 0 {
                return Ok(None);
            }
            *scanned += read as u64;
            at += read as u64;
            let filled = carried + read;
            if let Some(hit) = self.find(&buf[..filled]) {
                return Ok(Some(hit));
            }
            carried = keep.min(filled);
            buf.copy_within(filled - carried..filled, 0);
        }
    }
}

/// The forms `value` is searched in, as (form name, bytes), without any form that merely
/// contains another: finding the shorter one is enough.
fn forms(value: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    if value.is_empty() {
        return Vec::new();
    }
    let mut candidates = vec![
        ("raw", value.to_vec()),
        ("percent-encoded", encode::percent(value)),
        ("base64", encode::base64(value, STANDARD)),
        ("url-safe base64", encode::base64(value, URL_SAFE)),
    ];
    for shift in 0..3 {
        for (form, alphabet) in [("base64", STANDARD), ("url-safe base64", URL_SAFE)] {
            let core = encode::base64_core(value, shift, alphabet);
            if core.len() >= MIN_CORE_LEN {
                candidates.push((form, core));
            }
        }
    }

    // Shortest first, so a longer form is dropped when a kept one lies inside it.
    candidates.sort_by_key(|(_, bytes)| bytes.len());
    let mut kept: Vec<(&'static str, Vec<u8>)> = Vec::new();
    for (form, bytes) in candidates {
        if !kept.iter().any(|(_, k)| contains(&bytes, k)) {
            kept.push((form, bytes));
        }
    }
    kept
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// Reads at `at`, retrying when a signal interrupts the read.
fn read_at(file: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    loop {
        match file.read_at(buf, at) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

fn offset(pos: i64) -> io::Result<u64> {
    u64::try_from(pos).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "negative offset"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, SeekFrom, Write};

    const SECRET: &[u8] = b"ghp_S3cr3tT0kenValue0123456789";

    fn needles() -> Needles {
        Needles::new(&[
            ("short".into(), b"pw1".to_vec()),
            ("github".into(), SECRET.to_vec()),
        ])
        .unwrap()
    }

    #[test]
    fn every_form_is_found_and_named() {
        let needles = needles();
        let padded = format!(
            "{}==",
            String::from_utf8(encode::base64(SECRET, STANDARD)).unwrap()
        );
        let mut header = b"Authorization: Basic ".to_vec();
        header.extend(encode::base64(
            &[b"x-access-token:", SECRET].concat(),
            STANDARD,
        ));
        let cases: [(&[u8], &str); 4] = [
            (SECRET, "raw"),
            (padded.as_bytes(), "base64"),
            (&header, "base64"),
            (b"pw1", "raw"),
        ];
        for (text, form) in cases {
            let hit = needles.find(text).expect("value found");
            assert_eq!(hit.form, form);
        }
        assert_eq!(needles.find(SECRET).unwrap().secret, "github");
        assert!(needles.find(b"nothing to see here").is_none());
    }

    #[test]
    fn url_safe_and_percent_forms_are_found() {
        // Bytes whose base64 is "+/+/" in the standard alphabet and "-_-_" in the other.
        let value = [&[0xfb, 0xff, 0xbf][..], b"tok/en?odd>bytes"].concat();
        let needles = Needles::new(&[("odd".into(), value.clone())]).unwrap();
        let url_safe = encode::base64(&value, URL_SAFE);
        assert_eq!(needles.find(&url_safe).unwrap().form, "url-safe base64");
        let url = [b"https://u:".as_slice(), &encode::percent(&value), b"@h/"].concat();
        assert_eq!(needles.find(&url).unwrap().form, "percent-encoded");
    }

    #[test]
    fn debug_output_shows_no_pattern() {
        let shown = format!("{:?}", needles());
        assert!(shown.contains("github"), "{shown}");
        assert!(!shown.contains("S3cr3t"), "{shown}");
    }

    #[test]
    fn a_value_across_a_chunk_boundary_or_after_a_hole_is_found() {
        let needles = needles();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&vec![b'a'; CHUNK - 7]).unwrap();
        file.write_all(SECRET).unwrap();
        let mut scanned = 0;
        let hit = needles
            .scan_file(&file, &mut needles.buffer(), &mut scanned)
            .unwrap();
        assert_eq!(hit.unwrap().secret, "github");

        let mut sparse = tempfile::tempfile().unwrap();
        sparse.seek(SeekFrom::Start(64 << 20)).unwrap();
        sparse.write_all(SECRET).unwrap();
        let mut scanned = 0;
        let hit = needles
            .scan_file(&sparse, &mut needles.buffer(), &mut scanned)
            .unwrap();
        assert_eq!(hit.unwrap().secret, "github");
        assert!(scanned < 8 << 20, "read {scanned} bytes of holes");
    }

    #[test]
    fn empty_values_are_not_searched() {
        let needles = Needles::new(&[("empty".into(), Vec::new())]).unwrap();
        assert!(needles.is_empty());
        assert!(needles.find(b"anything").is_none());
    }
}
