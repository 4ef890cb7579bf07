//! `pipeline.toml`: the pipeline specification and its validation.
//!
//! ```toml
//! name = "fraud"
//! seed = 42
//!
//! [[steps]]
//! name = "prepare"
//! command = ["python3", "prepare.py", "${inputs.raw}", "${outputs.train}"]
//! inputs = { raw = "data/raw.csv" }
//! outputs = { train = "work/train.csv" }
//! params = { test_fraction = 0.2 }
//!
//! [[steps]]
//! name = "train"
//! kind = "train_logreg"            # a built-in step instead of a command
//! inputs = { train = "@prepare.train" }   # another step's output (a path works too)
//! outputs = { model = "work/model" }
//! params = { c = 1.0 }
//! ```
//!
//! Paths are relative to the directory holding `pipeline.toml` (inputs may be absolute; outputs
//! may not, and may not leave that directory). `${VAR}` in paths, in argv and in string params
//! is replaced by the environment variable `VAR` (an unset variable is an error), so one spec
//! serves every data interval of a scheduler.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The parsed `pipeline.toml`, before validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    /// The pipeline's name (the lock, the debouncer and run records are per name).
    pub name: String,
    /// The default seed of every step.
    #[serde(default)]
    pub seed: u64,
    /// The steps, in any order (the DAG comes from their inputs).
    #[serde(default)]
    pub steps: Vec<StepSpec>,
    /// The evaluation gate (`[gate]`), as the gate module reads it.
    #[serde(default)]
    pub gate: Option<toml::Value>,
    /// Registration of a passing candidate (`[register]`).
    #[serde(default)]
    pub register: Option<toml::Value>,
}

/// One step of `pipeline.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// Unique name (letters, digits, `_`, `-`).
    pub name: String,
    /// A command step: the program and its arguments (no shell).
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// A built-in step: the registered kind (`train_logreg`, …).
    #[serde(default)]
    pub kind: Option<String>,
    /// An explicit version, part of the cache key: bump it when the step's code changes.
    #[serde(default)]
    pub version: Option<String>,
    /// Named inputs: a path (file or directory), or `@step.output`.
    #[serde(default)]
    pub inputs: BTreeMap<String, String>,
    /// Named outputs: paths the step must write.
    #[serde(default)]
    pub outputs: BTreeMap<String, String>,
    /// Params, given to the step as JSON (and as `MLOPS_PARAM_<NAME>` env vars for scalars).
    #[serde(default)]
    pub params: BTreeMap<String, toml::Value>,
    /// Overrides the pipeline seed.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Never served from the cache (a step that reads the clock or the network).
    #[serde(default)]
    pub volatile: bool,
    /// Steps that must finish first although no output connects them.
    #[serde(default)]
    pub after: Vec<String>,
}

/// How a step runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepRun {
    /// A program and its arguments, after `${…}` substitution of environment variables
    /// (`${inputs.X}`, `${outputs.X}`, `${params_file}`, `${metrics_file}` and `${seed}` are
    /// substituted when the step runs).
    Command(Vec<String>),
    /// A built-in step of this kind.
    Builtin(String),
}

/// Where an input comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InputSource {
    /// A file or directory outside the pipeline's outputs.
    Path(PathBuf),
    /// Another step's output.
    Output {
        /// The producing step.
        step: String,
        /// The output's name.
        output: String,
        /// Its path.
        path: PathBuf,
    },
}

impl InputSource {
    /// The path the step reads.
    pub fn path(&self) -> &Path {
        match self {
            Self::Path(p) => p,
            Self::Output { path, .. } => path,
        }
    }
}

/// A validated step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// Its name.
    pub name: String,
    /// How it runs.
    pub run: StepRun,
    /// Its explicit version.
    pub version: Option<String>,
    /// Its inputs, resolved.
    pub inputs: BTreeMap<String, InputSource>,
    /// Its outputs as absolute paths.
    pub outputs: BTreeMap<String, PathBuf>,
    /// Its outputs as written in the spec (relative to the root), for reports and the cache key.
    pub output_rel: BTreeMap<String, String>,
    /// Its params as JSON.
    pub params: serde_json::Value,
    /// Its seed.
    pub seed: u64,
    /// Never cached.
    pub volatile: bool,
    /// The steps it depends on (through inputs or `after`).
    pub deps: BTreeSet<String>,
}

