//! Owned, named tensors: what requests carry in and predictions carry out.

use std::collections::BTreeMap;

use mlops_core::DType;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Named tensors: a request's inputs or a prediction's outputs, ordered by name.
pub type Tensors = BTreeMap<String, Tensor>;

/// The elements of a [`Tensor`], in row-major order: one variant per Open Inference Protocol
/// datatype ([`DType::ALL`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TensorData {
    /// 32-bit floats (the common case).
    F32(Vec<f32>),
    /// 64-bit floats.
    F64(Vec<f64>),
    /// 64-bit signed integers (token ids, category codes).
    I64(Vec<i64>),
    /// Unsigned bytes.
    U8(Vec<u8>),
    /// Booleans.
    Bool(Vec<bool>),
    /// Unsigned 16-bit integers.
    U16(Vec<u16>),
    /// Unsigned 32-bit integers.
    U32(Vec<u32>),
    /// Unsigned 64-bit integers.
    U64(Vec<u64>),
    /// Signed 8-bit integers.
    I8(Vec<i8>),
    /// Signed 16-bit integers.
    I16(Vec<i16>),
    /// Signed 32-bit integers.
    I32(Vec<i32>),
    /// Half-precision floats.
    F16(Vec<half::f16>),
    /// Byte strings (OIP `BYTES`), one per element; UTF-8 text for models that take strings
    /// (see [`Tensor::to_strings`]).
    Bytes(Vec<Vec<u8>>),
}

/// Runs `$body` with `$v` bound to the inner `Vec` of any variant.
macro_rules! each_variant {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            TensorData::F32($v) => $body,
            TensorData::F64($v) => $body,
            TensorData::I64($v) => $body,
            TensorData::U8($v) => $body,
            TensorData::Bool($v) => $body,
            TensorData::U16($v) => $body,
            TensorData::U32($v) => $body,
            TensorData::U64($v) => $body,
            TensorData::I8($v) => $body,
            TensorData::I16($v) => $body,
            TensorData::I32($v) => $body,
            TensorData::F16($v) => $body,
            TensorData::Bytes($v) => $body,
        }
    };
}

/// Builds the same variant as `$data`, from `$make` applied to its inner `Vec`.
macro_rules! map_variant {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            TensorData::F32($v) => TensorData::F32($body),
            TensorData::F64($v) => TensorData::F64($body),
            TensorData::I64($v) => TensorData::I64($body),
            TensorData::U8($v) => TensorData::U8($body),
            TensorData::Bool($v) => TensorData::Bool($body),
            TensorData::U16($v) => TensorData::U16($body),
            TensorData::U32($v) => TensorData::U32($body),
            TensorData::U64($v) => TensorData::U64($body),
            TensorData::I8($v) => TensorData::I8($body),
            TensorData::I16($v) => TensorData::I16($body),
            TensorData::I32($v) => TensorData::I32($body),
            TensorData::F16($v) => TensorData::F16($body),
            TensorData::Bytes($v) => TensorData::Bytes($body),
        }
    };
}

