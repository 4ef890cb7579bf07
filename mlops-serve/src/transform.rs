//! Serving a model behind its fitted preprocessing chain: raw feature columns in (strings
//! included), the chain's features into the model.
//!
//! A training pipeline fits a [`TransformChain`] (imputers, scalers, one-hot encoders, column
//! selection; JSON `"mlops.transform/1"`) and saves it next to the model as an artifact named
//! exactly [`TRANSFORM_ARTIFACT`] (`transform.json`). [`TransformPredictor`] wraps the model so
//! that clients send the raw columns; [`crate::load_from_registry`] and [`load_model_dir`] wrap
//! automatically when that file is present.
//!
//! # Inputs and outputs
//! One input per entry of [`TransformChain::input_columns`], named as the column, shape `[-1]`
//! (one value per row; every column has the same number of rows):
//!
//! | column kind | input datatype | missing value |
//! |---|---|---|
//! | numeric | `FP64` | `NaN` |
//! | string | `BYTES` (UTF-8) | the empty string `""` |
//!
//! The chain turns the `n` rows into an `[n, k]` matrix (`k` = the chain's
//! [`feature_names`](TransformChain::feature_names)), which goes to the model's one input as
//! `FP32` or `FP64`, whichever the model takes; the outputs, their names and the identity are
//! the model's.
//!
//! # Missing values
//! - **Numeric**: `NaN` is a missing value. The engine's and batch jobs' non-finite check
//!   ([`crate::validate_request`]) lets `NaN` through for these inputs
//!   ([`Predictor::accepts_nan`]) and still rejects `±inf`. The chain then imputes it, or, when
//!   the column reaches a scaler (or the output) without an imputer, answers
//!   [`Error::InvalidInput`] naming the column ("missing value (NaN) at row r; … impute
//!   first") — never garbage. JSON has no `NaN`: send missing numbers with the binary tensor
//!   extension (or gRPC).
//! - **String**: OIP `BYTES` has no null, so the empty string stands for a missing value, as an
//!   empty CSV cell does for `pandas.read_csv` and `mlops_drift::io` (what the chain was fitted
//!   on): it is imputed, or one-hot encoded as the `<column>_nan` category. A chain that knows
//!   the empty string as a category of its own cannot be served this way and is rejected by
//!   [`TransformPredictor::new`]. Elements that are not UTF-8 are an [`Error::InvalidInput`].
//!
//! # Errors per call
//! A chain error fails that call only; the predictor keeps no state that an error could leave
//! behind.
//! - A string where a number belongs, a missing column, `NaN` reaching a scaler:
//!   [`Error::InvalidInput`] whose `field` is the column (a client error: it does not count
//!   against the version's health).
//! - An unknown category under `handle_unknown = "error"`: [`Error::Model`]. The value is well
//!   formed (the signature takes any string) and another version may encode it, so it is this
//!   version's failure and counts against its health: a canary that refuses traffic its stable
//!   version answers is rolled back.
//!
//! # Unknown categories
//! Every call that succeeds adds its rows, and per one-hot encoded column the values not seen
//! at fit (counted under `handle_unknown = "ignore"` and `"infrequent_if_exist"`), to cumulative
//! counters: [`TransformPredictor::unknown_stats`]. An [`crate::Engine`] serving the predictor
//! ([`Predictor::attach_metrics`]) exports them in its [`Metrics`]:
//!
//! - `mlops_serve_transform_rows_total{model,version}`
//! - `mlops_serve_unknown_category_total{model,version,group,column}`
//! - `mlops_serve_unknown_category_ratio{model,version,group,column}` (the cumulative ratio;
//!   `rate(unknown_category_total) / rate(transform_rows_total)` gives it over a window).
//!
//! A request refused under `handle_unknown = "error"` is counted in
//! `mlops_serve_request_errors_total`, not here. Warm-up requests (one row of known
//! categories, [`Predictor::warmup_request`]) are counted as rows.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use mlops_core::transform::chain::FittedStep;
use mlops_core::transform::{ColumnKind, InputColumn, RawColumn, RawFrame, TransformChain};
use mlops_core::{DType, Schema, Signature, TensorSpec};

