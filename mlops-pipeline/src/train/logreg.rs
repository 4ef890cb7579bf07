//! L2-regularised logistic regression that reproduces scikit-learn's
//! `LogisticRegression(solver="lbfgs")` (pinned against scikit-learn 1.6.1).
//!
//! # Formula
//! With `n` samples `xᵢ ∈ ℝᵖ`, labels `yᵢ`, `K` classes, weights `W` and intercepts `b`:
//!
//! * binary (`K = 2`, one row `w`, `zᵢ = w·xᵢ + b`, `tᵢ = 1` for the larger class):
//!   `L(w, b) = (1/n) Σᵢ [log(1 + e^{zᵢ}) - tᵢ zᵢ] + 1/(2·C·n) ‖w‖²`
//! * multinomial (`K ≥ 3`, one row per class, `zᵢₖ = Wₖ·xᵢ + bₖ`):
//!   `L(W, b) = (1/n) Σᵢ [log Σₖ e^{zᵢₖ} - zᵢ,yᵢ] + 1/(2·C·n) ‖W‖²_F`
//!
//! The intercepts are not penalised. This is sklearn's `LinearModelLoss` with
//! `l2_reg_strength = 1 / (C · n)` (sklearn/linear_model/_logistic.py, 1.6.1), minimised from
//! zero by [`super::lbfgs`] with sklearn's settings: memory 10, `maxiter = max_iter`,
//! `gtol = tol` on the gradient's max-norm, `ftol = 64·eps`, `maxls = 50`. Since the iterates
//! follow scipy's, the coefficients agree with sklearn's to far better than `tol` suggests (the
//! tests pin 1e-6).
//!
//! Non-finite features, fewer than two classes, empty input, mismatched lengths and `C <= 0`
//! are rejected with [`Error::InvalidInput`].

use serde::{Deserialize, Serialize};

use super::check_matrix;
use super::lbfgs::{minimize, LbfgsOptions};
use crate::error::{Error, Result};

/// The options of a logistic regression fit; the defaults are sklearn's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogisticRegression {
    /// Inverse regularisation strength (`C`, default 1.0); must be finite and `> 0`.
    pub c: f64,
    /// Fit an (unpenalised) intercept (default true).
    pub fit_intercept: bool,
    /// Most L-BFGS iterations (default 100); must be at least 1.
    pub max_iter: usize,
    /// Stop when the gradient's max-norm is at most this (default 1e-4).
    pub tol: f64,
}

impl Default for LogisticRegression {
    fn default() -> Self {
        Self {
            c: 1.0,
            fit_intercept: true,
            max_iter: 100,
            tol: 1e-4,
        }
    }
}

/// A fitted logistic regression.
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticModel {
    classes: Vec<i64>,
    coef: Vec<Vec<f64>>,
    intercept: Vec<f64>,
    n_features: usize,
    n_iter: usize,
    converged: bool,
}

impl LogisticRegression {
    /// Fits the model on `x` (row-major, `n_features` columns) and integer labels `y`.
    ///
    /// Two classes give a binary model (one coefficient row, for the larger class); three or
    /// more a multinomial one (one row per class). A fit that stops at `max_iter` still returns
    /// the model, with [`LogisticModel::is_converged`] false (sklearn warns and does the same).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `n_features` is 0, `x` or `y` is empty, `x.len()` is not
    /// `y.len() · n_features`, a feature is NaN or infinite, `y` has a single class, `c` is not
    /// finite and positive, `tol` is negative or NaN, or `max_iter` is 0; [`Error::Train`] when
    /// the objective becomes non-finite (not expected for finite data).
    #[tracing::instrument(skip_all, fields(n_samples = y.len(), n_features), err)]
    pub fn fit(&self, x: &[f64], n_features: usize, y: &[i64]) -> Result<LogisticModel> {
        self.validate()?;
        check_matrix(x, n_features)?;
        if y.is_empty() {
            return Err(Error::invalid("y", "no samples"));
        }
        let n = y.len();
        if x.len() != n * n_features {
            return Err(Error::invalid(
                "x",
                format!(
                    "{} values for {n} labels of {n_features} features (expected {})",
                    x.len(),
                    n * n_features
                ),
            ));
        }
        let mut classes: Vec<i64> = y.to_vec();
        classes.sort_unstable();
        classes.dedup();
        if classes.len() < 2 {
            return Err(Error::invalid(
                "y",
                format!("needs at least 2 classes, got only {:?}", classes),
            ));
        }
        // `classes` is sorted and holds every label, so the search always succeeds.
        let target: Vec<usize> = y
            .iter()
            .map(|v| classes.binary_search(v).unwrap_or(0))
            .collect();
        let problem = Problem {
            x,
            n,
            p: n_features,
            target: &target,
            k: classes.len(),
            fit_intercept: self.fit_intercept,
            l2: 1.0 / (self.c * n as f64),
        };
        let rows = if problem.k == 2 { 1 } else { problem.k };
        let dof = n_features + usize::from(self.fit_intercept);
        let opts = LbfgsOptions {
            memory: 10,
            max_iter: self.max_iter,
            max_fun: 15000,
            gtol: self.tol,
            ftol: 64.0 * f64::EPSILON,
            max_linesearch: 50,
        };
        let w0 = vec![0.0; rows * dof];
        let res = if rows == 1 {
            minimize(|w, g| problem.binary(w, g), &w0, &opts)?
        } else {
            minimize(|w, g| problem.multinomial(w, g), &w0, &opts)?
        };
        let coef = res
            .x
            .chunks(dof)
            .map(|c| c[..n_features].to_vec())
            .collect();
        let intercept = res
            .x
            .chunks(dof)
            .map(|c| {
                if self.fit_intercept {
                    c[n_features]
                } else {
                    0.0
                }
            })
            .collect();
        tracing::debug!(n_iter = res.n_iter, termination = ?res.termination, "fitted");
        Ok(LogisticModel {
            classes,
            coef,
            intercept,
            n_features,
            n_iter: res.n_iter.min(self.max_iter),
            converged: res.is_converged(),
        })
    }

