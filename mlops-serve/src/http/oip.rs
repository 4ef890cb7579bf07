//! Open Inference Protocol v2 wire types: the inference request parser, the response writer and
//! the metadata documents, with Triton's binary tensor data extension.
//!
//! The parser reads a request straight from bytes with `serde_json`, without building a
//! `serde_json::Value` tree: each input's `data` (flat or nested arrays, row-major) is flattened by
//! a visitor into one `Vec` of numbers (booleans, strings) as it is read, and converted to the
//! declared datatype once the whole input object (whose `datatype` may come after `data`) has been
//! seen.
//!
//! Binary tensor data (what `tritonclient`'s `InferInput.set_data_from_numpy` sends by default):
//! the body is a JSON header of `Inference-Header-Content-Length` bytes followed by the raw
//! tensors, in the order of the inputs that carry `parameters.binary_data_size`. Raw tensors are
//! little-endian, row-major, one byte per `BOOL`; a `BYTES` tensor is each element's 4-byte
//! little-endian length followed by its bytes. Outputs asked with `parameters.binary_data: true`
//! (or all outputs, with the request's `parameters.binary_data_output: true` and no per-output
//! setting) come back the same way.

use std::collections::BTreeMap;
use std::fmt;

use mlops_core::{DType, Schema, TensorSpec};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::raw::{decode_raw, encode_raw, raw_size};
use crate::tensor::{Tensor, TensorData, Tensors};

/// The body of `POST /v2/models/{name}[/versions/{version}]/infer` (its JSON part).
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
    /// Request parameters (`binary_data_output`, `timeout`, …); see [`RequestOptions::of`].
    #[serde(default)]
    pub(crate) parameters: Option<BTreeMap<String, Value>>,
}

/// One input tensor of a request: `data` in JSON, or `parameters.binary_data_size` bytes of
/// the binary part.
#[derive(Debug, Deserialize)]
pub(crate) struct InputTensor {
    name: String,
    shape: Vec<usize>,
    datatype: String,
    #[serde(default)]
    data: Option<FlatData>,
    #[serde(default)]
    parameters: Option<BTreeMap<String, Value>>,
}

/// One entry of a request's `outputs`.
#[derive(Debug, Deserialize)]
pub(crate) struct RequestedOutput {
    pub(crate) name: String,
    #[serde(default)]
    parameters: Option<BTreeMap<String, Value>>,
}

/// What a request's parameters ask of the server.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RequestOptions {
    /// Outputs without their own `binary_data` come back binary.
    pub(crate) binary_data_output: bool,
    /// Triton's `timeout` parameter, in microseconds.
    pub(crate) timeout_us: Option<u64>,
}

/// `true`/`false`, or absent (`null`); anything else is a 400 naming the parameter.
fn bool_param(params: &BTreeMap<String, Value>, key: &str, field: &str) -> Result<Option<bool>> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(Error::invalid(
            field,
            format!("parameter {key} must be a boolean, got {other}"),
        )),
    }
}

/// A non-negative integer, or absent (`null`).
fn uint_param(params: &BTreeMap<String, Value>, key: &str, field: &str) -> Result<Option<u64>> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            Error::invalid(
                field,
                format!("parameter {key} must be a non-negative integer, got {v}"),
            )
        }),
    }
}

/// Whether a parameter is present with a value other than `0`, `""`, `false` or `null`.
fn is_set(params: &BTreeMap<String, Value>, key: &str) -> bool {
    match params.get(key) {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

/// Refuses the shared-memory extension (not supported) in `params`.
fn no_shared_memory(params: &BTreeMap<String, Value>, field: &str) -> Result<()> {
    if params.contains_key("shared_memory_region") {
        return Err(Error::invalid(
            field,
            "parameter shared_memory_region: the shared-memory extension is not supported; \
             send the tensor in the request (binary or JSON)",
        ));
    }
    Ok(())
}

impl RequestOptions {
    /// Reads the request-level parameters the protocol defines. Parameters it does not define
    /// are ignored (Triton passes them to the model; ours take none).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (field `<request>`) for a malformed value, or for sequence
    /// batching (`sequence_id`), which this server does not do.
    pub(crate) fn of(request: &InferRequest) -> Result<Self> {
        let Some(p) = &request.parameters else {
            return Ok(Self::default());
        };
        const F: &str = "<request>";
        if is_set(p, "sequence_id") {
            return Err(Error::invalid(
                F,
                "parameter sequence_id: sequence batching is not supported (models here are \
                 stateless)",
            ));
        }
        Ok(Self {
            binary_data_output: bool_param(p, "binary_data_output", F)?.unwrap_or(false),
            timeout_us: uint_param(p, "timeout", F)?,
        })
    }
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

/// The kinds of JSON element `data` may hold, by datatype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Number,
    Bool,
    String,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Number => "a number",
            Kind::Bool => "a boolean",
            Kind::String => "a string",
        }
    }
}