/// A validated pipeline: steps in a topological order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pipeline {
    /// Its name.
    pub name: String,
    /// The directory relative paths are resolved against.
    pub root: PathBuf,
    /// Its steps, each after everything it depends on.
    pub steps: Vec<Step>,
    /// The raw `[gate]` table.
    pub gate: Option<toml::Value>,
    /// The raw `[register]` table.
    pub register: Option<toml::Value>,
    /// The file it was read from, if any.
    pub source: Option<PathBuf>,
}

impl Pipeline {
    /// Reads and validates a `pipeline.toml`; relative paths resolve against its directory.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read; [`Error::InvalidSpec`] naming the spot for a
    /// TOML error, an unknown field, a duplicate or invalid name, a cycle, an unknown input
    /// reference, a missing input file, an output outside the root or claimed twice, or an
    /// unset `${VAR}`.
    pub fn load(path: &Path) -> Result<Self> {
        let _span = tracing::info_span!("pipeline_load", path = %path.display()).entered();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let spec: PipelineSpec = toml::from_str(&text).map_err(|e| Error::InvalidSpec {
            at: format!("{}{}", path.display(), toml_location(&text, e.span())),
            reason: e.message().to_string(),
        })?;
        let root = path
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    p.to_path_buf()
                }
            })
            .unwrap_or_else(|| PathBuf::from("."));
        let root = std::fs::canonicalize(&root).map_err(|e| Error::io(&root, e))?;
        let mut p = Self::from_spec(spec, &root, &|k| std::env::var(k).ok())?;
        p.source = Some(path.to_path_buf());
        Ok(p)
    }

    /// Validates a parsed spec against `root`, reading `${VAR}`s through `env`.
    ///
    /// # Errors
    /// As [`Pipeline::load`], except I/O on the spec itself.
    pub fn from_spec(
        spec: PipelineSpec,
        root: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        check_name(&spec.name, "name")?;
        if spec.steps.is_empty() {
            return Err(Error::spec("steps", "a pipeline needs at least one step"));
        }
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, s) in spec.steps.iter().enumerate() {
            let at = format!("steps[{i}].name");
            check_name(&s.name, &at)?;
            if let Some(j) = seen.insert(s.name.as_str(), i) {
                return Err(Error::spec(
                    at,
                    format!("duplicate step name {:?} (also steps[{j}])", s.name),
                ));
            }
        }
        // Outputs first: every input may refer to them.
        let mut claimed: BTreeMap<PathBuf, (String, String)> = BTreeMap::new();
        let mut outputs: Vec<(BTreeMap<String, PathBuf>, BTreeMap<String, String>)> = Vec::new();
        for s in &spec.steps {
            let mut abs = BTreeMap::new();
            let mut rel = BTreeMap::new();
            for (oname, raw) in &s.outputs {
                let at = format!("steps.{}.outputs.{oname}", s.name);
                check_name(oname, &at)?;
                let text = substitute_env(raw, &at, env)?;
                let relp = check_output_path(&text, &at)?;
                let p = root.join(&relp);
                for (other, (ostep, oout)) in &claimed {
                    if other == &p || other.starts_with(&p) || p.starts_with(other) {
                        return Err(Error::spec(
                            at,
                            format!(
                                "output {text:?} overlaps output {oout:?} of step {ostep:?} ({})",
                                other.display()
                            ),
                        ));
                    }
                }
                claimed.insert(p.clone(), (s.name.clone(), oname.clone()));
                abs.insert(oname.clone(), p);
                rel.insert(oname.clone(), relp.to_string_lossy().into_owned());
            }
            outputs.push((abs, rel));
        }
        let index: BTreeMap<&str, usize> = spec
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        let mut steps = Vec::with_capacity(spec.steps.len());
        for (i, s) in spec.steps.iter().enumerate() {
            let at = format!("steps.{}", s.name);
            let run = match (&s.command, &s.kind) {
                (Some(_), Some(_)) => {
                    return Err(Error::spec(at, "give either `command` or `kind`, not both"))
                }
                (None, None) => {
                    return Err(Error::spec(
                        at,
                        "a step needs `command` (a program) or `kind` (a built-in step)",
                    ))
                }
                (Some(argv), None) => {
                    if argv.is_empty() || argv[0].is_empty() {
                        return Err(Error::spec(format!("{at}.command"), "the command is empty"));
                    }
                    let mut out = Vec::with_capacity(argv.len());
                    for (k, a) in argv.iter().enumerate() {
                        out.push(substitute_env(a, &format!("{at}.command[{k}]"), env)?);
                    }
                    StepRun::Command(out)
                }
                (None, Some(kind)) => StepRun::Builtin(kind.clone()),
            };
            let mut deps: BTreeSet<String> = BTreeSet::new();
            for a in &s.after {
                if !index.contains_key(a.as_str()) {
                    return Err(Error::spec(
                        format!("{at}.after"),
                        format!("unknown step {a:?}"),
                    ));
                }
                deps.insert(a.clone());
            }
            let mut inputs = BTreeMap::new();
            for (iname, raw) in &s.inputs {
                let iat = format!("{at}.inputs.{iname}");
                check_name(iname, &iat)?;
                let src = if let Some(reference) = raw.strip_prefix('@') {
                    let (st, out) = reference.split_once('.').ok_or_else(|| {
                        Error::spec(
                            &iat,
                            format!("{raw:?}: a reference is written @step.output"),
                        )
                    })?;
                    let j = *index.get(st).ok_or_else(|| {
                        Error::spec(&iat, format!("{raw:?}: unknown step {st:?}"))
                    })?;
                    let path = outputs[j].0.get(out).cloned().ok_or_else(|| {
                        Error::spec(&iat, format!("{raw:?}: step {st:?} has no output {out:?}"))
                    })?;
                    InputSource::Output {
                        step: st.to_string(),
                        output: out.to_string(),
                        path,
                    }
                } else {
                    let text = substitute_env(raw, &iat, env)?;
                    if text.is_empty() {
                        return Err(Error::spec(iat, "empty path"));
                    }
                    let p = root.join(&text);
                    let p = normalise(&p);
                    // DVC-style: a path that is (inside) another step's output depends on it.
                    match claimed
                        .iter()
                        .find(|(o, _)| p == **o || p.starts_with(o.as_path()))
                    {
                        Some((o, (st, out))) if p == *o => InputSource::Output {
                            step: st.clone(),
                            output: out.clone(),
                            path: p,
                        },
                        Some((_, (st, out))) => {
                            return Err(Error::spec(
                                iat,
                                format!(
                                    "{text:?} lies inside output {out:?} of step {st:?}: \
                                     depend on the whole output (@{st}.{out})"
                                ),
                            ))
                        }
                        None => {
                            if !p.exists() {
                                return Err(Error::spec(
                                    iat,
                                    format!("input {text:?} does not exist ({})", p.display()),
                                ));
                            }
                            InputSource::Path(p)
                        }
                    }
                };
                if let InputSource::Output { step, .. } = &src {
                    if step == &s.name {
                        return Err(Error::spec(iat, "a step cannot read its own output"));
                    }
                    deps.insert(step.clone());
                }
                inputs.insert(iname.clone(), src);
            }
            let mut params = serde_json::Map::new();
            for (k, v) in &s.params {
                let pat = format!("{at}.params.{k}");
                params.insert(k.clone(), toml_to_json(v, &pat, env)?);
            }
            let version = match &s.version {
                Some(v) if v.trim().is_empty() => {
                    return Err(Error::spec(format!("{at}.version"), "empty version"))
                }
                v => v.clone(),
            };
            let (abs, rel) = outputs[i].clone();
            steps.push(Step {
                name: s.name.clone(),
                run,
                version,
                inputs,
                outputs: abs,
                output_rel: rel,
                params: serde_json::Value::Object(params),
                seed: s.seed.unwrap_or(spec.seed),
                volatile: s.volatile,
                deps,
            });
        }
        let steps = topo_sort(steps)?;
        Ok(Self {
            name: spec.name,
            root: root.to_path_buf(),
            steps,
            gate: spec.gate,
            register: spec.register,
            source: None,
        })
    }

    /// The step called `name`.
    pub fn step(&self, name: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.name == name)
    }

    /// Every step downstream of `name` (not including it).
    pub fn downstream(&self, name: &str) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = BTreeSet::new();
        let mut frontier = vec![name.to_string()];
        while let Some(n) = frontier.pop() {
            for s in &self.steps {
                if s.deps.contains(&n) && out.insert(s.name.clone()) {
                    frontier.push(s.name.clone());
                }
            }
        }
        out
    }
}

