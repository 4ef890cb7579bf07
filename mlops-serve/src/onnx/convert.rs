//! Our [`Tensor`]s to tract's and back, checked against the declared element type.

use mlops_core::DType;
use tract_onnx::prelude::{
    tract_ndarray, Datum, DatumType, IntoTValue, IntoTensor, TValue, TractError,
};

use crate::tensor::{Tensor, TensorData};

/// tract's element type for a signature's.
pub(super) fn datum_type(dtype: DType) -> Option<DatumType> {
    Some(match dtype {
        DType::Bool => DatumType::Bool,
        DType::U8 => DatumType::U8,
        DType::U16 => DatumType::U16,
        DType::U32 => DatumType::U32,
        DType::U64 => DatumType::U64,
        DType::I8 => DatumType::I8,
        DType::I16 => DatumType::I16,
        DType::I32 => DatumType::I32,
        DType::I64 => DatumType::I64,
        DType::F16 => DatumType::F16,
        DType::F32 => DatumType::F32,
        DType::F64 => DatumType::F64,
        DType::Bytes => DatumType::String,
        #[allow(unreachable_patterns)] // DType is non_exhaustive
        _ => return None,
    })
}

fn array<T: Datum>(shape: &[usize], v: Vec<T>) -> Result<tract_onnx::prelude::Tensor, String> {
    tract_ndarray::ArrayD::from_shape_vec(tract_ndarray::IxDyn(shape), v)
        .map(|a| a.into_tensor())
        .map_err(|e| e.to_string())
}

/// Copies `t` into a tract tensor; its element type must be the one the graph declares.
pub(super) fn to_tract(t: &Tensor, want: DType) -> Result<tract_onnx::prelude::Tensor, String> {
    let shape = t.shape();
    if t.dtype() != want {
        return Err(format!(
            "element type {} where the model takes {}",
            t.dtype().oip_name(),
            want.oip_name()
        ));
    }
    match t.data() {
        TensorData::Bool(v) => array(shape, v.clone()),
        TensorData::U8(v) => array(shape, v.clone()),
        TensorData::U16(v) => array(shape, v.clone()),
        TensorData::U32(v) => array(shape, v.clone()),
        TensorData::U64(v) => array(shape, v.clone()),
        TensorData::I8(v) => array(shape, v.clone()),
        TensorData::I16(v) => array(shape, v.clone()),
        TensorData::I32(v) => array(shape, v.clone()),
        TensorData::I64(v) => array(shape, v.clone()),
        TensorData::F16(v) => array(shape, v.clone()),
        TensorData::F32(v) => array(shape, v.clone()),
        TensorData::F64(v) => array(shape, v.clone()),
        TensorData::Bytes(v) => {
            let strings = v
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    String::from_utf8(b.clone()).map_err(|_| {
                        format!("element {i} is not UTF-8 text, which the model takes")
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            array(shape, strings)
        }
        #[allow(unreachable_patterns)] // TensorData is non_exhaustive
        other => Err(format!(
            "element type {} is not served by ONNX models",
            other.dtype().oip_name()
        )),
    }
}

fn plain<T: Datum + Clone>(t: &TValue) -> Result<Vec<T>, String> {
    Ok(t.to_plain_array_view::<T>()
        .map_err(|e| one_line(&e))?
        .iter()
        .cloned()
        .collect())
}

/// Copies a tract output into our tensor. The element type is the one tract computed, which
/// equals the graph's declaration except for outputs the graph leaves untyped.
pub(super) fn from_tract(t: &TValue) -> Result<Tensor, String> {
    let shape = t.shape().to_vec();
    let data = match t.datum_type() {
        DatumType::Bool => TensorData::Bool(plain(t)?),
        DatumType::U8 => TensorData::U8(plain(t)?),
        DatumType::U16 => TensorData::U16(plain(t)?),
        DatumType::U32 => TensorData::U32(plain(t)?),
        DatumType::U64 => TensorData::U64(plain(t)?),
        DatumType::I8 => TensorData::I8(plain(t)?),
        DatumType::I16 => TensorData::I16(plain(t)?),
        DatumType::I32 => TensorData::I32(plain(t)?),
        DatumType::I64 => TensorData::I64(plain(t)?),
        DatumType::F16 => TensorData::F16(plain(t)?),
        DatumType::F32 => TensorData::F32(plain(t)?),
        DatumType::F64 => TensorData::F64(plain(t)?),
        // Label outputs computed from shapes (an arg-max index) come out as symbolic dims.
        DatumType::TDim => TensorData::I64(plain(
            &t.cast_to::<i64>()
                .map_err(|e| one_line(&e))?
                .into_owned()
                .into_tvalue(),
        )?),
        DatumType::String => TensorData::Bytes(
            plain::<String>(t)?
                .into_iter()
                .map(String::into_bytes)
                .collect(),
        ),
        other => return Err(format!("element type {other:?} is not served")),
    };
    Tensor::new(shape, data).map_err(|e| e.to_string())
}

/// tract's error chain on one line, without the protobuf dumps some contexts carry.
pub(super) fn one_line(e: &TractError) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        let first = text.lines().next().unwrap_or("").trim();
        let first = match first.find(" NodeProto {") {
            Some(i) => &first[..i],
            None => first,
        };
        if !first.is_empty() && !parts.iter().any(|p| p == first) {
            parts.push(first.chars().take(200).collect());
        }
    }
    parts.join(": ")
}
