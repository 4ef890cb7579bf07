//! The end-to-end quickstart: the life of a model on the embedded file registry.
//!
//! Today it covers what has landed: generate a dataset and snapshot it (content digest and
//! lineage), train a small classifier, and score it with scikit-learn-equal metrics. Each later
//! stage (registry, drift, serving, canary and rollback) extends this story.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use mlops_core::metrics::{self, ClassificationReport};
use mlops_core::{DatasetSnapshot, SnapshotBuilder};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What the quickstart produced, for the test to check.
#[derive(Debug)]
pub struct Summary {
    /// Snapshot of the training data.
    pub train: DatasetSnapshot,
    /// Snapshot of the evaluation data.
    pub eval: DatasetSnapshot,
    /// Metrics of the trained model on the evaluation data.
    pub report: ClassificationReport<usize>,
    /// ROC AUC on the evaluation data.
    pub roc_auc: f64,
    /// Log loss on the evaluation data.
    pub log_loss: f64,
}

/// Two Gaussian blobs in `dim` dimensions; class 1 is shifted by `shift` on every axis.
fn blobs(rng: &mut StdRng, n: usize, dim: usize, shift: f64) -> (Vec<Vec<f64>>, Vec<usize>) {
    let mut x = Vec::with_capacity(n);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let label = usize::from(rng.gen_bool(0.5));
        let row = (0..dim)
            .map(|_| {
                // Box–Muller: a standard normal from two uniforms.
                let (u1, u2): (f64, f64) = (rng.gen_range(1e-12..1.0), rng.gen());
                let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
                z + shift * label as f64
            })
            .collect();
        x.push(row);
        y.push(label);
    }
    (x, y)
}

fn write_csv(path: &Path, x: &[Vec<f64>], y: &[usize]) -> Result<()> {
    let mut out = String::new();
    let dim = x.first().map_or(0, Vec::len);
    let header: Vec<String> = (0..dim).map(|i| format!("f{i}")).collect();
    out.push_str(&header.join(","));
    out.push_str(",label\n");
    for (row, label) in x.iter().zip(y) {
        for v in row {
            out.push_str(&format!("{v:.6},"));
        }
        out.push_str(&format!("{label}\n"));
    }
    std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))
}

/// Logistic regression by full-batch gradient descent: returns (weights, bias).
fn train_logistic(x: &[Vec<f64>], y: &[usize], epochs: usize, lr: f64) -> (Vec<f64>, f64) {
    let dim = x.first().map_or(0, Vec::len);
    let (mut w, mut b) = (vec![0.0; dim], 0.0);
    let n = x.len() as f64;
    for _ in 0..epochs {
        let mut gw = vec![0.0; dim];
        let mut gb = 0.0;
        for (row, &label) in x.iter().zip(y) {
            let err = predict_proba(&w, b, row) - label as f64;
            for (g, v) in gw.iter_mut().zip(row) {
                *g += err * v;
            }
            gb += err;
        }
        for (wi, g) in w.iter_mut().zip(&gw) {
            *wi -= lr * g / n;
        }
        b -= lr * gb / n;
    }
    (w, b)
}

fn predict_proba(w: &[f64], b: f64, row: &[f64]) -> f64 {
    let z: f64 = w.iter().zip(row).map(|(a, c)| a * c).sum::<f64>() + b;
    1.0 / (1.0 + (-z).exp())
}

/// Runs the quickstart in `dir`, telling the story on `out`.
///
/// # Errors
/// When a file cannot be written or a metric cannot be computed.
pub fn run(dir: &Path, out: &mut impl Write) -> Result<Summary> {
    let mut rng = StdRng::seed_from_u64(7);
    writeln!(out, "mlops-rs quickstart in {}", dir.display())?;

    writeln!(out, "\n1. Generate a dataset and snapshot it")?;
    let (x_train, y_train) = blobs(&mut rng, 4000, 4, 1.5);
    let (x_eval, y_eval) = blobs(&mut rng, 1000, 4, 1.5);
    let train_path = dir.join("train.csv");
    let eval_path = dir.join("eval.csv");
    write_csv(&train_path, &x_train, &y_train)?;
    write_csv(&eval_path, &x_eval, &y_eval)?;
    let train = SnapshotBuilder::new()
        .path(&train_path)
        .with_source_uri(format!("file://{}", train_path.display()))
        .detect_git_commit(dir)
        .build()?;
    let eval = SnapshotBuilder::new()
        .path(&eval_path)
        .with_parent(train.digest)
        .build()?;
    writeln!(
        out,
        "   train.csv: {} rows, {} bytes, digest {}",
        train.row_count.unwrap_or(0),
        train.total_bytes,
        train.digest
    )?;
    writeln!(
        out,
        "   eval.csv:  {} rows, digest {} (parent {})",
        eval.row_count.unwrap_or(0),
        eval.digest,
        &train.digest.to_hex()[..12]
    )?;

    writeln!(out, "\n2. Train a logistic-regression classifier")?;
    let (w, b) = train_logistic(&x_train, &y_train, 300, 0.5);
    writeln!(out, "   weights {w:.3?}, bias {b:.3}")?;

    writeln!(out, "\n3. Evaluate (values equal scikit-learn's)")?;
    let proba: Vec<f64> = x_eval.iter().map(|r| predict_proba(&w, b, r)).collect();
    let pred: Vec<usize> = proba.iter().map(|&p| usize::from(p >= 0.5)).collect();
    let report = metrics::classification_report(&y_eval, &pred)?;
    let truth: Vec<bool> = y_eval.iter().map(|&l| l == 1).collect();
    let roc_auc = metrics::roc_auc(&truth, &proba)?;
    let log_loss = metrics::log_loss_binary(&truth, &proba)?;
    writeln!(out, "   accuracy  {:.4}", report.accuracy)?;
    writeln!(out, "   macro F1  {:.4}", report.macro_avg.f1)?;
    writeln!(out, "   ROC AUC   {roc_auc:.4}")?;
    writeln!(out, "   log loss  {log_loss:.4}")?;
    writeln!(out, "   confusion {:?}", report.confusion.counts)?;
    writeln!(out, "\ndone.")?;
    Ok(Summary {
        train,
        eval,
        report,
        roc_auc,
        log_loss,
    })
}
