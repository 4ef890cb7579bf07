//! The Open Inference Protocol's raw tensor form, shared by HTTP's binary tensor data extension
//! and gRPC's `raw_input_contents` / `raw_output_contents`: elements little-endian and
//! row-major, one byte per `BOOL` (0 or 1), and a `BYTES` tensor as each element's 4-byte
//! little-endian length followed by its bytes.

use mlops_core::DType;

use crate::error::{Error, Result};
use crate::tensor::TensorData;

/// Reads `n` elements of `dtype` from their raw form (see the [module docs](self)).
///
/// # Errors
/// [`Error::InvalidInput`] naming the input when the byte count does not match, a `BOOL` byte
/// is neither 0 nor 1, or a `BYTES` length prefix runs past the end.
pub(crate) fn decode_raw(name: &str, dtype: DType, raw: &[u8], n: usize) -> Result<TensorData> {
    let Some(width) = dtype.byte_size() else {
        return decode_bytes(name, raw, n).map(TensorData::Bytes);
    };
    if n.checked_mul(width) != Some(raw.len()) {
        return Err(Error::invalid(
            name,
            format!(
                "{} bytes of binary data where {n} {dtype} elements need {}",
                raw.len(),
                n.saturating_mul(width)
            ),
        ));
    }
    macro_rules! le {
        ($t:ty, $variant:ident) => {
            TensorData::$variant(
                raw.chunks_exact(std::mem::size_of::<$t>())
                    .map(|c| {
                        let mut b = [0u8; std::mem::size_of::<$t>()];
                        b.copy_from_slice(c);
                        <$t>::from_le_bytes(b)
                    })
                    .collect(),
            )
        };
    }
    Ok(match dtype {
        DType::F32 => le!(f32, F32),
        DType::F64 => le!(f64, F64),
        DType::I64 => le!(i64, I64),
        DType::I32 => le!(i32, I32),
        DType::I16 => le!(i16, I16),
        DType::I8 => le!(i8, I8),
        DType::U64 => le!(u64, U64),
        DType::U32 => le!(u32, U32),
        DType::U16 => le!(u16, U16),
        DType::U8 => TensorData::U8(raw.to_vec()),
        DType::F16 => TensorData::F16(
            raw.chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]))
                .collect(),
        ),
        DType::Bool => {
            if let Some(i) = raw.iter().position(|&b| b > 1) {
                return Err(Error::invalid(
                    name,
                    format!("BOOL element {i} is byte {}, not 0 or 1", raw[i]),
                ));
            }
            TensorData::Bool(raw.iter().map(|&b| b == 1).collect())
        }
        DType::Bytes => return decode_bytes(name, raw, n).map(TensorData::Bytes),
    })
}

/// Splits length-prefixed strings: exactly `n` of them, using up `raw`.
fn decode_bytes(name: &str, mut raw: &[u8], n: usize) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::with_capacity(n.min(raw.len() / 4));
    while !raw.is_empty() {
        let Some((len, tail)) = raw.split_first_chunk::<4>() else {
            return Err(Error::invalid(
                name,
                format!(
                    "BYTES element {}: {} bytes left, too few for a 4-byte length",
                    out.len(),
                    raw.len()
                ),
            ));
        };
        let len = u32::from_le_bytes(*len) as usize;
        if len > tail.len() {
            return Err(Error::invalid(
                name,
                format!(
                    "BYTES element {} claims {len} bytes, {} remain",
                    out.len(),
                    tail.len()
                ),
            ));
        }
        let (s, tail) = tail.split_at(len);
        out.push(s.to_vec());
        raw = tail;
    }
    if out.len() != n {
        return Err(Error::invalid(
            name,
            format!(
                "binary data holds {} BYTES elements where the shape needs {n}",
                out.len()
            ),
        ));
    }
    Ok(out)
}

/// Appends the raw form of `data` to `out` (see the [module docs](self)).
pub(crate) fn encode_raw(data: &TensorData, out: &mut Vec<u8>) {
    macro_rules! le {
        ($v:expr) => {
            $v.iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes()))
        };
    }
    match data {
        TensorData::F32(v) => le!(v),
        TensorData::F64(v) => le!(v),
        TensorData::I64(v) => le!(v),
        TensorData::I32(v) => le!(v),
        TensorData::I16(v) => le!(v),
        TensorData::I8(v) => le!(v),
        TensorData::U64(v) => le!(v),
        TensorData::U32(v) => le!(v),
        TensorData::U16(v) => le!(v),
        TensorData::U8(v) => out.extend_from_slice(v),
        TensorData::F16(v) => le!(v),
        TensorData::Bool(v) => out.extend(v.iter().map(|&b| u8::from(b))),
        TensorData::Bytes(v) => v.iter().for_each(|b| {
            // `raw_size`, called first, refuses elements whose length does not fit a u32.
            out.extend_from_slice(&(b.len() as u32).to_le_bytes());
            out.extend_from_slice(b);
        }),
        #[allow(unreachable_patterns)]
        _ => {}
    }
}

/// Bytes [`encode_raw`] writes for `data`.
///
/// # Errors
/// [`Error::InvalidInput`] for a `BYTES` element of 4 GiB or more (its length does not fit the
/// 4-byte prefix).
pub(crate) fn raw_size(name: &str, data: &TensorData) -> Result<usize> {
    match data {
        TensorData::Bytes(v) => v.iter().try_fold(0usize, |acc, b| {
            if u32::try_from(b.len()).is_err() {
                return Err(Error::invalid(
                    name,
                    "a BYTES element of 4 GiB or more has no binary form",
                ));
            }
            Ok(acc + 4 + b.len())
        }),
        d => Ok(d.len() * d.dtype().byte_size().unwrap_or(0)),
    }
}
