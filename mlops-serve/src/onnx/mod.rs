//! ONNX graphs through tract-onnx (feature `onnx`).
//!
//! - `mod.rs`: loading (decode, operator check, `ZipMap` lowering, input facts with a symbolic
//!   batch dimension, optimisation) and the [`Predictor`] implementation.
//! - `convert.rs`: our [`Tensor`]s to tract's and back.
//! - `ml.rs`: the ai.onnx.ml operators that exporters emit and tract lacks, registered into
//!   tract's operator table.
//!
//! tract ships its generated protobuf code, so this feature needs no `protoc` at build time.

mod convert;
mod ml;
mod trees;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use mlops_core::{DType, Schema, Signature, TensorSpec};
use tract_onnx::pb;
use tract_onnx::prelude::{
    Framework, InferenceFact, InferenceModelExt, IntoRunnable, TDim, TValue, TVec,
    TypedRunnableModel,
};

use crate::error::{Error, Result};
use crate::predictor::{model_err, ModelIdentity, Predictor};
use crate::tensor::Tensors;

/// The class labels of a classifier output that the exporter wrapped in a `ZipMap`.
///
/// The Open Inference Protocol has no map type, so a `ZipMap` output (a sequence of
/// `{label: probability}` maps) is served as the `FP32 [N, C]` tensor it was built from: column
/// `j` holds the probability of `labels[j]`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClassLabels {
    /// `classlabels_int64s`.
    Int64(Vec<i64>),
    /// `classlabels_strings`.
    Strings(Vec<String>),
}

impl ClassLabels {
    /// The number of classes.
    pub fn len(&self) -> usize {
        match self {
            ClassLabels::Int64(v) => v.len(),
            ClassLabels::Strings(v) => v.len(),
        }
    }

    /// Whether there are no classes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Label `j` as text (`"3"`, `"churn"`), as ZipMap's keys print.
    pub fn label(&self, j: usize) -> Option<String> {
        match self {
            ClassLabels::Int64(v) => v.get(j).map(|x| x.to_string()),
            ClassLabels::Strings(v) => v.get(j).cloned(),
        }
    }
}

/// An ONNX graph run by tract on the CPU, optimised once at load.
///
/// The signature is read from the graph: inputs that are not initializers, and outputs, with
/// symbolic dimensions (`dim_param`) and unknown dimensions mapped to `-1`. The first dimension
/// of every input is the batch; it stays symbolic, so one optimised plan serves every batch size.
pub struct OnnxPredictor {
    identity: ModelIdentity,
    signature: Signature,
    /// Input names in the graph's (and the plan's) order.
    inputs: Vec<TensorSpec>,
    /// Output names in the graph's (and the plan's) order.
    outputs: Vec<TensorSpec>,
    class_labels: BTreeMap<String, ClassLabels>,
    plan: Arc<TypedRunnableModel>,
}

impl fmt::Debug for OnnxPredictor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnnxPredictor")
            .field("identity", &self.identity)
            .field("signature", &self.signature)
            .field("class_labels", &self.class_labels)
            .finish_non_exhaustive()
    }
}

/// The domains whose operators this build knows; anything else is [`Error::Unsupported`].
const ONNX_DOMAIN: &str = "ai.onnx";
const ML_DOMAIN: &str = "ai.onnx.ml";

fn domain_of(node: &pb::NodeProto) -> &str {
    if node.domain.is_empty() {
        ONNX_DOMAIN
    } else {
        node.domain.as_str()
    }
}

fn elem_dtype(path: &Path, name: &str, elem_type: i32) -> Result<DType> {
    use pb::tensor_proto::DataType as D;
    Ok(match D::try_from(elem_type) {
        Ok(D::Bool) => DType::Bool,
        Ok(D::Uint8) => DType::U8,
        Ok(D::Uint16) => DType::U16,
        Ok(D::Uint32) => DType::U32,
        Ok(D::Uint64) => DType::U64,
        Ok(D::Int8) => DType::I8,
        Ok(D::Int16) => DType::I16,
        Ok(D::Int32) => DType::I32,
        Ok(D::Int64) => DType::I64,
        Ok(D::Float16) => DType::F16,
        Ok(D::Float) => DType::F32,
        Ok(D::Double) => DType::F64,
        Ok(D::String) => DType::Bytes,
        other => {
            return Err(Error::load(
                path,
                format!("{name:?} has element type {other:?}, which is not served"),
            ))
        }
    })
}

