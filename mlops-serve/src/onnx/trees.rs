//! `TreeEnsembleRegressor` and `TreeEnsembleClassifier` (ai.onnx.ml), as onnxruntime evaluates
//! them (`tree_ensemble_aggregator.h`): per tree, walk from its root comparing the f32 feature
//! with the f32 threshold (NaN takes the true branch when the node tracks missing values); each
//! leaf adds its weights to targets or classes; aggregate, add base values, post-transform; a
//! classifier's label is the first class of highest score, with onnxruntime's binary rules.
//!
//! tract ships a `TreeEnsembleClassifier`, but it ran the fixtures' LightGBM model ~300× slower
//! than onnxruntime and labels skl2onnx's binary gradient boosting wrongly; ours replaces it.

use std::collections::HashMap;

use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::ml::{as_f32, attr, floats, int, ints, op_named, string, strings, wire_self};

/// Registers both ensembles (replacing tract's classifier).
pub(super) fn register(reg: &mut OnnxOpRegister) {
    reg.insert("TreeEnsembleRegressor", regressor);
    reg.insert("TreeEnsembleClassifier", classifier);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Leq,
    Lt,
    Gte,
    Gt,
    Eq,
    Neq,
    Leaf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Average,
    Min,
    Max,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Post {
    None,
    Softmax,
    Logistic,
    SoftmaxZero,
}

#[derive(Debug, Clone, PartialEq)]
struct TreeNode {
    feature: u32,
    threshold: f32,
    mode: Mode,
    missing_true: bool,
    true_child: u32,
    false_child: u32,
    /// Range into `Ensemble::weights` of a leaf's (target, weight) pairs.
    weights: (u32, u32),
}

/// The trees of either operator, flattened.
#[derive(Debug, Clone, PartialEq)]
struct Ensemble {
    nodes: Vec<TreeNode>,
    weights: Vec<(usize, f32)>,
    roots: Vec<usize>,
    /// Targets (regressor) or classes (classifier).
    width: usize,
    base: Vec<f32>,
    post: Post,
    n_features: usize,
}

fn parse_post(node: &NodeProto) -> TractResult<Post> {
    Ok(match string(node, "post_transform", "NONE")?.as_str() {
        "NONE" => Post::None,
        "SOFTMAX" => Post::Softmax,
        "LOGISTIC" => Post::Logistic,
        "SOFTMAX_ZERO" => Post::SoftmaxZero,
        other => bail!("{}: post_transform {other} is not supported", node.op_type),
    })
}

impl Ensemble {
    /// Parses the `nodes_*` attributes and the leaf attributes `<leaf>_treeids`, `_nodeids`,
    /// `_ids`, `_weights` (`target` for the regressor, `class` for the classifier).
    fn parse(node: &NodeProto, leaf: &str, width: usize) -> TractResult<Ensemble> {
        let op = node.op_type.as_str();
        ensure!(
            attr(node, "nodes_values_as_tensor").is_none()
                && attr(node, "base_values_as_tensor").is_none(),
            "{op} with double thresholds (*_as_tensor) is not supported"
        );
        let tree_ids = ints(node, "nodes_treeids");
        let node_ids = ints(node, "nodes_nodeids");
        let feature_ids = ints(node, "nodes_featureids");
        let values = floats(node, "nodes_values");
        let modes = strings(node, "nodes_modes")?;
        let true_ids = ints(node, "nodes_truenodeids");
        let false_ids = ints(node, "nodes_falsenodeids");
        let missing = ints(node, "nodes_missing_value_tracks_true");
        let n = tree_ids.len();
        ensure!(n > 0, "{op} without nodes");
        for (name, len) in [
            ("nodes_nodeids", node_ids.len()),
            ("nodes_featureids", feature_ids.len()),
            ("nodes_values", values.len()),
            ("nodes_modes", modes.len()),
            ("nodes_truenodeids", true_ids.len()),
            ("nodes_falsenodeids", false_ids.len()),
        ] {
            ensure!(len == n, "{op}: {name} has {len} entries, not {n}");
        }
        ensure!(
            missing.is_empty() || missing.len() == n,
            "{op}: nodes_missing_value_tracks_true has {} entries, not {n}",
            missing.len()
        );
        let mut index: HashMap<(i64, i64), usize> = HashMap::with_capacity(n);
        let mut roots = Vec::new();
        for i in 0..n {
            if index.insert((tree_ids[i], node_ids[i]), i).is_some() {
                bail!(
                    "{op}: node {} of tree {} appears twice",
                    node_ids[i],
                    tree_ids[i]
                );
            }
            if i == 0 || tree_ids[i] != tree_ids[i - 1] {
                roots.push(i);
            }
        }
        let to_u32 = |x: usize| u32::try_from(x).map_err(|_| format_err!("{op}: too many nodes"));
        // Leaf weights, grouped per leaf node.
        let l_tree = ints(node, &format!("{leaf}_treeids"));
        let l_node = ints(node, &format!("{leaf}_nodeids"));
        let l_id = ints(node, &format!("{leaf}_ids"));
        let l_w = floats(node, &format!("{leaf}_weights"));
        ensure!(
            l_node.len() == l_tree.len() && l_id.len() == l_tree.len() && l_w.len() == l_tree.len(),
            "{op}: {leaf}_* attributes differ in length"
        );
        let mut per_leaf: Vec<Vec<(usize, f32)>> = vec![Vec::new(); n];
        for k in 0..l_tree.len() {
            let i = index
                .get(&(l_tree[k], l_node[k]))
                .copied()
                .ok_or_else(|| format_err!("{op}: a weight names a missing node {}", l_node[k]))?;
            let target = usize::try_from(l_id[k])
                .ok()
                .filter(|&t| t < width)
                .ok_or_else(|| format_err!("{op}: {leaf} id {} out of range", l_id[k]))?;
            per_leaf[i].push((target, l_w[k]));
        }
        let mut nodes = Vec::with_capacity(n);
        let mut weights = Vec::with_capacity(l_tree.len());
        let mut n_features = 0usize;
        for i in 0..n {
            let mode = match modes[i].as_str() {
                "BRANCH_LEQ" => Mode::Leq,
                "BRANCH_LT" => Mode::Lt,
                "BRANCH_GTE" => Mode::Gte,
                "BRANCH_GT" => Mode::Gt,
                "BRANCH_EQ" => Mode::Eq,
                "BRANCH_NEQ" => Mode::Neq,
                "LEAF" => Mode::Leaf,
                other => bail!("{op}: unknown node mode {other}"),
            };
            let child = |id: i64| -> TractResult<u32> {
                let c = index
                    .get(&(tree_ids[i], id))
                    .copied()
                    .ok_or_else(|| format_err!("{op}: tree {} has no node {id}", tree_ids[i]))?;
                to_u32(c)
            };
            let (t, f) = if mode == Mode::Leaf {
                (to_u32(i)?, to_u32(i)?)
            } else {
                (child(true_ids[i])?, child(false_ids[i])?)
            };
            let feature = usize::try_from(feature_ids[i])
                .map_err(|_| format_err!("{op}: negative feature id"))?;
            if mode != Mode::Leaf {
                n_features = n_features.max(feature + 1);
            }
            let start = to_u32(weights.len())?;
            weights.extend(per_leaf[i].iter().copied());
            nodes.push(TreeNode {
                feature: to_u32(feature)?,
                threshold: values[i],
                mode,
                missing_true: missing.get(i).is_some_and(|&m| m != 0),
                true_child: t,
                false_child: f,
                weights: (start, to_u32(weights.len())?),
            });
        }
        let base = floats(node, "base_values");
        Ok(Ensemble {
            nodes,
            weights,
            roots,
            width,
            base,
            post: parse_post(node)?,
            n_features,
        })
    }

    /// The leaf `row` reaches in the tree rooted at `root`.
    fn leaf(&self, root: usize, row: &[f32]) -> TractResult<&TreeNode> {
        let mut i = root;
        // A well-formed tree reaches a leaf in at most `nodes.len()` steps; a cycle is an error.
        for _ in 0..=self.nodes.len() {
            let node = &self.nodes[i];
            if node.mode == Mode::Leaf {
                return Ok(node);
            }
            let x = row[node.feature as usize];
            let v = node.threshold;
            let go_true = if x.is_nan() {
                node.missing_true
            } else {
                match node.mode {
                    Mode::Leq => x <= v,
                    Mode::Lt => x < v,
                    Mode::Gte => x >= v,
                    Mode::Gt => x > v,
                    Mode::Eq => x == v,
                    Mode::Neq => x != v,
                    Mode::Leaf => true,
                }
            };
            i = if go_true {
                node.true_child
            } else {
                node.false_child
            } as usize;
        }
        bail!("tree ensemble: a tree has a cycle")
    }

    /// Aggregated leaf weights per target/class, and whether any leaf scored it.
    fn scores(
        &self,
        row: &[f32],
        aggregate: Aggregate,
        acc: &mut [f32],
        seen: &mut [bool],
    ) -> TractResult<()> {
        acc.fill(0.0);
        seen.fill(false);
        for &root in &self.roots {
            let leaf = self.leaf(root, row)?;
            for &(t, w) in &self.weights[leaf.weights.0 as usize..leaf.weights.1 as usize] {
                acc[t] = match (aggregate, seen[t]) {
                    (Aggregate::Sum | Aggregate::Average, _) => acc[t] + w,
                    (Aggregate::Min | Aggregate::Max, false) => w,
                    (Aggregate::Min, true) => acc[t].min(w),
                    (Aggregate::Max, true) => acc[t].max(w),
                };
                seen[t] = true;
            }
        }
        Ok(())
    }

    /// Reads the input as rows of f32 (onnxruntime's ml ops cast the same way).
    fn rows(&self, input: &TValue) -> TractResult<(usize, usize, Vec<f32>)> {
        let (rows, cols) = match input.shape() {
            [n] => (1, *n),
            [n, c] => (*n, *c),
            other => bail!("tree ensemble takes a matrix, got shape {other:?}"),
        };
        ensure!(
            cols >= self.n_features,
            "tree ensemble reads feature {} of rows with {cols}",
            self.n_features.saturating_sub(1)
        );
        Ok((rows, cols, as_f32(input)?))
    }
}

/// onnxruntime's `ComputeLogistic`.
fn logistic(v: f32) -> f32 {
    let e = 1.0 / (1.0 + (-v.abs()).exp());
    if v < 0.0 {
        1.0 - e
    } else {
        e
    }
}

fn post_transform(post: Post, v: &mut [f32]) {
    match post {
        Post::None => {}
        Post::Logistic => v.iter_mut().for_each(|x| *x = logistic(*x)),
        Post::Softmax | Post::SoftmaxZero => {
            let zero = post == Post::SoftmaxZero;
            let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0;
            for x in v.iter_mut() {
                *x = if zero && *x == 0.0 {
                    0.0
                } else {
                    (*x - max).exp()
                };
                sum += *x;
            }
            if sum > 0.0 {
                v.iter_mut().for_each(|x| *x /= sum);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// TreeEnsembleRegressor

#[derive(Debug, Clone, PartialEq)]
struct Regressor {
    ensemble: Ensemble,
    aggregate: Aggregate,
}

// Parameters are finite floats from the model file; equality only deduplicates nodes.
impl Eq for Regressor {}

fn regressor(
    _: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let width = usize::try_from(int(node, "n_targets", 1))
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| format_err!("TreeEnsembleRegressor: n_targets must be positive"))?;
    let ensemble = Ensemble::parse(node, "target", width)?;
    ensure!(
        ensemble.base.is_empty() || ensemble.base.len() == width,
        "TreeEnsembleRegressor: {} base_values for {width} targets",
        ensemble.base.len()
    );
    let aggregate = match string(node, "aggregate_function", "SUM")?.as_str() {
        "SUM" => Aggregate::Sum,
        "AVERAGE" => Aggregate::Average,
        "MIN" => Aggregate::Min,
        "MAX" => Aggregate::Max,
        other => bail!("TreeEnsembleRegressor: unknown aggregate_function {other}"),
    };
    Ok((
        expand(Regressor {
            ensemble,
            aggregate,
        }),
        vec![],
    ))
}

impl Expansion for Regressor {
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
        s.equals(&outputs[0].rank, 2)?;
        s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
        s.equals(&outputs[0].shape[1], self.ensemble.width.to_dim())?;
        Ok(())
    }

    wire_self!();
}

op_named!(Regressor, "TreeEnsembleRegressor");

impl EvalOp for Regressor {
    op_out_of_plan!();

    fn eval(&self, _: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let e = &self.ensemble;
        let (rows, cols, x) = e.rows(&input)?;
        let k = e.width;
        let mut out = vec![0f32; rows * k];
        let mut seen = vec![false; k];
        for r in 0..rows {
            let acc = &mut out[r * k..(r + 1) * k];
            e.scores(&x[r * cols..(r + 1) * cols], self.aggregate, acc, &mut seen)?;
            for (t, v) in acc.iter_mut().enumerate() {
                if self.aggregate == Aggregate::Average {
                    *v /= e.roots.len() as f32;
                }
                *v += e.base.get(t).copied().unwrap_or(0.0);
            }
            post_transform(e.post, acc);
        }
        Ok(tvec!(Tensor::from_shape(&[rows, k], &out)?.into_tvalue()))
    }
}

impl TypedOp for Regressor {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let n = inputs[0]
            .shape
            .first()
            .cloned()
            .unwrap_or_else(|| 1.to_dim());
        Ok(tvec!(f32::fact([n, self.ensemble.width.to_dim()])))
    }
    as_op!();
}

// ---------------------------------------------------------------------------------------------
// TreeEnsembleClassifier

#[derive(Debug, Clone, PartialEq, Eq)]
enum Labels {
    Ints(Vec<i64>),
    Strings(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
struct Classifier {
    ensemble: Ensemble,
    labels: Labels,
    /// Two classes and every leaf weight on one class (onnxruntime's `binary_case_`).
    binary_case: bool,
    weights_all_positive: bool,
}

// As for the regressor: equality only deduplicates nodes.
impl Eq for Classifier {}

fn classifier(
    _: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let ints = ints(node, "classlabels_int64s");
    let strings = strings(node, "classlabels_strings")?;
    let labels = match (ints.is_empty(), strings.is_empty()) {
        (false, true) => Labels::Ints(ints),
        (true, false) => Labels::Strings(strings),
        _ => bail!("TreeEnsembleClassifier needs exactly one of classlabels_int64s and classlabels_strings"),
    };
    let width = match &labels {
        Labels::Ints(v) => v.len(),
        Labels::Strings(v) => v.len(),
    };
    let ensemble = Ensemble::parse(node, "class", width)?;
    let classes_used: std::collections::BTreeSet<usize> =
        ensemble.weights.iter().map(|w| w.0).collect();
    let binary_case = width == 2 && classes_used.len() == 1;
    let weights_all_positive = ensemble.weights.iter().all(|w| w.1 >= 0.0);
    Ok((
        expand(Classifier {
            ensemble,
            labels,
            binary_case,
            weights_all_positive,
        }),
        vec![],
    ))
}

impl Classifier {
    /// onnxruntime's `FinalizeScores` for one row: the label index and the probabilities.
    fn finalize(&self, acc: &mut [f32], seen: &mut [bool], probs: &mut [f32]) -> usize {
        let e = &self.ensemble;
        if e.width > 2 {
            for (k, &b) in e.base.iter().enumerate().take(e.width) {
                if seen[k] {
                    acc[k] += b;
                } else {
                    acc[k] = b;
                    seen[k] = true;
                }
            }
            let mut best: Option<usize> = None;
            for k in 0..e.width {
                if seen[k] && best.is_none_or(|b| acc[k] > acc[b]) {
                    best = Some(k);
                }
            }
            probs.copy_from_slice(acc);
            post_transform(e.post, probs);
            return best.unwrap_or(0);
        }
        // Two classes (one class is handled as two with a single score).
        let mut add_second: i32 = -1;
        let mut one_score = false;
        match e.base.len() {
            2 if seen[1] => {
                acc[1] = e.base[1] + acc[0];
                acc[0] = -acc[1];
            }
            2 => {
                acc[1] += e.base[1];
                acc[0] += e.base[0];
            }
            1 => {
                acc[0] += e.base[0];
                one_score = !seen[1];
            }
            _ => {
                add_second = 3;
                one_score = !seen[1];
            }
        }
        let pos_weight = if !one_score && seen[1] {
            acc[1]
        } else if seen[0] {
            acc[0]
        } else {
            0.0
        };
        let label = if self.binary_case {
            if self.weights_all_positive {
                add_second = if pos_weight > 0.5 { 0 } else { 1 };
                usize::from(pos_weight > 0.5)
            } else {
                add_second = if pos_weight > 0.0 { 2 } else { 3 };
                usize::from(pos_weight > 0.0)
            }
        } else {
            usize::from(pos_weight > 0.0)
        };
        if one_score {
            // ml_common.h `write_scores` with one score.
            let s = acc[0];
            match (add_second, e.post) {
                (0 | 1, _) => {
                    probs[0] = 1.0 - s;
                    probs[1] = s;
                }
                (2 | 3, Post::Logistic) => {
                    probs[0] = logistic(-s);
                    probs[1] = logistic(s);
                }
                (2 | 3, _) => {
                    probs[0] = -s;
                    probs[1] = s;
                }
                _ => {
                    probs[0] = s;
                    probs[1] = 0.0;
                }
            }
        } else {
            probs.copy_from_slice(&acc[..2]);
            post_transform(e.post, probs);
        }
        label
    }
}

impl Expansion for Classifier {
    fn name(&self) -> StaticName {
        Op::name(self)
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(2)
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 2)?;
        let dt = match self.labels {
            Labels::Ints(_) => DatumType::I64,
            Labels::Strings(_) => DatumType::String,
        };
        s.equals(&outputs[0].datum_type, dt)?;
        s.equals(&outputs[1].datum_type, DatumType::F32)?;
        s.equals(&outputs[0].rank, 1)?;
        s.equals(&outputs[1].rank, 2)?;
        s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
        s.equals(&outputs[1].shape[0], &inputs[0].shape[0])?;
        s.equals(&outputs[1].shape[1], self.ensemble.width.to_dim())?;
        Ok(())
    }

    wire_self!();
}

op_named!(Classifier, "TreeEnsembleClassifier");

impl EvalOp for Classifier {
    op_out_of_plan!();

    fn eval(&self, _: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let e = &self.ensemble;
        let (rows, cols, x) = e.rows(&input)?;
        let k = e.width;
        let mut probs = vec![0f32; rows * k];
        let mut label_ix = Vec::with_capacity(rows);
        let mut acc = vec![0f32; k];
        let mut seen = vec![false; k];
        for r in 0..rows {
            e.scores(
                &x[r * cols..(r + 1) * cols],
                Aggregate::Sum,
                &mut acc,
                &mut seen,
            )?;
            label_ix.push(self.finalize(&mut acc, &mut seen, &mut probs[r * k..(r + 1) * k]));
        }
        let labels = match &self.labels {
            Labels::Ints(v) => {
                let l: Vec<i64> = label_ix.iter().map(|&i| v[i]).collect();
                Tensor::from_shape(&[rows], &l)?
            }
            Labels::Strings(v) => {
                let l: Vec<String> = label_ix.iter().map(|&i| v[i].clone()).collect();
                tract_ndarray::Array1::from_vec(l).into_tensor()
            }
        };
        Ok(tvec!(
            labels.into_tvalue(),
            Tensor::from_shape(&[rows, k], &probs)?.into_tvalue()
        ))
    }
}

impl TypedOp for Classifier {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let n = inputs[0]
            .shape
            .first()
            .cloned()
            .unwrap_or_else(|| 1.to_dim());
        let label = match self.labels {
            Labels::Ints(_) => i64::fact([n.clone()]),
            Labels::Strings(_) => String::fact([n.clone()]),
        };
        Ok(tvec!(label, f32::fact([n, self.ensemble.width.to_dim()])))
    }
    as_op!();
}
