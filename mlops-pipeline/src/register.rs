//! After the steps: the evaluation gate against the champion, then registration with full
//! lineage and the candidate alias.
//!
//! ```toml
//! [gate]
//! candidate = "@train.model"     # the candidate's model directory (mlops_serve::load_model_dir)
//! heldout = "@split.holdout"     # the held-out table both models are scored on
//! label = "churned"              # its binary label column
//! id = "customer_id"             # optional: row ids (the report records their digest)
//! segment = "plan"               # optional: the column [gate.segments.<label>] select on
//! champion = "production"        # the alias of [register].model to beat (default "champion")
//! # output = "y"                 # which model output is the score (default: the only one)
//! first_model = "value_thresholds_only"
//! [gate.metrics.roc_auc]
//! threshold = 0.8
//! min_absolute_change = 0.0
//!
//! [register]
//! model = "churn"
//! alias = "canary"               # set on a passing candidate (default "candidate")
//! first_alias = "production"     # with no champion, set this alias instead (optional)
//! datasets = ["data/train.csv", "@split.holdout"]  # snapshot digests in the lineage
//! ```
//!
//! The gate (see [`crate::gate`]) scores both models on the same rows with
//! [`crate::score::score`]. The champion is loaded from the registry
//! ([`mlops_serve::load_from_registry`]), so a champion that ships its fitted transform chain is
//! scored on raw columns exactly as it is served.
//!
//! A passing candidate is registered with:
//! - its model directory's files as artifacts, plus `blessing.json` (the [`GateReport`]) and
//!   `run.json` (the run's steps, their cache keys and digests, and its trigger);
//! - lineage: the snapshot digests of `datasets`, the git commit of the pipeline's directory,
//!   and the champion's version as parent;
//! - tags `mlops.pipeline`, `mlops.run_id`, `mlops.trigger`, `mlops.code_dirty`,
//!   `mlops.blessed`, `mlops.gate.rows_digest`, `mlops.study.<step>` / `mlops.trial.<step>` for
//!   `tune` steps; params `<step>.<param>`; metrics: the gate's candidate values and each step's
//!   metrics as `<step>.<metric>`.
//!
//! Then `alias` points at it (or `first_alias` when there was no champion), and a rollout
//! controller watching that alias (`mlops serve`, `RegistryDeployment`) takes it from there.
//! A failing candidate is neither registered nor aliased; the report names every failed
//! threshold with its numbers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mlops_core::{AliasName, Lineage, ModelName, ModelRef, SnapshotBuilder};
use mlops_registry::{Change, NewVersion, Registry};
use mlops_serve::ModelIdentity;
use serde::{Deserialize, Serialize};

use crate::data;
use crate::error::{Error, Result};
use crate::gate::{evaluate, EvalInput, GateReport, GateSpec};
use crate::run::{Registered, RunReport, StepStatus};
use crate::score;
use crate::spec::{Pipeline, StepRun};

/// Sidecar artifacts this module adds to a version, beside the model's files.
pub const SIDECARS: [&str; 2] = mlops_serve::SIDECAR_ARTIFACTS;

/// The `[gate]` table: where the candidate and the held-out rows are, and the thresholds.
#[derive(Debug, Clone, PartialEq)]
pub struct GateConfig {
    /// The candidate's model directory (`@step.output` or a path), resolved.
    pub candidate: PathBuf,
    /// The held-out table, resolved.
    pub heldout: PathBuf,
    /// Its label column.
    pub label: String,
    /// Its row-id column.
    pub id: Option<String>,
    /// Its segment column.
    pub segment: Option<String>,
    /// The champion's alias.
    pub champion: String,
    /// The output scored.
    pub output: Option<String>,
    /// The thresholds.
    pub spec: GateSpec,
}

/// The `[register]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterConfig {
    /// The model's name in the registry.
    pub model: String,
    /// The alias a passing candidate gets (default `candidate`).
    #[serde(default = "default_alias")]
    pub alias: String,
    /// The alias a passing first model gets instead, when there was no champion.
    #[serde(default)]
    pub first_alias: Option<String>,
    /// Inputs whose snapshot digests go into the lineage (`@step.output` or paths; default:
    /// every input of the pipeline that no step produces).
    #[serde(default)]
    pub datasets: Option<Vec<String>>,
    /// The version's description.
    #[serde(default)]
    pub description: Option<String>,
    /// Extra tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

