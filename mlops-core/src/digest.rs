//! SHA-256 content digests and a streaming hasher.

use std::fmt;
use std::io::Read;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// A SHA-256 digest, written as 64 lowercase hex characters (serde uses that string form).
///
/// ```
/// use mlops_core::Sha256Digest;
/// let d = Sha256Digest::of_bytes(b"abc");
/// assert_eq!(d.to_string(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
/// assert_eq!(d.to_string().parse::<Sha256Digest>()?, d);
/// # Ok::<(), mlops_core::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Digest([u8; 32]);

impl Sha256Digest {
    /// Wraps raw digest bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Digest of an in-memory byte slice.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// Digests everything `reader` yields, in constant memory (a 256 KiB buffer),
    /// and returns the digest with the number of bytes read.
    ///
    /// # Errors
    /// The reader's I/O error, unchanged (interrupted reads are retried).
    pub fn of_reader<R: Read>(mut reader: R) -> std::io::Result<(Self, u64)> {
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            hasher.update(&buf[..n]);
            total += n as u64;
        }
        Ok((Self(hasher.finalize().into()), total))
    }

    /// The lowercase hex form.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.to_hex())
    }
}

impl FromStr for Sha256Digest {
    type Err = Error;

    /// Parses 64 lowercase hex characters, optionally prefixed by `sha256:`.
    ///
    /// # Errors
    /// [`Error::InvalidDigest`] for any other text (upper case is refused so that
    /// one digest has exactly one spelling, which matters when it names a file).
    fn from_str(s: &str) -> Result<Self> {
        let hexpart = s.strip_prefix("sha256:").unwrap_or(s);
        let bad = |reason: &str| Error::InvalidDigest {
            input: s.to_owned(),
            reason: reason.to_owned(),
        };
        if hexpart.len() != 64 {
            return Err(bad("expected 64 hex characters"));
        }
        if !hexpart
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(bad("expected lowercase hex characters 0-9a-f"));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(hexpart, &mut out).map_err(|e| bad(&e.to_string()))?;
        Ok(Self(out))
    }
}

impl Serialize for Sha256Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Sha256Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // `printf '' | sha256sum`
        assert_eq!(
            Sha256Digest::of_bytes(b"").to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let (d, n) = Sha256Digest::of_reader(&b"abc"[..]).unwrap();
        assert_eq!(n, 3);
        assert_eq!(d, Sha256Digest::of_bytes(b"abc"));
    }

    #[test]
    fn parse_rejects_garbage() {
        for bad in ["", "abc", &"A".repeat(64), &"g".repeat(64), &"a".repeat(65)] {
            assert!(bad.parse::<Sha256Digest>().is_err(), "{bad}");
        }
        let d = Sha256Digest::of_bytes(b"x");
        assert_eq!(format!("sha256:{d}").parse::<Sha256Digest>().unwrap(), d);
    }

    #[test]
    fn serde_round_trip() {
        let d = Sha256Digest::of_bytes(b"x");
        let j = serde_json::to_string(&d).unwrap();
        assert_eq!(j, format!("\"{d}\""));
        assert_eq!(serde_json::from_str::<Sha256Digest>(&j).unwrap(), d);
        let b = bincode::serialize(&d).unwrap();
        assert_eq!(bincode::deserialize::<Sha256Digest>(&b).unwrap(), d);
    }
}
