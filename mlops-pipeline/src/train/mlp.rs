//! A small multi-layer perceptron trained with candle-nn on the CPU, reproducibly.
//!
//! Determinism: everything random comes from one ChaCha8 stream seeded with
//! [`MlpSpec::seed`], drawn in a fixed order that this module defines (not candle's random
//! initialisers, not `rand`'s distribution code):
//!
//! 1. the weights, layer by layer, `W` row-major `[out, in]` then `b`, each uniform in
//!    `[-1/√in, 1/√in)` (PyTorch's `nn.Linear` default range), a uniform being
//!    `(next_u64() >> 11) · 2⁻⁵³`;
//! 2. per epoch, a Fisher–Yates shuffle of the sample order (`j = ⌊next_u64() · (i+1) / 2⁶⁴⌋`),
//!    cut into consecutive batches of `batch_size` (the last one shorter).
//!
//! Training runs in `f32` with candle-nn's AdamW (`β = (0.9, 0.999)`, `ε = 1e-8`, decoupled
//! weight decay applied to weights and biases). The loss is softmax cross-entropy over the
//! classes (two output units for a binary problem) or the mean squared error for regression.
//! Same data, same spec, same seed: bit-identical weights and the same
//! [`MlpModel::weights_digest`] (tested within one build on one machine; a CPU with other SIMD
//! kernels may round `f32` sums differently).

use candle_core::{Device, Module, Tensor, Var};
use candle_nn::{AdamW, Linear, Optimizer, ParamsAdamW};
use rand::RngCore;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::check_matrix;
use crate::error::{Error, Result};

/// The activation of the hidden layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MlpActivation {
    /// `max(0, x)`.
    #[default]
    Relu,
    /// `tanh(x)`.
    Tanh,
}

/// The architecture and training options of an MLP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MlpSpec {
    /// Widths of the hidden layers (default `[100]`); may be empty (a linear model); no zeros.
    pub hidden: Vec<usize>,
    /// Activation of the hidden layers (default ReLU).
    pub activation: MlpActivation,
    /// AdamW learning rate (default 1e-3); finite and `> 0`.
    pub lr: f64,
    /// Passes over the data (default 200); at least 1.
    pub epochs: usize,
    /// Samples per gradient step (default 200); at least 1.
    pub batch_size: usize,
    /// AdamW's decoupled weight decay (default 1e-4); finite and `>= 0`.
    pub weight_decay: f64,
    /// Seed of the ChaCha8 stream for initialisation and batch order (default 0).
    pub seed: u64,
}

impl Default for MlpSpec {
    fn default() -> Self {
        Self {
            hidden: vec![100],
            activation: MlpActivation::Relu,
            lr: 1e-3,
            epochs: 200,
            batch_size: 200,
            weight_decay: 1e-4,
            seed: 0,
        }
    }
}

/// One dense layer `y = x · Wᵀ + b` of a trained [`MlpModel`].
#[derive(Debug, Clone, PartialEq)]
pub struct DenseLayer {
    weight: Vec<f32>,
    bias: Vec<f32>,
    n_in: usize,
    n_out: usize,
}

impl DenseLayer {
    /// The weights, row-major `[n_out, n_in]` (PyTorch's and mlops-serve's layout).
    pub fn weight(&self) -> &[f32] {
        &self.weight
    }
    /// The bias, `[n_out]`.
    pub fn bias(&self) -> &[f32] {
        &self.bias
    }
    /// Input width.
    pub fn n_in(&self) -> usize {
        self.n_in
    }
    /// Output width.
    pub fn n_out(&self) -> usize {
        self.n_out
    }
}

/// What the last layer predicts.
#[derive(Debug, Clone, PartialEq)]
enum Head {
    /// Logits of these (sorted) classes, softmax for probabilities.
    Classes(Vec<i64>),
    /// One real value.
    Regression,
}