use crate::error::{Error, Result};
use crate::feedforward::FeedForward;
use crate::metrics::{Metrics, TransformMetrics};
use crate::predictor::{ModelIdentity, Predictor};
use crate::tensor::{Tensor, TensorData, Tensors};

/// The artifact (file) name of a model's fitted transform chain.
pub const TRANSFORM_ARTIFACT: &str = "transform.json";

/// Cumulative unknown-category counts of one one-hot encoded column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownStat {
    /// The chain group that encodes the column.
    pub group: String,
    /// The column.
    pub column: String,
    /// Values not seen at fit, over all calls that succeeded.
    pub unknown: u64,
    /// Rows of those calls.
    pub rows: u64,
}

impl UnknownStat {
    /// `unknown / rows` (0 before any row).
    pub fn rate(&self) -> f64 {
        if self.rows == 0 {
            0.0
        } else {
            self.unknown as f64 / self.rows as f64
        }
    }
}

#[derive(Debug, Default)]
struct Accounting {
    rows: u64,
    /// Per entry of `TransformPredictor::encoded`.
    unknown: Vec<u64>,
    exports: Vec<TransformMetrics>,
}

/// A model served behind its fitted [`TransformChain`]: raw columns in, the model's outputs
/// out (see the [module documentation](self)).
///
/// ```
/// use std::sync::Arc;
/// use mlops_core::transform::{ChainSpec, GroupSpec, RawColumn, RawFrame, StandardScalerSpec,
///     StepSpec, TransformChain};
/// use mlops_core::{DType, Schema, Signature, TensorSpec};
/// use mlops_serve::{ModelIdentity, ModulePredictor, Predictor, Tensor, TransformPredictor};
///
/// let train = RawFrame::new(vec![RawColumn::num("age", vec![20.0, 40.0])])?;
/// let spec = ChainSpec::new(vec![GroupSpec::new("num", ["age"],
///     vec![StepSpec::StandardScaler(StandardScalerSpec::default())])]);
/// let chain = TransformChain::fit(&spec, &train)?;
/// let sig = Signature {
///     inputs: Schema::new(vec![TensorSpec::new("x", DType::F32, vec![-1, 1])]),
///     outputs: Schema::new(vec![TensorSpec::new("y", DType::F32, vec![-1, 1])]),
/// };
/// let w = candle_core::Tensor::new(&[[1f32]], &candle_core::Device::Cpu).unwrap();
/// let model = ModulePredictor::new(ModelIdentity::new("m", 1)?, sig, candle_nn::Linear::new(w, None))?;
/// let p = TransformPredictor::new(chain, Arc::new(model))?;
/// // The served signature takes the raw column.
/// assert_eq!(p.signature().inputs.fields[0].name, "age");
/// assert_eq!(p.signature().inputs.fields[0].dtype, DType::F64);
/// let age = Tensor::new(vec![1], mlops_serve::TensorData::F64(vec![30.0]))?;
/// let y = p.predict(&[("age".to_owned(), age)].into())?;
/// assert_eq!(y["y"].as_f32(), Some(&[0.0f32][..])); // 30 is the training mean
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct TransformPredictor {
    chain: TransformChain,
    inner: Arc<dyn Predictor>,
    signature: Signature,
    columns: Vec<InputColumn>,
    inner_input: String,
    inner_f64: bool,
    n_features: usize,
    /// `(group, column)` of every one-hot encoded column, in chain order.
    encoded: Vec<(String, String)>,
    warmup: Tensors,
    accounting: Mutex<Accounting>,
}

fn incompatible(reason: String) -> Error {
    Error::Incompatible { reason }
}

