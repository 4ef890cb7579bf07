//! The [`Predictor`] trait, input validation, panic isolation and the candle-module predictor.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use mlops_core::{ModelName, Signature};

use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::tensor::{Tensor, TensorData, Tensors};

/// Who a model is: its registry name and version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelIdentity {
    /// Model name.
    pub name: ModelName,
    /// Model version (registry versions start at 1).
    pub version: u64,
}

impl ModelIdentity {
    /// Builds an identity.
    ///
    /// # Errors
    /// [`Error::Core`] when `name` is not a valid [`ModelName`].
    pub fn new(name: impl Into<String>, version: u64) -> Result<Self> {
        Ok(Self {
            name: ModelName::new(name)?,
            version,
        })
    }
}

impl fmt::Display for ModelIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.name, self.version)
    }
}

/// A loaded model: named tensors in, named tensors out.
///
/// # Contract
/// - `predict` receives inputs that already passed [`validate_inputs`] against
///   [`Predictor::signature`]: every input present, dtypes and fixed dimensions matching, and,
///   when the signature's leading dimension is free (`-1`), the same number of rows `n ≥ 1` in
///   every input.
/// - It returns every output of the signature; when the leading input dimension is free, each
///   output's leading dimension is `n` and row `i` of the outputs depends only on row `i` of the
///   inputs. This is what lets the engine batch requests and split results back out.
/// - It may be called from several threads at once and must not keep per-call state.
/// - A failure is an `Err` for that call only; a panic is contained by the callers in this crate
///   ([`predict_guarded`]) and turned into [`Error::ModelPanicked`].
pub trait Predictor: Send + Sync + fmt::Debug {
    /// The model's name and version.
    fn identity(&self) -> &ModelIdentity;
    /// The model's inputs and outputs.
    fn signature(&self) -> &Signature;
    /// Runs the model on a validated batch.
    ///
    /// # Errors
    /// [`Error::Model`] (or any other variant) when the model cannot compute the batch.
    fn predict(&self, inputs: &Tensors) -> Result<Tensors>;

    /// Whether a NaN in floating-point input `input` is a missing value this model handles
    /// itself (a [`crate::TransformPredictor`] imputes it or answers a typed error), so request
    /// validation ([`validate_request`]) lets NaN through for it even under
    /// [`NonFinitePolicy::Reject`]; ±inf is still rejected. Default: `false` for every input.
    fn accepts_nan(&self, input: &str) -> bool {
        let _ = input;
        false
    }

    /// A small valid request to warm the model up before it takes traffic. Default: the
    /// all-zero request of [`warmup_inputs`]; a model for which zeros or empty strings are not
    /// valid input (unknown categories) overrides it.
    ///
    /// # Errors
    /// As [`warmup_inputs`].
    fn warmup_request(&self) -> Result<Tensors> {
        warmup_inputs(self.signature())
    }

    /// Called by an [`crate::Engine`] when it starts serving this predictor (at build and at
    /// swap) with the engine's metrics registry, so the predictor can export series of its own
    /// (a [`crate::TransformPredictor`] exports its unknown-category counters). May be called
    /// more than once with the same registry. Default: nothing.
    fn attach_metrics(&self, metrics: &Metrics) {
        let _ = metrics;
    }
}

/// What to do with NaN and ±inf in floating-point inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NonFinitePolicy {
    /// Reject the request, naming the field (the default: garbage in is an error).
    #[default]
    Reject,
    /// Pass the values through to the model.
    Allow,
}

/// Checks `inputs` against `signature`: names, dtypes, shapes, the shared batch size,
/// at least one row, and the NaN/inf policy.
///
/// # Errors
/// [`Error::InvalidInput`] naming the missing, unknown, mismatched or non-finite field.
pub fn validate_inputs(
    signature: &Signature,
    inputs: &Tensors,
    policy: NonFinitePolicy,
) -> Result<usize> {
    signature
        .inputs
        .validate(
            inputs
                .iter()
                .map(|(n, t)| (n.as_str(), t.dtype(), t.shape())),
        )
        .map_err(|e| match e {
            mlops_core::Error::SchemaMismatch { field, reason } => {
                Error::InvalidInput { field, reason }
            }
            other => Error::from(other),
        })?;
    let mut rows = None;
    for (name, t) in inputs {
        if t.shape().first() == Some(&0) {
            return Err(Error::invalid(name, "empty batch (0 rows)"));
        }
        if policy == NonFinitePolicy::Reject {
            if let Some(i) = t.first_non_finite() {
                return Err(Error::invalid(
                    name,
                    format!(
                        "element {i} is NaN or infinite (input policy rejects non-finite values)"
                    ),
                ));
            }
        }
        rows.get_or_insert(t.rows());
    }
    rows.ok_or_else(|| Error::invalid("<request>", "no inputs"))
}

