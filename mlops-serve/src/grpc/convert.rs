//! Protobuf messages to and from tensors: `raw_input_contents` or typed `contents` in,
//! `raw_output_contents` out (the raw form of [`crate::raw`]).

use std::collections::HashMap;
use std::time::Duration;

use mlops_core::{DType, Schema};

use super::proto::{self, infer_parameter::ParameterChoice, InferParameter};
use crate::deploy::Deployment;
use crate::error::{Error, Result};
use crate::raw::{decode_raw, encode_raw, raw_size};
use crate::repository::{Stat, VersionStats};
use crate::tensor::{Tensor, TensorData, Tensors};

/// What [`decode_request`] reads from a `ModelInferRequest`.
#[derive(Debug)]
pub(super) struct Decoded {
    pub(super) id: String,
    pub(super) inputs: Tensors,
    /// The outputs asked for, in order (`None`: all).
    pub(super) outputs: Option<Vec<String>>,
    /// The request's `timeout` parameter.
    pub(super) timeout: Option<Duration>,
}

fn is_set(p: Option<&InferParameter>) -> bool {
    match p.and_then(|p| p.parameter_choice.as_ref()) {
        None => false,
        Some(ParameterChoice::BoolParam(b)) => *b,
        Some(ParameterChoice::Int64Param(i)) => *i != 0,
        Some(ParameterChoice::Uint64Param(u)) => *u != 0,
        Some(ParameterChoice::DoubleParam(d)) => *d != 0.0,
        Some(ParameterChoice::StringParam(s)) => !s.is_empty(),
    }
}

fn refuse_shared_memory(params: &HashMap<String, InferParameter>, field: &str) -> Result<()> {
    if params.contains_key("shared_memory_region") {
        return Err(Error::invalid(
            field,
            "parameter shared_memory_region: the shared-memory extension is not supported; send \
             the tensor in raw_input_contents or contents",
        ));
    }
    Ok(())
}

/// Reads a `ModelInferRequest`: its inputs as tensors (all from `raw_input_contents`, or all
/// from typed `contents`), the outputs it asks for (checked against `outputs`), and the
/// `timeout` parameter (µs).
///
/// # Errors
/// [`Error::InvalidInput`] naming the input, output or parameter at fault.
pub(super) fn decode_request(req: proto::ModelInferRequest, outputs: &Schema) -> Result<Decoded> {
    const F: &str = "<request>";
    if is_set(req.parameters.get("sequence_id")) {
        return Err(Error::invalid(
            F,
            "parameter sequence_id: sequence batching is not supported (models here are \
             stateless)",
        ));
    }
    let timeout = match req
        .parameters
        .get("timeout")
        .and_then(|p| p.parameter_choice.as_ref())
    {
        None => None,
        Some(ParameterChoice::Int64Param(us)) if *us >= 0 => {
            Some(Duration::from_micros(*us as u64))
        }
        Some(ParameterChoice::Uint64Param(us)) => Some(Duration::from_micros(*us)),
        Some(other) => {
            return Err(Error::invalid(
                F,
                format!("parameter timeout must be a non-negative integer (µs), got {other:?}"),
            ))
        }
    };
    let requested = if req.outputs.is_empty() {
        None
    } else {
        let mut names: Vec<String> = Vec::with_capacity(req.outputs.len());
        for o in req.outputs {
            if outputs.field(&o.name).is_none() {
                let known: Vec<&str> = outputs.fields.iter().map(|f| f.name.as_str()).collect();
                return Err(Error::invalid(
                    &o.name,
                    format!("requested output is not an output of the model (outputs: {known:?})"),
                ));
            }
            if names.contains(&o.name) {
                return Err(Error::invalid(
                    &o.name,
                    "requested output given more than once",
                ));
            }
            refuse_shared_memory(&o.parameters, &o.name)?;
            if is_set(o.parameters.get("classification")) {
                return Err(Error::invalid(
                    &o.name,
                    "parameter classification: the classification extension is not supported; \
                     request the output itself and take its top classes",
                ));
            }
            names.push(o.name);
        }
        Some(names)
    };
    let raw = req.raw_input_contents;
    if !raw.is_empty() && raw.len() != req.inputs.len() {
        return Err(Error::invalid(
            F,
            format!(
                "raw_input_contents has {} entries for {} inputs: give one per input, or none",
                raw.len(),
                req.inputs.len()
            ),
        ));
    }
    let mut inputs = Tensors::new();
    for (i, input) in req.inputs.into_iter().enumerate() {
        let name = input.name;
        if inputs.contains_key(&name) {
            return Err(Error::invalid(name, "given more than once"));
        }
        refuse_shared_memory(&input.parameters, &name)?;
        let dtype = DType::from_oip_name(&input.datatype).map_err(|_| {
            Error::invalid(
                &name,
                format!(
                    "datatype {:?} is not an Open Inference Protocol datatype (known: {})",
                    input.datatype,
                    DType::ALL.map(DType::oip_name).join(", ")
                ),
            )
        })?;
        let shape = input
            .shape
            .iter()
            .map(|&d| usize::try_from(d))
            .collect::<std::result::Result<Vec<usize>, _>>()
            .map_err(|_| {
                Error::invalid(
                    &name,
                    format!("shape {:?} has a negative dimension", input.shape),
                )
            })?;
        let n = shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| Error::invalid(&name, format!("shape {shape:?} overflows")))?;
        let data = match raw.get(i) {
            Some(bytes) => decode_raw(&name, dtype, bytes, n)?,
            None => from_contents(&name, dtype, input.contents.unwrap_or_default(), n)?,
        };
        let t = Tensor::new(shape, data).map_err(|e| Error::invalid(&name, e.to_string()))?;
        inputs.insert(name, t);
    }
    Ok(Decoded {
        id: req.id,
        inputs,
        outputs: requested,
        timeout,
    })
}