impl TensorData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        each_variant!(self, v => v.len())
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element type, as named in a [`mlops_core::Signature`].
    pub fn dtype(&self) -> DType {
        match self {
            TensorData::F32(_) => DType::F32,
            TensorData::F64(_) => DType::F64,
            TensorData::I64(_) => DType::I64,
            TensorData::U8(_) => DType::U8,
            TensorData::Bool(_) => DType::Bool,
            TensorData::U16(_) => DType::U16,
            TensorData::U32(_) => DType::U32,
            TensorData::U64(_) => DType::U64,
            TensorData::I8(_) => DType::I8,
            TensorData::I16(_) => DType::I16,
            TensorData::I32(_) => DType::I32,
            TensorData::F16(_) => DType::F16,
            TensorData::Bytes(_) => DType::Bytes,
        }
    }

    /// `n` zeros (`false`, empty strings) of `dtype`.
    pub fn zeros(dtype: DType, n: usize) -> TensorData {
        match dtype {
            DType::F32 => TensorData::F32(vec![0.0; n]),
            DType::F64 => TensorData::F64(vec![0.0; n]),
            DType::I64 => TensorData::I64(vec![0; n]),
            DType::U8 => TensorData::U8(vec![0; n]),
            DType::Bool => TensorData::Bool(vec![false; n]),
            DType::U16 => TensorData::U16(vec![0; n]),
            DType::U32 => TensorData::U32(vec![0; n]),
            DType::U64 => TensorData::U64(vec![0; n]),
            DType::I8 => TensorData::I8(vec![0; n]),
            DType::I16 => TensorData::I16(vec![0; n]),
            DType::I32 => TensorData::I32(vec![0; n]),
            DType::F16 => TensorData::F16(vec![half::f16::ZERO; n]),
            DType::Bytes => TensorData::Bytes(vec![Vec::new(); n]),
        }
    }

    /// Element `i` as an `f64` (numbers and booleans; `None` for `BYTES` or out of range).
    pub fn get_f64(&self, i: usize) -> Option<f64> {
        match self {
            TensorData::F32(v) => v.get(i).map(|&x| f64::from(x)),
            TensorData::F64(v) => v.get(i).copied(),
            TensorData::I64(v) => v.get(i).map(|&x| x as f64),
            TensorData::U8(v) => v.get(i).map(|&x| f64::from(x)),
            TensorData::Bool(v) => v.get(i).map(|&x| f64::from(u8::from(x))),
            TensorData::U16(v) => v.get(i).map(|&x| f64::from(x)),
            TensorData::U32(v) => v.get(i).map(|&x| f64::from(x)),
            TensorData::U64(v) => v.get(i).map(|&x| x as f64),
            TensorData::I8(v) => v.get(i).map(|&x| f64::from(x)),
            TensorData::I16(v) => v.get(i).map(|&x| f64::from(x)),
            TensorData::I32(v) => v.get(i).map(|&x| f64::from(x)),
            TensorData::F16(v) => v.get(i).map(|&x| x.to_f64()),
            TensorData::Bytes(_) => None,
        }
    }

    fn empty_like(&self, capacity: usize) -> TensorData {
        map_variant!(self, _v => Vec::with_capacity(capacity))
    }

    /// Appends `other[range]`; `false` when the element types differ.
    fn extend_from(&mut self, other: &TensorData, range: std::ops::Range<usize>) -> bool {
        match (self, other) {
            (TensorData::F32(a), TensorData::F32(b)) => a.extend_from_slice(&b[range]),
            (TensorData::F64(a), TensorData::F64(b)) => a.extend_from_slice(&b[range]),
            (TensorData::I64(a), TensorData::I64(b)) => a.extend_from_slice(&b[range]),
            (TensorData::U8(a), TensorData::U8(b)) => a.extend_from_slice(&b[range]),
            (TensorData::Bool(a), TensorData::Bool(b)) => a.extend_from_slice(&b[range]),
            (TensorData::U16(a), TensorData::U16(b)) => a.extend_from_slice(&b[range]),
            (TensorData::U32(a), TensorData::U32(b)) => a.extend_from_slice(&b[range]),
            (TensorData::U64(a), TensorData::U64(b)) => a.extend_from_slice(&b[range]),
            (TensorData::I8(a), TensorData::I8(b)) => a.extend_from_slice(&b[range]),
            (TensorData::I16(a), TensorData::I16(b)) => a.extend_from_slice(&b[range]),
            (TensorData::I32(a), TensorData::I32(b)) => a.extend_from_slice(&b[range]),
            (TensorData::F16(a), TensorData::F16(b)) => a.extend_from_slice(&b[range]),
            (TensorData::Bytes(a), TensorData::Bytes(b)) => a.extend_from_slice(&b[range]),
            _ => return false,
        }
        true
    }
}

/// A dense row-major tensor with an owned buffer.
///
/// ```
/// use mlops_serve::Tensor;
/// let t = Tensor::f32(vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])?;
/// assert_eq!(t.rows(), 2);
/// assert!(Tensor::f32(vec![2, 3], vec![1.0]).is_err());
/// # Ok::<(), mlops_serve::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: TensorData,
}

