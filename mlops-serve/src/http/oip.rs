//! Open Inference Protocol v2 wire types: the inference request parser, the response writer and
//! the metadata documents.
//!
//! The parser reads a request straight from bytes with `serde_json`, without building a
//! `serde_json::Value` tree: each input's `data` (flat or nested arrays, row-major) is flattened by
//! a visitor into one `Vec` of numbers as it is read, and converted to the declared datatype once
//! the whole input object (whose `datatype` may come after `data`) has been seen.

use std::fmt;

use mlops_core::{DType, Schema, TensorSpec};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::error::{Error, Result};
use crate::tensor::{Tensor, TensorData, Tensors};

/// The body of `POST /v2/models/{name}[/versions/{version}]/infer`. Unknown fields (e.g.
/// `parameters`) are accepted and ignored.
#[derive(Debug, Deserialize)]
pub(crate) struct InferRequest {
    /// Echoed in the response.
    #[serde(default)]
    pub(crate) id: Option<String>,
    /// The input tensors.
    pub(crate) inputs: Vec<InputTensor>,
    /// The outputs to return (all when absent).
    #[serde(default)]
    pub(crate) outputs: Option<Vec<RequestedOutput>>,
}

/// One input tensor of a request.
#[derive(Debug, Deserialize)]
pub(crate) struct InputTensor {
    name: String,
    shape: Vec<usize>,
    datatype: String,
    data: FlatData,
}

/// One entry of a request's `outputs`.
#[derive(Debug, Deserialize)]
pub(crate) struct RequestedOutput {
    pub(crate) name: String,
}

/// A JSON number as the parser met it (`serde_json` reports non-negative integers as `u64`,
/// negative ones as `i64`, everything else as `f64`).
#[derive(Debug, Clone, Copy)]
enum Num {
    I(i64),
    U(u64),
    F(f64),
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Num::I(v) => write!(f, "{v}"),
            Num::U(v) => write!(f, "{v}"),
            Num::F(v) => write!(f, "{v}"),
        }
    }
}

/// An input's `data`, flattened in row-major order. A non-number element does not fail the
/// parse (the parser could not name the input then); the first one is kept for the error.
#[derive(Debug, Default)]
struct FlatData {
    values: Vec<Num>,
    /// Index (among the numbers before it) and kind of the first element that is not a number.
    bad: Option<(usize, &'static str)>,
}

impl FlatData {
    fn not_a_number(&mut self, what: &'static str) {
        if self.bad.is_none() {
            self.bad = Some((self.values.len(), what));
        }
    }
}

impl<'de> Deserialize<'de> for FlatData {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let mut out = FlatData::default();
        d.deserialize_any(Flatten(&mut out))?;
        Ok(out)
    }
}

/// Appends every number of a (nested) array to the target, recursing through sequences.
/// `serde_json` bounds the nesting depth (128), so the recursion is bounded too.
struct Flatten<'a>(&'a mut FlatData);