/// A trained MLP.
#[derive(Debug, Clone, PartialEq)]
pub struct MlpModel {
    layers: Vec<DenseLayer>,
    activation: MlpActivation,
    head: Head,
    loss_history: Vec<f64>,
}

/// Training targets after validation.
enum Targets {
    Classes { index: Vec<u32>, classes: Vec<i64> },
    Values(Vec<f32>),
}

impl MlpSpec {
    /// Trains a classifier on `x` (row-major, `n_features` columns) and integer labels `y`
    /// with softmax cross-entropy (one output unit per class, two for a binary problem).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a bad spec (a zero hidden width, `lr` not finite and
    /// positive, `epochs` or `batch_size` 0, `weight_decay` negative or not finite), an empty
    /// or non-finite `x`, `x.len() != y.len() · n_features`, or fewer than two classes;
    /// [`Error::Train`] when a candle operation fails or the loss becomes non-finite.
    #[tracing::instrument(skip_all, fields(n_samples = y.len(), n_features, seed = self.seed), err)]
    pub fn fit_classifier(&self, x: &[f64], n_features: usize, y: &[i64]) -> Result<MlpModel> {
        self.validate(x, n_features, y.len())?;
        let mut classes = y.to_vec();
        classes.sort_unstable();
        classes.dedup();
        if classes.len() < 2 {
            return Err(Error::invalid(
                "y",
                format!("needs at least 2 classes, got only {classes:?}"),
            ));
        }
        // `classes` holds every label, so the search always succeeds.
        let index = y
            .iter()
            .map(|v| classes.binary_search(v).unwrap_or(0) as u32)
            .collect();
        self.train(x, n_features, Targets::Classes { index, classes })
    }

