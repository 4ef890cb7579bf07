//! The ai.onnx.ml operators that exporters (skl2onnx, onnxmltools) emit and tract lacks or runs
//! slowly, with onnxruntime's semantics: `Scaler` and `OneHotEncoder` here, the tree ensembles
//! in `trees.rs`.
//!
//! Each is an `Expansion` (tract's inference-time shape rules) that wires one typed, stateless
//! operator; the operators evaluate row by row on plain tensors.

use std::collections::HashMap;

use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

/// tract's `Op` for one of our operators: its name, and that it is a typed operator.
macro_rules! op_named {
    ($ty:ty, $name:literal) => {
        impl Op for $ty {
            fn name(&self) -> StaticName {
                $name.into()
            }
            op_as_typed_op!();
        }
    };
}
pub(super) use op_named;

/// `Expansion::wire` for an operator that is its own typed operator.
macro_rules! wire_self {
    () => {
        fn wire(
            &self,
            prefix: &str,
            model: &mut TypedModel,
            inputs: &[OutletId],
        ) -> TractResult<TVec<OutletId>> {
            model.wire_node(prefix, self.clone(), inputs)
        }
    };
}
pub(super) use wire_self;

/// Adds our operators to tract's table.
pub(super) fn register(reg: &mut OnnxOpRegister) {
    reg.insert("Scaler", scaler);
    reg.insert("OneHotEncoder", one_hot_encoder);
    super::trees::register(reg);
}

pub(super) fn attr<'a>(
    node: &'a NodeProto,
    name: &str,
) -> Option<&'a tract_onnx::pb::AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

pub(super) fn floats(node: &NodeProto, name: &str) -> Vec<f32> {
    attr(node, name)
        .map(|a| a.floats.clone())
        .unwrap_or_default()
}

pub(super) fn ints(node: &NodeProto, name: &str) -> Vec<i64> {
    attr(node, name).map(|a| a.ints.clone()).unwrap_or_default()
}

pub(super) fn int(node: &NodeProto, name: &str, default: i64) -> i64 {
    attr(node, name).map_or(default, |a| a.i)
}

pub(super) fn string(node: &NodeProto, name: &str, default: &str) -> TractResult<String> {
    match attr(node, name) {
        Some(a) => Ok(String::from_utf8(a.s.clone())
            .map_err(|_| format_err!("attribute {name} is not UTF-8"))?),
        None => Ok(default.to_string()),
    }
}

pub(super) fn strings(node: &NodeProto, name: &str) -> TractResult<Vec<String>> {
    attr(node, name)
        .map(|a| {
            a.strings
                .iter()
                .map(|s| {
                    String::from_utf8(s.clone())
                        .map_err(|_| format_err!("attribute {name} is not UTF-8"))
                })
                .collect()
        })
        .unwrap_or_else(|| Ok(Vec::new()))
}

/// Any numeric input as f32, as onnxruntime's ml operators read it.
pub(super) fn as_f32(t: &TValue) -> TractResult<Vec<f32>> {
    let t = t.cast_to::<f32>()?;
    Ok(t.to_plain_array_view::<f32>()?.iter().copied().collect())
}

// ---------------------------------------------------------------------------------------------
// Scaler: Y = (X - offset) * scale, per column (or one value for every column).

#[derive(Debug, Clone, PartialEq)]
struct Scaler {
    offset: Vec<f32>,
    scale: Vec<f32>,
}

// The parameters are finite floats from the model file; equality is only used by tract to
// deduplicate identical nodes.
impl Eq for Scaler {}

fn scaler(
    _: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let offset = floats(node, "offset");
    let scale = floats(node, "scale");
    ensure!(
        !offset.is_empty() && !scale.is_empty(),
        "Scaler needs offset and scale"
    );
    Ok((expand(Scaler { offset, scale }), vec![]))
}

impl Expansion for Scaler {
    fn name(&self) -> StaticName {
        Op::name(self)
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, DatumType::F32)?;
        s.equals(&outputs[0].shape, &inputs[0].shape)?;
        Ok(())
    }

    wire_self!();
}

op_named!(Scaler, "Scaler");

impl EvalOp for Scaler {
    op_out_of_plan!();