/// Narrows typed contents to the element type, naming the first element that does not fit.
fn narrow<S: Copy + std::fmt::Display, T: TryFrom<S>>(
    name: &str,
    dtype: DType,
    v: Vec<S>,
) -> Result<Vec<T>> {
    v.iter()
        .enumerate()
        .map(|(i, &x)| {
            T::try_from(x).map_err(|_| {
                Error::invalid(
                    name,
                    format!("contents element {i} ({x}) is not a valid {dtype} value"),
                )
            })
        })
        .collect()
}

fn from_contents(
    name: &str,
    dtype: DType,
    c: proto::InferTensorContents,
    n: usize,
) -> Result<TensorData> {
    let data = match dtype {
        DType::Bool => TensorData::Bool(c.bool_contents),
        DType::I8 => TensorData::I8(narrow(name, dtype, c.int_contents)?),
        DType::I16 => TensorData::I16(narrow(name, dtype, c.int_contents)?),
        DType::I32 => TensorData::I32(c.int_contents),
        DType::I64 => TensorData::I64(c.int64_contents),
        DType::U8 => TensorData::U8(narrow(name, dtype, c.uint_contents)?),
        DType::U16 => TensorData::U16(narrow(name, dtype, c.uint_contents)?),
        DType::U32 => TensorData::U32(c.uint_contents),
        DType::U64 => TensorData::U64(c.uint64_contents),
        DType::F32 => TensorData::F32(c.fp32_contents),
        DType::F64 => TensorData::F64(c.fp64_contents),
        DType::Bytes => TensorData::Bytes(c.bytes_contents),
        DType::F16 => {
            return Err(Error::invalid(
                name,
                "FP16 has no typed contents field: send it in raw_input_contents",
            ))
        }
    };
    if data.len() != n {
        return Err(Error::invalid(
            name,
            format!(
                "shape needs {n} elements, contents has {} ({dtype})",
                data.len()
            ),
        ));
    }
    Ok(data)
}