    /// Trains a regressor (one output, mean squared error) on `x` and real targets `y`.
    ///
    /// # Errors
    /// As [`MlpSpec::fit_classifier`], with a non-finite `y` instead of the class check.
    #[tracing::instrument(skip_all, fields(n_samples = y.len(), n_features, seed = self.seed), err)]
    pub fn fit_regressor(&self, x: &[f64], n_features: usize, y: &[f64]) -> Result<MlpModel> {
        self.validate(x, n_features, y.len())?;
        if let Some(i) = y.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "y",
                format!("target {i} is not finite ({})", y[i]),
            ));
        }
        let values = y.iter().map(|&v| v as f32).collect();
        self.train(x, n_features, Targets::Values(values))
    }

    fn validate(&self, x: &[f64], n_features: usize, n: usize) -> Result<()> {
        if let Some(i) = self.hidden.iter().position(|&h| h == 0) {
            return Err(Error::invalid(format!("hidden[{i}]"), "width must be >= 1"));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::invalid(
                "lr",
                format!("must be finite and > 0, got {}", self.lr),
            ));
        }
        if self.epochs == 0 {
            return Err(Error::invalid("epochs", "must be at least 1"));
        }
        if self.batch_size == 0 {
            return Err(Error::invalid("batch_size", "must be at least 1"));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(Error::invalid(
                "weight_decay",
                format!("must be finite and >= 0, got {}", self.weight_decay),
            ));
        }
        check_matrix(x, n_features)?;
        if n == 0 {
            return Err(Error::invalid("y", "no samples"));
        }
        if x.len() != n * n_features {
            return Err(Error::invalid(
                "x",
                format!(
                    "{} values for {n} targets of {n_features} features (expected {})",
                    x.len(),
                    n * n_features
                ),
            ));
        }
        Ok(())
    }

    fn train(&self, x: &[f64], n_features: usize, targets: Targets) -> Result<MlpModel> {
        let dev = Device::Cpu;
        let n = x.len() / n_features;
        let n_out = match &targets {
            Targets::Classes { classes, .. } => classes.len(),
            Targets::Values(_) => 1,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut widths = Vec::with_capacity(self.hidden.len() + 2);
        widths.push(n_features);
        widths.extend_from_slice(&self.hidden);
        widths.push(n_out);
        let mut vars = Vec::with_capacity(2 * (widths.len() - 1));
        for pair in widths.windows(2) {
            let (n_in, n_o) = (pair[0], pair[1]);
            let k = 1.0 / (n_in as f64).sqrt();
            let mut draw = |len: usize| -> Vec<f32> {
                (0..len)
                    .map(|_| ((2.0 * uniform(&mut rng) - 1.0) * k) as f32)
                    .collect()
            };
            let w = draw(n_o * n_in);
            let b = draw(n_o);
            vars.push(Var::from_vec(w, (n_o, n_in), &dev).map_err(candle_err)?);
            vars.push(Var::from_vec(b, n_o, &dev).map_err(candle_err)?);
        }
        let params = ParamsAdamW {
            lr: self.lr,
            weight_decay: self.weight_decay,
            ..ParamsAdamW::default()
        };
        let mut opt = AdamW::new(vars.clone(), params).map_err(candle_err)?;
        let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let mut order: Vec<usize> = (0..n).collect();
        let mut loss_history = Vec::with_capacity(self.epochs);
        let mut bx = Vec::with_capacity(self.batch_size.min(n) * n_features);
        for _ in 0..self.epochs {
            shuffle(&mut order, &mut rng);
            let mut epoch_loss = 0.0;
            for batch in order.chunks(self.batch_size) {
                bx.clear();
                for &i in batch {
                    bx.extend_from_slice(&xf[i * n_features..(i + 1) * n_features]);
                }
                let xt =
                    Tensor::from_slice(&bx, (batch.len(), n_features), &dev).map_err(candle_err)?;
                let out = forward_vars(&vars, self.activation, &xt).map_err(candle_err)?;
                let loss = match &targets {
                    Targets::Classes { index, .. } => {
                        let t: Vec<u32> = batch.iter().map(|&i| index[i]).collect();
                        let t = Tensor::from_vec(t, batch.len(), &dev).map_err(candle_err)?;
                        candle_nn::loss::cross_entropy(&out, &t)
                    }
                    Targets::Values(values) => {
                        let t: Vec<f32> = batch.iter().map(|&i| values[i]).collect();
                        let t = Tensor::from_vec(t, (batch.len(), 1), &dev).map_err(candle_err)?;
                        candle_nn::loss::mse(&out, &t)
                    }
                }
                .map_err(candle_err)?;
                let value = f64::from(loss.to_scalar::<f32>().map_err(candle_err)?);
                if !value.is_finite() {
                    return Err(Error::Train {
                        reason: format!("the loss became {value} (lower the learning rate)"),
                    });
                }
                epoch_loss += value * batch.len() as f64;
                opt.backward_step(&loss).map_err(candle_err)?;
            }
            loss_history.push(epoch_loss / n as f64);
        }
        let mut layers = Vec::with_capacity(vars.len() / 2);
        for (pair, wb) in widths.windows(2).zip(vars.chunks(2)) {
            let weight = wb[0]
                .as_tensor()
                .flatten_all()
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(candle_err)?;
            let bias = wb[1].as_tensor().to_vec1::<f32>().map_err(candle_err)?;
            if weight.iter().chain(&bias).any(|v| !v.is_finite()) {
                return Err(Error::Train {
                    reason: "the weights became non-finite (lower the learning rate)".into(),
                });
            }
            layers.push(DenseLayer {
                weight,
                bias,
                n_in: pair[0],
                n_out: pair[1],
            });
        }
        let head = match targets {
            Targets::Classes { classes, .. } => Head::Classes(classes),
            Targets::Values(_) => Head::Regression,
        };
        Ok(MlpModel {
            layers,
            activation: self.activation,
            head,
            loss_history,
        })
    }
}

impl MlpModel {
    /// The dense layers, input first.
    pub fn layers(&self) -> &[DenseLayer] {
        &self.layers
    }