impl<'de> DeserializeSeed<'de> for Flatten<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Flatten<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number or a (nested) array of numbers")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<(), E> {
        self.0.values.push(Num::I(v));
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<(), E> {
        self.0.values.push(Num::U(v));
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<(), E> {
        self.0.values.push(Num::F(v));
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        if let Some(n) = seq.size_hint() {
            self.0.values.reserve(n);
        }
        while let Some(()) = seq.next_element_seed(Flatten(&mut *self.0))? {}
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> std::result::Result<(), E> {
        self.0.not_a_number("a string");
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<(), E> {
        self.0.not_a_number("a boolean");
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> std::result::Result<(), E> {
        self.0.not_a_number("null");
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        self.0.not_a_number("an object");
        Ok(())
    }
}

/// The datatypes requests may carry: the [`TensorData`] variants.
const SUPPORTED: &str = "FP32, FP64, INT64, UINT8";

/// Parses a request body.
///
/// # Errors
/// [`Error::InvalidInput`] (field `<request>`) with `serde_json`'s message (what is wrong, line
/// and column) for malformed JSON, wrong types and missing fields.
pub(crate) fn parse_request(body: &[u8]) -> Result<InferRequest> {
    serde_json::from_slice(body)
        .map_err(|e| Error::invalid("<request>", format!("invalid request body: {e}")))
}

/// Converts a request's inputs to tensors: datatype supported, every element a number that fits
/// it, element count equal to the product of the shape, no input given twice.
///
/// # Errors
/// [`Error::InvalidInput`] naming the offending input.
pub(crate) fn to_tensors(inputs: Vec<InputTensor>) -> Result<Tensors> {
    let mut out = Tensors::new();
    for input in inputs {
        let InputTensor {
            name,
            shape,
            datatype,
            data,
        } = input;
        if out.contains_key(&name) {
            return Err(Error::invalid(name, "given more than once"));
        }
        let dtype = match DType::from_oip_name(&datatype) {
            Ok(d @ (DType::F32 | DType::F64 | DType::I64 | DType::U8)) => d,
            _ => {
                return Err(Error::invalid(
                    name,
                    format!("datatype {datatype:?} is not supported (supported: {SUPPORTED})"),
                ))
            }
        };
        if let Some((index, what)) = data.bad {
            return Err(Error::invalid(
                name,
                format!("data element {index} is {what}, not a number"),
            ));
        }
        let expected = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        if expected != Some(data.values.len()) {
            let needs =
                expected.map_or_else(|| "an overflowing number of".to_owned(), |n| n.to_string());
            return Err(Error::invalid(
                name,
                format!(
                    "shape {shape:?} needs {needs} elements, data has {}",
                    data.values.len()
                ),
            ));
        }
        let values = data.values;
        let tensor_data = match dtype {
            DType::F32 => TensorData::F32(convert(&name, &values, "FP32", to_f32)?),
            DType::F64 => TensorData::F64(convert(&name, &values, "FP64", to_f64)?),
            DType::I64 => TensorData::I64(convert(&name, &values, "INT64", to_i64)?),
            _ => TensorData::U8(convert(&name, &values, "UINT8", to_u8)?),
        };
        let tensor =
            Tensor::new(shape, tensor_data).map_err(|e| Error::invalid(&name, e.to_string()))?;
        out.insert(name, tensor);
    }
    Ok(out)
}

fn convert<T>(
    name: &str,
    values: &[Num],
    datatype: &str,
    f: impl Fn(Num) -> Option<T>,
) -> Result<Vec<T>> {
    let mut out = Vec::with_capacity(values.len());
    for (i, &v) in values.iter().enumerate() {
        match f(v) {
            Some(x) => out.push(x),
            None => {
                return Err(Error::invalid(
                    name,
                    format!("data element {i} ({v}) is not a valid {datatype} value"),
                ))
            }
        }
    }
    Ok(out)
}

fn to_f32(v: Num) -> Option<f32> {
    match v {
        Num::I(i) => Some(i as f32),
        Num::U(u) => Some(u as f32),
        // Finite f64 beyond f32's range would become ±inf.
        Num::F(f) => Some(f as f32).filter(|x| x.is_finite()),
    }
}

fn to_f64(v: Num) -> Option<f64> {
    match v {
        Num::I(i) => Some(i as f64),
        Num::U(u) => Some(u as f64),
        Num::F(f) => Some(f),
    }
}

/// `-2^63`, exactly representable.
const I64_MIN_F: f64 = -9_223_372_036_854_775_808.0;

fn to_i64(v: Num) -> Option<i64> {
    match v {
        Num::I(i) => Some(i),
        Num::U(u) => i64::try_from(u).ok(),
        // Integral floats (`3.0`, as numpy writes) are accepted; fractions are not.
        Num::F(f) => (f.fract() == 0.0 && (I64_MIN_F..-I64_MIN_F).contains(&f)).then_some(f as i64),
    }
}

fn to_u8(v: Num) -> Option<u8> {
    match v {
        Num::I(i) => u8::try_from(i).ok(),
        Num::U(u) => u8::try_from(u).ok(),
        Num::F(f) => (f.fract() == 0.0 && (0.0..=255.0).contains(&f)).then_some(f as u8),
    }
}

/// Checks the names a request asked for against the signature's outputs.
///
/// # Errors
/// [`Error::InvalidInput`] naming an output the model does not have, or one asked twice.
pub(crate) fn check_requested(requested: &[RequestedOutput], outputs: &Schema) -> Result<()> {
    for (i, r) in requested.iter().enumerate() {
        if outputs.field(&r.name).is_none() {
            let known: Vec<&str> = outputs.fields.iter().map(|f| f.name.as_str()).collect();
            return Err(Error::invalid(
                &r.name,
                format!("requested output is not an output of the model (outputs: {known:?})"),
            ));
        }
        if requested[..i].iter().any(|o| o.name == r.name) {
            return Err(Error::invalid(
                &r.name,
                "requested output given more than once",
            ));
        }
    }
    Ok(())
}

/// The response of an inference request.
#[derive(Debug, Serialize)]
pub(crate) struct InferResponse<'a> {
    pub(crate) model_name: &'a str,
    pub(crate) model_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<&'a str>,
    pub(crate) outputs: Vec<OutputTensor<'a>>,
}

/// One output tensor of a response; `data` is flat, row-major.
#[derive(Debug, Serialize)]
pub(crate) struct OutputTensor<'a> {
    name: &'a str,
    shape: &'a [usize],
    datatype: &'static str,
    data: DataRef<'a>,
}

impl<'a> OutputTensor<'a> {
    pub(crate) fn new(name: &'a str, t: &'a Tensor) -> Self {
        Self {
            name,
            shape: t.shape(),
            datatype: t.dtype().oip_name(),
            data: DataRef(t.data()),
        }
    }
}

/// Serializes the elements as a flat JSON array straight from the tensor's buffer.
#[derive(Debug)]
struct DataRef<'a>(&'a TensorData);

