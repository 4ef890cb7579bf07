//! Record framing for the append-only logs (predictions and labels).
//!
//! One frame is `[u32 LE payload length][u32 LE CRC-32 (IEEE) of the payload][payload]`,
//! the payload being the bincode 1.3 encoding (fixed-width integers, little endian) of one
//! record. [`scan`] walks a byte buffer frame by frame and stops at the first frame that is
//! not whole and intact, reporting its offset and why ([`BadFrame`]); everything before it
//! is valid. Whether that bad frame is a torn tail (cut) or real damage (an error) is the
//! caller's decision: see `log` and `labels`.
//!
//! ```
//! use mlops_monitor::frame::{encode, scan};
//! let mut buf = Vec::new();
//! encode(&"first".to_string(), &mut buf)?;
//! encode(&"second".to_string(), &mut buf)?;
//! buf.truncate(buf.len() - 2); // a torn tail
//! let s = scan::<String>(&buf);
//! assert_eq!(s.records, vec!["first".to_string()]);
//! assert_eq!(s.bad.map(|b| b.offset), Some(s.valid_len));
//! # Ok::<(), mlops_monitor::Error>(())
//! ```

use std::fmt;

use bincode::Options;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};

/// Bytes of a frame header (length + CRC).
pub const HEADER_BYTES: usize = 8;

/// The largest payload a frame may declare (64 MiB); a longer length is damage.
pub const MAX_PAYLOAD_BYTES: u32 = 64 * 1024 * 1024;

/// Why a frame is not whole and intact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadFrame {
    /// Fewer than [`HEADER_BYTES`] bytes remain.
    ShortHeader {
        /// Bytes that remain.
        have: usize,
    },
    /// The header declares more payload bytes than remain.
    ShortPayload {
        /// Declared payload length.
        declared: u32,
        /// Bytes that remain after the header.
        have: usize,
    },
    /// The declared length is over [`MAX_PAYLOAD_BYTES`].
    TooLong {
        /// Declared payload length.
        declared: u32,
    },
    /// The payload's CRC does not match the header's.
    Crc {
        /// CRC stored in the header.
        stored: u32,
        /// CRC of the payload as read.
        actual: u32,
    },
    /// The CRC matches but the payload does not decode as a record.
    Decode(String),
}

impl BadFrame {
    /// True when the damage is a truncation (the file simply ends inside the frame).
    pub fn is_truncation(&self) -> bool {
        matches!(
            self,
            BadFrame::ShortHeader { .. } | BadFrame::ShortPayload { .. }
        )
    }
}

impl fmt::Display for BadFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadFrame::ShortHeader { have } => {
                write!(f, "short header ({have} of {HEADER_BYTES} bytes)")
            }
            BadFrame::ShortPayload { declared, have } => {
                write!(f, "short payload ({have} of {declared} bytes)")
            }
            BadFrame::TooLong { declared } => write!(
                f,
                "declared length {declared} is over the {MAX_PAYLOAD_BYTES}-byte limit"
            ),
            BadFrame::Crc { stored, actual } => {
                write!(f, "CRC mismatch (stored {stored:08x}, actual {actual:08x})")
            }
            BadFrame::Decode(e) => write!(f, "payload does not decode: {e}"),
        }
    }
}

/// The first bad frame of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadAt {
    /// Byte offset of the frame's header.
    pub offset: u64,
    /// What is wrong.
    pub reason: BadFrame,
}

/// What [`scan`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Scan<T> {
    /// The valid records, in order.
    pub records: Vec<T>,
    /// Bytes covered by the valid records (the offset just after the last one).
    pub valid_len: u64,
    /// The first bad frame, if the buffer does not end exactly after a valid frame.
    pub bad: Option<BadAt>,
}

fn options(limit: u64) -> impl Options {
    // The same wire format as `bincode::serialize` (fixint, little endian, trailing bytes
    // allowed), with an allocation limit so that a payload can never ask for more memory
    // than its own length.
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .allow_trailing_bytes()
        .with_limit(limit)
}

