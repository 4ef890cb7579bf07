//! Owned, named tensors: what requests carry in and predictions carry out.

use std::collections::BTreeMap;

use mlops_core::DType;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Named tensors: a request's inputs or a prediction's outputs, ordered by name.
pub type Tensors = BTreeMap<String, Tensor>;

/// The elements of a [`Tensor`], in row-major order.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TensorData {
    /// 32-bit floats (the common case).
    F32(Vec<f32>),
    /// 64-bit floats.
    F64(Vec<f64>),
    /// 64-bit signed integers (token ids, category codes).
    I64(Vec<i64>),
    /// Bytes / booleans.
    U8(Vec<u8>),
}

impl TensorData {
    fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::F64(v) => v.len(),
            TensorData::I64(v) => v.len(),
            TensorData::U8(v) => v.len(),
        }
    }

    /// The element type, as named in a [`mlops_core::Signature`].
    pub fn dtype(&self) -> DType {
        match self {
            TensorData::F32(_) => DType::F32,
            TensorData::F64(_) => DType::F64,
            TensorData::I64(_) => DType::I64,
            TensorData::U8(_) => DType::U8,
        }
    }

    fn empty_like(&self, capacity: usize) -> TensorData {
        match self {
            TensorData::F32(_) => TensorData::F32(Vec::with_capacity(capacity)),
            TensorData::F64(_) => TensorData::F64(Vec::with_capacity(capacity)),
            TensorData::I64(_) => TensorData::I64(Vec::with_capacity(capacity)),
            TensorData::U8(_) => TensorData::U8(Vec::with_capacity(capacity)),
        }
    }

    /// Appends `other[range]`; `false` when the element types differ.
    fn extend_from(&mut self, other: &TensorData, range: std::ops::Range<usize>) -> bool {
        match (self, other) {
            (TensorData::F32(a), TensorData::F32(b)) => a.extend_from_slice(&b[range]),
            (TensorData::F64(a), TensorData::F64(b)) => a.extend_from_slice(&b[range]),
            (TensorData::I64(a), TensorData::I64(b)) => a.extend_from_slice(&b[range]),
            (TensorData::U8(a), TensorData::U8(b)) => a.extend_from_slice(&b[range]),
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
            _ => None,
        }
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
        }
    }

    /// Converts to a candle tensor on `device` (copies the buffer).
    ///
    /// # Errors
    /// The candle error, as a string, when the tensor cannot be created.
    pub fn to_candle(&self, device: &candle_core::Device) -> Result<candle_core::Tensor, String> {
        let shape = self.shape.clone();
        let r = match &self.data {
            TensorData::F32(v) => candle_core::Tensor::from_slice(v, shape, device),
            TensorData::F64(v) => candle_core::Tensor::from_slice(v, shape, device),
            TensorData::I64(v) => candle_core::Tensor::from_slice(v, shape, device),
            TensorData::U8(v) => candle_core::Tensor::from_slice(v, shape, device),
        };
        r.map_err(|e| e.to_string())
    }

    /// Copies a candle tensor out. `f16`/`bf16` become `f32`, `u32` becomes `i64`.
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
            C::U32 => flat
                .to_dtype(C::I64)
                .and_then(|f| f.to_vec1::<i64>())
                .map(TensorData::I64),
            _ => flat
                .to_dtype(C::F32)
                .and_then(|f| f.to_vec1::<f32>())
                .map(TensorData::F32),
        }
        .map_err(|e| e.to_string())?;
        Tensor::new(shape, data).map_err(|e| e.to_string())
    }
}

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