    fn eval(&self, _: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let shape = input.shape().to_vec();
        let cols = shape.last().copied().unwrap_or(1).max(1);
        let pick = |v: &[f32], j: usize| -> TractResult<f32> {
            match v.len() {
                1 => Ok(v[0]),
                n if n == cols => Ok(v[j]),
                n => bail!("Scaler has {n} parameters for {cols} columns"),
            }
        };
        let mut x = as_f32(&input)?;
        for (i, v) in x.iter_mut().enumerate() {
            let j = i % cols;
            *v = (*v - pick(&self.offset, j)?) * pick(&self.scale, j)?;
        }
        Ok(tvec!(Tensor::from_shape(&shape, &x)?.into_tvalue()))
    }
}

impl TypedOp for Scaler {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(f32::fact(inputs[0].shape.clone())))
    }
    as_op!();
}

// ---------------------------------------------------------------------------------------------
// OneHotEncoder: each element becomes C floats, 1.0 at its category's index.

/// Category → index, built once at load (not per call).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Categories {
    Ints(HashMap<i64, usize>),
    Strings(HashMap<String, usize>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct OneHotEncoder {
    categories: Categories,
    /// The number of categories (the output's last dimension).
    len: usize,
    /// `zeros = 1`: an unknown category gives all zeros; `0`: it is an error (onnxruntime's).
    zeros: bool,
}

impl OneHotEncoder {
    fn len(&self) -> usize {
        self.len
    }
}

fn one_hot_encoder(
    _: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let ints = ints(node, "cats_int64s");
    let strings = strings(node, "cats_strings")?;
    let len = ints.len().max(strings.len());
    let categories = match (ints.is_empty(), strings.is_empty()) {
        (false, true) => {
            Categories::Ints(ints.into_iter().enumerate().map(|(i, v)| (v, i)).collect())
        }
        (true, false) => Categories::Strings(
            strings
                .into_iter()
                .enumerate()
                .map(|(i, s)| (s, i))
                .collect(),
        ),
        _ => bail!("OneHotEncoder needs exactly one of cats_int64s and cats_strings"),
    };
    let zeros = int(node, "zeros", 1) != 0;
    Ok((
        expand(OneHotEncoder {
            categories,
            len,
            zeros,
        }),
        vec![],
    ))
}

impl Expansion for OneHotEncoder {
    fn name(&self) -> StaticName {
        Op::name(self)
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, DatumType::F32)?;
        s.equals(&outputs[0].rank, inputs[0].rank.bex() + 1)?;
        let c = self.len();
        s.given(&inputs[0].shape, move |s, shape| {
            let mut shape = shape.clone();
            shape.push(c.to_dim());
            s.equals(&outputs[0].shape, shape)
        })?;
        Ok(())
    }

    wire_self!();
}

op_named!(OneHotEncoder, "OneHotEncoder");

impl EvalOp for OneHotEncoder {
    op_out_of_plan!();

    fn eval(&self, _: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let c = self.len();
        let index: Vec<Option<usize>> = match &self.categories {
            Categories::Strings(lookup) => {
                let view = input.to_plain_array_view::<String>()?;
                view.iter()
                    .map(|s| lookup.get(s.as_str()).copied())
                    .collect()
            }
            Categories::Ints(lookup) => {
                // onnxruntime reads numeric inputs as int64 (floats truncated).
                let t = input.cast_to::<i64>()?;
                let view = t.to_plain_array_view::<i64>()?;
                view.iter().map(|v| lookup.get(v).copied()).collect()
            }
        };
        let mut out = vec![0f32; index.len() * c];
        for (row, ix) in index.iter().enumerate() {
            match ix {
                Some(j) => out[row * c + j] = 1.0,
                None if self.zeros => {}
                None => bail!("OneHotEncoder: element {row} is an unknown category (zeros = 0)"),
            }
        }
        let mut shape = input.shape().to_vec();
        shape.push(c);
        Ok(tvec!(Tensor::from_shape(&shape, &out)?.into_tvalue()))
    }
}

impl TypedOp for OneHotEncoder {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let mut shape: TVec<TDim> = inputs[0].shape.iter().cloned().collect();
        shape.push(self.len().to_dim());
        Ok(tvec!(f32::fact(shape)))
    }
    as_op!();
}