impl Serialize for DataRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.0 {
            TensorData::F32(v) => v.serialize(s),
            TensorData::F64(v) => v.serialize(s),
            TensorData::I64(v) => v.serialize(s),
            TensorData::U8(v) => v.serialize(s),
        }
    }
}

/// `GET /v2`.
#[derive(Debug, Serialize)]
pub(crate) struct ServerMetadata {
    pub(crate) name: &'static str,
    pub(crate) version: &'static str,
    pub(crate) extensions: [&'static str; 0],
}

/// `GET /v2/models/{name}[/versions/{version}]`.
#[derive(Debug, Serialize)]
pub(crate) struct ModelMetadata<'a> {
    pub(crate) name: &'a str,
    pub(crate) versions: Vec<String>,
    pub(crate) platform: &'static str,
    pub(crate) inputs: Vec<TensorMetadata<'a>>,
    pub(crate) outputs: Vec<TensorMetadata<'a>>,
}

/// One tensor of a [`ModelMetadata`]; `-1` marks a free dimension.
#[derive(Debug, Serialize)]
pub(crate) struct TensorMetadata<'a> {
    name: &'a str,
    datatype: &'static str,
    shape: &'a [i64],
}

impl<'a> TensorMetadata<'a> {
    pub(crate) fn of(schema: &'a Schema) -> Vec<Self> {
        schema.fields.iter().map(Self::new).collect()
    }

