//! The built-in feed-forward model: linear, logistic or MLP, described by a small JSON spec
//! and loaded from memory-mapped safetensors.

use std::fmt;
use std::path::Path;

use candle_core::Module;
use mlops_core::{DType, Schema, Signature, TensorSpec};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::predictor::{model_err, ModelIdentity, Predictor};
use crate::tensor::{Tensor, Tensors};

/// An activation applied after a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// No activation (linear layer).
    #[default]
    Identity,
    /// `max(0, x)`.
    Relu,
    /// `1 / (1 + e^-x)` (logistic regression's link).
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
    /// Exact GELU, `x · Φ(x)` with the normal CDF (erf form).
    Gelu,
    /// Softmax over the last axis (only allowed on the last layer).
    Softmax,
}

/// One dense layer: `y = act(x · Wᵀ + b)` with `W` of shape `[out, in]` (PyTorch's layout).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerSpec {
    /// Name of the weight tensor `[out, in]` in the safetensors file.
    pub weight: String,
    /// Name of the bias tensor `[out]`, if the layer has one.
    #[serde(default)]
    pub bias: Option<String>,
    /// Activation after the layer.
    #[serde(default)]
    pub activation: Activation,
}

/// The JSON description of a feed-forward model.
///
/// ```json
/// {"input": "x", "output": "probs", "feature_names": ["a", "b"],
///  "layers": [{"weight": "l0.weight", "bias": "l0.bias", "activation": "relu"},
///             {"weight": "l1.weight", "bias": "l1.bias", "activation": "softmax"}]}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedForwardSpec {
    /// Name of the input tensor (default `"x"`).
    #[serde(default = "default_input")]
    pub input: String,
    /// Name of the output tensor (default `"y"`).
    #[serde(default = "default_output")]
    pub output: String,
    /// Names of the input features, checked against the first layer's width when given.
    #[serde(default)]
    pub feature_names: Option<Vec<String>>,
    /// The layers, first to last.
    pub layers: Vec<LayerSpec>,
}

fn default_input() -> String {
    "x".into()
}
fn default_output() -> String {
    "y".into()
}

impl FeedForwardSpec {
    /// Parses a spec from JSON.
    ///
    /// # Errors
    /// [`Error::Load`] naming `path` (used only for the message) when the JSON is malformed.
    pub fn from_json(json: &str, path: &Path) -> Result<Self> {
        serde_json::from_str(json).map_err(|e| Error::load(path, e))
    }
}

/// The built-in feed-forward [`Predictor`].
pub struct FeedForward {
    identity: ModelIdentity,
    signature: Signature,
    layers: Vec<(candle_nn::Linear, Activation)>,
    device: candle_core::Device,
}

impl fmt::Debug for FeedForward {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FeedForward")
            .field("identity", &self.identity)
            .field("signature", &self.signature)
            .field("layers", &self.layers.len())
            .finish()
    }
}

impl FeedForward {
    /// Loads the spec at `spec_path` (JSON) and its weights from the safetensors file at
    /// `weights_path` (memory-mapped; tensors of any float dtype are converted to `f32`).
    ///
    /// # Errors
    /// [`Error::Io`] when the spec cannot be read, [`Error::Load`] when the JSON is malformed,
    /// the safetensors file is truncated or invalid, a named tensor is missing, shapes do not
    /// chain, or softmax is used on a hidden layer.
    #[tracing::instrument(skip_all, fields(model = %identity), err)]
    pub fn load(identity: ModelIdentity, spec_path: &Path, weights_path: &Path) -> Result<Self> {
        let json = std::fs::read_to_string(spec_path).map_err(|source| Error::Io {
            path: spec_path.to_owned(),
            source,
        })?;
        let spec = FeedForwardSpec::from_json(&json, spec_path)?;
        Self::from_spec(identity, &spec, weights_path)
    }