/// [`validate_inputs`] against `predictor`'s signature, except that NaN passes in the inputs
/// for which [`Predictor::accepts_nan`] is `true` (±inf does not, under
/// [`NonFinitePolicy::Reject`]). What the engine and batch jobs check before a request
/// reaches a model.
///
/// # Errors
/// [`Error::InvalidInput`] naming the missing, unknown, mismatched or non-finite field.
pub fn validate_request(
    predictor: &dyn Predictor,
    inputs: &Tensors,
    policy: NonFinitePolicy,
) -> Result<usize> {
    let rows = validate_inputs(predictor.signature(), inputs, NonFinitePolicy::Allow)?;
    if policy == NonFinitePolicy::Reject {
        for (name, t) in inputs {
            let nan_ok = predictor.accepts_nan(name);
            let bad = match t.data() {
                TensorData::F32(v) => v
                    .iter()
                    .position(|x| !(x.is_finite() || (nan_ok && x.is_nan()))),
                TensorData::F64(v) => v
                    .iter()
                    .position(|x| !(x.is_finite() || (nan_ok && x.is_nan()))),
                TensorData::F16(v) => v
                    .iter()
                    .position(|x| !(x.is_finite() || (nan_ok && x.is_nan()))),
                _ => None,
            };
            if let Some(i) = bad {
                let what = if nan_ok {
                    "infinite (NaN marks a missing value here; infinity is rejected)"
                } else {
                    "NaN or infinite (input policy rejects non-finite values)"
                };
                return Err(Error::invalid(name, format!("element {i} is {what}")));
            }
        }
    }
    Ok(rows)
}

/// Runs `predictor.predict` with panic isolation and checks the outputs against the
/// signature (every output present, leading dimension `rows` when batched).
///
/// # Errors
/// The model's own error, [`Error::ModelPanicked`] when it panicked, or [`Error::Model`]
/// when its outputs break the contract.
pub fn predict_guarded(
    predictor: &dyn Predictor,
    inputs: &Tensors,
    rows: usize,
) -> Result<Tensors> {
    let id = predictor.identity();
    let out = catch_unwind(AssertUnwindSafe(|| predictor.predict(inputs))).map_err(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic payload".to_owned());
        tracing::error!(model = %id, %message, "model panicked; request failed, predictor keeps serving");
        Error::ModelPanicked {
            model: id.name.to_string(),
            version: id.version,
            message,
        }
    })??;
    let bad = |reason: String| Error::Model {
        model: id.name.to_string(),
        version: id.version,
        reason,
    };
    let batched = is_batchable(predictor.signature());
    for spec in &predictor.signature().outputs.fields {
        let Some(t) = out.get(&spec.name) else {
            return Err(bad(format!("output {:?} missing", spec.name)));
        };
        if batched && t.rows() != rows {
            return Err(bad(format!(
                "output {:?} has {} rows for {rows} input rows",
                spec.name,
                t.rows()
            )));
        }
    }
    Ok(out)
}

/// A one-row (where the leading dimension is free) all-zero request matching `signature`,
/// used to warm a model up before it takes traffic.
///
/// # Errors
/// [`Error::Config`] when an input has a dtype this crate cannot build or a shape with a
/// free dimension other than the first.
pub fn warmup_inputs(signature: &Signature) -> Result<Tensors> {
    let mut out = Tensors::new();
    for spec in &signature.inputs.fields {
        let mut shape = Vec::with_capacity(spec.shape.len());
        for (i, &d) in spec.shape.iter().enumerate() {
            match (i, d) {
                (0, -1) => shape.push(1usize),
                (_, d) if d >= 0 => shape.push(d as usize),
                _ => {
                    return Err(Error::Config {
                        what: "warm-up".into(),
                        reason: format!(
                            "input {:?} has a free dimension at axis {i}; give warm-up inputs explicitly",
                            spec.name
                        ),
                    })
                }
            }
        }
        let n: usize = shape.iter().product();
        let data = crate::tensor::TensorData::zeros(spec.dtype, n);
        out.insert(spec.name.clone(), Tensor::new(shape, data)?);
    }
    Ok(out)
}

