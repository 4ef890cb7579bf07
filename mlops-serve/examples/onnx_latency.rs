//! Latency of one ONNX model through `OnnxPredictor`, for `tools/bench/onnx_ort_bench.py`,
//! which runs onnxruntime on the same model and rows in the same run and prints the ratio.
//!
//! `cargo run --release -p mlops-serve --features onnx --example onnx_latency -- MODEL.onnx BATCH ITERS`
//! reads the model's fixture JSON beside it (`MODEL.json`, its `test_inputs`), takes the first
//! BATCH rows, and prints one JSON line: `{"median_us":…,"p99_us":…,"mean_us":…,"min_us":…}`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use mlops_serve::{ModelIdentity, OnnxPredictor, Predictor, Tensor, TensorData, Tensors};
use serde_json::Value;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, batch, iters] = args.as_slice() else {
        bail!("usage: onnx_latency MODEL.onnx BATCH ITERS");
    };
    let model = PathBuf::from(model);
    let batch: usize = batch.parse().context("BATCH")?;
    let iters: usize = iters.parse().context("ITERS")?;
    let json: Value = serde_json::from_slice(&std::fs::read(model.with_extension("json"))?)?;
    let p = OnnxPredictor::load(ModelIdentity::new("bench", 1)?, &model)?;
    let mut inputs = Tensors::new();
    for i in json["test_inputs"].as_array().context("test_inputs")? {
        let shape: Vec<usize> = i["shape"]
            .as_array()
            .context("shape")?
            .iter()
            .map(|d| d.as_u64().map(|d| d as usize).context("dim"))
            .collect::<Result<_>>()?;
        let data: Vec<f32> = i["data"]
            .as_array()
            .context("data")?
            .iter()
            .map(|x| x.as_f64().map(|x| x as f32).context("float input"))
            .collect::<Result<_>>()?;
        let t = Tensor::new(shape, TensorData::F32(data))?;
        inputs.insert(
            i["name"].as_str().context("name")?.to_string(),
            t.slice_rows(0..batch)?,
        );
    }
    for _ in 0..iters.min(100) {
        p.predict(&inputs)?;
    }
    let mut us = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t = Instant::now();
        std::hint::black_box(p.predict(&inputs)?);
        us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    us.sort_by(f64::total_cmp);
    let pick = |q: f64| us[((us.len() - 1) as f64 * q).round() as usize];
    println!(
        "{}",
        serde_json::json!({
            "median_us": pick(0.5),
            "p99_us": pick(0.99),
            "mean_us": us.iter().sum::<f64>() / us.len() as f64,
            "min_us": us[0],
        })
    );
    Ok(())
}