/// A `ModelInferResponse` with `outputs` (the `requested` ones, in order, or all) in
/// `raw_output_contents`.
///
/// # Errors
/// [`Error::Model`] when the model did not return a requested output; [`Error::InvalidInput`]
/// for a `BYTES` element of 4 GiB or more.
pub(super) fn encode_response(
    model: &str,
    version: u64,
    id: String,
    outputs: &Tensors,
    requested: Option<&[String]>,
) -> Result<proto::ModelInferResponse> {
    let chosen: Vec<(&String, &Tensor)> = match requested {
        Some(names) => names
            .iter()
            .map(|n| {
                outputs.get_key_value(n).ok_or_else(|| Error::Model {
                    model: model.to_owned(),
                    version,
                    reason: format!("the model did not return output {n:?}"),
                })
            })
            .collect::<Result<_>>()?,
        None => outputs.iter().collect(),
    };
    let mut tensors = Vec::with_capacity(chosen.len());
    let mut raw = Vec::with_capacity(chosen.len());
    for (name, t) in chosen {
        let mut bytes = Vec::with_capacity(raw_size(name, t.data())?);
        encode_raw(t.data(), &mut bytes);
        raw.push(bytes);
        tensors.push(proto::model_infer_response::InferOutputTensor {
            name: name.clone(),
            datatype: t.dtype().oip_name().to_owned(),
            shape: t.shape().iter().map(|&d| d as i64).collect(),
            parameters: HashMap::new(),
            contents: None,
        });
    }
    Ok(proto::ModelInferResponse {
        model_name: model.to_owned(),
        model_version: version.to_string(),
        id,
        parameters: HashMap::new(),
        outputs: tensors,
        raw_output_contents: raw,
    })
}

/// `ModelMetadataResponse` of `d` listing `versions`.
pub(super) fn metadata(d: &Deployment, versions: &[u64]) -> proto::ModelMetadataResponse {
    let tensors = |s: &Schema| {
        s.fields
            .iter()
            .map(|f| proto::model_metadata_response::TensorMetadata {
                name: f.name.clone(),
                datatype: f.dtype.oip_name().to_owned(),
                shape: f.shape.clone(),
            })
            .collect()
    };
    let sig = d.signature();
    proto::ModelMetadataResponse {
        name: d.name().to_string(),
        versions: versions.iter().map(u64::to_string).collect(),
        platform: "mlops-rs".into(),
        inputs: tensors(&sig.inputs),
        outputs: tensors(&sig.outputs),
    }
}

fn duration(s: Stat) -> Option<proto::StatisticDuration> {
    Some(proto::StatisticDuration {
        count: s.count,
        ns: s.ns,
    })
}