    /// Builds the model from an already parsed `spec` and the safetensors at `weights_path`.
    ///
    /// # Errors
    /// As [`FeedForward::load`].
    #[allow(unsafe_code)]
    pub fn from_spec(
        identity: ModelIdentity,
        spec: &FeedForwardSpec,
        weights_path: &Path,
    ) -> Result<Self> {
        let bad = |reason: String| Error::load(weights_path, reason);
        if spec.layers.is_empty() {
            return Err(bad("the spec has no layers".into()));
        }
        // SAFETY: the file is memory-mapped read-only and every tensor is copied into an owned
        // CPU buffer by `load` below, before this function returns; the map is dropped at the end
        // of this function, so later changes to the file cannot affect the model. Truncation or
        // concurrent modification *during* this call is the one hazard of mmap; registry
        // artifacts are content-addressed and never rewritten in place.
        let st = unsafe { candle_core::safetensors::MmapedSafetensors::new(weights_path) }
            .map_err(|e| bad(format!("not a readable safetensors file: {e}")))?;
        let device = candle_core::Device::Cpu;
        let get = |name: &str| -> Result<candle_core::Tensor> {
            st.load(name, &device)
                .and_then(|t| t.to_dtype(candle_core::DType::F32))
                .map_err(|e| bad(format!("tensor {name:?}: {e}")))
        };
        let mut layers = Vec::with_capacity(spec.layers.len());
        let mut width: Option<usize> = None;
        let n_layers = spec.layers.len();
        for (i, l) in spec.layers.iter().enumerate() {
            let w = get(&l.weight)?;
            let (out, inp) = w.dims2().map_err(|_| {
                bad(format!(
                    "weight {:?} must be 2-D [out, in], got {:?}",
                    l.weight,
                    w.dims()
                ))
            })?;
            if out == 0 || inp == 0 {
                return Err(bad(format!(
                    "weight {:?} has an empty dimension {:?}",
                    l.weight,
                    w.dims()
                )));
            }
            if let Some(prev) = width {
                if prev != inp {
                    return Err(bad(format!(
                        "layer {i} takes {inp} inputs but layer {} gives {prev}",
                        i - 1
                    )));
                }
            }
            let b = match &l.bias {
                Some(name) => {
                    let b = get(name)?;
                    if b.dims() != [out] {
                        return Err(bad(format!(
                            "bias {name:?} has shape {:?}, expected [{out}]",
                            b.dims()
                        )));
                    }
                    Some(b)
                }
                None => None,
            };
            if l.activation == Activation::Softmax && i + 1 != n_layers {
                return Err(bad(format!(
                    "softmax on hidden layer {i}; only the last layer may use it"
                )));
            }
            if i == 0 {
                if let Some(names) = &spec.feature_names {
                    if names.len() != inp {
                        return Err(bad(format!(
                            "{} feature names for a first layer of {inp} inputs",
                            names.len()
                        )));
                    }
                }
            }
            width = Some(out);
            layers.push((candle_nn::Linear::new(w, b), l.activation));
        }
        let n_in = layers[0].0.weight().dims()[1];
        let n_out = width.unwrap_or(0);
        let mut input = TensorSpec::new(&spec.input, DType::F32, vec![-1, n_in as i64]);
        input.feature_names = spec.feature_names.clone();
        let signature = Signature {
            inputs: Schema::new(vec![input]),
            outputs: Schema::new(vec![TensorSpec::new(
                &spec.output,
                DType::F32,
                vec![-1, n_out as i64],
            )]),
        };
        Ok(Self {
            identity,
            signature,
            layers,
            device,
        })
    }

    /// Runs the layers on a candle tensor `[n, in]` (what [`Predictor::predict`] does after
    /// converting the request); exposed for benchmarks against a direct candle call.
    ///
    /// # Errors
    /// The candle error when shapes do not match.
    pub fn forward(&self, x: &candle_core::Tensor) -> candle_core::Result<candle_core::Tensor> {
        let mut x = x.clone();
        for (linear, act) in &self.layers {
            x = linear.forward(&x)?;
            x = match act {
                Activation::Identity => x,
                Activation::Relu => x.relu()?,
                Activation::Sigmoid => candle_nn::ops::sigmoid(&x)?,
                Activation::Tanh => x.tanh()?,
                Activation::Gelu => x.gelu_erf()?,
                Activation::Softmax => candle_nn::ops::softmax_last_dim(&x)?,
            };
        }
        Ok(x)
    }
}

impl Predictor for FeedForward {
    fn identity(&self) -> &ModelIdentity {
        &self.identity
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn predict(&self, inputs: &Tensors) -> Result<Tensors> {
        let spec = &self.signature.inputs.fields[0];
        let x = inputs
            .get(&spec.name)
            .ok_or_else(|| Error::invalid(&spec.name, "missing from the request"))?;
        let x = x
            .to_candle(&self.device)
            .map_err(|e| model_err(&self.identity, e))?;
        let y = self.forward(&x).map_err(|e| model_err(&self.identity, e))?;
        let y = Tensor::from_candle(&y).map_err(|e| model_err(&self.identity, e))?;
        Ok(Tensors::from([(
            self.signature.outputs.fields[0].name.clone(),
            y,
        )]))
    }
}