    fn new(spec: &'a TensorSpec) -> Self {
        Self {
            name: &spec.name,
            datatype: spec.dtype.oip_name(),
            shape: &spec.shape,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensors(body: &str) -> Result<Tensors> {
        to_tensors(parse_request(body.as_bytes())?.inputs)
    }

    fn reason(e: Error) -> (String, String) {
        match e {
            Error::InvalidInput { field, reason } => (field, reason),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nested_and_flat_data_give_the_same_tensor() {
        let flat = tensors(
            r#"{"inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[1,2,3.5,4]}]}"#,
        )
        .unwrap();
        let nested = tensors(
            r#"{"inputs":[{"data":[[1,2],[3.5,4]],"name":"x","datatype":"FP32","shape":[2,2]}]}"#,
        )
        .unwrap();
        assert_eq!(flat, nested);
        assert_eq!(flat["x"].as_f32(), Some(&[1.0f32, 2.0, 3.5, 4.0][..]));
    }

    #[test]
    fn integers_keep_full_precision() {
        let t = tensors(
            r#"{"inputs":[{"name":"i","shape":[3],"datatype":"INT64","data":[9007199254740993,-9223372036854775808,3.0]}]}"#,
        )
        .unwrap();
        assert_eq!(
            t["i"].data(),
            &TensorData::I64(vec![9_007_199_254_740_993, i64::MIN, 3])
        );
    }

    #[test]
    fn values_that_do_not_fit_name_the_input() {
        for (dt, v) in [
            ("INT64", "1.5"),
            ("INT64", "9223372036854775808"),
            ("INT64", "1e19"),
            ("UINT8", "256"),
            ("UINT8", "-1"),
            ("UINT8", "0.5"),
            ("FP32", "1e39"),
        ] {
            let body = format!(
                r#"{{"inputs":[{{"name":"v","shape":[1],"datatype":"{dt}","data":[{v}]}}]}}"#
            );
            let (field, why) = reason(tensors(&body).unwrap_err());
            assert_eq!(field, "v", "{dt} {v}");
            assert!(why.contains(dt), "{why}");
        }
        let (field, why) = reason(
            tensors(r#"{"inputs":[{"name":"s","shape":[2],"datatype":"FP64","data":[1,"NaN"]}]}"#)
                .unwrap_err(),
        );
        assert_eq!(field, "s");
        assert!(why.contains("element 1 is a string"), "{why}");
    }

    #[test]
    fn nan_elements_are_found_in_nested_arrays() {
        let (field, why) = reason(
            tensors(
                r#"{"inputs":[{"name":"s","shape":[2,2],"datatype":"FP32","data":[[1,2],[null,{"a":1}]]}]}"#,
            )
            .unwrap_err(),
        );
        assert_eq!(field, "s");
        assert!(why.contains("element 2 is null"), "{why}");
    }

    #[test]
    fn shapes_and_datatypes_are_checked() {
        let (field, why) = reason(
            tensors(r#"{"inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[1,2,3]}]}"#)
                .unwrap_err(),
        );
        assert_eq!(field, "x");
        assert!(why.contains("needs 4 elements, data has 3"), "{why}");
        let (field, why) = reason(
            tensors(r#"{"inputs":[{"name":"b","shape":[1],"datatype":"BOOL","data":[true]}]}"#)
                .unwrap_err(),
        );
        assert_eq!(field, "b");
        assert!(why.contains("\"BOOL\""), "{why}");
        let (_, why) = reason(
            tensors(
                r#"{"inputs":[{"name":"x","shape":[18446744073709551615,2],"datatype":"FP32","data":[]}]}"#,
            )
            .unwrap_err(),
        );
        assert!(why.contains("overflowing"), "{why}");
        let (field, _) = reason(
            tensors(
                r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]},{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}"#,
            )
            .unwrap_err(),
        );
        assert_eq!(field, "x");
    }

    #[test]
    fn malformed_bodies_are_invalid_requests() {
        for body in [
            "",
            "{",
            "[]",
            r#"{"id":"a"}"#,
            r#"{"inputs":{}}"#,
            r#"{"inputs":[{"name":"x","shape":"2","datatype":"FP32","data":[1]}]}"#,
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[NaN]}]}"#,
            r#"{"inputs":[{"name":"x","shape":[-1],"datatype":"FP32","data":[1]}]}"#,
        ] {
            let (field, why) = reason(parse_request(body.as_bytes()).unwrap_err());
            assert_eq!(field, "<request>", "{body}");
            assert!(why.starts_with("invalid request body"), "{why}");
        }
    }
}
