//! The end-to-end quickstart: the life of a model on the embedded file registry.
//!
//! Today it covers what has landed: generate a dataset and snapshot it (content digest and
//! lineage), train a small classifier and score it with scikit-learn-equal metrics, register it
//! in the embedded file registry with its lineage and alias it `production`, serve it through the
//! dynamic-batching engine, check newer data for drift against a reference profile, register a retrained v2, promote it and
//! roll the alias back, and print the registry history and serving metrics. Canary, shadow and
//! automatic rollback over HTTP extend this story with the deployment issue.

use std::io::Write;
use std::path::Path;

use std::collections::HashMap;

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use mlops_core::metrics::{self, ClassificationReport};
use mlops_core::{AliasName, DatasetSnapshot, Lineage, ModelName, ModelRef, SnapshotBuilder};
use mlops_drift::io::{Column, Table};
use mlops_drift::{DriftConfig, DriftReport, ProfileConfig, ReferenceProfile};
use mlops_registry::{Change, EventKind, FileRegistry, NewVersion, Registry};
use mlops_serve::{EngineBuilder, FeedForward, ModelIdentity, Predictor, Tensor, Tensors};
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
    /// Versions registered (v1, v2).
    pub versions: Vec<u64>,
    /// Version the `production` alias points to at the end (after the rollback).
    pub production: u64,
    /// Number of events in the model's audit log.
    pub history_len: usize,
    /// Largest absolute difference between served and in-process probabilities.
    pub max_serving_diff: f64,
    /// Requests the serving engine answered.
    pub served_requests: u64,
    /// Columns the drift report flagged on the newer data.
    pub drifted_columns: Vec<String>,
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

/// Writes the logistic model in mlops-serve's built-in feed-forward format: a JSON spec
/// (one dense layer with a sigmoid) and safetensors weights in PyTorch's `[out, in]` layout.
fn save_model(dir: &Path, w: &[f64], b: f64) -> Result<(std::path::PathBuf, std::path::PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let spec = dir.join("model.json");
    let weights = dir.join("model.safetensors");
    std::fs::write(
        &spec,
        r#"{"input": "x", "output": "p", "layers": [{"weight": "w", "bias": "b", "activation": "sigmoid"}]}"#,
    )?;
    let dev = candle_core::Device::Cpu;
    let wf: Vec<f32> = w.iter().map(|&v| v as f32).collect();
    let tensors = HashMap::from([
        (
            "w".to_string(),
            candle_core::Tensor::from_vec(wf, (1, w.len()), &dev)?,
        ),
        (
            "b".to_string(),
            candle_core::Tensor::from_vec(vec![b as f32], 1, &dev)?,
        ),
    ]);
    candle_core::safetensors::save(&tensors, &weights)?;
    Ok((spec, weights))
}

/// One line per audit-log event.
fn describe(kind: &EventKind) -> String {
    match kind {
        EventKind::AliasSet {
            alias,
            version,
            previous,
        } => match previous {
            Some(p) => format!("{alias}: v{p} -> v{version}"),
            None => format!("{alias}: set to v{version}"),
        },
        EventKind::AliasRolledBack { alias, from, to } => {
            format!("{alias}: rolled back v{from} -> v{to}")
        }
        other => format!("{other:?}"),
    }
}

fn to_table(rows: &[Vec<f64>]) -> Table {
    let dim = rows.first().map_or(0, Vec::len);
    Table {
        columns: (0..dim)
            .map(|j| {
                (
                    format!("f{j}"),
                    Column::Numeric(rows.iter().map(|r| r[j]).collect()),
                )
            })
            .collect(),
    }
}