/// The `dim_param` names of a value's dimensions (`None` where a dimension has none).
fn dim_params(v: &pb::ValueInfoProto) -> Vec<Option<String>> {
    use pb::tensor_shape_proto::dimension::Value as Dim;
    use pb::type_proto::Value as T;
    match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(T::TensorType(tt)) => tt
            .shape
            .as_ref()
            .map(|s| {
                s.dim
                    .iter()
                    .map(|d| match &d.value {
                        Some(Dim::DimParam(p)) if !p.is_empty() => Some(p.clone()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn spec_of(path: &Path, v: &pb::ValueInfoProto) -> Result<TensorSpec> {
    use pb::tensor_shape_proto::dimension::Value as Dim;
    use pb::type_proto::Value as T;
    let Some(T::TensorType(tt)) = v.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return Err(Error::load(
            path,
            format!(
                "{:?} is not a tensor (sequences and maps are not served)",
                v.name
            ),
        ));
    };
    let dtype = elem_dtype(path, &v.name, tt.elem_type)?;
    let shape = tt
        .shape
        .as_ref()
        .map(|s| {
            s.dim
                .iter()
                .map(|d| match d.value {
                    Some(Dim::DimValue(n)) if n >= 0 => n,
                    _ => -1,
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(TensorSpec::new(&v.name, dtype, shape))
}

/// Every node of `graph` and of the graphs nested in its attributes (`If`, `Loop`, `Scan`).
fn for_each_node<'a>(
    graph: &'a pb::GraphProto,
    f: &mut dyn FnMut(&'a pb::NodeProto) -> Result<()>,
) -> Result<()> {
    for node in &graph.node {
        f(node)?;
        for attr in &node.attribute {
            if let Some(g) = attr.g.as_ref() {
                for_each_node(g, f)?;
            }
            for g in &attr.graphs {
                for_each_node(g, f)?;
            }
        }
    }
    Ok(())
}

/// Refuses, with one line naming the operator, a graph that uses an operator tract cannot run
/// (tract itself would only fail later, with the node's whole protobuf in the message).
fn check_operators(onnx: &tract_onnx::Onnx, graph: &pb::GraphProto) -> Result<()> {
    for_each_node(graph, &mut |node| {
        let domain = domain_of(node);
        let known = match domain {
            ONNX_DOMAIN => onnx.op_register.0.contains_key(&node.op_type),
            ML_DOMAIN => node.op_type == "ZipMap" || onnx.op_register.0.contains_key(&node.op_type),
            _ => false,
        };
        if known {
            Ok(())
        } else {
            Err(Error::Unsupported {
                op: node.op_type.clone(),
                domain: domain.to_string(),
            })
        }
    })
}

/// Replaces each `ZipMap` that feeds a graph output by an `Identity`, retyping that output as
/// the `float [N, C]` tensor the map was built from; returns the class labels per output.
fn lower_zipmaps(path: &Path, graph: &mut pb::GraphProto) -> Result<BTreeMap<String, ClassLabels>> {
    use pb::tensor_shape_proto::dimension::Value as Dim;
    let mut labels = BTreeMap::new();
    for node in graph.node.iter_mut() {
        if node.op_type != "ZipMap" || domain_of(node) != ML_DOMAIN {
            continue;
        }
        let (Some(input), Some(output)) = (node.input.first(), node.output.first()) else {
            return Err(Error::load(path, "ZipMap without an input or output"));
        };
        let output = output.clone();
        let mut found = None;
        for attr in &node.attribute {
            match attr.name.as_str() {
                "classlabels_int64s" => found = Some(ClassLabels::Int64(attr.ints.clone())),
                "classlabels_strings" => {
                    let strings = attr
                        .strings
                        .iter()
                        .map(|s| String::from_utf8(s.clone()))
                        .collect::<std::result::Result<Vec<_>, _>>()
                        .map_err(|_| Error::load(path, "ZipMap class label is not UTF-8"))?;
                    found = Some(ClassLabels::Strings(strings));
                }
                _ => {}
            }
        }
        let Some(class_labels) = found else {
            return Err(Error::load(path, "ZipMap without class labels"));
        };
        let Some(out_info) = graph.output.iter_mut().find(|o| o.name == output) else {
            return Err(Error::Unsupported {
                op: "ZipMap (not feeding a graph output)".into(),
                domain: ML_DOMAIN.into(),
            });
        };
        let classes = i64::try_from(class_labels.len())
            .map_err(|_| Error::load(path, "too many ZipMap classes"))?;
        let dims = vec![
            pb::tensor_shape_proto::Dimension {
                value: Some(Dim::DimParam("N".into())),
                ..Default::default()
            },
            pb::tensor_shape_proto::Dimension {
                value: Some(Dim::DimValue(classes)),
                ..Default::default()
            },
        ];
        out_info.r#type = Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(pb::TensorShapeProto { dim: dims }),
            })),
            ..Default::default()
        });
        let input = input.clone();
        *node = pb::NodeProto {
            input: vec![input],
            output: vec![output.clone()],
            name: node.name.clone(),
            op_type: "Identity".into(),
            ..Default::default()
        };
        labels.insert(output, class_labels);
    }
    Ok(labels)
}

/// Rewrites a `LinearClassifier` with string class labels (`classlabels_strings`), which tract's
/// cannot type, into one predicting label indices followed by a `CategoryMapper` from index to
/// string: onnxruntime's meaning, checked by the exporter matrix (the sklearn pipeline).
fn rewrite_for_tract(graph: &mut pb::GraphProto) {
    use pb::attribute_proto::AttributeType as A;
    let ints = |name: &str, ints: Vec<i64>| pb::AttributeProto {
        name: name.into(),
        r#type: A::Ints as i32,
        ints,
        ..Default::default()
    };
    let mut nodes = Vec::with_capacity(graph.node.len());
    for mut node in std::mem::take(&mut graph.node) {
        let strings_at = node
            .attribute
            .iter()
            .position(|a| a.name == "classlabels_strings");
        let rewrite = domain_of(&node) == ML_DOMAIN && node.op_type == "LinearClassifier";
        let (true, Some(at), Some(label)) = (rewrite, strings_at, node.output.first().cloned())
        else {
            nodes.push(node);
            continue;
        };
        let strings = std::mem::take(&mut node.attribute[at].strings);
        let ids: Vec<i64> = (0..strings.len() as i64).collect();
        node.attribute[at] = ints("classlabels_ints", ids.clone());
        let index = format!("{label}__mlops_label_index");
        node.output[0] = index.clone();
        nodes.push(node);
        nodes.push(pb::NodeProto {
            input: vec![index],
            output: vec![label.clone()],
            name: format!("{label}__mlops_labels"),
            op_type: "CategoryMapper".into(),
            domain: ML_DOMAIN.into(),
            attribute: vec![
                ints("cats_int64s", ids),
                pb::AttributeProto {
                    name: "cats_strings".into(),
                    r#type: A::Strings as i32,
                    strings,
                    ..Default::default()
                },
                pb::AttributeProto {
                    name: "default_string".into(),
                    r#type: A::String as i32,
                    ..Default::default()
                },
            ],
            ..Default::default()
        });
    }
    graph.node = nodes;
}

impl OnnxPredictor {
    /// Reads, checks and optimises the ONNX file at `path`.
    ///
    /// # Errors
    /// - [`Error::Load`] when the file cannot be read or decoded, has no graph, has an input or
    ///   output that is not a tensor of a served element type, or tract cannot type or optimise
    ///   the graph;
    /// - [`Error::Unsupported`] naming the first operator this build cannot run.
    #[tracing::instrument(skip_all, fields(model = %identity), err)]
    pub fn load(identity: ModelIdentity, path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::load(path, e))?;
        let onnx = onnx_framework();
        let proto = onnx
            .proto_model_for_read(&mut bytes.as_slice())
            .map_err(|e| Error::load(path, format!("not an ONNX model: {e}")))?;
        Self::build(&onnx, identity, proto, path)
    }

    /// Wraps a decoded ONNX model; `path` is used in error messages only.
    ///
    /// # Errors
    /// As [`OnnxPredictor::load`].
    pub fn from_proto(identity: ModelIdentity, model: pb::ModelProto, path: &Path) -> Result<Self> {
        Self::build(&onnx_framework(), identity, model, path)
    }

    fn build(
        onnx: &tract_onnx::Onnx,
        identity: ModelIdentity,
        mut model: pb::ModelProto,
        path: &Path,
    ) -> Result<Self> {
        let Some(graph) = model.graph.as_mut() else {
            return Err(Error::load(path, "no graph in the ONNX model"));
        };
        check_operators(onnx, graph)?;
        let class_labels = lower_zipmaps(path, graph)?;
        rewrite_for_tract(graph);
        let init: std::collections::HashSet<&str> =
            graph.initializer.iter().map(|t| t.name.as_str()).collect();
        let inputs = graph
            .input
            .iter()
            .filter(|i| !init.contains(i.name.as_str()))
            .map(|i| spec_of(path, i))
            .collect::<Result<Vec<_>>>()?;
        let params: Vec<Vec<Option<String>>> = graph
            .input
            .iter()
            .filter(|i| !init.contains(i.name.as_str()))
            .map(dim_params)
            .collect();
        let mut outputs = graph
            .output
            .iter()
            .map(|o| spec_of(path, o))
            .collect::<Result<Vec<_>>>()?;
        // With a batch dimension on the inputs, every output has one row per input row. Some
        // exporters declare a fixed first dimension anyway (onnxmltools' LightGBM `label` says
        // `[1]`; onnxruntime returns one row per input row and warns): trust the rows.
        if inputs.iter().any(|i| i.shape.first() == Some(&-1)) {
            for o in &mut outputs {
                if let Some(d) = o.shape.first_mut() {
                    *d = -1;
                }
            }
        }
        if inputs.is_empty() || outputs.is_empty() {
            return Err(Error::load(path, "graph without inputs or outputs"));
        }
        let plan = plan(onnx, &model, &inputs, &params, path)?;
        Ok(Self {
            identity,
            signature: Signature {
                inputs: Schema::new(inputs.clone()),
                outputs: Schema::new(outputs.clone()),
            },
            inputs,
            outputs,
            class_labels,
            plan,
        })
    }

    /// The class labels of each output that the exporter wrapped in a `ZipMap`, by output name.
    pub fn class_labels(&self) -> &BTreeMap<String, ClassLabels> {
        &self.class_labels
    }
}

/// tract's ONNX framework with our ai.onnx.ml operators registered.
fn onnx_framework() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    ml::register(&mut onnx.op_register);
    onnx
}

/// Parses, types (batch dimension symbolic) and optimises the graph into a runnable plan.
fn plan(
    onnx: &tract_onnx::Onnx,
    model: &pb::ModelProto,
    inputs: &[TensorSpec],
    params: &[Vec<Option<String>>],
    path: &Path,
) -> Result<Arc<TypedRunnableModel>> {
    let fail = |stage: &str, e: tract_onnx::prelude::TractError| {
        Error::load(path, format!("{stage}: {}", convert::one_line(&e)))
    };
    let mut m = onnx
        .model_for_proto_model(model)
        .map_err(|e| fail("cannot parse the graph", e))?;
    // The batch dimension: the graph's own name for it when it has one (`batch`, `N`), so the
    // facts we set unify with the shapes tract infers from the graph.
    let batch_name = params
        .iter()
        .find_map(|p| p.first().cloned().flatten())
        .unwrap_or_else(|| "N".to_string());
    let batch = m.symbols.sym(&batch_name);
    for (i, spec) in inputs.iter().enumerate() {
        let dt = convert::datum_type(spec.dtype).ok_or_else(|| {
            Error::load(path, format!("input {:?} has an unserved type", spec.name))
        })?;
        let dims: TVec<TDim> = spec
            .shape
            .iter()
            .enumerate()
            .map(|(axis, &d)| {
                let named = params.get(i).and_then(|p| p.get(axis)).cloned().flatten();
                if d >= 0 {
                    TDim::from(d)
                } else if let Some(name) = named {
                    TDim::Sym(m.symbols.sym(&name))
                } else if axis == 0 {
                    TDim::Sym(batch.clone())
                } else {
                    TDim::Sym(m.symbols.sym(&format!("{}_{axis}", spec.name)))
                }
            })
            .collect();
        let fact = InferenceFact::dt_shape(dt, dims);
        m.set_input_fact(i, fact)
            .map_err(|e| fail("cannot type the inputs", e))?;
    }
    let typed = m
        .into_optimized()
        .map_err(|e| fail("cannot type or optimise the graph", e))?;
    let runnable = typed
        .into_runnable()
        .map_err(|e| fail("cannot plan the graph", e))?;
    Ok(runnable)
}

impl Predictor for OnnxPredictor {
    fn identity(&self) -> &ModelIdentity {
        &self.identity
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn predict(&self, inputs: &Tensors) -> Result<Tensors> {
        let mut values: TVec<TValue> = TVec::with_capacity(self.inputs.len());
        for spec in &self.inputs {
            let t = inputs.get(&spec.name).ok_or_else(|| {
                Error::invalid(&spec.name, "missing input (the model needs every input)")
            })?;
            let t = convert::to_tract(t, spec.dtype).map_err(|e| Error::invalid(&spec.name, e))?;
            values.push(t.into());
        }
        let out = self
            .plan
            .run(values)
            .map_err(|e| model_err(&self.identity, convert::one_line(&e)))?;
        if out.len() != self.outputs.len() {
            return Err(model_err(
                &self.identity,
                format!(
                    "graph gave {} outputs, not {}",
                    out.len(),
                    self.outputs.len()
                ),
            ));
        }
        let mut result = Tensors::new();
        for (spec, t) in self.outputs.iter().zip(out.iter()) {
            let t = convert::from_tract(t)
                .map_err(|e| model_err(&self.identity, format!("output {:?}: {e}", spec.name)))?;
            result.insert(spec.name.clone(), t);
        }
        Ok(result)
    }
}
