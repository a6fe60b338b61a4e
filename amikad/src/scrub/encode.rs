//! The encodings a secret value is commonly stored under: base64 (standard and URL-safe)
//! and URL percent-encoding. Only encoding is needed: the scan looks for encoded forms
//! instead of decoding file contents.

/// The standard base64 alphabet (RFC 4648, section 4).
pub(super) const STANDARD: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The URL- and file-name-safe base64 alphabet (RFC 4648, section 5).
pub(super) const URL_SAFE: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Encodes `data` as base64 in `alphabet`, without `=` padding.
///
/// The padded form only appends `=` to this, so a search for the unpadded text also finds
/// the padded one.
pub(super) fn base64(data: &[u8], alphabet: &[u8; 64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len().div_ceil(3) * 4);
    for group in data.chunks(3) {
        let bytes = [
            group[0],
            *group.get(1).unwrap_or(&0),
            *group.get(2).unwrap_or(&0),
        ];
        let bits = u32::from(bytes[0]) << 16 | u32::from(bytes[1]) << 8 | u32::from(bytes[2]);
        // A group of n bytes fills n + 1 characters; the rest would be padding.
        for i in 0..=group.len() {
            let index = (bits >> (18 - 6 * i)) & 0x3f;
            out.push(alphabet[index as usize]);
        }
    }
    out
}

/// The base64 characters that depend only on `value` when it starts `shift` bytes
/// (0, 1 or 2) into a group of three, as it does when it sits inside longer encoded data.
///
/// The characters that mix in bits of the bytes before or after the value are dropped, so
/// the result appears in the encoding of any data that contains the value at such an
/// offset, whatever surrounds it.
pub(super) fn base64_core(value: &[u8], shift: usize, alphabet: &[u8; 64]) -> Vec<u8> {
    let mut shifted = vec![0; shift];
    shifted.extend_from_slice(value);
    let encoded = base64(&shifted, alphabet);
    let start = (8 * shift).div_ceil(6);
    let end = (8 * shifted.len()) / 6;
    if start >= end {
        return Vec::new();
    }
    encoded[start..end].to_vec()
}

/// Percent-encodes every byte outside the unreserved set (RFC 3986), with upper-case hex
/// digits, as a token in a URL's user information would be written.
pub(super) fn percent(data: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(data.len());
    for &byte in data {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte);
        } else {
            out.extend_from_slice(&[
                b'%',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 15)],
            ]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_vectors() {
        let vectors: [(&[u8], &[u8]); 7] = [
            (b"", b""),
            (b"f", b"Zg"),
            (b"fo", b"Zm8"),
            (b"foo", b"Zm9v"),
            (b"foob", b"Zm9vYg"),
            (b"fooba", b"Zm9vYmE"),
            (b"foobar", b"Zm9vYmFy"),
        ];
        for (data, encoded) in vectors {
            assert_eq!(base64(data, STANDARD), encoded);
        }
        assert_eq!(base64(&[0xfb, 0xff], STANDARD), b"+/8");
        assert_eq!(base64(&[0xfb, 0xff], URL_SAFE), b"-_8");
    }

    #[test]
    fn a_core_appears_in_the_encoding_of_any_surrounding_data() {
        let value = b"ghp_0123456789abcdefXYZ";
        for before in 0..6 {
            for after in 0..4 {
                let mut data = vec![b'#'; before];
                data.extend_from_slice(value);
                data.resize(data.len() + after, b'!');
                let encoded = base64(&data, STANDARD);
                let core = base64_core(value, before % 3, STANDARD);
                assert!(core.len() >= 28, "{}", core.len());
                let found = encoded.windows(core.len()).any(|w| w == core.as_slice());
                assert!(found, "shift {before}, tail {after}");
            }
        }
    }

    #[test]
    fn a_core_too_short_to_mean_anything_is_empty() {
        assert!(base64_core(b"a", 1, STANDARD).is_empty());
        assert_eq!(base64_core(b"foo", 0, STANDARD), b"Zm9v");
    }

    #[test]
    fn percent_keeps_unreserved_bytes() {
        assert_eq!(percent(b"a-b_c.d~e"), b"a-b_c.d~e");
        assert_eq!(percent(b"p@ss/w:rd"), b"p%40ss%2Fw%3Ard");
    }
}