fn to_tensor(rows: &[Vec<f64>]) -> Result<Tensor> {
    let dim = rows.first().map_or(0, Vec::len);
    let data: Vec<f32> = rows.iter().flatten().map(|&v| v as f32).collect();
    Ok(Tensor::f32(vec![rows.len(), dim], data)?)
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

    writeln!(
        out,
        "\n4. Register v1 in the file registry and alias it `production`"
    )?;
    let registry = FileRegistry::open(dir.join("registry"))?;
    let name = ModelName::new("churn")?;
    let production = AliasName::new("production")?;
    let v1_dir = dir.join("build/v1");
    let (spec, weights) = save_model(&v1_dir, &w, b)?;
    // The signature is the one the serving model derives from its spec, so that loading it
    // back from the registry can check the two agree.
    let local = FeedForward::load(ModelIdentity::new("churn", 1)?, &spec, &weights)?;
    let signature = local.signature().clone();
    let lineage = Lineage {
        datasets: vec![train.digest, eval.digest],
        code_commit: train.git_commit.clone(),
        parent_version: None,
    };
    let v1 = registry.register(
        NewVersion::new(name.clone())
            .with_description("logistic regression on blobs")
            .with_artifact_file(&spec)?
            .with_artifact_file(&weights)?
            .with_format("safetensors")
            .with_signature(signature.clone())
            .with_metric("accuracy", report.accuracy)
            .with_metric("roc_auc", roc_auc)
            .with_metric("log_loss", log_loss)
            .with_param("epochs", "300")
            .with_param("lr", "0.5")
            .with_tag("stage", "quickstart")
            .with_lineage(lineage.clone()),
    )?;
    let v1n = v1.version.version;
    registry.set_alias(
        &name,
        &production,
        v1n,
        &Change::new("quickstart", "first model"),
    )?;
    writeln!(
        out,
        "   registered churn/{v1n}: {} artifacts, datasets {} and {}",
        v1.version.artifacts.len(),
        &train.digest.to_hex()[..12],
        &eval.digest.to_hex()[..12]
    )?;

    writeln!(
        out,
        "\n5. Serve churn@production through the batching engine"
    )?;
    let reference = ModelRef::alias(name.clone(), production.clone());
    let predictor = mlops_serve::load_from_registry(&registry, &reference, &dir.join("cache"))?;
    let engine = EngineBuilder::new(predictor)
        .with_max_batch_size(64)
        .with_max_delay(Duration::from_millis(2))
        .build()?;
    let chunks: Vec<&[Vec<f64>]> = x_eval.chunks(10).collect();
    let served: Vec<Vec<f32>> = std::thread::scope(|s| -> Result<Vec<Vec<f32>>> {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                let engine = engine.clone();
                s.spawn(move || -> Result<Vec<f32>> {
                    let inputs = Tensors::from([("x".to_owned(), to_tensor(chunk)?)]);
                    let y = engine.predict(inputs)?;
                    let p = y.get("p").and_then(Tensor::as_f32).context("output p")?;
                    Ok(p.to_vec())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow::anyhow!("client thread panicked"))?
            })
            .collect()
    })?;
    let served: Vec<f32> = served.into_iter().flatten().collect();
    ensure!(served.len() == proba.len(), "one prediction per row");
    let max_serving_diff = served
        .iter()
        .zip(&proba)
        .map(|(&s, &p)| (f64::from(s) - p).abs())
        .fold(0.0, f64::max);
    let snap = engine.snapshot();
    writeln!(
        out,
        "   {} requests from {} client threads in {} batches (mean {:.1} rows); max |served - local| = {max_serving_diff:.2e}",
        snap.requests,
        chunks.len(),
        snap.batches,
        snap.batched_rows as f64 / snap.batches.max(1) as f64
    )?;

    writeln!(
        out,
        "\n6. Newer data arrives: is it still like the training data?"
    )?;
    // Covariate shift: features f0 and f1 move by +0.8 while f2 and f3 keep their distribution.
    let (mut x_new, y_new) = blobs(&mut rng, 4000, 4, 1.5);
    for row in &mut x_new {
        row[0] += 0.8;
        row[1] += 0.8;
    }
    let profile = ReferenceProfile::fit_table(&to_table(&x_train), ProfileConfig::default())?;
    let drift = DriftReport::compare(&profile, &to_table(&x_new), &DriftConfig::default())?;
    for c in &drift.columns {
        if let Some(d) = &c.decision {
            let psi = c.tests.get("psi").map_or(f64::NAN, |t| t.value);
            writeln!(
                out,
                "   {:<3} {:<17} = {:.3} (threshold {}), PSI {psi:.3}  {}",
                c.column,
                d.test,
                d.value,
                d.threshold,
                if c.drifted { "DRIFT" } else { "ok" }
            )?;
        }
    }
    let drifted_columns: Vec<String> = drift
        .columns
        .iter()
        .filter(|c| c.drifted)
        .map(|c| c.column.clone())
        .collect();
    writeln!(
        out,
        "   dataset: {}/{} columns drifted -> {}",
        drift.dataset.n_drifted,
        drift.dataset.n_columns,
        if drift.dataset.drifted {
            "retrain"
        } else {
            "keep serving"
        }
    )?;

    writeln!(
        out,
        "\n7. Retrain on the newer data: register v2, promote it, then roll back"
    )?;
    let new_path = dir.join("train_v2.csv");
    write_csv(&new_path, &x_new, &y_new)?;
    let new_snap = SnapshotBuilder::new()
        .path(&new_path)
        .with_parent(train.digest)
        .build()?;
    let (w2, b2) = train_logistic(&x_new, &y_new, 300, 0.5);
    let (spec2, weights2) = save_model(&dir.join("build/v2"), &w2, b2)?;
    let proba2: Vec<f64> = x_eval.iter().map(|r| predict_proba(&w2, b2, r)).collect();
    let v2 = registry.register(
        NewVersion::new(name.clone())
            .with_description("retrained on train_v2.csv")
            .with_artifact_file(&spec2)?
            .with_artifact_file(&weights2)?
            .with_format("safetensors")
            .with_signature(signature)
            .with_metric("roc_auc", metrics::roc_auc(&truth, &proba2)?)
            .with_lineage(Lineage {
                datasets: vec![new_snap.digest],
                code_commit: lineage.code_commit,
                parent_version: Some(v1n),
            }),
    )?;
    let v2n = v2.version.version;
    registry.set_alias(
        &name,
        &production,
        v2n,
        &Change::new("quickstart", "retrained"),
    )?;
    let promoted = mlops_serve::load_from_registry(&registry, &reference, &dir.join("cache"))?;
    engine.swap(
        promoted,
        Some(&Tensors::from([("x".to_owned(), to_tensor(&x_eval[..4])?)])),
    )?;
    writeln!(
        out,
        "   churn/{v2n} (parent {v1n}) is production and hot-swapped into the engine"
    )?;
    registry.rollback(
        &name,
        &production,
        &Change::new("quickstart", "operator rollback drill"),
    )?;
    let back = registry.resolve(&reference)?.version.version;
    let restored = mlops_serve::load_from_registry(&registry, &reference, &dir.join("cache"))?;
    engine.swap(restored, None)?;
    let answer = engine.predict(Tensors::from([("x".to_owned(), to_tensor(&x_eval[..1])?)]))?;
    ensure!(answer.contains_key("p"), "served after rollback");
    writeln!(
        out,
        "   rolled production back to churn/{back}; the engine serves it again"
    )?;

    writeln!(out, "\n8. Registry history and serving metrics")?;
    let history = registry.history(&name)?;
    for e in &history {
        writeln!(
            out,
            "   #{} {} {} by {} ({})",
            e.seq,
            e.at.format("%H:%M:%S"),
            describe(&e.kind),
            e.change.who,
            e.change.reason
        )?;
    }
    let snap = engine.snapshot();
    writeln!(
        out,
        "   engine: {} requests, {} errors, {} overload rejections",
        snap.requests, snap.errors, snap.rejected_overload
    )?;
    writeln!(out, "\ndone.")?;
    Ok(Summary {
        train,
        eval,
        report,
        roc_auc,
        log_loss,
        versions: vec![v1n, v2n],
        production: back,
        history_len: history.len(),
        max_serving_diff,
        served_requests: snap.requests,
        drifted_columns,
    })
}