/// An input's `data`, flattened in row-major order. An element of the wrong kind does not fail
/// the parse (the parser could not name the input then); the conversion reports the first one.
#[derive(Debug, Default)]
struct FlatData {
    values: Vec<Num>,
    bools: Vec<bool>,
    strings: Vec<Vec<u8>>,
    /// Index of the first element of each kind (number, boolean, string).
    first: [Option<usize>; 3],
    /// Index and kind of the first element that is neither (null, object).
    bad: Option<(usize, &'static str)>,
}

impl FlatData {
    fn len(&self) -> usize {
        self.values.len() + self.bools.len() + self.strings.len()
    }

    fn seen(&mut self, kind: Kind) {
        let at = self.len();
        let slot = &mut self.first[kind as usize];
        if slot.is_none() {
            *slot = Some(at);
        }
    }

    fn not_an_element(&mut self, what: &'static str) {
        if self.bad.is_none() {
            self.bad = Some((self.len(), what));
        }
    }

    /// The first element that is not of `kind`, with its description.
    fn first_other_than(&self, kind: Kind) -> Option<(usize, &'static str)> {
        let mut worst = self.bad;
        for k in [Kind::Number, Kind::Bool, Kind::String] {
            if k == kind {
                continue;
            }
            if let Some(i) = self.first[k as usize] {
                if worst.is_none_or(|(j, _)| i < j) {
                    worst = Some((i, k.describe()));
                }
            }
        }
        worst
    }
}

impl<'de> Deserialize<'de> for FlatData {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let mut out = FlatData::default();
        d.deserialize_any(Flatten(&mut out))?;
        Ok(out)
    }
}