/// Kahn's algorithm, stable in spec order; a cycle is reported with its members.
fn topo_sort(steps: Vec<Step>) -> Result<Vec<Step>> {
    let mut remaining: Vec<Step> = steps;
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::with_capacity(remaining.len());
    while !remaining.is_empty() {
        let before = remaining.len();
        let mut rest = Vec::new();
        for s in remaining {
            if s.deps.iter().all(|d| done.contains(d)) {
                done.insert(s.name.clone());
                out.push(s);
            } else {
                rest.push(s);
            }
        }
        if rest.len() == before {
            let cycle = find_cycle(&rest);
            return Err(Error::spec(
                format!("steps.{}", cycle.first().map(String::as_str).unwrap_or("?")),
                format!("the steps form a cycle: {}", cycle.join(" -> ")),
            ));
        }
        remaining = rest;
    }
    Ok(out)
}

/// One cycle among `steps` (each has an unfinished dependency), as a closed path.
fn find_cycle(steps: &[Step]) -> Vec<String> {
    let by_name: BTreeMap<&str, &Step> = steps.iter().map(|s| (s.name.as_str(), s)).collect();
    let Some(start) = steps.first() else {
        return Vec::new();
    };
    let mut path: Vec<String> = vec![start.name.clone()];
    let mut cur = start;
    loop {
        let Some(next) = cur
            .deps
            .iter()
            .find_map(|d| by_name.get(d.as_str()).copied())
        else {
            return path;
        };
        if let Some(pos) = path.iter().position(|p| p == &next.name) {
            let mut cycle: Vec<String> = path[pos..].to_vec();
            cycle.push(next.name.clone());
            // Written in data-flow order: producer -> consumer.
            cycle.reverse();
            return cycle;
        }
        path.push(next.name.clone());
        cur = next;
    }
}

