//! The frames exchanged on an upgraded exec connection (see [`crate::exec`]).
//!
//! Each frame is a one-byte [`Kind`], a big-endian `u32` payload length and the payload:
//!
//! | kind | direction | payload |
//! |---|---|---|
//! | 0 `Stdin` | client → daemon | data; empty means the client's stdin reached EOF |
//! | 1 `Stdout` | daemon → client | data |
//! | 2 `Stderr` | daemon → client | data |
//! | 3 `Exit` | daemon → client | exit code, `i32` big-endian; always the last frame |
//! | 4 `Resize` | client → daemon | rows `u16` then columns `u16`, big-endian |
//! | 5 `Signal` | client → daemon | one byte, a signal number (non-tty sessions) |
//!
//! No payload may exceed [`MAX_PAYLOAD`]; senders split larger data into several frames.
//! This module only turns frames into bytes and back, so both sides can share and test it.

use std::fmt;

/// Bytes before every payload: the kind and the length.
pub const HEADER_LEN: usize = 5;

/// The largest payload a frame may carry. A peer announcing more is treated as broken, so a
/// corrupted length can never make the other side allocate gigabytes.
pub const MAX_PAYLOAD: usize = 1 << 20;

/// The type byte that starts a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Input for the command.
    Stdin = 0,
    /// The command's standard output (or the terminal's output in a tty session).
    Stdout = 1,
    /// The command's standard error.
    Stderr = 2,
    /// The command's exit code.
    Exit = 3,
    /// A new terminal size.
    Resize = 4,
    /// A signal to deliver to the command.
    Signal = 5,
}

impl Kind {
    /// The kind a type byte stands for, if any.
    pub fn from_byte(byte: u8) -> Option<Self> {
        Some(match byte {
            0 => Self::Stdin,
            1 => Self::Stdout,
            2 => Self::Stderr,
            3 => Self::Exit,
            4 => Self::Resize,
            5 => Self::Signal,
            _ => return None,
        })
    }

    /// The exact payload length this kind requires, for the fixed-size kinds.
    fn fixed_len(self) -> Option<usize> {
        match self {
            Self::Stdin | Self::Stdout | Self::Stderr => None,
            Self::Exit | Self::Resize => Some(4),
            Self::Signal => Some(1),
        }
    }
}

/// One message of an exec session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Input for the command; empty at EOF.
    Stdin(Vec<u8>),
    /// Output of the command.
    Stdout(Vec<u8>),
    /// Error output of the command.
    Stderr(Vec<u8>),
    /// The command's exit code; nothing follows it.
    Exit(i32),
    /// The client's terminal changed size.
    Resize {
        /// Rows.
        rows: u16,
        /// Columns.
        cols: u16,
    },
    /// Deliver this signal number to the command.
    Signal(u8),
}

impl Frame {
    /// The frame's type.
    pub fn kind(&self) -> Kind {
        match self {
            Self::Stdin(_) => Kind::Stdin,
            Self::Stdout(_) => Kind::Stdout,
            Self::Stderr(_) => Kind::Stderr,
            Self::Exit(_) => Kind::Exit,
            Self::Resize { .. } => Kind::Resize,
            Self::Signal(_) => Kind::Signal,
        }
    }

    /// The frame as bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Appends the frame's bytes to `out`, so a sender can reuse one buffer.
    ///
    /// A data payload longer than [`MAX_PAYLOAD`] is a bug in the caller: the peer refuses
    /// the frame, so the session ends with an error on the other side.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Self::Stdin(data) | Self::Stdout(data) | Self::Stderr(data) => {
                out.reserve(HEADER_LEN + data.len());
                out.extend_from_slice(&header(self.kind(), data.len()));
                out.extend_from_slice(data);
            }
            Self::Exit(code) => push_fixed(out, Kind::Exit, &code.to_be_bytes()),
            Self::Resize { rows, cols } => {
                let [r0, r1] = rows.to_be_bytes();
                let [c0, c1] = cols.to_be_bytes();
                push_fixed(out, Kind::Resize, &[r0, r1, c0, c1]);
            }
            Self::Signal(number) => push_fixed(out, Kind::Signal, &[*number]),
        }
    }
}