impl Tensor {
    /// A tensor of `shape` holding `data`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the number of elements differs from the product of `shape`
    /// (or the product overflows).
    pub fn new(shape: Vec<usize>, data: TensorData) -> Result<Self> {
        let n = shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| Error::invalid("<tensor>", format!("shape {shape:?} overflows")))?;
        if n != data.len() {
            return Err(Error::invalid(
                "<tensor>",
                format!("shape {shape:?} needs {n} elements, got {}", data.len()),
            ));
        }
        Ok(Self { shape, data })
    }

    /// An `f32` tensor.
    ///
    /// # Errors
    /// As [`Tensor::new`].
    pub fn f32(shape: Vec<usize>, data: Vec<f32>) -> Result<Self> {
        Self::new(shape, TensorData::F32(data))
    }

    /// An `f32` matrix from equal-length rows.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the rows differ in length.
    pub fn from_rows(rows: &[Vec<f32>]) -> Result<Self> {
        let cols = rows.first().map_or(0, Vec::len);
        let mut data = Vec::with_capacity(rows.len() * cols);
        for (i, r) in rows.iter().enumerate() {
            if r.len() != cols {
                return Err(Error::invalid(
                    "<tensor>",
                    format!("row {i} has {} values where row 0 has {cols}", r.len()),
                ));
            }
            data.extend_from_slice(r);
        }
        Self::f32(vec![rows.len(), cols], data)
    }

    /// The dimensions.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The elements.
    pub fn data(&self) -> &TensorData {
        &self.data
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    /// Size of the leading (batch) dimension; 1 for a scalar.
    pub fn rows(&self) -> usize {
        self.shape.first().copied().unwrap_or(1)
    }

    /// The `f32` elements, when this is an `f32` tensor.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            TensorData::F32(v) => Some(v),
            _ => None,
        }
    }

    /// Index of the first NaN or infinite element, if any (integer tensors have none).
    pub fn first_non_finite(&self) -> Option<usize> {
        match &self.data {
            TensorData::F32(v) => v.iter().position(|x| !x.is_finite()),
            TensorData::F64(v) => v.iter().position(|x| !x.is_finite()),
            TensorData::F16(v) => v.iter().position(|x| !x.is_finite()),
            _ => None,
        }
    }

    /// A `BYTES` tensor's elements as UTF-8 text (what a string-input model, e.g. an sklearn
    /// pipeline exported to ONNX, needs).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when this is not a `BYTES` tensor or an element is not UTF-8
    /// (naming the element).
    pub fn to_strings(&self) -> Result<Vec<&str>> {
        let TensorData::Bytes(v) = &self.data else {
            return Err(Error::invalid(
                "<tensor>",
                format!("datatype {} is not BYTES", self.dtype()),
            ));
        };
        v.iter()
            .enumerate()
            .map(|(i, b)| {
                std::str::from_utf8(b).map_err(|e| {
                    Error::invalid("<tensor>", format!("element {i} is not UTF-8: {e}"))
                })
            })
            .collect()
    }

    fn row_len(&self) -> usize {
        self.shape.iter().skip(1).product()
    }

    /// Concatenates tensors along the leading axis.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `parts` is empty or the parts differ in dtype or trailing shape.
    pub fn concat_rows(parts: &[&Tensor]) -> Result<Tensor> {
        let Some(first) = parts.first() else {
            return Err(Error::invalid("<batch>", "no tensors to concatenate"));
        };
        if first.shape.is_empty() {
            return Err(Error::invalid("<batch>", "cannot batch scalars"));
        }
        let total: usize = parts.iter().map(|t| t.data.len()).sum();
        let mut data = first.data.empty_like(total);
        let mut rows = 0;
        for t in parts {
            if t.shape.len() != first.shape.len() || t.shape[1..] != first.shape[1..] {
                return Err(Error::invalid(
                    "<batch>",
                    format!("shape {:?} does not stack with {:?}", t.shape, first.shape),
                ));
            }
            if !data.extend_from(&t.data, 0..t.data.len()) {
                return Err(Error::invalid("<batch>", "mixed dtypes"));
            }
            rows += t.shape[0];
        }
        let mut shape = first.shape.clone();
        shape[0] = rows;
        Tensor::new(shape, data)
    }

    /// Splits along the leading axis into consecutive pieces of `counts` rows.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the counts do not add up to [`Tensor::rows`].
    pub fn split_rows(&self, counts: &[usize]) -> Result<Vec<Tensor>> {
        let total: usize = counts.iter().sum();
        if self.shape.is_empty() || total != self.shape[0] {
            return Err(Error::invalid(
                "<output>",
                format!(
                    "output of shape {:?} cannot be split into {total} rows",
                    self.shape
                ),
            ));
        }
        let row_len = self.row_len();
        let mut out = Vec::with_capacity(counts.len());
        let mut start = 0;
        for &c in counts {
            let mut data = self.data.empty_like(c * row_len);
            data.extend_from(&self.data, start * row_len..(start + c) * row_len);
            let mut shape = self.shape.clone();
            shape[0] = c;
            out.push(Tensor { shape, data });
            start += c;
        }
        Ok(out)
    }

    /// Rows `range` of this tensor.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the range is out of bounds.
    pub fn slice_rows(&self, range: std::ops::Range<usize>) -> Result<Tensor> {
        if self.shape.is_empty() || range.start > range.end || range.end > self.shape[0] {
            return Err(Error::invalid(
                "<tensor>",
                format!("rows {range:?} out of bounds for shape {:?}", self.shape),
            ));
        }
        let row_len = self.row_len();
        let mut data = self.data.empty_like(range.len() * row_len);
        data.extend_from(&self.data, range.start * row_len..range.end * row_len);
        let mut shape = self.shape.clone();
        shape[0] = range.len();
        Ok(Tensor { shape, data })
    }

    pub(crate) fn hash_into(&self, h: &mut Sha256) {
        h.update(self.dtype().oip_name().as_bytes());
        h.update((self.shape.len() as u64).to_le_bytes());
        for d in &self.shape {
            h.update((*d as u64).to_le_bytes());
        }
        match &self.data {
            TensorData::F32(v) => v.iter().for_each(|x| h.update(x.to_bits().to_le_bytes())),
            TensorData::F64(v) => v.iter().for_each(|x| h.update(x.to_bits().to_le_bytes())),
            TensorData::I64(v) => v.iter().for_each(|x| h.update(x.to_le_bytes())),
            TensorData::U8(v) => h.update(v),
            TensorData::Bool(v) => v.iter().for_each(|&x| h.update([u8::from(x)])),
            TensorData::U16(v) => v.iter().for_each(|x| h.update(x.to_le_bytes())),
            TensorData::U32(v) => v.iter().for_each(|x| h.update(x.to_le_bytes())),
            TensorData::U64(v) => v.iter().for_each(|x| h.update(x.to_le_bytes())),
            TensorData::I8(v) => v.iter().for_each(|x| h.update(x.to_le_bytes())),
            TensorData::I16(v) => v.iter().for_each(|x| h.update(x.to_le_bytes())),
            TensorData::I32(v) => v.iter().for_each(|x| h.update(x.to_le_bytes())),
            TensorData::F16(v) => v.iter().for_each(|x| h.update(x.to_bits().to_le_bytes())),
            // Length-prefixed, so ["ab", "c"] and ["a", "bc"] differ.
            TensorData::Bytes(v) => v.iter().for_each(|b| {
                h.update((b.len() as u64).to_le_bytes());
                h.update(b);
            }),
        }
    }

    /// Converts to a candle tensor on `device` (copies the buffer).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (field `<tensor>`) for a datatype candle has no tensor type for
    /// (`BOOL`, `UINT16`, `UINT64`, `INT8`, `BYTES`), or when candle refuses the tensor.
    pub fn to_candle(&self, device: &candle_core::Device) -> Result<candle_core::Tensor> {
        let shape = self.shape.clone();
        let r = match &self.data {
            TensorData::F32(v) => candle_core::Tensor::from_slice(v, shape, device),
            TensorData::F64(v) => candle_core::Tensor::from_slice(v, shape, device),
            TensorData::I64(v) => candle_core::Tensor::from_slice(v, shape, device),
            TensorData::U8(v) => candle_core::Tensor::from_slice(v, shape, device),
            TensorData::U32(v) => candle_core::Tensor::from_slice(v, shape, device),
            TensorData::I16(v) => candle_core::Tensor::from_slice(v, shape, device),
            TensorData::I32(v) => candle_core::Tensor::from_slice(v, shape, device),
            TensorData::F16(v) => candle_core::Tensor::from_slice(v, shape, device),
            other => {
                return Err(Error::invalid(
                    "<tensor>",
                    format!(
                        "datatype {} has no candle tensor type (candle takes {CANDLE_DTYPES})",
                        other.dtype()
                    ),
                ))
            }
        };
        r.map_err(|e| Error::invalid("<tensor>", format!("candle refused the tensor: {e}")))
    }

    /// Copies a candle tensor out, keeping its datatype; `bf16` and the 8/6/4-bit floats
    /// become `f32`.
    ///
    /// # Errors
    /// The candle error, as a string, when the tensor cannot be read.
    pub fn from_candle(t: &candle_core::Tensor) -> Result<Tensor, String> {
        use candle_core::DType as C;
        let shape = t.dims().to_vec();
        let flat = t.flatten_all().map_err(|e| e.to_string())?;
        let data = match t.dtype() {
            C::F32 => flat.to_vec1::<f32>().map(TensorData::F32),
            C::F64 => flat.to_vec1::<f64>().map(TensorData::F64),
            C::I64 => flat.to_vec1::<i64>().map(TensorData::I64),
            C::U8 => flat.to_vec1::<u8>().map(TensorData::U8),
            C::U32 => flat.to_vec1::<u32>().map(TensorData::U32),
            C::I16 => flat.to_vec1::<i16>().map(TensorData::I16),
            C::I32 => flat.to_vec1::<i32>().map(TensorData::I32),
            C::F16 => flat.to_vec1::<half::f16>().map(TensorData::F16),
            _ => flat
                .to_dtype(C::F32)
                .and_then(|f| f.to_vec1::<f32>())
                .map(TensorData::F32),
        }
        .map_err(|e| e.to_string())?;
        Tensor::new(shape, data).map_err(|e| e.to_string())
    }
}