fn check_name(name: &str, at: &str) -> Result<()> {
    if name.is_empty() || name.len() > 128 {
        return Err(Error::spec(at, "a name has 1 to 128 characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(Error::spec(
            at,
            format!("{name:?}: a name uses only ASCII letters, digits, '_' and '-'"),
        ));
    }
    Ok(())
}

fn check_output_path(text: &str, at: &str) -> Result<PathBuf> {
    let p = Path::new(text);
    if text.is_empty() {
        return Err(Error::spec(at, "empty path"));
    }
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(x) => out.push(x),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(Error::spec(
                    at,
                    format!(
                        "output {text:?} must be a relative path inside the pipeline's directory"
                    ),
                ))
            }
        }
    }
    if out.as_os_str().is_empty() {
        return Err(Error::spec(
            at,
            format!("output {text:?} names the pipeline's directory itself"),
        ));
    }
    Ok(out)
}

/// Removes `.` and folds `..` lexically (inputs may point anywhere; this only makes equal paths
/// compare equal).
fn normalise(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Replaces `${VAR}` with the environment's value. `${inputs.…}`, `${outputs.…}`,
/// `${params_file}`, `${metrics_file}` and `${seed}` are left for the runner.
fn substitute_env(text: &str, at: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| Error::spec(at, format!("{text:?}: unclosed ${{")))?;
        let var = &after[..end];
        if is_runner_var(var) {
            out.push_str("${");
            out.push_str(var);
            out.push('}');
        } else {
            if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(Error::spec(
                    at,
                    format!("{text:?}: bad variable ${{{var}}}"),
                ));
            }
            let v = env(var).ok_or_else(|| {
                Error::spec(
                    at,
                    format!("{text:?}: the environment variable {var} is not set"),
                )
            })?;
            out.push_str(&v);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

pub(crate) fn is_runner_var(var: &str) -> bool {
    var.starts_with("inputs.")
        || var.starts_with("outputs.")
        || matches!(var, "params_file" | "metrics_file" | "seed" | "run_id")
}

fn toml_to_json(
    v: &toml::Value,
    at: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<serde_json::Value> {
    Ok(match v {
        toml::Value::String(s) => serde_json::Value::String(substitute_env(s, at, env)?),
        toml::Value::Integer(i) => serde_json::Value::from(*i),
        toml::Value::Float(f) => {
            if !f.is_finite() {
                return Err(Error::spec(at, format!("a param must be finite, got {f}")));
            }
            serde_json::Value::from(*f)
        }
        toml::Value::Boolean(b) => serde_json::Value::Bool(*b),
        toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
        toml::Value::Array(a) => {
            let mut out = Vec::with_capacity(a.len());
            for (i, x) in a.iter().enumerate() {
                out.push(toml_to_json(x, &format!("{at}[{i}]"), env)?);
            }
            serde_json::Value::Array(out)
        }
        toml::Value::Table(t) => {
            let mut out = serde_json::Map::new();
            for (k, x) in t {
                out.insert(k.clone(), toml_to_json(x, &format!("{at}.{k}"), env)?);
            }
            serde_json::Value::Object(out)
        }
    })
}

/// ` (line L, column C)` for a TOML error span.
fn toml_location(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let Some(span) = span else {
        return String::new();
    };
    let upto = &text[..span.start.min(text.len())];
    let line = upto.matches('\n').count() + 1;
    let col = upto.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!(" (line {line}, column {col})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, root: &Path) -> Result<Pipeline> {
        let spec: PipelineSpec =
            toml::from_str(text).map_err(|e| Error::spec("toml", e.to_string()))?;
        Pipeline::from_spec(spec, root, &|k| {
            (k == "DAY").then(|| "2026-12-01".to_string())
        })
    }

    fn root() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("raw.csv"), "a\n1\n").unwrap();
        d
    }

    #[test]
    fn orders_steps_and_infers_edges_from_paths() {
        let d = root();
        let p = parse(
            r#"
name = "p"
[[steps]]
name = "train"
command = ["true"]
inputs = { x = "work/prep.csv" }
outputs = { m = "work/model" }
[[steps]]
name = "prep"
command = ["true"]
inputs = { raw = "raw.csv" }
outputs = { out = "work/prep.csv" }
"#,
            d.path(),
        )
        .unwrap();
        let names: Vec<_> = p.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["prep", "train"]);
        assert!(p.step("train").unwrap().deps.contains("prep"));
        assert_eq!(p.downstream("prep"), BTreeSet::from(["train".to_string()]));
    }

    #[test]
    fn errors_name_the_spot() {
        let d = root();
        let cases = [
            (
                "name = \"p\"\n[[steps]]\nname = \"a\"\ncommand = [\"true\"]\ninputs = { x = \"@b.o\" }\noutputs = { o = \"a\" }\n[[steps]]\nname = \"b\"\ncommand = [\"true\"]\ninputs = { x = \"@a.o\" }\noutputs = { o = \"b\" }\n",
                "cycle",
            ),
            (
                "name = \"p\"\n[[steps]]\nname = \"a\"\ncommand = [\"true\"]\ninputs = { x = \"@zz.o\" }\n",
                "steps.a.inputs.x",
            ),
            (
                "name = \"p\"\n[[steps]]\nname = \"a\"\ncommand = [\"true\"]\ninputs = { x = \"missing.csv\" }\n",
                "does not exist",
            ),
            (
                "name = \"p\"\n[[steps]]\nname = \"a\"\ncommand = [\"true\"]\n[[steps]]\nname = \"a\"\ncommand = [\"true\"]\n",
                "duplicate step name",
            ),
            (
                "name = \"p\"\n[[steps]]\nname = \"a\"\ncommand = [\"true\"]\noutputs = { o = \"../escape\" }\n",
                "inside the pipeline",
            ),
            (
                "name = \"p\"\n[[steps]]\nname = \"a\"\ncommand = [\"true\"]\noutputs = { o = \"${NOPE}/x\" }\n",
                "NOPE is not set",
            ),
            (
                "name = \"p\"\n[[steps]]\nname = \"a\"\ncommand = [\"true\"]\noutputs = { o = \"w\" }\n[[steps]]\nname = \"b\"\ncommand = [\"true\"]\noutputs = { o = \"w/x\" }\n",
                "overlaps",
            ),
            ("name = \"p\"\n[[steps]]\nname = \"a\"\n", "needs `command`"),
            ("name = \"p\"\n[[steps]]\nname = \"a b\"\ncommand = [\"true\"]\n", "steps[0].name"),
        ];
        for (text, want) in cases {
            let e = parse(text, d.path()).unwrap_err().to_string();
            assert!(e.contains(want), "{want:?} not in {e:?}");
        }
    }

    #[test]
    fn env_substitution_in_paths_and_params() {
        let d = root();
        let p = parse(
            "name = \"p\"\n[[steps]]\nname = \"a\"\ncommand = [\"echo\", \"${DAY}\", \"${outputs.o}\"]\noutputs = { o = \"out/${DAY}.csv\" }\nparams = { day = \"${DAY}\", lr = 0.1 }\n",
            d.path(),
        )
        .unwrap();
        let s = &p.steps[0];
        assert_eq!(s.output_rel["o"], "out/2026-12-01.csv");
        assert_eq!(
            s.run,
            StepRun::Command(vec![
                "echo".into(),
                "2026-12-01".into(),
                "${outputs.o}".into()
            ])
        );
        assert_eq!(s.params["day"], "2026-12-01");
    }
}