    fn validate(&self) -> Result<()> {
        if !(self.c.is_finite() && self.c > 0.0) {
            return Err(Error::invalid(
                "c",
                format!("must be finite and > 0, got {}", self.c),
            ));
        }
        if self.tol.is_nan() || self.tol < 0.0 {
            return Err(Error::invalid(
                "tol",
                format!("must be >= 0, got {}", self.tol),
            ));
        }
        if self.max_iter == 0 {
            return Err(Error::invalid("max_iter", "must be at least 1"));
        }
        Ok(())
    }
}

impl LogisticModel {
    /// The class labels, sorted ascending (sklearn's `classes_`).
    pub fn classes(&self) -> &[i64] {
        &self.classes
    }

    /// The coefficients (sklearn's `coef_`): one row of `n_features` for a binary model (the
    /// weights of `classes()[1]`), one row per class for a multinomial one.
    pub fn coef(&self) -> &[Vec<f64>] {
        &self.coef
    }

    /// The intercepts, one per coefficient row (zeros without `fit_intercept`).
    pub fn intercept(&self) -> &[f64] {
        &self.intercept
    }

    /// Number of input features.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.classes.len()
    }

    /// L-BFGS iterations done (sklearn's `n_iter_`).
    pub fn n_iter(&self) -> usize {
        self.n_iter
    }

    /// Whether the solver met its tolerance before `max_iter`.
    pub fn is_converged(&self) -> bool {
        self.converged
    }

    /// The linear scores `x · coefᵀ + intercept`, row-major `[n_rows, coef().len()]`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `x.len()` is not a multiple of `n_features` or a value is
    /// not finite.
    pub fn decision_function(&self, x: &[f64]) -> Result<Vec<f64>> {
        check_matrix(x, self.n_features)?;
        let mut out = Vec::with_capacity(x.len() / self.n_features * self.coef.len());
        for row in x.chunks(self.n_features) {
            for (w, b) in self.coef.iter().zip(&self.intercept) {
                out.push(dot(row, w) + b);
            }
        }
        Ok(out)
    }

    /// Class probabilities, row-major `[n_rows, n_classes]`, columns in `classes()` order
    /// (sklearn's `predict_proba`: `[1 - σ(z), σ(z)]` for binary, softmax for multinomial).
    ///
    /// # Errors
    /// As [`LogisticModel::decision_function`].
    pub fn predict_proba(&self, x: &[f64]) -> Result<Vec<f64>> {
        let z = self.decision_function(x)?;
        if self.coef.len() == 1 {
            let mut out = Vec::with_capacity(2 * z.len());
            for &zi in &z {
                let p = sigmoid(zi);
                out.push(1.0 - p);
                out.push(p);
            }
            return Ok(out);
        }
        let k = self.coef.len();
        let mut out = z;
        for row in out.chunks_mut(k) {
            softmax_in_place(row);
        }
        Ok(out)
    }

    /// The predicted class of each row (the most probable; the first on ties, as numpy's
    /// `argmax`; binary: `classes()[1]` when the score is `> 0`).
    ///
    /// # Errors
    /// As [`LogisticModel::decision_function`].
    pub fn predict(&self, x: &[f64]) -> Result<Vec<i64>> {
        let z = self.decision_function(x)?;
        let k = self.coef.len();
        if k == 1 {
            return Ok(z
                .iter()
                .map(|&v| self.classes[usize::from(v > 0.0)])
                .collect());
        }
        Ok(z.chunks(k)
            .map(|row| {
                let mut best = 0;
                for (j, &v) in row.iter().enumerate() {
                    if v > row[best] {
                        best = j;
                    }
                }
                self.classes[best]
            })
            .collect())
    }
}