fn default_alias() -> String {
    "candidate".into()
}

/// The gate and registration of a pipeline, validated before any step runs.
#[derive(Debug, Clone, PartialEq)]
pub struct PostRun {
    /// The gate.
    pub gate: GateConfig,
    /// Registration, when the pipeline has a `[register]` table.
    pub register: Option<RegisterConfig>,
    /// Resolved dataset paths for the lineage.
    pub datasets: Vec<PathBuf>,
}

/// Resolves `@step.output` or a path relative to the pipeline's root.
///
/// # Errors
/// [`Error::InvalidSpec`] at `at` for an unknown step or output.
pub fn resolve_ref(pipeline: &Pipeline, reference: &str, at: &str) -> Result<PathBuf> {
    if let Some(r) = reference.strip_prefix('@') {
        let (step, out) = r
            .split_once('.')
            .ok_or_else(|| Error::spec(at, format!("{reference:?} is not @step.output")))?;
        let s = pipeline
            .step(step)
            .ok_or_else(|| Error::spec(at, format!("no step {step:?}")))?;
        return s.outputs.get(out).cloned().ok_or_else(|| {
            Error::spec(
                at,
                format!(
                    "step {step:?} has no output {out:?} (outputs: {})",
                    s.outputs.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
        });
    }
    let p = Path::new(reference);
    Ok(if p.is_absolute() {
        p.to_path_buf()
    } else {
        pipeline.root.join(p)
    })
}

/// `greater_is_better` may be left out for a metric the gate knows: its direction is filled
/// in (stating it against the metric's direction stays an error of [`GateSpec::validate`]).
fn fill_direction(metrics: Option<&mut toml::Value>) {
    let Some(toml::Value::Table(m)) = metrics else {
        return;
    };
    for (name, th) in m.iter_mut() {
        if let toml::Value::Table(th) = th {
            // An unknown metric gets a placeholder, so that validation names it.
            let better =
                crate::gate::GateMetric::from_name(name).is_none_or(|m| m.greater_is_better());
            th.entry("greater_is_better")
                .or_insert(toml::Value::Boolean(better));
        }
    }
}

fn take_string(t: &mut toml::Table, key: &str) -> Result<Option<String>> {
    match t.remove(key) {
        None => Ok(None),
        Some(toml::Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(Error::spec(
            format!("gate.{key}"),
            format!("{other:?} is not a string"),
        )),
    }
}

impl PostRun {
    /// Reads the pipeline's `[gate]` and `[register]` tables; `None` when it has no `[gate]`.
    ///
    /// # Errors
    /// [`Error::InvalidSpec`] naming the key: a `[register]` without `[gate]` (a model that
    /// was not evaluated is never registered), a missing `candidate`/`heldout`/`label`, a
    /// reference to an unknown step or output, an invalid threshold ([`GateSpec::validate`]),
    /// an invalid model or alias name, or an unknown key.
    pub fn from_pipeline(pipeline: &Pipeline) -> Result<Option<PostRun>> {
        let Some(gate) = &pipeline.gate else {
            if pipeline.register.is_some() {
                return Err(Error::spec(
                    "register",
                    "a [register] table needs a [gate]: a candidate is registered only when it passes",
                ));
            }
            return Ok(None);
        };
        let toml::Value::Table(mut t) = gate.clone() else {
            return Err(Error::spec("gate", "is not a table"));
        };
        let need = |v: Option<String>, k: &str| {
            v.ok_or_else(|| Error::spec(format!("gate.{k}"), "is required"))
        };
        let candidate = need(take_string(&mut t, "candidate")?, "candidate")?;
        let heldout = need(take_string(&mut t, "heldout")?, "heldout")?;
        let label = need(take_string(&mut t, "label")?, "label")?;
        let id = take_string(&mut t, "id")?;
        let segment = take_string(&mut t, "segment")?;
        let champion = take_string(&mut t, "champion")?.unwrap_or_else(|| "champion".into());
        let output = take_string(&mut t, "output")?;
        fill_direction(t.get_mut("metrics"));
        if let Some(toml::Value::Table(segs)) = t.get_mut("segments") {
            for (_, seg) in segs.iter_mut() {
                fill_direction(Some(seg));
            }
        }
        let spec: GateSpec = toml::Value::Table(t)
            .try_into()
            .map_err(|e: toml::de::Error| Error::spec("gate", e.message().to_string()))?;
        spec.validate()?;
        if !spec.segments.is_empty() && segment.is_none() {
            return Err(Error::spec(
                "gate.segment",
                "[gate.segments] needs the segment column (segment = \"…\")",
            ));
        }
        AliasName::new(&champion).map_err(|e| Error::spec("gate.champion", e.to_string()))?;
        let gate = GateConfig {
            candidate: resolve_ref(pipeline, &candidate, "gate.candidate")?,
            heldout: resolve_ref(pipeline, &heldout, "gate.heldout")?,
            label,
            id,
            segment,
            champion,
            output,
            spec,
        };
        let register: Option<RegisterConfig> =
            match &pipeline.register {
                None => None,
                Some(v) => Some(v.clone().try_into().map_err(|e: toml::de::Error| {
                    Error::spec("register", e.message().to_string())
                })?),
            };
        let mut datasets = Vec::new();
        if let Some(r) = &register {
            ModelName::new(&r.model).map_err(|e| Error::spec("register.model", e.to_string()))?;
            AliasName::new(&r.alias).map_err(|e| Error::spec("register.alias", e.to_string()))?;
            if let Some(a) = &r.first_alias {
                AliasName::new(a)
                    .map_err(|e| Error::spec("register.first_alias", e.to_string()))?;
            }
            match &r.datasets {
                Some(list) => {
                    for (i, d) in list.iter().enumerate() {
                        datasets.push(resolve_ref(
                            pipeline,
                            d,
                            &format!("register.datasets[{i}]"),
                        )?);
                    }
                }
                None => {
                    for s in &pipeline.steps {
                        for src in s.inputs.values() {
                            if let crate::spec::InputSource::Path(p) = src {
                                if !datasets.contains(p) {
                                    datasets.push(p.clone());
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(Some(PostRun {
            gate,
            register,
            datasets,
        }))
    }
}

fn eval_input(
    cfg: &GateConfig,
    scores: Vec<f64>,
    table: &mlops_drift::io::Table,
) -> Result<EvalInput> {
    let y = data::binary_labels(table, &cfg.label)?;
    let mut e = EvalInput::new(y, scores);
    if let Some(s) = &cfg.segment {
        e = e.with_segments(data::text_column(table, s)?);
    }
    if let Some(id) = &cfg.id {
        e = e.with_row_ids(data::text_column(table, id)?);
    }
    Ok(e)
}

fn is_missing(e: &mlops_registry::Error) -> bool {
    matches!(
        e,
        mlops_registry::Error::ModelNotFound { .. } | mlops_registry::Error::AliasNotFound { .. }
    )
}

/// What [`gate_and_register`] found out about the champion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Champion {
    /// Its version, when the alias exists.
    pub version: Option<u64>,
    /// The alias.
    pub alias: String,
}

/// Runs the gate on a finished run and, when it passes and `[register]` is set, registers
/// and aliases the candidate; fills `report.gate` and `report.registered`.
///
/// Does nothing (and returns `Ok`) when a step did not succeed: there is no candidate.
///
/// # Errors
/// [`Error::InvalidInput`] when the held-out table lacks a column or a value is not usable;
/// [`Error::Serve`] when the candidate or the champion cannot be loaded or scored;
/// [`Error::Registry`] when the registry fails; [`Error::Io`] when the candidate's directory or
/// a dataset cannot be read. The gate's verdict is not an error: a failing candidate is
/// reported in `report.gate`.
pub fn gate_and_register(
    pipeline: &Pipeline,
    post: &PostRun,
    report: &mut RunReport,
    registry: Option<&dyn Registry>,
    cache_dir: &Path,
) -> Result<()> {
    let _span = tracing::info_span!("gate_and_register", pipeline = %pipeline.name, run_id = %report.run_id).entered();
    if !report.steps_ok() {
        return Ok(());
    }
    let cfg = &post.gate;
    let table = data::read(&cfg.heldout)?;
    let mut skip = vec![cfg.label.as_str()];
    if let Some(s) = &cfg.segment {
        skip.push(s.as_str());
    }
    if let Some(s) = &cfg.id {
        skip.push(s.as_str());
    }
    let frame = data::without(&data::to_frame(&table)?, &skip)?;
    let model_name = post
        .register
        .as_ref()
        .map_or_else(|| pipeline.name.clone(), |r| r.model.clone());
    // The same candidate bytes are registered once: a rerun of an unchanged pipeline (an
    // Airflow retry of the same interval) finds its version and reports the blessing that let
    // it in, instead of gating it against itself or adding another version.
    let digest = crate::cache::Hasher::new()
        .digest(&cfg.candidate)?
        .digest
        .to_hex();
    if let (Some(reg), Some(rc)) = (registry, post.register.as_ref()) {
        let name = ModelName::new(&rc.model)?;
        let existing = match reg.versions(&name) {
            Ok(vs) => vs
                .into_iter()
                .find(|v| v.version.tags.get(CANDIDATE_TAG) == Some(&digest))
                .map(|v| v.version.version),
            Err(e) if is_missing(&e) => None,
            Err(e) => return Err(e.into()),
        };
        if let Some(v) = existing {
            let bytes = reg.read_artifact(&name, v, "blessing.json")?;
            let mut gate: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|source| Error::Json {
                    what: format!("blessing.json of {name}/{v}"),
                    source,
                })?;
            if let serde_json::Value::Object(m) = &mut gate {
                m.insert("already_registered".into(), serde_json::Value::from(v));
            }
            report.gate = Some(gate);
            report.registered = Some(Registered {
                name: rc.model.clone(),
                version: v,
                alias: None,
            });
            return Ok(());
        }
    }
    let id = ModelIdentity::new(model_name.clone(), 0)?;
    let candidate = mlops_serve::load_model_dir(id, &cfg.candidate)?;
    let cand_scores = score::score(&candidate, &frame, cfg.output.as_deref())?;
    let cand = eval_input(cfg, cand_scores, &table)?;

    let mut champion = Champion {
        version: None,
        alias: cfg.champion.clone(),
    };
    let mut champ_eval = None;
    if let Some(reg) = registry {
        let name = ModelName::new(&model_name)?;
        let alias = AliasName::new(&cfg.champion)?;
        match reg.resolve(&ModelRef::alias(name.clone(), alias.clone())) {
            Ok(entry) => {
                let v = entry.version.version;
                champion.version = Some(v);
                let model = mlops_serve::load_from_registry(
                    reg,
                    &ModelRef::version(name, v),
                    &cache_dir.join("champions"),
                )?;
                let s = score::score(&model, &frame, cfg.output.as_deref())?;
                champ_eval = Some(eval_input(cfg, s, &table)?);
            }
            Err(e) if is_missing(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let verdict = evaluate(&cfg.spec, &cand, champ_eval.as_ref())?;
    let mut gate_json = serde_json::to_value(&verdict).map_err(|source| Error::Json {
        what: "gate report".into(),
        source,
    })?;
    if let serde_json::Value::Object(m) = &mut gate_json {
        m.insert(
            "champion".into(),
            serde_json::to_value(&champion).unwrap_or(serde_json::Value::Null),
        );
    }
    report.gate = Some(gate_json);
    if !verdict.passed {
        return Ok(());
    }
    let (Some(reg), Some(rc)) = (registry, post.register.as_ref()) else {
        return Ok(());
    };
    let registered = register_candidate(
        pipeline,
        post,
        rc,
        report,
        &verdict,
        &champion,
        reg,
        candidate.signature().clone(),
        &digest,
    )?;
    report.registered = Some(registered);
    Ok(())
}

/// The tag holding the digest of the candidate's model directory.
pub const CANDIDATE_TAG: &str = "mlops.candidate_digest";

impl crate::run::Runner {
    /// Runs the DAG, then the gate and registration ([`gate_and_register`]), all under the
    /// pipeline's lock; the run record in the cache includes the gate's verdict.
    ///
    /// # Errors
    /// As [`crate::Runner::run`] and [`PostRun::from_pipeline`] (checked before any step
    /// runs), and as [`gate_and_register`].
    pub fn run_and_register(
        &self,
        pipeline: &Pipeline,
        opts: &crate::run::RunOptions,
        registry: Option<&dyn Registry>,
    ) -> Result<RunReport> {
        let post = PostRun::from_pipeline(pipeline)?;
        let cache = crate::cache::Cache::open(Self::cache_dir(pipeline, opts))?;
        let lock_path = cache
            .dir()
            .join("locks")
            .join(format!("{}.lock", pipeline.name));
        let _lock = crate::lock::RunLock::try_acquire(&lock_path)?;
        let mut report = self.run_locked(pipeline, opts, &cache)?;
        if let Some(post) = &post {
            gate_and_register(pipeline, post, &mut report, registry, cache.dir())?;
            cache.put_run(&report.run_id, &report)?;
        }
        Ok(report)
    }
}

fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(root)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[allow(clippy::too_many_arguments)]
fn register_candidate(
    pipeline: &Pipeline,
    post: &PostRun,
    rc: &RegisterConfig,
    report: &RunReport,
    verdict: &GateReport,
    champion: &Champion,
    reg: &dyn Registry,
    signature: mlops_core::Signature,
    candidate_digest: &str,
) -> Result<Registered> {
    let name = ModelName::new(&rc.model)?;
    let mut new = NewVersion::new(name.clone());
    new.description = rc.description.clone().unwrap_or_else(|| {
        format!(
            "pipeline {} run {} ({})",
            pipeline.name,
            report.run_id,
            report.trigger.label()
        )
    });
    // Artifacts: the model directory's files, then the sidecars.
    let dir = &post.gate.candidate;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .map(|e| e.map(|e| e.path()).map_err(|e| Error::io(dir, e)))
        .collect::<Result<_>>()?;
    files.sort();
    let mut has_onnx = false;
    for f in &files {
        let fname = f
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| {
                Error::invalid("candidate", format!("{} has no UTF-8 name", f.display()))
            })?
            .to_owned();
        if f.is_dir() {
            return Err(Error::invalid(
                "candidate",
                format!("{} is a directory: a model directory is flat", f.display()),
            ));
        }
        if SIDECARS.contains(&fname.as_str()) {
            return Err(Error::invalid(
                "candidate",
                format!("{fname} is reserved for the registration's sidecar"),
            ));
        }
        has_onnx |= fname.ends_with(".onnx");
        let file = std::fs::File::open(f).map_err(|e| Error::io(f, e))?;
        new = new.with_artifact(fname, Box::new(file));
    }
    new.format = Some(if has_onnx { "onnx" } else { "feedforward" }.into());
    let blessing = verdict.to_json()?;
    let run_json = serde_json::to_string_pretty(&serde_json::json!({
        "run_id": report.run_id,
        "pipeline": report.pipeline,
        "trigger": report.trigger,
        "started_at": report.started_at,
        "steps": report.steps,
    }))
    .map_err(|source| Error::Json {
        what: "run record".into(),
        source,
    })?;
    new = new
        .with_artifact(
            "blessing.json",
            Box::new(std::io::Cursor::new(blessing.into_bytes())),
        )
        .with_artifact(
            "run.json",
            Box::new(std::io::Cursor::new(run_json.into_bytes())),
        );
    new.signature = Some(signature);

    // Metrics: the gate's candidate values, then every step's.
    for m in &verdict.metrics {
        if m.candidate.is_finite() {
            new.metrics.insert(m.metric.clone(), m.candidate);
        }
    }
    for s in &report.steps {
        for (k, v) in &s.metrics {
            if v.is_finite() {
                new.metrics.insert(format!("{}.{k}", s.name), *v);
            }
        }
    }
    // Params: each step's params, flattened one level.
    for s in &pipeline.steps {
        if let serde_json::Value::Object(m) = &s.params {
            for (k, v) in m {
                let text = match v {
                    serde_json::Value::String(t) => t.clone(),
                    other => other.to_string(),
                };
                new.params.insert(format!("{}.{k}", s.name), text);
            }
        }
        if let (StepRun::Builtin(kind), Some(r)) = (&s.run, report.step(&s.name)) {
            if kind == "tune" {
                if let Some(d) = r.outputs.get("journal") {
                    new.tags
                        .insert(format!("mlops.study.{}", s.name), d.clone());
                }
                if let Some(t) = r.metrics.get("best_trial") {
                    new.tags
                        .insert(format!("mlops.trial.{}", s.name), format!("{t}"));
                }
                if let Some(best) = s.outputs.get("best") {
                    if let Ok(text) = std::fs::read_to_string(best) {
                        if let Ok(serde_json::Value::Object(m)) = serde_json::from_str(&text) {
                            for (k, v) in m {
                                new.params
                                    .insert(format!("{}.best.{k}", s.name), v.to_string());
                            }
                        }
                    }
                }
            }
        }
    }
    // Tags: the run, its trigger, the code.
    new.tags
        .insert("mlops.pipeline".into(), pipeline.name.clone());
    new.tags
        .insert("mlops.run_id".into(), report.run_id.clone());
    new.tags
        .insert("mlops.trigger".into(), report.trigger.label());
    new.tags.insert(
        "mlops.trigger.detail".into(),
        serde_json::to_string(&report.trigger).unwrap_or_default(),
    );
    new.tags.insert("mlops.blessed".into(), "true".into());
    new.tags
        .insert(CANDIDATE_TAG.into(), candidate_digest.to_owned());
    if let Some(d) = &verdict.rows_digest {
        new.tags.insert("mlops.gate.rows_digest".into(), d.clone());
    }
    let keys: BTreeMap<&str, &str> = report
        .steps
        .iter()
        .filter(|s| matches!(s.status, StepStatus::Ran | StepStatus::Cached))
        .filter_map(|s| Some((s.name.as_str(), s.key.as_deref()?)))
        .collect();
    new.tags.insert(
        "mlops.steps".into(),
        serde_json::to_string(&keys).unwrap_or_default(),
    );
    let commit = git(&pipeline.root, &["rev-parse", "HEAD"]);
    if commit.is_some() {
        let dirty = git(
            &pipeline.root,
            &["status", "--porcelain", "--untracked-files=no"],
        )
        .is_some_and(|s| !s.is_empty());
        new.tags
            .insert("mlops.code_dirty".into(), dirty.to_string());
    }
    new.tags.extend(rc.tags.clone());
    // Lineage.
    let mut datasets = Vec::new();
    for p in &post.datasets {
        let snap = SnapshotBuilder::new()
            .path(p)
            .with_source_uri(format!("file://{}", p.display()))
            .build()?;
        datasets.push(snap.digest);
    }
    new.lineage = Lineage {
        datasets,
        code_commit: commit,
        parent_version: champion.version,
    };
    let entry = reg.register(new)?;
    let version = entry.version.version;
    let alias_name = match (&champion.version, &rc.first_alias) {
        (None, Some(first)) => first.clone(),
        _ => rc.alias.clone(),
    };
    let alias = AliasName::new(&alias_name)?;
    let reason = format!(
        "pipeline {} run {} passed the gate ({}; trigger {})",
        pipeline.name,
        report.run_id,
        match champion.version {
            Some(v) => format!("against {}@{} = v{v}", rc.model, champion.alias),
            None => "first model".into(),
        },
        report.trigger.label()
    );
    reg.set_alias(
        &name,
        &alias,
        version,
        &Change::new("mlops-pipeline", reason),
    )?;
    tracing::info!(model = %name, version, alias = %alias, "registered");
    Ok(Registered {
        name: rc.model.clone(),
        version,
        alias: Some(alias_name),
    })
}