/// Whether requests for this signature can be stacked along a free leading dimension.
pub fn is_batchable(signature: &Signature) -> bool {
    !signature.inputs.fields.is_empty()
        && signature
            .inputs
            .fields
            .iter()
            .chain(&signature.outputs.fields)
            .all(|f| f.shape.first() == Some(&-1))
}

pub(crate) fn model_err(id: &ModelIdentity, e: impl fmt::Display) -> Error {
    Error::Model {
        model: id.name.to_string(),
        version: id.version,
        reason: e.to_string(),
    }
}

/// Any [`candle_core::Module`] (one input, one output) served as a [`Predictor`].
///
/// ```
/// use mlops_core::{DType, Schema, Signature, TensorSpec};
/// use mlops_serve::{ModelIdentity, ModulePredictor, Predictor, Tensor, Tensors};
/// let w = candle_core::Tensor::new(&[[2f32, 0.0], [0.0, 3.0]], &candle_core::Device::Cpu).unwrap();
/// let module = candle_nn::Linear::new(w, None);
/// let sig = Signature {
///     inputs: Schema::new(vec![TensorSpec::new("x", DType::F32, vec![-1, 2])]),
///     outputs: Schema::new(vec![TensorSpec::new("y", DType::F32, vec![-1, 2])]),
/// };
/// let p = ModulePredictor::new(ModelIdentity::new("scale", 1)?, sig, module)?;
/// let out = p.predict(&Tensors::from([("x".into(), Tensor::f32(vec![1, 2], vec![1.0, 1.0])?)]))?;
/// assert_eq!(out["y"].as_f32(), Some(&[2.0f32, 3.0][..]));
/// # Ok::<(), mlops_serve::Error>(())
/// ```
pub struct ModulePredictor<M> {
    identity: ModelIdentity,
    signature: Signature,
    module: M,
    device: candle_core::Device,
}

impl<M> fmt::Debug for ModulePredictor<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModulePredictor")
            .field("identity", &self.identity)
            .field("signature", &self.signature)
            .finish_non_exhaustive()
    }
}

impl<M: candle_core::Module + Send + Sync> ModulePredictor<M> {
    /// Wraps `module`, whose signature has exactly one input and one output. Runs on the CPU.
    ///
    /// # Errors
    /// [`Error::Config`] when the signature does not have exactly one input and one output.
    pub fn new(identity: ModelIdentity, signature: Signature, module: M) -> Result<Self> {
        if signature.inputs.fields.len() != 1 || signature.outputs.fields.len() != 1 {
            return Err(Error::Config {
                what: "signature".into(),
                reason: "a candle Module takes one input and returns one output".into(),
            });
        }
        Ok(Self {
            identity,
            signature,
            module,
            device: candle_core::Device::Cpu,
        })
    }

    /// Serves `self` through a shareable trait object.
    pub fn into_shared(self) -> Arc<dyn Predictor>
    where
        M: 'static,
    {
        Arc::new(self)
    }
}

impl<M: candle_core::Module + Send + Sync> Predictor for ModulePredictor<M> {
    fn identity(&self) -> &ModelIdentity {
        &self.identity
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn predict(&self, inputs: &Tensors) -> Result<Tensors> {
        let in_name = &self.signature.inputs.fields[0].name;
        let out_name = &self.signature.outputs.fields[0].name;
        let x = inputs
            .get(in_name)
            .ok_or_else(|| Error::invalid(in_name, "missing from the request"))?;
        let x = x
            .to_candle(&self.device)
            .map_err(|e| model_err(&self.identity, e))?;
        let y = self
            .module
            .forward(&x)
            .map_err(|e| model_err(&self.identity, e))?;
        let y = Tensor::from_candle(&y).map_err(|e| model_err(&self.identity, e))?;
        Ok(Tensors::from([(out_name.clone(), y)]))
    }
}