    /// The hidden layers' activation.
    pub fn activation(&self) -> MlpActivation {
        self.activation
    }

    /// The class labels (sorted) of a classifier; `None` for a regressor.
    pub fn classes(&self) -> Option<&[i64]> {
        match &self.head {
            Head::Classes(c) => Some(c),
            Head::Regression => None,
        }
    }

    /// Number of input features.
    pub fn n_features(&self) -> usize {
        self.layers.first().map_or(0, |l| l.n_in)
    }

    /// The mean training loss of each epoch (cross-entropy or squared error, before that
    /// epoch's last step is applied to later batches), first epoch first.
    pub fn loss_history(&self) -> &[f64] {
        &self.loss_history
    }

    /// SHA-256 (lowercase hex) over the weights: for each layer, input first, the bytes of
    /// `n_out` and `n_in` as `u64` little-endian, then `W` (`[n_out, n_in]` row-major) and `b`
    /// as `f32` little-endian.
    pub fn weights_digest(&self) -> String {
        let mut h = Sha256::new();
        for l in &self.layers {
            h.update((l.n_out as u64).to_le_bytes());
            h.update((l.n_in as u64).to_le_bytes());
            for v in l.weight.iter().chain(&l.bias) {
                h.update(v.to_le_bytes());
            }
        }
        hex::encode(h.finalize())
    }

    /// The last layer's raw outputs (logits, or the regression value), row-major
    /// `[n_rows, n_outputs]`, computed in `f32` as in training.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `x` is not a whole number of rows of `n_features()` or
    /// holds a non-finite value; [`Error::Train`] when a candle operation fails.
    pub fn decision_function(&self, x: &[f64]) -> Result<Vec<f64>> {
        self.forward(x)
    }

    /// Class probabilities (softmax of the logits), row-major `[n_rows, n_classes]`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a regressor or bad `x` (as
    /// [`MlpModel::decision_function`]); [`Error::Train`] when a candle operation fails.
    pub fn predict_proba(&self, x: &[f64]) -> Result<Vec<f64>> {
        self.require_classifier()?;
        let n_rows = x.len() / self.n_features().max(1);
        if n_rows == 0 {
            check_matrix(x, self.n_features())?;
            return Ok(Vec::new());
        }
        let xt = self.input(x)?;
        let p = self
            .forward_tensor(&xt)
            .and_then(|t| candle_nn::ops::softmax_last_dim(&t))
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(candle_err)?;
        Ok(p.into_iter().map(f64::from).collect())
    }

    /// The most probable class of each row (the first on ties).
    ///
    /// # Errors
    /// As [`MlpModel::predict_proba`].
    pub fn predict(&self, x: &[f64]) -> Result<Vec<i64>> {
        let classes = self.require_classifier()?;
        let z = self.forward(x)?;
        Ok(z.chunks(classes.len())
            .map(|row| {
                let mut best = 0;
                for (j, &v) in row.iter().enumerate() {
                    if v > row[best] {
                        best = j;
                    }
                }
                classes[best]
            })
            .collect())
    }

    /// The predicted value of each row of a regressor.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a classifier or bad `x`; [`Error::Train`] when a candle
    /// operation fails.
    pub fn predict_values(&self, x: &[f64]) -> Result<Vec<f64>> {
        if self.head != Head::Regression {
            return Err(Error::invalid(
                "model",
                "predict_values needs a regressor; use predict_proba",
            ));
        }
        self.forward(x)
    }

    fn require_classifier(&self) -> Result<&[i64]> {
        self.classes().ok_or_else(|| {
            Error::invalid("model", "a regressor has no classes; use predict_values")
        })
    }

    fn input(&self, x: &[f64]) -> Result<Tensor> {
        let p = self.n_features();
        check_matrix(x, p)?;
        let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        Tensor::from_vec(xf, (x.len() / p, p), &Device::Cpu).map_err(candle_err)
    }

