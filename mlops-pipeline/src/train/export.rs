//! Saving the built-in models in mlops-serve's feed-forward format, so that
//! [`mlops_serve::FeedForward::load`] serves them.
//!
//! The format is a [`FeedForwardSpec`] (JSON) plus a safetensors file; layer `i` has tensors
//! `l{i}.weight` (`[out, in]`) and `l{i}.bias` (`[out]`).
//!
//! * A logistic model is one layer: binary → one output with `sigmoid`, the probability of
//!   `classes()[1]` (column 1 of [`LogisticModel::predict_proba`]); multinomial → one output per
//!   class with `softmax`. Its tensors are stored as `F64`, the exact fitted values (the server
//!   computes in `f32`).
//! * An MLP is its dense layers with the hidden activation, and `softmax` (classifier, one
//!   output per class) or `identity` (regressor) on the last one; tensors are `F32`, as trained.
//!
//! Both files are written to a temporary name next to the target and renamed into place, so a
//! reader never sees a half-written file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use mlops_serve::{Activation, FeedForwardSpec, LayerSpec};

use super::logreg::LogisticModel;
use super::mlp::{MlpActivation, MlpModel};
use crate::error::{Error, Result};

/// Names written into the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportOptions {
    /// Name of the input tensor (default `"x"`).
    pub input: String,
    /// Name of the output tensor (default `"y"`).
    pub output: String,
    /// Names of the input features; when given, one per feature.
    pub feature_names: Option<Vec<String>>,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self {
            input: "x".into(),
            output: "y".into(),
            feature_names: None,
        }
    }
}

/// The spec and the tensors of a model, ready to be written (or inspected).
#[derive(Debug, Clone)]
pub struct FeedForwardExport {
    /// The JSON spec.
    pub spec: FeedForwardSpec,
    /// The tensors by name, as they go into the safetensors file.
    pub tensors: HashMap<String, Tensor>,
}

impl FeedForwardExport {
    /// Builds the export of a logistic model.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `opts.feature_names` does not have one name per feature;
    /// [`Error::Train`] when a tensor cannot be built.
    pub fn from_logistic(model: &LogisticModel, opts: &ExportOptions) -> Result<Self> {
        check_names(opts, model.n_features())?;
        let rows = model.coef().len();
        let w: Vec<f64> = model.coef().iter().flatten().copied().collect();
        let dev = Device::Cpu;
        let weight = Tensor::from_vec(w, (rows, model.n_features()), &dev).map_err(candle_err)?;
        let bias = Tensor::from_vec(model.intercept().to_vec(), rows, &dev).map_err(candle_err)?;
        let activation = if rows == 1 {
            Activation::Sigmoid
        } else {
            Activation::Softmax
        };
        Ok(Self::build(opts, vec![(weight, bias, activation)]))
    }

    /// Builds the export of an MLP.
    ///
    /// # Errors
    /// As [`FeedForwardExport::from_logistic`].
    pub fn from_mlp(model: &MlpModel, opts: &ExportOptions) -> Result<Self> {
        check_names(opts, model.n_features())?;
        let dev = Device::Cpu;
        let hidden = match model.activation() {
            MlpActivation::Relu => Activation::Relu,
            MlpActivation::Tanh => Activation::Tanh,
        };
        let last = if model.classes().is_some() {
            Activation::Softmax
        } else {
            Activation::Identity
        };
        let n_layers = model.layers().len();
        let mut layers = Vec::with_capacity(n_layers);
        for (i, l) in model.layers().iter().enumerate() {
            let weight =
                Tensor::from_slice(l.weight(), (l.n_out(), l.n_in()), &dev).map_err(candle_err)?;
            let bias = Tensor::from_slice(l.bias(), l.n_out(), &dev).map_err(candle_err)?;
            let act = if i + 1 == n_layers { last } else { hidden };
            layers.push((weight, bias, act));
        }
        Ok(Self::build(opts, layers))
    }

    fn build(opts: &ExportOptions, layers: Vec<(Tensor, Tensor, Activation)>) -> Self {
        let mut tensors = HashMap::with_capacity(2 * layers.len());
        let mut specs = Vec::with_capacity(layers.len());
        for (i, (w, b, activation)) in layers.into_iter().enumerate() {
            let (wn, bn) = (format!("l{i}.weight"), format!("l{i}.bias"));
            tensors.insert(wn.clone(), w);
            tensors.insert(bn.clone(), b);
            specs.push(LayerSpec {
                weight: wn,
                bias: Some(bn),
                activation,
            });
        }
        Self {
            spec: FeedForwardSpec {
                input: opts.input.clone(),
                output: opts.output.clone(),
                feature_names: opts.feature_names.clone(),
                layers: specs,
            },
            tensors,
        }
    }

    /// Writes the spec (pretty JSON) to `spec_path` and the tensors (safetensors) to
    /// `weights_path`, each through a temporary file renamed into place.
    ///
    /// # Errors
    /// [`Error::Json`] when the spec cannot be serialised; [`Error::Io`] naming the file when
    /// writing or renaming fails.
    #[tracing::instrument(skip_all, fields(spec = %spec_path.display(), weights = %weights_path.display()), err)]
    pub fn save(&self, spec_path: &Path, weights_path: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(&self.spec).map_err(|source| Error::Json {
            what: "feed-forward spec".into(),
            source,
        })?;
        let tmp_w = tmp_path(weights_path);
        candle_core::safetensors::save(&self.tensors, &tmp_w)
            .map_err(|e| Error::io(&tmp_w, std::io::Error::other(e.to_string())))?;
        std::fs::rename(&tmp_w, weights_path).map_err(|e| Error::io(weights_path, e))?;
        let tmp_s = tmp_path(spec_path);
        std::fs::write(&tmp_s, json + "\n").map_err(|e| Error::io(&tmp_s, e))?;
        std::fs::rename(&tmp_s, spec_path).map_err(|e| Error::io(spec_path, e))?;
        Ok(())
    }
}

/// Saves a logistic model with the default [`ExportOptions`]; returns the spec written.
///
/// # Errors
/// As [`FeedForwardExport::from_logistic`] and [`FeedForwardExport::save`].
pub fn save_logistic(
    model: &LogisticModel,
    spec_path: &Path,
    weights_path: &Path,
) -> Result<FeedForwardSpec> {
    let export = FeedForwardExport::from_logistic(model, &ExportOptions::default())?;
    export.save(spec_path, weights_path)?;
    Ok(export.spec)
}

/// Saves an MLP with the default [`ExportOptions`]; returns the spec written.
///
/// # Errors
/// As [`FeedForwardExport::from_mlp`] and [`FeedForwardExport::save`].
pub fn save_mlp(
    model: &MlpModel,
    spec_path: &Path,
    weights_path: &Path,
) -> Result<FeedForwardSpec> {
    let export = FeedForwardExport::from_mlp(model, &ExportOptions::default())?;
    export.save(spec_path, weights_path)?;
    Ok(export.spec)
}

fn check_names(opts: &ExportOptions, n_features: usize) -> Result<()> {
    match &opts.feature_names {
        Some(names) if names.len() != n_features => Err(Error::invalid(
            "feature_names",
            format!("{} names for {n_features} features", names.len()),
        )),
        _ => Ok(()),
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

fn candle_err(e: candle_core::Error) -> Error {
    Error::Train {
        reason: format!("candle: {e}"),
    }
}