/// Appends one frame holding `record` to `out`.
///
/// # Errors
/// [`Error::InvalidInput`] when the record does not encode or its encoding is over
/// [`MAX_PAYLOAD_BYTES`] (nothing is appended then).
pub fn encode<T: Serialize>(record: &T, out: &mut Vec<u8>) -> Result<()> {
    let start = out.len();
    out.extend_from_slice(&[0u8; HEADER_BYTES]);
    if let Err(e) = bincode::serialize_into(&mut *out, record) {
        out.truncate(start);
        return Err(Error::invalid("record", format!("does not encode: {e}")));
    }
    let len = out.len() - start - HEADER_BYTES;
    let Some(len32) = u32::try_from(len).ok().filter(|l| *l <= MAX_PAYLOAD_BYTES) else {
        out.truncate(start);
        return Err(Error::invalid(
            "record",
            format!("encodes to {len} bytes, over the {MAX_PAYLOAD_BYTES}-byte limit"),
        ));
    };
    let crc = crc32fast::hash(&out[start + HEADER_BYTES..]);
    out[start..start + 4].copy_from_slice(&len32.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// Checks the frame at the start of `bytes`: its payload and total length, or why not.
fn frame_at(bytes: &[u8]) -> std::result::Result<(&[u8], usize), BadFrame> {
    if bytes.len() < HEADER_BYTES {
        return Err(BadFrame::ShortHeader { have: bytes.len() });
    }
    let declared = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let stored = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    if declared > MAX_PAYLOAD_BYTES {
        return Err(BadFrame::TooLong { declared });
    }
    let have = bytes.len() - HEADER_BYTES;
    // `declared` ≤ 64 MiB fits in usize on every supported target.
    let len = declared as usize;
    if have < len {
        return Err(BadFrame::ShortPayload { declared, have });
    }
    let payload = &bytes[HEADER_BYTES..HEADER_BYTES + len];
    let actual = crc32fast::hash(payload);
    if actual != stored {
        return Err(BadFrame::Crc { stored, actual });
    }
    Ok((payload, HEADER_BYTES + len))
}

/// Walks `bytes` frame by frame, calling `f` with each valid record; stops at the first bad
/// frame. Returns the valid length and the bad frame, if any.
pub fn scan_with<T, F>(bytes: &[u8], mut f: F) -> (u64, Option<BadAt>)
where
    T: DeserializeOwned,
    F: FnMut(T),
{
    let mut pos = 0usize;
    while pos < bytes.len() {
        let (payload, total) = match frame_at(&bytes[pos..]) {
            Ok(x) => x,
            Err(reason) => {
                return (
                    pos as u64,
                    Some(BadAt {
                        offset: pos as u64,
                        reason,
                    }),
                )
            }
        };
        match options(payload.len() as u64).deserialize::<T>(payload) {
            Ok(rec) => f(rec),
            Err(e) => {
                return (
                    pos as u64,
                    Some(BadAt {
                        offset: pos as u64,
                        reason: BadFrame::Decode(e.to_string()),
                    }),
                )
            }
        }
        pos += total;
    }
    (pos as u64, None)
}

/// Walks `bytes` frame by frame and collects the valid records (see [`scan_with`]).
pub fn scan<T: DeserializeOwned>(bytes: &[u8]) -> Scan<T> {
    let mut records = Vec::new();
    let (valid_len, bad) = scan_with(bytes, |r| records.push(r));
    Scan {
        records,
        valid_len,
        bad,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_bad_frame_is_named() {
        let mut buf = Vec::new();
        encode(&42u64, &mut buf).unwrap();
        let good = buf.len();
        assert_eq!(good, HEADER_BYTES + 8);

        let s = scan::<u64>(&buf);
        assert_eq!(
            (s.records, s.valid_len, s.bad),
            (vec![42], good as u64, None)
        );

        let s = scan::<u64>(&buf[..5]);
        assert_eq!(s.bad.unwrap().reason, BadFrame::ShortHeader { have: 5 });

        let s = scan::<u64>(&buf[..good - 1]);
        assert_eq!(
            s.bad.unwrap().reason,
            BadFrame::ShortPayload {
                declared: 8,
                have: 7
            }
        );

        let mut flipped = buf.clone();
        flipped[HEADER_BYTES + 3] ^= 0x10;
        assert!(matches!(
            scan::<u64>(&flipped).bad.unwrap().reason,
            BadFrame::Crc { .. }
        ));

        let mut long = buf.clone();
        long[..4].copy_from_slice(&(MAX_PAYLOAD_BYTES + 1).to_le_bytes());
        assert!(matches!(
            scan::<u64>(&long).bad.unwrap().reason,
            BadFrame::TooLong { .. }
        ));

        // A valid frame whose payload is not a record of this type: a 2-byte payload for a u64.
        let mut short = Vec::new();
        encode(&7u16, &mut short).unwrap();
        let bad = scan::<u64>(&short).bad.unwrap();
        assert_eq!(bad.offset, 0);
        assert!(matches!(bad.reason, BadFrame::Decode(_)), "{bad:?}");

        // Offsets point at the bad frame, after the good ones.
        let mut two = buf.clone();
        two.extend_from_slice(&[1, 2, 3]);
        let s = scan::<u64>(&two);
        assert_eq!(s.records, vec![42]);
        assert_eq!(s.bad.unwrap().offset, good as u64);
    }

    #[test]
    fn a_hostile_length_inside_a_valid_frame_does_not_allocate_wildly() {
        // A payload that claims a 2^60-element string: decode error, not an allocation.
        let mut payload = (1u64 << 60).to_le_bytes().to_vec();
        payload.extend_from_slice(b"abc");
        let mut frame = (payload.len() as u32).to_le_bytes().to_vec();
        frame.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        frame.extend_from_slice(&payload);
        assert!(matches!(
            scan::<String>(&frame).bad.unwrap().reason,
            BadFrame::Decode(_)
        ));
    }

    #[test]
    fn empty_input_is_valid_and_empty() {
        let s = scan::<u64>(&[]);
        assert!(s.records.is_empty() && s.bad.is_none() && s.valid_len == 0);
    }
}