    fn forward(&self, x: &[f64]) -> Result<Vec<f64>> {
        let p = self.n_features();
        check_matrix(x, p)?;
        if x.is_empty() {
            return Ok(Vec::new());
        }
        let xt = self.input(x)?;
        let out = self
            .forward_tensor(&xt)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(candle_err)?;
        Ok(out.into_iter().map(f64::from).collect())
    }

    fn forward_tensor(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let dev = Device::Cpu;
        let mut h = x.clone();
        let last = self.layers.len().saturating_sub(1);
        for (i, l) in self.layers.iter().enumerate() {
            let w = Tensor::from_slice(&l.weight, (l.n_out, l.n_in), &dev)?;
            let b = Tensor::from_slice(&l.bias, l.n_out, &dev)?;
            h = Linear::new(w, Some(b)).forward(&h)?;
            if i < last {
                h = activate(&h, self.activation)?;
            }
        }
        Ok(h)
    }
}

fn forward_vars(vars: &[Var], act: MlpActivation, x: &Tensor) -> candle_core::Result<Tensor> {
    let mut h = x.clone();
    let n_layers = vars.len() / 2;
    for (i, wb) in vars.chunks(2).enumerate() {
        let layer = Linear::new(wb[0].as_tensor().clone(), Some(wb[1].as_tensor().clone()));
        h = layer.forward(&h)?;
        if i + 1 < n_layers {
            h = activate(&h, act)?;
        }
    }
    Ok(h)
}

fn activate(h: &Tensor, act: MlpActivation) -> candle_core::Result<Tensor> {
    match act {
        MlpActivation::Relu => h.relu(),
        MlpActivation::Tanh => h.tanh(),
    }
}

fn candle_err(e: candle_core::Error) -> Error {
    Error::Train {
        reason: format!("candle: {e}"),
    }
}

