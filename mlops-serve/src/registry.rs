//! Loading a predictor straight from a registry version (feature `registry`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mlops_core::{ModelRef, ModelVersion, Sha256Digest};
use mlops_registry::Registry;

use crate::error::{Error, Result};
use crate::feedforward::FeedForward;
use crate::predictor::{ModelIdentity, Predictor};
use crate::transform::{load_onnx, wrap_with_file, TRANSFORM_ARTIFACT};

fn reg_err(model: &str, e: impl ToString) -> Error {
    Error::Registry {
        model: model.to_owned(),
        reason: e.to_string(),
    }
}

/// Resolves `reference` in `registry`, fetches the version's artifacts (SHA-256 verified by the
/// registry, and again after they are written) into `cache_dir/<name>/<version>/`, and loads the
/// predictor the version's `format` names:
///
/// | `format` | artifacts | predictor |
/// |---|---|---|
/// | `onnx` | one `*.onnx` | `OnnxPredictor` (feature `onnx`) |
/// | `safetensors` or `feedforward` | one `*.safetensors` and one `*.json` spec | [`FeedForward`] |
///
/// An empty `format` is inferred from the artifact names the same way. When the version has an
/// artifact named exactly `transform.json` ([`crate::TRANSFORM_ARTIFACT`]), it is a fitted
/// [`mlops_core::transform::TransformChain`]: it is fetched too (and is not a candidate for the
/// feed-forward spec), and the model is wrapped in a [`crate::TransformPredictor`], which takes
/// the raw columns. When the version records a signature, the served (wrapped) signature must
/// equal it.
///
/// # Errors
/// [`Error::Registry`] when the reference cannot be resolved or an artifact cannot be read
/// (including a digest mismatch); [`Error::Config`] for an unsupported format or a format this
/// build lacks (`onnx`); [`Error::Load`] when the artifacts are missing, ambiguous or do not
/// load (`transform.json` included); [`Error::Incompatible`] when the recorded signature
/// differs or the chain does not fit the model ([`crate::TransformPredictor::new`]);
/// [`Error::Io`] when the cache directory cannot be written.
#[tracing::instrument(skip_all, fields(model = %reference), err)]
pub fn load_from_registry(
    registry: &dyn Registry,
    reference: &ModelRef,
    cache_dir: &Path,
) -> Result<Arc<dyn Predictor>> {
    let entry = registry
        .resolve(reference)
        .map_err(|e| reg_err(&reference.to_string(), e))?;
    let v = &entry.version;
    let id = ModelIdentity {
        name: v.name.clone(),
        version: v.version,
    };
    let dir = cache_dir.join(v.name.as_str()).join(v.version.to_string());
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
        path: dir.clone(),
        source,
    })?;
    let format = effective_format(v);
    let predictor: Arc<dyn Predictor> = match format.as_str() {
        "onnx" => {
            let path = fetch(registry, v, &dir, &one_with(v, "onnx", &dir)?)?;
            load_onnx(id, &path)?
        }
        "safetensors" | "feedforward" => {
            let weights = fetch(registry, v, &dir, &one_with(v, "safetensors", &dir)?)?;
            let spec = fetch(registry, v, &dir, &one_with(v, "json", &dir)?)?;
            Arc::new(FeedForward::load(id, &spec, &weights)?)
        }
        other => {
            return Err(Error::Config {
                what: "format".into(),
                reason: format!(
                    "registry format {other:?} is not served (onnx, safetensors, feedforward)"
                ),
            })
        }
    };
    let predictor = if v.artifacts.iter().any(|a| a.name == TRANSFORM_ARTIFACT) {
        let chain = fetch(registry, v, &dir, TRANSFORM_ARTIFACT)?;
        wrap_with_file(predictor, &chain)?
    } else {
        predictor
    };
    if let Some(sig) = &v.signature {
        if sig != predictor.signature() {
            return Err(Error::Incompatible {
                reason: format!(
                    "registered signature {sig:?} differs from the model's {:?}",
                    predictor.signature()
                ),
            });
        }
    }
    Ok(predictor)
}

fn ext(name: &str) -> Option<String> {
    mlops_core::infer_format(name)
}

fn effective_format(v: &ModelVersion) -> String {
    if !v.format.is_empty() {
        return v.format.to_ascii_lowercase();
    }
    let has = |e: &str| {
        v.artifacts
            .iter()
            .any(|a| ext(&a.name).as_deref() == Some(e))
    };
    if has("onnx") {
        "onnx".into()
    } else if has("safetensors") {
        "safetensors".into()
    } else {
        String::new()
    }
}

/// Files a training pipeline registers beside the model (its gate report and run record):
/// never the model itself.
pub const SIDECAR_ARTIFACTS: [&str; 2] = ["blessing.json", "run.json"];

fn one_with(v: &ModelVersion, extension: &str, dir: &Path) -> Result<String> {
    let found: Vec<&str> = v
        .artifacts
        .iter()
        .filter(|a| {
            a.name != TRANSFORM_ARTIFACT
                && !SIDECAR_ARTIFACTS.contains(&a.name.as_str())
                && ext(&a.name).as_deref() == Some(extension)
        })
        .map(|a| a.name.as_str())
        .collect();
    match found.as_slice() {
        [one] => Ok((*one).to_owned()),
        [] => Err(Error::load(
            dir,
            format!("version {} has no *.{extension} artifact", v.version),
        )),
        many => Err(Error::load(
            dir,
            format!(
                "version {} has several *.{extension} artifacts: {many:?}",
                v.version
            ),
        )),
    }
}

/// Reads `artifact` (verified by the registry), writes it under `dir` via a temporary file and
/// a rename, and checks the written file's digest against the version record.
fn fetch(registry: &dyn Registry, v: &ModelVersion, dir: &Path, artifact: &str) -> Result<PathBuf> {
    if artifact.is_empty() || artifact.contains(['/', '\\']) || artifact == "." || artifact == ".."
    {
        return Err(Error::load(
            dir,
            format!("unsafe artifact name {artifact:?}"),
        ));
    }
    let record = v
        .artifacts
        .iter()
        .find(|a| a.name == artifact)
        .ok_or_else(|| Error::load(dir, format!("no artifact {artifact:?}")))?;
    let bytes = registry
        .read_artifact(&v.name, v.version, artifact)
        .map_err(|e| reg_err(v.name.as_str(), e))?;
    let path = dir.join(artifact);
    let tmp = dir.join(format!(".{artifact}.{}.tmp", std::process::id()));
    let io = |p: &Path| {
        let p = p.to_owned();
        move |source| Error::Io { path: p, source }
    };
    std::fs::write(&tmp, &bytes).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    let on_disk = std::fs::read(&path).map_err(io(&path))?;
    if Sha256Digest::of_bytes(&on_disk) != record.digest {
        return Err(reg_err(
            v.name.as_str(),
            format!(
                "{} does not match digest {} after writing",
                path.display(),
                record.digest
            ),
        ));
    }
    Ok(path)
}
