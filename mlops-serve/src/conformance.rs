//! The conformance suite every [`Predictor`] should pass.
//!
//! Call [`check_predictor`] from a backend's tests with a few valid sample requests; it
//! asserts the trait's `# Contract`:
//! - the signature has at least one input and one output, with unique names;
//! - the sample requests pass [`validate_inputs`], and the model returns every output of the
//!   signature with the signature's dtype and fixed dimensions;
//! - when the signature is batchable ([`is_batchable`]), each output has one row per input row,
//!   and predicting the samples stacked into one batch gives the same rows (within `tol`) as
//!   predicting each sample alone — what lets the engine batch requests;
//! - calling from several threads at once gives the same answers.

use std::collections::HashSet;

use crate::error::{Error, Result};
use crate::predictor::{
    is_batchable, predict_guarded, validate_inputs, NonFinitePolicy, Predictor,
};
use crate::tensor::{Tensor, TensorData, Tensors};

fn fail(reason: String) -> Error {
    Error::Incompatible { reason }
}

fn close(a: &Tensor, b: &Tensor, tol: f64) -> bool {
    if a.shape() != b.shape() {
        return false;
    }
    match (a.data(), b.data()) {
        (TensorData::F32(x), TensorData::F32(y)) => x
            .iter()
            .zip(y)
            .all(|(p, q)| (f64::from(*p) - f64::from(*q)).abs() <= tol),
        (TensorData::F64(x), TensorData::F64(y)) => {
            x.iter().zip(y).all(|(p, q)| (p - q).abs() <= tol)
        }
        (x, y) => x == y,
    }
}

/// Checks `predictor` against the [`Predictor`] contract using `samples` (valid requests).
///
/// # Errors
/// [`Error::Incompatible`] describing the first broken rule, or the predictor's own error on a
/// sample.
pub fn check_predictor(predictor: &dyn Predictor, samples: &[Tensors], tol: f64) -> Result<()> {
    // Indexing by field name below cannot panic: `validate_inputs` has checked that every
    // input is present, and `predict_guarded` that every output is.
    let sig = predictor.signature();
    if sig.inputs.fields.is_empty() || sig.outputs.fields.is_empty() {
        return Err(fail(
            "signature needs at least one input and one output".into(),
        ));
    }
    for (what, schema) in [("input", &sig.inputs), ("output", &sig.outputs)] {
        let mut seen = HashSet::new();
        for f in &schema.fields {
            if !seen.insert(f.name.as_str()) {
                return Err(fail(format!("{what} name {:?} appears twice", f.name)));
            }
        }
    }
    if samples.is_empty() {
        return Err(fail("no sample requests given".into()));
    }
    let mut singles = Vec::with_capacity(samples.len());
    for (i, s) in samples.iter().enumerate() {
        let rows = validate_inputs(sig, s, NonFinitePolicy::Allow)?;
        let out = predict_guarded(predictor, s, rows)?;
        for spec in &sig.outputs.fields {
            let t = &out[&spec.name];
            spec.check(t.dtype(), t.shape())
                .map_err(|e| fail(format!("sample {i}: {e}")))?;
        }
        singles.push((rows, out));
    }
    if is_batchable(sig) && samples.len() > 1 {
        let mut stacked = Tensors::new();
        for spec in &sig.inputs.fields {
            let parts: Vec<&Tensor> = samples.iter().map(|s| &s[&spec.name]).collect();
            stacked.insert(spec.name.clone(), Tensor::concat_rows(&parts)?);
        }
        let total: usize = singles.iter().map(|(r, _)| r).sum();
        let batched = predict_guarded(predictor, &stacked, total)?;
        let counts: Vec<usize> = singles.iter().map(|(r, _)| *r).collect();
        for spec in &sig.outputs.fields {
            let pieces = batched[&spec.name].split_rows(&counts)?;
            for (i, (piece, (_, single))) in pieces.iter().zip(&singles).enumerate() {
                if !close(piece, &single[&spec.name], tol) {
                    return Err(fail(format!(
                        "output {:?} for sample {i} differs when batched with the others",
                        spec.name
                    )));
                }
            }
        }
    }
    let concurrent: Vec<Result<Tensors>> = std::thread::scope(|s| {
        let handles: Vec<_> = samples
            .iter()
            .zip(&singles)
            .map(|(x, (rows, _))| s.spawn(move || predict_guarded(predictor, x, *rows)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(fail("a thread panicked".into())))
            })
            .collect()
    });
    for (i, (r, (_, single))) in concurrent.into_iter().zip(&singles).enumerate() {
        let r = r?;
        for spec in &sig.outputs.fields {
            if !close(&r[&spec.name], &single[&spec.name], tol) {
                return Err(fail(format!(
                    "sample {i} differs when predicted concurrently"
                )));
            }
        }
    }
    Ok(())
}