/// Appends every element of a (nested) array to the target, recursing through sequences.
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
        f.write_str("a number, boolean or string, or a (nested) array of them")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<(), E> {
        self.0.seen(Kind::Number);
        self.0.values.push(Num::I(v));
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<(), E> {
        self.0.seen(Kind::Number);
        self.0.values.push(Num::U(v));
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<(), E> {
        self.0.seen(Kind::Number);
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

    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<(), E> {
        self.0.seen(Kind::String);
        self.0.strings.push(v.as_bytes().to_vec());
        Ok(())
    }

    fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<(), E> {
        self.0.seen(Kind::String);
        self.0.strings.push(v.into_bytes());
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<(), E> {
        self.0.seen(Kind::Bool);
        self.0.bools.push(v);
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> std::result::Result<(), E> {
        self.0.not_an_element("null");
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        self.0.not_an_element("an object");
        Ok(())
    }
}

/// Parses a request body's JSON part.
///
/// # Errors
/// [`Error::InvalidInput`] (field `<request>`) with `serde_json`'s message (what is wrong, line
/// and column) for malformed JSON, wrong types and missing fields.
pub(crate) fn parse_request(body: &[u8]) -> Result<InferRequest> {
    serde_json::from_slice(body)
        .map_err(|e| Error::invalid("<request>", format!("invalid request body: {e}")))
}

/// Converts a request's inputs to tensors: datatype known, every JSON element of the datatype's
/// kind and range, element count equal to the product of the shape, no input given twice; inputs
/// with `parameters.binary_data_size` take their bytes from `binary` in order, and `binary` must
/// be used up exactly.
///
/// # Errors
/// [`Error::InvalidInput`] naming the offending input (or `<request>` for binary data left over).
pub(crate) fn to_tensors(inputs: Vec<InputTensor>, binary: &[u8]) -> Result<Tensors> {
    let mut out = Tensors::new();
    let mut rest = binary;
    for input in inputs {
        let InputTensor {
            name,
            shape,
            datatype,
            data,
            parameters,
        } = input;
        if out.contains_key(&name) {
            return Err(Error::invalid(name, "given more than once"));
        }
        let dtype = DType::from_oip_name(&datatype).map_err(|_| {
            Error::invalid(
                &name,
                format!(
                    "datatype {datatype:?} is not an Open Inference Protocol datatype (known: {})",
                    DType::ALL.map(DType::oip_name).join(", ")
                ),
            )
        })?;
        let expected = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        let Some(n) = expected else {
            return Err(Error::invalid(
                name,
                format!("shape {shape:?} needs an overflowing number of elements"),
            ));
        };
        let binary_size = match &parameters {
            Some(p) => {
                no_shared_memory(p, &name)?;
                uint_param(p, "binary_data_size", &name)?
            }
            None => None,
        };
        let tensor_data =
            match (binary_size, data) {
                (Some(_), Some(_)) => {
                    return Err(Error::invalid(
                        name,
                        "has both data and parameters.binary_data_size; give one",
                    ))
                }
                (None, None) => return Err(Error::invalid(
                    name,
                    "has no data: give data, or parameters.binary_data_size with the bytes after \
                     the JSON header",
                )),
                (Some(size), None) => {
                    let size = usize::try_from(size).unwrap_or(usize::MAX);
                    if size > rest.len() {
                        return Err(Error::invalid(
                            name,
                            format!(
                            "binary_data_size is {size} bytes but only {} bytes of binary data \
                             remain{}",
                            rest.len(),
                            if binary.is_empty() {
                                " (binary data needs the Inference-Header-Content-Length header)"
                            } else {
                                ""
                            }
                        ),
                        ));
                    }
                    let (chunk, tail) = rest.split_at(size);
                    rest = tail;
                    decode_raw(&name, dtype, chunk, n)?
                }
                (None, Some(data)) => from_json(&name, dtype, data, &shape, n)?,
            };
        let tensor =
            Tensor::new(shape, tensor_data).map_err(|e| Error::invalid(&name, e.to_string()))?;
        out.insert(name, tensor);
    }
    if !rest.is_empty() {
        return Err(Error::invalid(
            "<request>",
            format!(
                "{} bytes of binary data follow the JSON header but the inputs' \
                 binary_data_size add up to {}",
                binary.len(),
                binary.len() - rest.len()
            ),
        ));
    }
    Ok(out)
}

fn from_json(
    name: &str,
    dtype: DType,
    data: FlatData,
    shape: &[usize],
    n: usize,
) -> Result<TensorData> {
    let kind = match dtype {
        DType::Bool => Kind::Bool,
        DType::Bytes => Kind::String,
        _ => Kind::Number,
    };
    if let Some((index, what)) = data.first_other_than(kind) {
        return Err(Error::invalid(
            name,
            format!(
                "data element {index} is {what}, not {} ({dtype} data)",
                kind.describe()
            ),
        ));
    }
    if data.len() != n {
        return Err(Error::invalid(
            name,
            format!(
                "shape {shape:?} needs {n} elements, data has {}",
                data.len()
            ),
        ));
    }
    let v = &data.values;
    let dt = dtype.oip_name();
    Ok(match dtype {
        DType::F32 => TensorData::F32(convert(name, v, dt, to_f32)?),
        DType::F64 => TensorData::F64(convert(name, v, dt, to_f64)?),
        DType::F16 => TensorData::F16(convert(name, v, dt, to_f16)?),
        DType::I64 => TensorData::I64(convert(name, v, dt, to_int)?),
        DType::I32 => TensorData::I32(convert(name, v, dt, to_int)?),
        DType::I16 => TensorData::I16(convert(name, v, dt, to_int)?),
        DType::I8 => TensorData::I8(convert(name, v, dt, to_int)?),
        DType::U64 => TensorData::U64(convert(name, v, dt, to_int)?),
        DType::U32 => TensorData::U32(convert(name, v, dt, to_int)?),
        DType::U16 => TensorData::U16(convert(name, v, dt, to_int)?),
        DType::U8 => TensorData::U8(convert(name, v, dt, to_int)?),
        DType::Bool => TensorData::Bool(data.bools),
        DType::Bytes => TensorData::Bytes(data.strings),
    })
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

fn to_f16(v: Num) -> Option<half::f16> {
    // Beyond ±65504 the conversion gives ±inf: refused like FP32's overflow.
    Some(half::f16::from_f64(to_f64(v)?)).filter(|x| x.is_finite())
}

/// Integers of any width: exact integers, and integral floats (`3.0`, as numpy writes) within
/// range; fractions and out-of-range values are not.
fn to_int<T: TryFrom<i128>>(v: Num) -> Option<T> {
    let wide = match v {
        Num::I(i) => i128::from(i),
        Num::U(u) => i128::from(u),
        // 2^64 bounds every target type; `as` is exact for integral floats below it.
        Num::F(f) if f.fract() == 0.0 && f.abs() < 18_446_744_073_709_551_616.0 => f as i128,
        Num::F(_) => return None,
    };
    T::try_from(wide).ok()
}

/// How one requested output is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    /// `data` in the JSON.
    Json,
    /// `parameters.binary_data_size` in the JSON, bytes after it.
    Binary,
}

/// Checks the names a request asked for against the signature's outputs, and reads their
/// parameters: how each comes back.
///
/// # Errors
/// [`Error::InvalidInput`] naming an output the model does not have, one asked twice, one with
/// a malformed `binary_data`, or one asking for the classification or shared-memory extension.
pub(crate) fn check_requested(
    requested: &[RequestedOutput],
    outputs: &Schema,
    options: &RequestOptions,
) -> Result<Vec<Form>> {
    let mut forms = Vec::with_capacity(requested.len());
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
        let mut binary = options.binary_data_output;
        if let Some(p) = &r.parameters {
            no_shared_memory(p, &r.name)?;
            if is_set(p, "classification") {
                return Err(Error::invalid(
                    &r.name,
                    "parameter classification: the classification extension is not supported; \
                     request the output itself and take its top classes",
                ));
            }
            if let Some(b) = bool_param(p, "binary_data", &r.name)? {
                binary = b;
            }
        }
        forms.push(if binary { Form::Binary } else { Form::Json });
    }
    Ok(forms)
}

/// The response of an inference request (its JSON part).
#[derive(Debug, Serialize)]
pub(crate) struct InferResponse<'a> {
    pub(crate) model_name: &'a str,
    pub(crate) model_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<&'a str>,
    pub(crate) outputs: Vec<OutputTensor<'a>>,
}

/// One output tensor of a response: `data` flat, row-major, or its binary size.
#[derive(Debug, Serialize)]
pub(crate) struct OutputTensor<'a> {
    name: &'a str,
    shape: &'a [usize],
    datatype: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<BinaryParameters>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<DataRef<'a>>,
}

#[derive(Debug, Serialize)]
struct BinaryParameters {
    binary_data_size: usize,
}

impl<'a> OutputTensor<'a> {
    /// `t` as JSON `data`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a `BYTES` element that is not UTF-8 (JSON strings are):
    /// the client should ask for the output in binary form.
    pub(crate) fn json(name: &'a str, t: &'a Tensor) -> Result<Self> {
        if let TensorData::Bytes(v) = t.data() {
            if let Some(i) = v.iter().position(|b| std::str::from_utf8(b).is_err()) {
                return Err(Error::invalid(
                    name,
                    format!(
                        "BYTES output element {i} is not UTF-8, so it has no JSON form; ask \
                         for this output with parameters.binary_data = true"
                    ),
                ));
            }
        }
        Ok(Self {
            name,
            shape: t.shape(),
            datatype: t.dtype().oip_name(),
            parameters: None,
            data: Some(DataRef(t.data())),
        })
    }

    /// `t` in binary form: appends its bytes to `raw`.
    ///
    /// # Errors
    /// As [`raw_size`].
    pub(crate) fn binary(name: &'a str, t: &'a Tensor, raw: &mut Vec<u8>) -> Result<Self> {
        let size = raw_size(name, t.data())?;
        raw.reserve(size);
        encode_raw(t.data(), raw);
        Ok(Self {
            name,
            shape: t.shape(),
            datatype: t.dtype().oip_name(),
            parameters: Some(BinaryParameters {
                binary_data_size: size,
            }),
            data: None,
        })
    }
}

/// Serializes the elements as a flat JSON array straight from the tensor's buffer (`FP16` as
/// its exact `f32` value, `BYTES` as strings, checked UTF-8 by [`OutputTensor::json`]).
#[derive(Debug)]
struct DataRef<'a>(&'a TensorData);

