//! ONNX graphs through candle-onnx (feature `onnx`).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;

use candle_onnx::onnx;
use mlops_core::{DType, Schema, Signature, TensorSpec};

use crate::error::{Error, Result};
use crate::predictor::{model_err, ModelIdentity, Predictor};
use crate::tensor::{Tensor, Tensors};

/// An ONNX graph evaluated by `candle_onnx::simple_eval` on the CPU.
///
/// The signature is read from the graph: inputs that are not initializers, and outputs, with
/// symbolic dimensions (`dim_param`) and unknown dimensions mapped to `-1`.
pub struct OnnxPredictor {
    identity: ModelIdentity,
    signature: Signature,
    model: onnx::ModelProto,
    device: candle_core::Device,
}

impl fmt::Debug for OnnxPredictor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnnxPredictor")
            .field("identity", &self.identity)
            .field("signature", &self.signature)
            .finish_non_exhaustive()
    }
}

fn elem_dtype(path: &Path, name: &str, elem_type: i32) -> Result<DType> {
    use onnx::tensor_proto::DataType as D;
    Ok(match D::try_from(elem_type) {
        Ok(D::Float) => DType::F32,
        Ok(D::Double) => DType::F64,
        Ok(D::Int64) => DType::I64,
        Ok(D::Uint8) => DType::U8,
        Ok(D::Bool) => DType::U8,
        other => {
            return Err(Error::load(
                path,
                format!("{name:?} has element type {other:?}, not served (f32, f64, i64, u8)"),
            ))
        }
    })
}

fn spec_of(path: &Path, v: &onnx::ValueInfoProto) -> Result<TensorSpec> {
    use onnx::tensor_shape_proto::dimension::Value as Dim;
    use onnx::type_proto::Value as T;
    let Some(T::TensorType(tt)) = v.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return Err(Error::load(path, format!("{:?} is not a tensor", v.name)));
    };
    let dtype = elem_dtype(path, &v.name, tt.elem_type)?;
    let shape = tt
        .shape
        .as_ref()
        .map(|s| {
            s.dim
                .iter()
                .map(|d| match d.value {
                    Some(Dim::DimValue(n)) if n >= 0 => n,
                    _ => -1,
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(TensorSpec::new(&v.name, dtype, shape))
}

impl OnnxPredictor {
    /// Reads and checks the ONNX file at `path`.
    ///
    /// # Errors
    /// [`Error::Load`] when the file cannot be read or decoded, has no graph, or uses an element
    /// type outside f32/f64/i64/u8 for an input or output.
    #[tracing::instrument(skip_all, fields(model = %identity), err)]
    pub fn load(identity: ModelIdentity, path: &Path) -> Result<Self> {
        let model = candle_onnx::read_file(path).map_err(|e| Error::load(path, e))?;
        Self::from_proto(identity, model, path)
    }

    /// Wraps a decoded ONNX model; `path` is used in error messages only.
    ///
    /// # Errors
    /// As [`OnnxPredictor::load`].
    pub fn from_proto(
        identity: ModelIdentity,
        model: onnx::ModelProto,
        path: &Path,
    ) -> Result<Self> {
        let Some(graph) = model.graph.as_ref() else {
            return Err(Error::load(path, "no graph in the ONNX model"));
        };
        let init: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
        let inputs = graph
            .input
            .iter()
            .filter(|i| !init.contains(i.name.as_str()))
            .map(|i| spec_of(path, i))
            .collect::<Result<Vec<_>>>()?;
        let outputs = graph
            .output
            .iter()
            .map(|o| spec_of(path, o))
            .collect::<Result<Vec<_>>>()?;
        if inputs.is_empty() || outputs.is_empty() {
            return Err(Error::load(path, "graph without inputs or outputs"));
        }
        Ok(Self {
            identity,
            signature: Signature {
                inputs: Schema::new(inputs),
                outputs: Schema::new(outputs),
            },
            model,
            device: candle_core::Device::Cpu,
        })
    }
}

impl Predictor for OnnxPredictor {
    fn identity(&self) -> &ModelIdentity {
        &self.identity
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn predict(&self, inputs: &Tensors) -> Result<Tensors> {
        let mut values = HashMap::with_capacity(inputs.len());
        for (name, t) in inputs {
            let t = t
                .to_candle(&self.device)
                .map_err(|e| model_err(&self.identity, e))?;
            values.insert(name.clone(), t);
        }
        let mut out = candle_onnx::simple_eval(&self.model, values)
            .map_err(|e| model_err(&self.identity, e))?;
        let mut result = Tensors::new();
        for spec in &self.signature.outputs.fields {
            let t = out.remove(&spec.name).ok_or_else(|| {
                model_err(
                    &self.identity,
                    format!("graph did not produce {:?}", spec.name),
                )
            })?;
            let t = Tensor::from_candle(&t).map_err(|e| model_err(&self.identity, e))?;
            result.insert(spec.name.clone(), t);
        }
        Ok(result)
    }
}