/// The data and penalty of one fit; parameters are laid out class-major,
/// `[w₀ … w_{p-1}, b]` per coefficient row.
struct Problem<'a> {
    x: &'a [f64],
    n: usize,
    p: usize,
    target: &'a [usize],
    k: usize,
    fit_intercept: bool,
    l2: f64,
}

impl Problem<'_> {
    fn dof(&self) -> usize {
        self.p + usize::from(self.fit_intercept)
    }

    /// sklearn's `HalfBinomialLoss` objective and gradient.
    fn binary(&self, w: &[f64], g: &mut [f64]) -> f64 {
        let p = self.p;
        let b = if self.fit_intercept { w[p] } else { 0.0 };
        g.fill(0.0);
        let mut loss = 0.0;
        for (row, &t) in self.x.chunks(p).zip(self.target) {
            let z = dot(row, &w[..p]) + b;
            let y = if t == 1 { 1.0 } else { 0.0 };
            loss += log1pexp(z) - y * z;
            let gp = sigmoid(z) - y;
            for (gj, &xj) in g[..p].iter_mut().zip(row) {
                *gj += gp * xj;
            }
            if self.fit_intercept {
                g[p] += gp;
            }
        }
        self.finish(w, g, loss)
    }

    /// sklearn's `HalfMultinomialLoss` objective and gradient.
    fn multinomial(&self, w: &[f64], g: &mut [f64]) -> f64 {
        let (p, k, dof) = (self.p, self.k, self.dof());
        g.fill(0.0);
        let mut z = vec![0.0; k];
        let mut loss = 0.0;
        for (row, &t) in self.x.chunks(p).zip(self.target) {
            for (c, zc) in z.iter_mut().enumerate() {
                let wc = &w[c * dof..(c + 1) * dof];
                *zc = dot(row, &wc[..p]) + if self.fit_intercept { wc[p] } else { 0.0 };
            }
            let max = z.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
            let mut sum = 0.0;
            for zc in z.iter() {
                sum += (zc - max).exp();
            }
            loss += max + sum.ln() - z[t];
            for (c, &zc) in z.iter().enumerate() {
                let prob = (zc - max).exp() / sum;
                let gp = prob - if c == t { 1.0 } else { 0.0 };
                let gc = &mut g[c * dof..(c + 1) * dof];
                for (gj, &xj) in gc[..p].iter_mut().zip(row) {
                    *gj += gp * xj;
                }
                if self.fit_intercept {
                    gc[p] += gp;
                }
            }
        }
        self.finish(w, g, loss)
    }

    /// Scales by `1/n` and adds `l2/2 · ‖W‖²` (intercepts excluded).
    fn finish(&self, w: &[f64], g: &mut [f64], loss_sum: f64) -> f64 {
        let (p, dof) = (self.p, self.dof());
        let inv_n = 1.0 / self.n as f64;
        let mut penalty = 0.0;
        for (wc, gc) in w.chunks(dof).zip(g.chunks_mut(dof)) {
            for v in gc.iter_mut() {
                *v *= inv_n;
            }
            for (gj, &wj) in gc[..p].iter_mut().zip(&wc[..p]) {
                *gj += self.l2 * wj;
                penalty += wj * wj;
            }
        }
        loss_sum * inv_n + 0.5 * self.l2 * penalty
    }
}

/// `log(1 + e^z)` without overflow (the branches of sklearn's `_loss.pyx`).
fn log1pexp(z: f64) -> f64 {
    if z <= -37.0 {
        z.exp()
    } else if z <= -2.0 {
        z.exp().ln_1p()
    } else if z <= 18.0 {
        (1.0 + z.exp()).ln()
    } else if z <= 33.3 {
        z + (-z).exp()
    } else {
        z
    }
}

/// `1 / (1 + e^-z)` without overflow.
fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