impl Serialize for DataRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.0 {
            TensorData::F32(v) => v.serialize(s),
            TensorData::F64(v) => v.serialize(s),
            TensorData::I64(v) => v.serialize(s),
            TensorData::U8(v) => v.serialize(s),
            TensorData::Bool(v) => v.serialize(s),
            TensorData::U16(v) => v.serialize(s),
            TensorData::U32(v) => v.serialize(s),
            TensorData::U64(v) => v.serialize(s),
            TensorData::I8(v) => v.serialize(s),
            TensorData::I16(v) => v.serialize(s),
            TensorData::I32(v) => v.serialize(s),
            TensorData::F16(v) => s.collect_seq(v.iter().map(|x| x.to_f32())),
            TensorData::Bytes(v) => {
                let mut seq = s.serialize_seq(Some(v.len()))?;
                for b in v {
                    let text = std::str::from_utf8(b).map_err(serde::ser::Error::custom)?;
                    seq.serialize_element(text)?;
                }
                seq.end()
            }
            #[allow(unreachable_patterns)]
            _ => Err(serde::ser::Error::custom("datatype without a JSON form")),
        }
    }
}

/// `GET /v2`.
#[derive(Debug, Serialize)]
pub(crate) struct ServerMetadata {
    pub(crate) name: &'static str,
    pub(crate) version: &'static str,
    pub(crate) extensions: &'static [&'static str],
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
#[path = "oip_tests.rs"]
mod tests;