/// A uniform in `[0, 1)` from the top 53 bits of one draw.
fn uniform(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Fisher–Yates with Lemire's multiply-shift reduction.
fn shuffle(v: &mut [usize], rng: &mut ChaCha8Rng) {
    for i in (1..v.len()).rev() {
        let j = ((u128::from(rng.next_u64()) * (i as u128 + 1)) >> 64) as usize;
        v.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two separable blobs on a grid: class 1 when x0 + x1 > 0.
    fn blobs() -> (Vec<f64>, Vec<i64>) {
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..10 {
            for j in 0..10 {
                let a = i as f64 / 3.0 - 1.5;
                let b = j as f64 / 3.0 - 1.5;
                if (a + b).abs() < 0.4 {
                    continue;
                }
                x.extend([a, b]);
                y.push(i64::from(a + b > 0.0));
            }
        }
        (x, y)
    }

    fn spec(seed: u64) -> MlpSpec {
        MlpSpec {
            hidden: vec![8, 4],
            activation: MlpActivation::Tanh,
            lr: 0.05,
            epochs: 60,
            batch_size: 16,
            weight_decay: 1e-4,
            seed,
        }
    }

    #[test]
    fn same_seed_same_digest_other_seed_other_digest() {
        let (x, y) = blobs();
        let a = spec(7).fit_classifier(&x, 2, &y).unwrap();
        let b = spec(7).fit_classifier(&x, 2, &y).unwrap();
        let c = spec(8).fit_classifier(&x, 2, &y).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.weights_digest(), b.weights_digest());
        assert_ne!(a.weights_digest(), c.weights_digest());
        assert_eq!(a.weights_digest().len(), 64);
        // Printed so runs under different RAYON_NUM_THREADS can be compared by hand.
        eprintln!("mlp digest (seed 7): {}", a.weights_digest());
    }

    #[test]
    fn loss_decreases_and_separates() {
        let (x, y) = blobs();
        for act in [MlpActivation::Relu, MlpActivation::Tanh] {
            let s = MlpSpec {
                activation: act,
                ..spec(1)
            };
            let m = s.fit_classifier(&x, 2, &y).unwrap();
            let h = m.loss_history();
            assert_eq!(h.len(), 60);
            assert!(h[h.len() - 1] < 0.2 * h[0], "{act:?}: {h:?}");
            assert_eq!(m.predict(&x).unwrap(), y, "{act:?}");
            let p = m.predict_proba(&x).unwrap();
            for r in p.chunks(2) {
                assert!((r[0] + r[1] - 1.0).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn multiclass_and_regression() {
        let (x, _) = blobs();
        let y3: Vec<i64> = x
            .chunks(2)
            .map(|r| {
                if r[0] < -0.5 {
                    10
                } else if r[0] < 0.5 {
                    20
                } else {
                    30
                }
            })
            .collect();
        let m = MlpSpec {
            epochs: 150,
            ..spec(3)
        }
        .fit_classifier(&x, 2, &y3)
        .unwrap();
        assert_eq!(m.classes(), Some(&[10, 20, 30][..]));
        let acc = m
            .predict(&x)
            .unwrap()
            .iter()
            .zip(&y3)
            .filter(|(a, b)| a == b)
            .count() as f64
            / y3.len() as f64;
        assert!(acc > 0.9, "accuracy {acc}");
        assert!(m.predict_values(&x).is_err());

        let yr: Vec<f64> = x.chunks(2).map(|r| 2.0 * r[0] - r[1]).collect();
        let r = spec(4).fit_regressor(&x, 2, &yr).unwrap();
        let h = r.loss_history();
        assert!(h[h.len() - 1] < 0.1 * h[0], "{h:?}");
        assert_eq!(r.predict_values(&x).unwrap().len(), yr.len());
        assert!(r.predict_proba(&x).is_err());
        assert!(r.classes().is_none());
    }

    #[test]
    fn bad_input_is_rejected() {
        let (x, y) = blobs();
        fn invalid<T>(r: Result<T>) -> bool {
            matches!(r, Err(Error::InvalidInput { .. }))
        }
        let s = spec(0);
        assert!(invalid(s.fit_classifier(&[], 2, &[])));
        assert!(invalid(s.fit_classifier(&x, 0, &y)));
        assert!(invalid(s.fit_classifier(&x, 2, &y[1..])));
        assert!(invalid(s.fit_classifier(&x, 2, &vec![1; y.len()])));
        let mut bad = x.clone();
        bad[0] = f64::NAN;
        assert!(invalid(s.fit_classifier(&bad, 2, &y)));
        assert!(invalid(s.fit_regressor(&x[..2], 2, &[f64::INFINITY])));
        for bad_spec in [
            MlpSpec {
                hidden: vec![3, 0],
                ..spec(0)
            },
            MlpSpec { lr: 0.0, ..spec(0) },
            MlpSpec {
                lr: f64::NAN,
                ..spec(0)
            },
            MlpSpec {
                epochs: 0,
                ..spec(0)
            },
            MlpSpec {
                batch_size: 0,
                ..spec(0)
            },
            MlpSpec {
                weight_decay: -1.0,
                ..spec(0)
            },
        ] {
            assert!(invalid(bad_spec.fit_classifier(&x, 2, &y)), "{bad_spec:?}");
        }
        let m = s.fit_classifier(&x, 2, &y).unwrap();
        assert!(invalid(m.predict_proba(&[1.0, 2.0, 3.0])));
        assert!(invalid(m.predict(&[f64::NAN, 0.0])));
        assert!(m.predict(&[]).unwrap().is_empty());
    }

    #[test]
    fn diverging_training_is_a_typed_error() {
        let (x, _) = blobs();
        let yr: Vec<f64> = x.chunks(2).map(|r| 1e30 * r[0]).collect();
        let s = MlpSpec { lr: 1e6, ..spec(0) };
        match s.fit_regressor(&x, 2, &yr) {
            Err(Error::Train { .. }) => {}
            other => panic!("expected a Train error, got {other:?}"),
        }
    }
}