fn softmax_in_place(row: &mut [f64]) {
    let max = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
    let mut sum = 0.0;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in row.iter_mut() {
        *v /= sum;
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> (Vec<f64>, Vec<i64>) {
        let x = vec![
            -2.0, 1.0, -1.0, 0.5, -0.5, -1.0, 0.5, 1.0, 1.0, -0.5, 2.0, 0.0,
        ];
        let y = vec![0, 0, 1, 0, 1, 1];
        (x, y)
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let x = [0.3, -1.2, 2.0, 0.7, -0.4, 1.5, 0.9, -0.8, 0.1];
        let target = [0usize, 2, 1];
        for (k, fi) in [(2usize, true), (2, false), (3, true), (3, false)] {
            let t: Vec<usize> = target.iter().map(|&v| v % k).collect();
            let pb = Problem {
                x: &x,
                n: 3,
                p: 3,
                target: &t,
                k,
                fit_intercept: fi,
                l2: 0.37,
            };
            let rows = if k == 2 { 1 } else { k };
            let w: Vec<f64> = (0..rows * pb.dof()).map(|i| 0.1 * i as f64 - 0.3).collect();
            let f = |w: &[f64], g: &mut [f64]| {
                if k == 2 {
                    pb.binary(w, g)
                } else {
                    pb.multinomial(w, g)
                }
            };
            let mut g = vec![0.0; w.len()];
            f(&w, &mut g);
            let mut scratch = vec![0.0; w.len()];
            for i in 0..w.len() {
                let h = 1e-6;
                let mut wp = w.clone();
                wp[i] += h;
                let mut wm = w.clone();
                wm[i] -= h;
                let num = (f(&wp, &mut scratch) - f(&wm, &mut scratch)) / (2.0 * h);
                assert!(
                    (num - g[i]).abs() < 1e-7,
                    "k={k} fi={fi} i={i}: {num} vs {}",
                    g[i]
                );
            }
        }
    }

    #[test]
    fn binary_fit_is_sane_and_deterministic() {
        let (x, y) = toy();
        let m = LogisticRegression::default().fit(&x, 2, &y).unwrap();
        assert_eq!(m.classes(), &[0, 1]);
        assert_eq!(m.coef().len(), 1);
        assert!(m.is_converged());
        let p = m.predict_proba(&x).unwrap();
        assert_eq!(p.len(), 12);
        for r in p.chunks(2) {
            assert!((r[0] + r[1] - 1.0).abs() < 1e-12);
        }
        let again = LogisticRegression::default().fit(&x, 2, &y).unwrap();
        assert_eq!(m, again);
        assert_eq!(m.predict(&[]).unwrap(), Vec::<i64>::new());
    }

    #[test]
    fn arbitrary_labels_map_to_sorted_classes() {
        let (x, y) = toy();
        let y: Vec<i64> = y.iter().map(|&v| if v == 1 { -5 } else { 7 }).collect();
        let m = LogisticRegression::default().fit(&x, 2, &y).unwrap();
        assert_eq!(m.classes(), &[-5, 7]);
        let pred = m.predict(&x).unwrap();
        assert!(pred.iter().all(|p| *p == -5 || *p == 7));
    }

    #[test]
    fn constant_feature_is_accepted() {
        let x = vec![1.0, 0.0, 1.0, 1.0, 1.0, 2.0, 1.0, 3.0];
        let m = LogisticRegression::default()
            .fit(&x, 2, &[0, 0, 1, 1])
            .unwrap();
        assert!(m.coef()[0].iter().all(|v| v.is_finite()));
    }

    #[test]
    fn bad_input_is_rejected() {
        let (x, y) = toy();
        let lr = LogisticRegression::default();
        fn invalid<T>(r: Result<T>) -> bool {
            matches!(r, Err(Error::InvalidInput { .. }))
        }
        assert!(invalid(lr.fit(&[], 2, &[])));
        assert!(invalid(lr.fit(&x, 0, &y)));
        assert!(invalid(lr.fit(&x[..11], 2, &y)));
        assert!(invalid(lr.fit(&x, 2, &y[..5])));
        assert!(invalid(lr.fit(&x, 2, &[1; 6])));
        assert!(invalid(lr.fit(&x[..2], 2, &[1])));
        let mut bad = x.clone();
        bad[3] = f64::NAN;
        assert!(invalid(lr.fit(&bad, 2, &y)));
        bad[3] = f64::INFINITY;
        assert!(invalid(lr.fit(&bad, 2, &y)));
        for c in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let lr = LogisticRegression {
                c,
                ..LogisticRegression::default()
            };
            assert!(invalid(lr.fit(&x, 2, &y)), "c={c}");
        }
        let lr0 = LogisticRegression {
            max_iter: 0,
            ..LogisticRegression::default()
        };
        assert!(invalid(lr0.fit(&x, 2, &y)));
        let m = lr.fit(&x, 2, &y).unwrap();
        assert!(invalid(m.predict_proba(&[1.0, 2.0, 3.0])));
        assert!(invalid(m.predict(&[1.0, f64::NAN])));
    }

    #[test]
    fn stable_helpers() {
        assert_eq!(sigmoid(-800.0), 0.0);
        assert_eq!(sigmoid(800.0), 1.0);
        assert_eq!(log1pexp(800.0), 800.0);
        assert!(log1pexp(-800.0) >= 0.0);
    }
}