/// The datatypes [`Tensor::to_candle`] converts.
const CANDLE_DTYPES: &str = "FP16, FP32, FP64, INT16, INT32, INT64, UINT8, UINT32";

/// SHA-256 over names, dtypes, shapes and element bits of `tensors` (the cache key body).
pub(crate) fn digest(tensors: &Tensors) -> [u8; 32] {
    let mut h = Sha256::new();
    for (name, t) in tensors {
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        t.hash_into(&mut h);
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concat_and_split_round_trip() {
        let a = Tensor::f32(vec![1, 2], vec![1.0, 2.0]).unwrap();
        let b = Tensor::f32(vec![2, 2], vec![3.0, 4.0, 5.0, 6.0]).unwrap();
        let c = Tensor::concat_rows(&[&a, &b]).unwrap();
        assert_eq!(c.shape(), &[3, 2]);
        let parts = c.split_rows(&[1, 2]).unwrap();
        assert_eq!(parts[0], a);
        assert_eq!(parts[1], b);
        assert!(c.split_rows(&[1, 1]).is_err());
        let i = Tensor::new(vec![1, 2], TensorData::I64(vec![1, 2])).unwrap();
        assert!(Tensor::concat_rows(&[&a, &i]).is_err());
        let wide = Tensor::f32(vec![1, 3], vec![0.0; 3]).unwrap();
        assert!(Tensor::concat_rows(&[&a, &wide]).is_err());
        assert!(Tensor::concat_rows(&[]).is_err());
    }

    #[test]
    fn shape_checks() {
        assert!(Tensor::f32(vec![usize::MAX, 2], vec![]).is_err());
        assert!(Tensor::f32(vec![0, 3], vec![]).is_ok());
        assert!(Tensor::from_rows(&[vec![1.0], vec![1.0, 2.0]]).is_err());
        let t = Tensor::from_rows(&[vec![1.0, f32::NAN]]).unwrap();
        assert_eq!(t.first_non_finite(), Some(1));
        assert!(t.slice_rows(0..2).is_err());
    }

    #[test]
    fn every_dtype_stacks_splits_and_hashes() {
        for d in DType::ALL {
            let a = Tensor::new(vec![1, 2], TensorData::zeros(d, 2)).unwrap();
            let b = Tensor::new(vec![2, 2], TensorData::zeros(d, 4)).unwrap();
            assert_eq!(a.dtype(), d);
            let c = Tensor::concat_rows(&[&a, &b]).unwrap();
            assert_eq!(c.shape(), &[3, 2]);
            assert_eq!(c.split_rows(&[1, 2]).unwrap(), vec![a.clone(), b.clone()]);
            assert_eq!(c.slice_rows(1..3).unwrap(), b);
            let mut h = Sha256::new();
            a.hash_into(&mut h);
            assert_eq!(h.finalize().len(), 32);
        }
        let s = |v: &[&str]| {
            Tensor::new(
                vec![v.len()],
                TensorData::Bytes(v.iter().map(|x| x.as_bytes().to_vec()).collect()),
            )
            .unwrap()
        };
        let one = |t: Tensor| digest(&Tensors::from([("s".to_owned(), t)]));
        assert_ne!(one(s(&["ab", "c"])), one(s(&["a", "bc"])));
        assert_eq!(s(&["é", "x"]).to_strings().unwrap(), vec!["é", "x"]);
        let bad = Tensor::new(vec![1], TensorData::Bytes(vec![vec![0xff]])).unwrap();
        assert!(bad
            .to_strings()
            .unwrap_err()
            .to_string()
            .contains("element 0"));
        let f16 = Tensor::new(vec![1], TensorData::F16(vec![half::f16::INFINITY])).unwrap();
        assert_eq!(f16.first_non_finite(), Some(0));
    }

    #[test]
    fn candle_takes_what_it_can_and_names_what_it_cannot() {
        let dev = candle_core::Device::Cpu;
        for d in DType::ALL {
            let t = Tensor::new(vec![1, 3], TensorData::zeros(d, 3)).unwrap();
            match t.to_candle(&dev) {
                Ok(c) => assert_eq!(Tensor::from_candle(&c).unwrap(), t, "{d}"),
                Err(e) => {
                    assert!(
                        matches!(
                            d,
                            DType::Bool | DType::U16 | DType::U64 | DType::I8 | DType::Bytes
                        ),
                        "{d}: {e}"
                    );
                    assert!(e.to_string().contains(d.oip_name()), "{e}");
                }
            }
        }
    }

    #[test]
    fn digest_distinguishes_names_shapes_and_bits() {
        let t = |s: Vec<usize>, d: Vec<f32>| Tensor::f32(s, d).unwrap();
        let one = |n: &str, t: Tensor| Tensors::from([(n.to_owned(), t)]);
        let base = digest(&one("x", t(vec![1, 2], vec![1.0, 2.0])));
        assert_eq!(base, digest(&one("x", t(vec![1, 2], vec![1.0, 2.0]))));
        assert_ne!(base, digest(&one("y", t(vec![1, 2], vec![1.0, 2.0]))));
        assert_ne!(base, digest(&one("x", t(vec![2, 1], vec![1.0, 2.0]))));
        assert_ne!(base, digest(&one("x", t(vec![1, 2], vec![1.0, -2.0]))));
        assert_ne!(
            digest(&one("x", t(vec![1], vec![0.0]))),
            digest(&one("x", t(vec![1], vec![-0.0])))
        );
    }
}
