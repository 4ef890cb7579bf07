//! Model versions: metadata, metrics, signature, artifacts and lineage.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::digest::Sha256Digest;
use crate::name::ModelName;
use crate::signature::Signature;

/// One stored file of a model version (weights, graph, tokenizer, …), content-addressed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRef {
    /// File name inside the version (a single path component, e.g. `model.onnx`).
    pub name: String,
    /// SHA-256 of the file's bytes; the registry stores the blob under this digest.
    pub digest: Sha256Digest,
    /// Size in bytes.
    pub size: u64,
}

/// Where a model version came from: data, code and parent model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lineage {
    /// Digests of the [`crate::DatasetSnapshot`]s the model was trained or evaluated on.
    pub datasets: Vec<Sha256Digest>,
    /// Git commit of the training code, when known.
    pub code_commit: Option<String>,
    /// The version this one was fine-tuned or derived from, when any.
    pub parent_version: Option<u64>,
}

/// One immutable version of a model, as stored by a registry.
///
/// Versions are numbered from 1 per model. Maps are ordered (`BTreeMap`) so the
/// serialised form is deterministic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelVersion {
    /// The model this version belongs to.
    pub name: ModelName,
    /// Version number, ≥ 1, unique per model.
    pub version: u64,
    /// When the version was registered (UTC).
    pub created_at: DateTime<Utc>,
    /// Free-text description.
    pub description: String,
    /// String tags (`team=risk`, `framework=candle`).
    pub tags: BTreeMap<String, String>,
    /// Training hyper-parameters, as strings.
    pub params: BTreeMap<String, String>,
    /// Evaluation metrics. Keep them finite: JSON has no NaN or infinity, so a registry
    /// refuses non-finite values rather than storing a record it could not read back.
    pub metrics: BTreeMap<String, f64>,
    /// Input/output signature, when known.
    pub signature: Option<Signature>,
    /// Artifact format (`onnx`, `safetensors`, …).
    pub format: String,
    /// The version's files.
    pub artifacts: Vec<ArtifactRef>,
    /// Data, code and parent lineage.
    pub lineage: Lineage,
}

impl ModelVersion {
    /// A version with the given identity and everything else empty; `created_at` is now.
    pub fn new(name: ModelName, version: u64) -> Self {
        Self {
            name,
            version,
            created_at: Utc::now(),
            description: String::new(),
            tags: BTreeMap::new(),
            params: BTreeMap::new(),
            metrics: BTreeMap::new(),
            signature: None,
            format: String::new(),
            artifacts: Vec::new(),
            lineage: Lineage::default(),
        }
    }
}

/// Infers an artifact format from a file name's extension: `onnx`, `safetensors`,
/// `pt` (PyTorch), `gguf`, `json`, or the lower-cased extension itself; `None` without one.
///
/// ```
/// assert_eq!(mlops_core::infer_format("model.ONNX").as_deref(), Some("onnx"));
/// assert_eq!(mlops_core::infer_format("weights.pth").as_deref(), Some("pt"));
/// assert_eq!(mlops_core::infer_format("README"), None);
/// ```
pub fn infer_format(file_name: &str) -> Option<String> {
    let ext = std::path::Path::new(file_name)
        .extension()?
        .to_str()?
        .to_ascii_lowercase();
    Some(match ext.as_str() {
        "pth" | "pt" => "pt".to_string(),
        _ => ext,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::{DType, Schema, TensorSpec};

    fn sample() -> ModelVersion {
        let mut v = ModelVersion::new(ModelName::new("churn").unwrap(), 3);
        v.description = "grüße, 模型".into();
        v.tags.insert("team".into(), "risk".into());
        v.params.insert("lr".into(), "0.01".into());
        v.metrics.insert("auc".into(), 0.91);
        v.signature = Some(Signature {
            inputs: Schema::new(vec![TensorSpec::new("x", DType::F32, vec![-1, 4])]),
            outputs: Schema::new(vec![TensorSpec::new("p", DType::F32, vec![-1, 2])]),
        });
        v.format = "safetensors".into();
        v.artifacts.push(ArtifactRef {
            name: "model.safetensors".into(),
            digest: Sha256Digest::of_bytes(b"w"),
            size: 1,
        });
        v.lineage.datasets.push(Sha256Digest::of_bytes(b"d"));
        v.lineage.code_commit = Some("abc123".into());
        v.lineage.parent_version = Some(2);
        v
    }

    #[test]
    fn serde_round_trips() {
        let v = sample();
        let j = serde_json::to_string(&v).unwrap();
        assert_eq!(serde_json::from_str::<ModelVersion>(&j).unwrap(), v);
        let b = bincode::serialize(&v).unwrap();
        assert_eq!(bincode::deserialize::<ModelVersion>(&b).unwrap(), v);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_versions_round_trip(
            version in 1u64..,
            desc in "\\PC{0,40}",
            tags in proptest::collection::btree_map("\\PC{1,12}", "\\PC{0,12}", 0..5),
            metrics in proptest::collection::btree_map("[a-z_]{1,12}", -1e300f64..1e300, 0..5),
            parent in proptest::option::of(1u64..),
        ) {
            let mut v = sample();
            v.version = version;
            v.description = desc;
            v.tags = tags;
            v.metrics = metrics;
            v.lineage.parent_version = parent;
            let j = serde_json::to_string(&v).unwrap();
            proptest::prop_assert_eq!(serde_json::from_str::<ModelVersion>(&j).unwrap(), v.clone());
            let b = bincode::serialize(&v).unwrap();
            proptest::prop_assert_eq!(bincode::deserialize::<ModelVersion>(&b).unwrap(), v);
        }
    }

    #[test]
    fn bad_name_in_json_is_rejected() {
        let mut j: serde_json::Value = serde_json::to_value(sample()).unwrap();
        j["name"] = serde_json::Value::String("../../etc".into());
        assert!(serde_json::from_value::<ModelVersion>(j).is_err());
    }
}