/// The header for a frame of `kind` with a `len`-byte payload.
///
/// With it a sender can write a header and then data it already holds, e.g. a slice of its
/// read buffer, without building a [`Frame`] (and copying the data) first.
pub fn header(kind: Kind, len: usize) -> [u8; HEADER_LEN] {
    debug_assert!(
        len <= MAX_PAYLOAD,
        "frame payload of {len} bytes is too long"
    );
    // Lossless: MAX_PAYLOAD is far below u32::MAX.
    let [l0, l1, l2, l3] = (len as u32).to_be_bytes();
    [kind as u8, l0, l1, l2, l3]
}

fn push_fixed(out: &mut Vec<u8>, kind: Kind, payload: &[u8]) {
    out.extend_from_slice(&header(kind, payload.len()));
    out.extend_from_slice(payload);
}

/// Why a byte stream is not a valid sequence of frames. The stream cannot be resynchronised
/// after any of these, so the session must end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The type byte is not one of [`Kind`].
    UnknownKind(u8),
    /// The announced payload is longer than [`MAX_PAYLOAD`].
    TooLong {
        /// The frame's type byte.
        kind: u8,
        /// The announced length.
        len: u32,
    },
    /// A fixed-size frame (exit, resize, signal) announced the wrong length.
    BadLength {
        /// The frame's type.
        kind: Kind,
        /// The announced length.
        len: u32,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownKind(kind) => write!(f, "unknown stream frame type {kind}"),
            Self::TooLong { kind, len } => write!(
                f,
                "stream frame of type {kind} announces {len} bytes; at most {MAX_PAYLOAD} are \
                 allowed"
            ),
            Self::BadLength { kind, len } => {
                write!(f, "{kind:?} stream frame has a payload of {len} bytes")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// Buffers bytes as they arrive and cuts them into frames.
///
/// Reads may end anywhere, mid-header included; a frame is only returned once all of it has
/// been pushed.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Where the first unconsumed byte of `buf` is. Consumed bytes are only dropped when it
    /// pays, so a read holding many small frames costs one move, not one per frame.
    start: usize,
}

impl Decoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes pushed but not yet returned as frames. Non-zero at the end of the stream means
    /// the peer stopped mid-frame.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next complete frame, or `None` until more bytes are pushed.
    ///
    /// An error leaves the offending header in place, so every later call reports it again.
    // Not `Iterator::next`: "no frame yet" is not the end of the stream, and errors are final.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Frame>, DecodeError> {
        let rest = &self.buf[self.start..];
        let Some(head) = rest.get(..HEADER_LEN) else {
            return Ok(None);
        };
        let announced = u32::from_be_bytes([head[1], head[2], head[3], head[4]]);
        let kind = Kind::from_byte(head[0]).ok_or(DecodeError::UnknownKind(head[0]))?;
        let len = announced as usize;
        if len > MAX_PAYLOAD {
            let kind = head[0];
            return Err(DecodeError::TooLong {
                kind,
                len: announced,
            });
        }
        if kind.fixed_len().is_some_and(|fixed| fixed != len) {
            return Err(DecodeError::BadLength {
                kind,
                len: announced,
            });
        }
        let Some(payload) = rest.get(HEADER_LEN..HEADER_LEN + len) else {
            return Ok(None);
        };

        let frame = parse(kind, payload);
        self.start += HEADER_LEN + len;
        Ok(Some(frame))
    }
}