/// One version's statistics as a `ModelStatistics` message.
pub(super) fn stats(v: VersionStats) -> proto::ModelStatistics {
    proto::ModelStatistics {
        name: v.name,
        version: v.version,
        last_inference: v.last_inference_ms,
        inference_count: v.inference_count,
        execution_count: v.execution_count,
        inference_stats: Some(proto::InferStatistics {
            success: duration(v.success),
            fail: duration(v.fail),
            queue: duration(v.queue),
            compute_input: duration(v.compute_input),
            compute_infer: duration(v.compute_infer),
            compute_output: duration(v.compute_output),
            cache_hit: duration(v.cache_hit),
            cache_miss: duration(v.cache_miss),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlops_core::TensorSpec;

    fn schema() -> Schema {
        Schema::new(vec![TensorSpec::new("y", DType::F32, vec![-1, 1])])
    }

    fn input(
        name: &str,
        dt: &str,
        shape: Vec<i64>,
    ) -> proto::model_infer_request::InferInputTensor {
        proto::model_infer_request::InferInputTensor {
            name: name.into(),
            datatype: dt.into(),
            shape,
            parameters: HashMap::new(),
            contents: None,
        }
    }

    fn reason(e: Error) -> (String, String) {
        match e {
            Error::InvalidInput { field, reason } => (field, reason),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn typed_contents_and_raw_contents_give_the_same_tensors() {
        let mut a = input("a", "INT16", vec![1, 2]);
        a.contents = Some(proto::InferTensorContents {
            int_contents: vec![-5, 300],
            ..Default::default()
        });
        let mut b = input("b", "BYTES", vec![1]);
        b.contents = Some(proto::InferTensorContents {
            bytes_contents: vec![b"hi".to_vec()],
            ..Default::default()
        });
        let typed = proto::ModelInferRequest {
            inputs: vec![a, b],
            ..Default::default()
        };
        let t1 = decode_request(typed, &schema()).unwrap().inputs;
        let mut a_raw = Vec::new();
        a_raw.extend_from_slice(&(-5i16).to_le_bytes());
        a_raw.extend_from_slice(&300i16.to_le_bytes());
        let raw = proto::ModelInferRequest {
            inputs: vec![
                input("a", "INT16", vec![1, 2]),
                input("b", "BYTES", vec![1]),
            ],
            raw_input_contents: vec![a_raw, vec![2, 0, 0, 0, b'h', b'i']],
            ..Default::default()
        };
        let t2 = decode_request(raw, &schema()).unwrap().inputs;
        assert_eq!(t1, t2);
        assert_eq!(t1["a"].data(), &TensorData::I16(vec![-5, 300]));
    }

    #[test]
    fn bad_requests_name_what_is_wrong() {
        let cases: Vec<(proto::ModelInferRequest, &str, &str)> = vec![
            (
                proto::ModelInferRequest {
                    inputs: vec![input("x", "INT8", vec![1])],
                    raw_input_contents: vec![vec![1], vec![2]],
                    ..Default::default()
                },
                "<request>",
                "2 entries for 1 inputs",
            ),
            (
                proto::ModelInferRequest {
                    inputs: vec![input("x", "INT8", vec![-1])],
                    ..Default::default()
                },
                "x",
                "negative",
            ),
            (
                proto::ModelInferRequest {
                    inputs: vec![proto::model_infer_request::InferInputTensor {
                        contents: Some(proto::InferTensorContents {
                            int_contents: vec![200],
                            ..Default::default()
                        }),
                        ..input("x", "INT8", vec![1])
                    }],
                    ..Default::default()
                },
                "x",
                "(200) is not a valid INT8",
            ),
            (
                proto::ModelInferRequest {
                    inputs: vec![input("x", "FP16", vec![1])],
                    ..Default::default()
                },
                "x",
                "raw_input_contents",
            ),
            (
                proto::ModelInferRequest {
                    inputs: vec![input("x", "FP32", vec![2])],
                    raw_input_contents: vec![vec![0; 7]],
                    ..Default::default()
                },
                "x",
                "7 bytes",
            ),
            (
                proto::ModelInferRequest {
                    parameters: HashMap::from([(
                        "sequence_id".to_owned(),
                        InferParameter {
                            parameter_choice: Some(ParameterChoice::Int64Param(4)),
                        },
                    )]),
                    ..Default::default()
                },
                "<request>",
                "sequence_id",
            ),
            (
                proto::ModelInferRequest {
                    outputs: vec![proto::model_infer_request::InferRequestedOutputTensor {
                        name: "nope".into(),
                        parameters: HashMap::new(),
                    }],
                    ..Default::default()
                },
                "nope",
                "not an output",
            ),
        ];
        for (req, field, needle) in cases {
            let (f, why) = reason(decode_request(req, &schema()).unwrap_err());
            assert_eq!(f, field, "{why}");
            assert!(why.contains(needle), "{why}");
        }
    }

    #[test]
    fn responses_carry_every_output_raw() {
        let outs = Tensors::from([
            ("y".to_owned(), Tensor::f32(vec![1, 1], vec![2.5]).unwrap()),
            (
                "z".to_owned(),
                Tensor::new(vec![1], TensorData::Bool(vec![true])).unwrap(),
            ),
        ]);
        let r = encode_response("m", 3, "id-1".into(), &outs, None).unwrap();
        assert_eq!((r.model_version.as_str(), r.id.as_str()), ("3", "id-1"));
        assert_eq!(r.outputs.len(), 2);
        assert_eq!(
            r.raw_output_contents,
            vec![2.5f32.to_le_bytes().to_vec(), vec![1]]
        );
        let r = encode_response("m", 3, String::new(), &outs, Some(&["z".to_owned()])).unwrap();
        assert_eq!(r.outputs[0].datatype, "BOOL");
        assert!(encode_response("m", 3, String::new(), &outs, Some(&["q".to_owned()])).is_err());
    }
}
