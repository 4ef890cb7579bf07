//! Scoring a model on a table: how the gate gets a candidate's and a champion's predictions on
//! the same held-out rows.
//!
//! The model is any [`Predictor`] (a model directory loaded with
//! [`mlops_serve::load_model_dir`], or a registry version loaded with
//! [`mlops_serve::load_from_registry`]); its inputs are built from the table by its signature:
//! - every input named like a column of the table gets that column, one value per row (FP64
//!   for numbers, BYTES for text; the raw-column signature of a model that ships its fitted
//!   transform chain);
//! - otherwise a single input of shape `[-1, k]` gets the table's `k` feature columns in file
//!   order (all numeric), as FP32 or FP64 as the signature asks (an ONNX model trained
//!   elsewhere on the same columns).
//!
//! The score of a row is read from the chosen output (the only one, unless named): shape `[n]`
//! or `[n, 1]` is the score itself; `[n, 2]` is a two-class probability table, column 1 being
//! class 1.

use std::sync::Arc;

use mlops_core::transform::{ColumnValues, RawFrame};
use mlops_core::DType;
use mlops_serve::{Predictor, Tensor, TensorData, Tensors};

use crate::error::{Error, Result};

/// Builds the inputs of `model` from `frame` (see the module docs).
///
/// # Errors
/// [`Error::InvalidInput`] when an input matches no column and the model is not a single
/// `[-1, k]` matrix, `k` differs from the number of feature columns, a matrix column is text,
/// or a column's kind does not fit the input's dtype; [`Error::Serve`] when a tensor cannot be
/// built.
pub fn inputs_for(model: &dyn Predictor, frame: &RawFrame) -> Result<Tensors> {
    let sig = model.signature();
    let n = frame.n_rows();
    let fields = &sig.inputs.fields;
    let mut out = Tensors::new();
    if !fields.is_empty() && fields.iter().all(|f| frame.column(&f.name).is_some()) {
        for f in fields {
            let Some(col) = frame.column(&f.name) else {
                continue;
            };
            let shape = if f.shape.len() == 2 {
                vec![n, 1]
            } else {
                vec![n]
            };
            let data = match (&col.values, f.dtype) {
                (ColumnValues::Num(v), DType::F64) => TensorData::F64(v.clone()),
                (ColumnValues::Num(v), DType::F32) => {
                    TensorData::F32(v.iter().map(|&x| x as f32).collect())
                }
                (ColumnValues::Str(v), DType::Bytes) => TensorData::Bytes(
                    v.iter()
                        .map(|s| s.clone().unwrap_or_default().into_bytes())
                        .collect(),
                ),
                (ColumnValues::Num(v), DType::Bytes) => {
                    TensorData::Bytes(v.iter().map(|x| x.to_string().into_bytes()).collect())
                }
                (values, dtype) => {
                    return Err(Error::invalid(
                        format!("column {:?}", f.name),
                        format!(
                            "is {:?} but the model's input takes {dtype:?}",
                            values.kind()
                        ),
                    ))
                }
            };
            out.insert(f.name.clone(), Tensor::new(shape, data)?);
        }
        return Ok(out);
    }
    let [f] = fields.as_slice() else {
        let missing: Vec<&str> = fields
            .iter()
            .filter(|f| frame.column(&f.name).is_none())
            .map(|f| f.name.as_str())
            .collect();
        return Err(Error::invalid(
            "model inputs",
            format!("inputs {missing:?} are not columns of the held-out table"),
        ));
    };
    let k = frame.n_columns();
    if f.shape.len() != 2 || (f.shape[1] >= 0 && f.shape[1] as usize != k) {
        return Err(Error::invalid(
            format!("model input {:?}", f.name),
            format!(
                "has shape {:?}, not [-1, {k}] for the table's {k} feature columns",
                f.shape
            ),
        ));
    }
    let (data, _, _) = crate::data::numeric_matrix(frame).map_err(|_| {
        Error::invalid(
            format!("model input {:?}", f.name),
            "takes one numeric matrix, but a held-out column is text (ship a transform.json to encode text)",
        )
    })?;
    let t = match f.dtype {
        DType::F64 => Tensor::new(vec![n, k], TensorData::F64(data))?,
        DType::F32 => Tensor::new(
            vec![n, k],
            TensorData::F32(data.iter().map(|&x| x as f32).collect()),
        )?,
        other => {
            return Err(Error::invalid(
                format!("model input {:?}", f.name),
                format!("dtype {other:?} is not a float matrix"),
            ))
        }
    };
    out.insert(f.name.clone(), t);
    Ok(out)
}

/// One score per row of `frame` from `model`'s `output` (its only output when `None`).
///
/// # Errors
/// As [`inputs_for`]; [`Error::Serve`] when the model fails; [`Error::InvalidInput`] when the
/// output is missing, ambiguous, not numeric, has more than two columns, or does not have one
/// row per input row.
pub fn score(
    model: &Arc<dyn Predictor>,
    frame: &RawFrame,
    output: Option<&str>,
) -> Result<Vec<f64>> {
    let _span = tracing::debug_span!(
        "score",
        model = %model.identity().name,
        version = model.identity().version,
        rows = frame.n_rows()
    )
    .entered();
    let inputs = inputs_for(model.as_ref(), frame)?;
    let outs = model.predict(&inputs)?;
    let name = match output {
        Some(n) => n.to_owned(),
        None => {
            let names: Vec<&String> = outs.keys().collect();
            match names.as_slice() {
                [one] => (*one).clone(),
                _ => {
                    return Err(Error::invalid(
                        "gate.output",
                        format!("the model has outputs {names:?}: name the one to score"),
                    ))
                }
            }
        }
    };
    let t = outs.get(&name).ok_or_else(|| {
        Error::invalid(
            "gate.output",
            format!(
                "the model has no output {name:?} (outputs: {:?})",
                outs.keys().collect::<Vec<_>>()
            ),
        )
    })?;
    let n = frame.n_rows();
    let shape = t.shape().to_vec();
    let width = match shape.as_slice() {
        [r] if *r == n => 1,
        [r, c] if *r == n && (*c == 1 || *c == 2) => *c,
        _ => {
            return Err(Error::invalid(
                format!("output {name:?}"),
                format!("has shape {shape:?}; the gate scores [{n}], [{n}, 1] or [{n}, 2]"),
            ))
        }
    };
    let mut scores = Vec::with_capacity(n);
    for i in 0..n {
        let j = i * width + (width - 1);
        let v = t.data().get_f64(j).ok_or_else(|| {
            Error::invalid(format!("output {name:?}"), "is not numeric".to_string())
        })?;
        scores.push(v);
    }
    Ok(scores)
}