/// Builds the frame from a payload whose length was already checked.
fn parse(kind: Kind, payload: &[u8]) -> Frame {
    let fixed4 = || [payload[0], payload[1], payload[2], payload[3]];
    match kind {
        Kind::Stdin => Frame::Stdin(payload.to_vec()),
        Kind::Stdout => Frame::Stdout(payload.to_vec()),
        Kind::Stderr => Frame::Stderr(payload.to_vec()),
        Kind::Exit => Frame::Exit(i32::from_be_bytes(fixed4())),
        Kind::Resize => {
            let [r0, r1, c0, c1] = fixed4();
            Frame::Resize {
                rows: u16::from_be_bytes([r0, r1]),
                cols: u16::from_be_bytes([c0, c1]),
            }
        }
        Kind::Signal => Frame::Signal(payload[0]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Frame> {
        vec![
            Frame::Stdin(b"echo hi\n".to_vec()),
            Frame::Stdin(Vec::new()),
            Frame::Stdout(vec![0, 255, 10, 13]),
            Frame::Stderr(b"oops".to_vec()),
            Frame::Resize {
                rows: 50,
                cols: 300,
            },
            Frame::Signal(2),
            Frame::Exit(-1),
            Frame::Exit(130),
        ]
    }

    fn decode_all(decoder: &mut Decoder) -> Vec<Frame> {
        std::iter::from_fn(|| decoder.next().unwrap()).collect()
    }

    #[test]
    fn every_frame_survives_a_round_trip() {
        let mut decoder = Decoder::new();
        for frame in samples() {
            decoder.push(&frame.encode());
            assert_eq!(decoder.next().unwrap(), Some(frame));
            assert_eq!(decoder.next().unwrap(), None);
        }
        assert_eq!(decoder.pending(), 0);
    }

    #[test]
    fn wire_layout_is_kind_length_payload() {
        assert_eq!(Frame::Exit(1).encode(), [3, 0, 0, 0, 4, 0, 0, 0, 1]);
        assert_eq!(
            Frame::Resize { rows: 1, cols: 258 }.encode(),
            [4, 0, 0, 0, 4, 0, 1, 1, 2]
        );
        assert_eq!(Frame::Signal(15).encode(), [5, 0, 0, 0, 1, 15]);
        assert_eq!(Frame::Stdin(Vec::new()).encode(), [0, 0, 0, 0, 0]);
        assert_eq!(header(Kind::Stderr, 258), [2, 0, 0, 1, 2]);
    }

    #[test]
    fn frames_split_at_every_byte_are_reassembled() {
        let mut wire = Vec::new();
        for frame in samples() {
            frame.encode_into(&mut wire);
        }
        let mut decoder = Decoder::new();
        let mut frames = Vec::new();
        for byte in &wire {
            decoder.push(std::slice::from_ref(byte));
            frames.extend(decode_all(&mut decoder));
        }
        assert_eq!(frames, samples());
        assert_eq!(decoder.pending(), 0);
    }

    #[test]
    fn many_frames_in_one_read_come_out_in_order() {
        let mut wire = Vec::new();
        let chunks: Vec<Frame> = (0..100u8).map(|i| Frame::Stdout(vec![i; 7])).collect();
        chunks.iter().for_each(|frame| frame.encode_into(&mut wire));
        let mut decoder = Decoder::new();
        let (first, second) = wire.split_at(wire.len() / 3);
        decoder.push(first);
        let mut frames = decode_all(&mut decoder);
        decoder.push(second);
        frames.extend(decode_all(&mut decoder));
        assert_eq!(frames, chunks);
    }

    #[test]
    fn largest_payload_is_accepted() {
        let frame = Frame::Stdout(vec![7; MAX_PAYLOAD]);
        let mut decoder = Decoder::new();
        decoder.push(&frame.encode());
        assert_eq!(decoder.next().unwrap(), Some(frame));
    }

    #[test]
    fn oversize_length_is_refused_before_the_payload_arrives() {
        let mut decoder = Decoder::new();
        let len = (MAX_PAYLOAD as u32 + 1).to_be_bytes();
        decoder.push(&[1, len[0], len[1], len[2], len[3]]);
        let err = decoder.next().unwrap_err();
        assert_eq!(
            err,
            DecodeError::TooLong {
                kind: 1,
                len: MAX_PAYLOAD as u32 + 1
            }
        );
        assert_eq!(decoder.next().unwrap_err(), err, "errors must be final");
    }

    #[test]
    fn unknown_kind_is_refused() {
        let mut decoder = Decoder::new();
        decoder.push(&[9, 0, 0, 0, 0]);
        assert_eq!(decoder.next().unwrap_err(), DecodeError::UnknownKind(9));
        assert!(decoder.next().unwrap_err().to_string().contains("type 9"));
    }

    #[test]
    fn fixed_size_frames_with_the_wrong_length_are_refused() {
        let mut decoder = Decoder::new();
        decoder.push(&[3, 0, 0, 0, 2, 0, 1]);
        assert_eq!(
            decoder.next().unwrap_err(),
            DecodeError::BadLength {
                kind: Kind::Exit,
                len: 2
            }
        );
    }

    #[test]
    fn a_partial_frame_is_pending_not_an_error() {
        let mut decoder = Decoder::new();
        let wire = Frame::Stderr(b"abc".to_vec()).encode();
        decoder.push(&wire[..6]);
        assert_eq!(decoder.next().unwrap(), None);
        assert_eq!(decoder.pending(), 6);
    }
}