impl TransformPredictor {
    /// Puts `chain` in front of `inner`.
    ///
    /// # Errors
    /// [`Error::Incompatible`] when `inner` does not have exactly one input of dtype `FP32` or
    /// `FP64` and shape `[-1, k]` with `k` the chain's number of output features (the message
    /// names both numbers), when the input records feature names that differ from the
    /// chain's, or when a one-hot encoder knows the empty string as a category (over `BYTES`
    /// it means a missing value); [`Error::Config`] for a chain without input columns.
    pub fn new(chain: TransformChain, inner: Arc<dyn Predictor>) -> Result<Self> {
        let k = chain.feature_names().len();
        let id = inner.identity().clone();
        let isig = inner.signature();
        let [input] = isig.inputs.fields.as_slice() else {
            return Err(incompatible(format!(
                "model {id} takes {} inputs; a transform chain feeds exactly one, [-1, {k}] FP32 or FP64",
                isig.inputs.fields.len()
            )));
        };
        let inner_f64 = match input.dtype {
            DType::F32 => false,
            DType::F64 => true,
            other => {
                return Err(incompatible(format!(
                    "model {id} input {:?} is {other}; a transform chain feeds FP32 or FP64",
                    input.name
                )))
            }
        };
        if input.shape != [-1, k as i64] {
            let width = match input.shape.as_slice() {
                [_, w] => w.to_string(),
                _ => format!("rank {}", input.shape.len()),
            };
            return Err(incompatible(format!(
                "model {id} input {:?} has shape {:?} ({width} features) but the transform chain \
                 produces {k} features (expected [-1, {k}])",
                input.name, input.shape
            )));
        }
        if let Some(names) = &input.feature_names {
            if names.as_slice() != chain.feature_names() {
                return Err(incompatible(format!(
                    "model {id} input {:?} has feature names {names:?} but the transform chain \
                     produces {:?}",
                    input.name,
                    chain.feature_names()
                )));
            }
        }
        let columns = chain.input_columns();
        if columns.is_empty() {
            return Err(Error::Config {
                what: "transform chain".into(),
                reason: "the chain has no input columns".into(),
            });
        }
        let mut encoded: Vec<(String, String)> = Vec::new();
        // Per string input column: a category known at fit, for the warm-up request.
        let mut known: Vec<(String, String)> = Vec::new();
        for g in chain.groups() {
            for step in g.steps() {
                let FittedStep::OneHotEncoder(enc) = step else {
                    continue;
                };
                for c in enc.columns() {
                    if c.frequent
                        .iter()
                        .chain(&c.infrequent)
                        .any(|v| v.as_deref() == Some(""))
                    {
                        return Err(incompatible(format!(
                            "the transform chain knows the empty string as a category of column \
                             {:?}; over BYTES an empty string is a missing value",
                            c.name
                        )));
                    }
                    let key = (g.name().to_owned(), c.name.clone());
                    if !encoded.contains(&key) {
                        encoded.push(key);
                    }
                    if let Some(cat) = c.frequent.iter().chain(&c.infrequent).flatten().next() {
                        known.push((c.name.clone(), cat.clone()));
                    }
                }
            }
        }
        let mut warmup = Tensors::new();
        let mut fields = Vec::with_capacity(columns.len());
        for c in &columns {
            let (dtype, data) = match c.kind {
                ColumnKind::Num => (DType::F64, TensorData::F64(vec![0.0])),
                ColumnKind::Str => {
                    let cat = known
                        .iter()
                        .find(|(name, _)| name == &c.name)
                        .map_or_else(Vec::new, |(_, cat)| cat.clone().into_bytes());
                    (DType::Bytes, TensorData::Bytes(vec![cat]))
                }
            };
            fields.push(TensorSpec::new(&c.name, dtype, vec![-1]));
            warmup.insert(c.name.clone(), Tensor::new(vec![1], data)?);
        }
        let signature = Signature {
            inputs: Schema::new(fields),
            outputs: isig.outputs.clone(),
        };
        let inner_input = input.name.clone();
        let accounting = Mutex::new(Accounting {
            unknown: vec![0; encoded.len()],
            ..Accounting::default()
        });
        Ok(Self {
            chain,
            inner,
            signature,
            columns,
            inner_input,
            inner_f64,
            n_features: k,
            encoded,
            warmup,
            accounting,
        })
    }

    /// The fitted chain.
    pub fn chain(&self) -> &TransformChain {
        &self.chain
    }

    /// The wrapped model.
    pub fn inner(&self) -> &Arc<dyn Predictor> {
        &self.inner
    }

    /// Cumulative unknown-category counts, one entry per one-hot encoded column (chain order);
    /// `rows` is the same for all of them.
    pub fn unknown_stats(&self) -> Vec<UnknownStat> {
        let acc = self.lock();
        self.encoded
            .iter()
            .zip(&acc.unknown)
            .map(|((group, column), &unknown)| UnknownStat {
                group: group.clone(),
                column: column.clone(),
                unknown,
                rows: acc.rows,
            })
            .collect()
    }

    /// Rows transformed by calls that succeeded.
    pub fn rows_seen(&self) -> u64 {
        self.lock().rows
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Accounting> {
        // The guarded values are plain counters, consistent after any panic.
        self.accounting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The request's columns as a frame; every element check names its column.
    fn frame(&self, inputs: &Tensors) -> Result<RawFrame> {
        let mut cols = Vec::with_capacity(self.columns.len());
        for c in &self.columns {
            let name = &c.name;
            let t = inputs
                .get(name)
                .ok_or_else(|| Error::invalid(name, "missing from the request"))?;
            if t.shape().len() != 1 {
                return Err(Error::invalid(
                    name,
                    format!(
                        "shape {:?}; a raw column takes one value per row (shape [n])",
                        t.shape()
                    ),
                ));
            }
            cols.push(match (c.kind, t.data()) {
                (ColumnKind::Num, TensorData::F64(v)) => RawColumn::num(name, v.clone()),
                (ColumnKind::Str, TensorData::Bytes(v)) => {
                    let mut s = Vec::with_capacity(v.len());
                    for (i, b) in v.iter().enumerate() {
                        if b.is_empty() {
                            s.push(None);
                            continue;
                        }
                        let text = std::str::from_utf8(b).map_err(|e| {
                            Error::invalid(name, format!("element {i} is not UTF-8: {e}"))
                        })?;
                        s.push(Some(text.to_owned()));
                    }
                    RawColumn::str(name, s)
                }
                (kind, _) => {
                    let want = match kind {
                        ColumnKind::Num => DType::F64,
                        ColumnKind::Str => DType::Bytes,
                    };
                    return Err(Error::invalid(
                        name,
                        format!(
                            "datatype {} where the {kind} column takes {want}",
                            t.dtype()
                        ),
                    ));
                }
            });
        }
        let frame = RawFrame::new(cols).map_err(|e| self.chain_err(e))?;
        if frame.n_rows() == 0 {
            return Err(Error::invalid("<request>", "empty batch (0 rows)"));
        }
        Ok(frame)
    }

    /// A chain error as this crate's: input problems name the column.
    fn chain_err(&self, e: mlops_core::Error) -> Error {
        let id = self.inner.identity();
        match e {
            // A well-formed value this version's encoder refuses (`handle_unknown = "error"`)
            // is the version's limitation, not a bad request: another version may serve it
            // (and does, under `ignore`). It counts against the version's health, so a canary
            // that refuses traffic its stable version answers is rolled back.
            mlops_core::Error::SchemaMismatch { field, reason }
                if reason.contains("(handle_unknown = error)") =>
            {
                Error::Model {
                    model: id.name.to_string(),
                    version: id.version,
                    reason: format!("column {field:?}: {reason}"),
                }
            }
            mlops_core::Error::SchemaMismatch { field, reason } => {
                Error::InvalidInput { field, reason }
            }
            mlops_core::Error::InvalidInput { what, reason } if what != "transform chain" => {
                // The chain names columns as `column "<name>"`.
                let field = self
                    .columns
                    .iter()
                    .find(|c| what == format!("column {:?}", c.name))
                    .map_or(what, |c| c.name.clone());
                Error::InvalidInput { field, reason }
            }
            mlops_core::Error::Empty { what } => {
                Error::invalid("<request>", format!("empty {what}"))
            }
            other => Error::Model {
                model: id.name.to_string(),
                version: id.version,
                reason: format!("transform chain: {other}"),
            },
        }
    }

    fn account(&self, rows: usize, counts: &[mlops_core::transform::UnknownCount]) {
        let mut per = vec![0u64; self.encoded.len()];
        for c in counts {
            if let Some(i) = self
                .encoded
                .iter()
                .position(|(g, col)| *g == c.group && *col == c.column)
            {
                per[i] += c.count as u64;
            }
        }
        let mut acc = self.lock();
        acc.rows += rows as u64;
        for (total, add) in acc.unknown.iter_mut().zip(&per) {
            *total += add;
        }
        for e in &acc.exports {
            e.add(rows as u64, &per);
        }
    }
}

impl Predictor for TransformPredictor {
    fn identity(&self) -> &ModelIdentity {
        self.inner.identity()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn predict(&self, inputs: &Tensors) -> Result<Tensors> {
        let frame = self.frame(inputs)?;
        let n = frame.n_rows();
        let _span =
            tracing::debug_span!("transform", model = %self.inner.identity(), rows = n).entered();
        let out = self
            .chain
            .transform(&frame)
            .map_err(|e| self.chain_err(e))?;
        if out.n_cols() != self.n_features || out.data.len() != n * self.n_features {
            return Err(self.chain_err(mlops_core::Error::InvalidInput {
                what: "transform chain".into(),
                reason: format!(
                    "produced {} features for {} rows; the model takes {}",
                    out.n_cols(),
                    out.n_rows,
                    self.n_features
                ),
            }));
        }
        let shape = vec![n, self.n_features];
        let x = if self.inner_f64 {
            Tensor::new(shape, TensorData::F64(out.data))?
        } else {
            let mut v = Vec::with_capacity(out.data.len());
            for (i, &d) in out.data.iter().enumerate() {
                let f = d as f32;
                if !f.is_finite() {
                    let feature = &out.feature_names[i % self.n_features];
                    return Err(Error::invalid(
                        feature,
                        format!(
                            "transformed value {d} at row {} is outside the model's FP32 range",
                            i / self.n_features
                        ),
                    ));
                }
                v.push(f);
            }
            Tensor::f32(shape, v)?
        };
        let y = self
            .inner
            .predict(&Tensors::from([(self.inner_input.clone(), x)]))?;
        self.account(n, &out.unknown_counts);
        Ok(y)
    }

    fn accepts_nan(&self, input: &str) -> bool {
        self.columns
            .iter()
            .any(|c| c.kind == ColumnKind::Num && c.name == input)
    }

    fn warmup_request(&self) -> Result<Tensors> {
        Ok(self.warmup.clone())
    }

    fn attach_metrics(&self, metrics: &Metrics) {
        let mut acc = self.lock();
        if acc
            .exports
            .iter()
            .any(|e| e.registry.same_registry(metrics))
        {
            return;
        }
        let e = metrics.for_transform(self.inner.identity(), &self.encoded);
        // Counts from before the attachment (a warm-up) go in too, so the export and
        // `unknown_stats` agree.
        e.add(acc.rows, &acc.unknown);
        acc.exports.push(e);
    }
}

/// Reads a [`TRANSFORM_ARTIFACT`] file and puts it in front of `model`.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read, [`Error::Load`] when it is not a chain, and the
/// errors of [`TransformPredictor::new`].
pub(crate) fn wrap_with_file(model: Arc<dyn Predictor>, path: &Path) -> Result<Arc<dyn Predictor>> {
    let json = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let chain = TransformChain::from_json(&json).map_err(|e| Error::load(path, e))?;
    Ok(Arc::new(TransformPredictor::new(chain, model)?))
}

#[cfg(feature = "onnx")]
pub(crate) fn load_onnx(id: ModelIdentity, path: &Path) -> Result<Arc<dyn Predictor>> {
    Ok(Arc::new(crate::onnx::OnnxPredictor::load(id, path)?))
}

#[cfg(not(feature = "onnx"))]
pub(crate) fn load_onnx(_: ModelIdentity, _: &Path) -> Result<Arc<dyn Predictor>> {
    Err(Error::Config {
        what: "format".into(),
        reason: "ONNX models need mlops-serve's `onnx` feature".into(),
    })
}

/// Loads the model in directory `dir`, wrapped in a [`TransformPredictor`] when the directory
/// holds a [`TRANSFORM_ARTIFACT`] (`transform.json`):
///
/// | files | predictor |
/// |---|---|
/// | one `*.onnx` | `OnnxPredictor` (feature `onnx`) |
/// | one `*.safetensors` and one feed-forward spec `*.json` (other than `transform.json`) | [`FeedForward`] |
///
/// Extensions are matched case-insensitively; subdirectories and other files are ignored.
///
/// # Errors
/// [`Error::Io`] when the directory or a file cannot be read; [`Error::Load`] when there is no
/// model file, both an ONNX and a safetensors model, several of one kind, a safetensors file
/// without exactly one spec, or a file that does not load; [`Error::Config`] for an ONNX model
/// in a build without the `onnx` feature; the errors of [`TransformPredictor::new`].
#[tracing::instrument(skip_all, fields(model = %identity, dir = %dir.display()), err)]
pub fn load_model_dir(identity: ModelIdentity, dir: &Path) -> Result<Arc<dyn Predictor>> {
    let io = |source| Error::Io {
        path: dir.to_owned(),
        source,
    };
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        if entry.file_type().map_err(io)?.is_file() {
            if let Some(name) = entry.file_name().to_str() {
                names.push(name.to_owned());
            }
        }
    }
    names.sort();
    let with = |ext: &str| -> Vec<PathBuf> {
        names
            .iter()
            .filter(|n| n.as_str() != TRANSFORM_ARTIFACT)
            .filter(|n| mlops_core::infer_format(n).as_deref() == Some(ext))
            .map(|n| dir.join(n))
            .collect()
    };
    let (onnx, weights, specs) = (with("onnx"), with("safetensors"), with("json"));
    let model: Arc<dyn Predictor> = match (onnx.as_slice(), weights.as_slice()) {
        ([one], []) => load_onnx(identity, one)?,
        ([], [w]) => match specs.as_slice() {
            [spec] => Arc::new(FeedForward::load(identity, spec, w)?),
            [] => {
                return Err(Error::load(
                    dir,
                    format!("{} has no feed-forward spec *.json next to it", w.display()),
                ))
            }
            many => {
                return Err(Error::load(
                    dir,
                    format!("several feed-forward specs *.json: {many:?}"),
                ))
            }
        },
        ([], []) => {
            return Err(Error::load(
                dir,
                "no model: expected one *.onnx, or one *.safetensors with its *.json spec",
            ))
        }
        _ => {
            return Err(Error::load(
                dir,
                format!("ambiguous model files: {onnx:?} {weights:?}; keep exactly one model"),
            ))
        }
    };
    let chain = dir.join(TRANSFORM_ARTIFACT);
    if chain.is_file() {
        wrap_with_file(model, &chain)
    } else {
        Ok(model)
    }
}
