//! Model signatures: named, typed, shaped inputs and outputs, and batch validation.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Element type of a tensor or column. Names follow the Open Inference Protocol.
///
/// Serialized (serde) as the variant name in upper case (`"F32"`, `"U8"`, `"BYTES"`), as stored
/// signatures have always been written; the OIP names (`"FP32"`, `"UINT8"`, …) are accepted as
/// aliases when reading. Variants added later are appended, so bincode's variant indices of the
/// older ones do not change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DType {
    /// Boolean.
    Bool,
    /// Unsigned 8-bit integer.
    #[serde(alias = "UINT8")]
    U8,
    /// Signed 32-bit integer.
    #[serde(alias = "INT32")]
    I32,
    /// Signed 64-bit integer.
    #[serde(alias = "INT64")]
    I64,
    /// 16-bit float (IEEE 754 half precision).
    #[serde(alias = "FP16")]
    F16,
    /// 32-bit float.
    #[serde(alias = "FP32")]
    F32,
    /// 64-bit float.
    #[serde(alias = "FP64")]
    F64,
    /// Byte strings (OIP `BYTES`); UTF-8 text when a model takes strings.
    Bytes,
    /// Unsigned 16-bit integer.
    #[serde(alias = "UINT16")]
    U16,
    /// Unsigned 32-bit integer.
    #[serde(alias = "UINT32")]
    U32,
    /// Unsigned 64-bit integer.
    #[serde(alias = "UINT64")]
    U64,
    /// Signed 8-bit integer.
    #[serde(alias = "INT8")]
    I8,
    /// Signed 16-bit integer.
    #[serde(alias = "INT16")]
    I16,
}

impl DType {
    /// Every datatype, in the Open Inference Protocol's order.
    pub const ALL: [DType; 13] = [
        DType::Bool,
        DType::U8,
        DType::U16,
        DType::U32,
        DType::U64,
        DType::I8,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::F16,
        DType::F32,
        DType::F64,
        DType::Bytes,
    ];

    /// The Open Inference Protocol v2 datatype name (`FP32`, `INT64`, `BYTES`, …).
    pub fn oip_name(self) -> &'static str {
        match self {
            DType::Bool => "BOOL",
            DType::U8 => "UINT8",
            DType::U16 => "UINT16",
            DType::U32 => "UINT32",
            DType::U64 => "UINT64",
            DType::I8 => "INT8",
            DType::I16 => "INT16",
            DType::I32 => "INT32",
            DType::I64 => "INT64",
            DType::F16 => "FP16",
            DType::F32 => "FP32",
            DType::F64 => "FP64",
            DType::Bytes => "BYTES",
        }
    }

    /// Bytes per element in the protocol's binary (raw, little-endian) form; `None` for
    /// `BYTES`, whose elements are length-prefixed.
    pub fn byte_size(self) -> Option<usize> {
        Some(match self {
            DType::Bool | DType::U8 | DType::I8 => 1,
            DType::U16 | DType::I16 | DType::F16 => 2,
            DType::U32 | DType::I32 | DType::F32 => 4,
            DType::U64 | DType::I64 | DType::F64 => 8,
            DType::Bytes => return None,
        })
    }

    /// Parses an Open Inference Protocol datatype name.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a name outside [`DType::ALL`]'s [`DType::oip_name`]s.
    pub fn from_oip_name(name: &str) -> Result<Self> {
        DType::ALL
            .into_iter()
            .find(|d| d.oip_name() == name)
            .ok_or_else(|| {
                Error::invalid_input(
                    "datatype",
                    format!(
                        "unknown datatype {name:?} (known: BOOL, UINT8, UINT16, UINT32, UINT64, \
                         INT8, INT16, INT32, INT64, FP16, FP32, FP64, BYTES)"
                    ),
                )
            })
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.oip_name())
    }
}

/// One named tensor: dtype and shape, where `-1` marks a free dimension (usually the batch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorSpec {
    /// Input or output name.
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Dimensions; `-1` accepts any size.
    pub shape: Vec<i64>,
    /// Names of the features along the last axis (tabular models), when known.
    pub feature_names: Option<Vec<String>>,
}

impl TensorSpec {
    /// A spec without feature names.
    pub fn new(name: impl Into<String>, dtype: DType, shape: Vec<i64>) -> Self {
        Self {
            name: name.into(),
            dtype,
            shape,
            feature_names: None,
        }
    }

    /// Sets the feature names along the last axis.
    pub fn with_feature_names(mut self, names: Vec<String>) -> Self {
        self.feature_names = Some(names);
        self
    }

    /// Checks one tensor's dtype and shape against this spec.
    ///
    /// # Errors
    /// [`Error::SchemaMismatch`] naming this spec's field when the dtype differs, the
    /// rank differs, or a fixed dimension differs.
    pub fn check(&self, dtype: DType, shape: &[usize]) -> Result<()> {
        let mismatch = |reason: String| Error::SchemaMismatch {
            field: self.name.clone(),
            reason,
        };
        if dtype != self.dtype {
            return Err(mismatch(format!(
                "dtype {dtype} where the signature expects {}",
                self.dtype
            )));
        }
        if shape.len() != self.shape.len() {
            return Err(mismatch(format!(
                "shape {shape:?} has rank {} where the signature expects shape {:?}",
                shape.len(),
                self.shape
            )));
        }
        for (axis, (&got, &want)) in shape.iter().zip(&self.shape).enumerate() {
            if want >= 0 && got as u64 != want as u64 {
                return Err(mismatch(format!(
                    "dimension {axis} is {got} where the signature expects {want} (shape {:?})",
                    self.shape
                )));
            }
        }
        Ok(())
    }
}

/// An ordered list of tensor specs (the inputs or the outputs of a model, or the
/// columns of a dataset, each with shape `[-1]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    /// The fields, in order.
    pub fields: Vec<TensorSpec>,
}

impl Schema {
    /// Wraps a list of fields.
    pub fn new(fields: Vec<TensorSpec>) -> Self {
        Self { fields }
    }

    /// The field named `name`.
    pub fn field(&self, name: &str) -> Option<&TensorSpec> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Checks a batch given as `(name, dtype, shape)` triples: every field present
    /// exactly once, no unknown names, each dtype and shape matching, and the free
    /// leading (batch) dimension equal across fields.
    ///
    /// # Errors
    /// [`Error::SchemaMismatch`] naming the missing, unknown, duplicated or mismatched field.
    pub fn validate<'a, I>(&self, batch: I) -> Result<()>
    where
        I: IntoIterator<Item = (&'a str, DType, &'a [usize])>,
    {
        let mut seen = vec![false; self.fields.len()];
        let mut batch_len: Option<(usize, &str)> = None;
        for (name, dtype, shape) in batch {
            let Some(idx) = self.fields.iter().position(|f| f.name == name) else {
                return Err(Error::SchemaMismatch {
                    field: name.to_owned(),
                    reason: "not in the signature".into(),
                });
            };
            if std::mem::replace(&mut seen[idx], true) {
                return Err(Error::SchemaMismatch {
                    field: name.to_owned(),
                    reason: "given more than once".into(),
                });
            }
            let spec = &self.fields[idx];
            spec.check(dtype, shape)?;
            if spec.shape.first() == Some(&-1) {
                if let Some(&n) = shape.first() {
                    match batch_len {
                        None => batch_len = Some((n, name)),
                        Some((m, other)) if m != n => {
                            return Err(Error::SchemaMismatch {
                                field: name.to_owned(),
                                reason: format!(
                                    "batch size {n} differs from {m} of field {other:?}"
                                ),
                            })
                        }
                        Some(_) => {}
                    }
                }
            }
        }
        if let Some(missing) = self.fields.iter().zip(&seen).find(|(_, s)| !**s) {
            return Err(Error::SchemaMismatch {
                field: missing.0.name.clone(),
                reason: "missing from the batch".into(),
            });
        }
        Ok(())
    }
}

/// A model's signature: its inputs and outputs.
///
/// ```
/// use mlops_core::{DType, Schema, Signature, TensorSpec};
/// let sig = Signature {
///     inputs: Schema::new(vec![TensorSpec::new("x", DType::F32, vec![-1, 3])]),
///     outputs: Schema::new(vec![TensorSpec::new("y", DType::F32, vec![-1, 1])]),
/// };
/// sig.inputs.validate([("x", DType::F32, &[8usize, 3][..])])?;
/// let err = sig.inputs.validate([("x", DType::F32, &[8usize, 4][..])]).unwrap_err();
/// assert!(err.to_string().contains("\"x\""));
/// # Ok::<(), mlops_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// Model inputs.
    pub inputs: Schema,
    /// Model outputs.
    pub outputs: Schema,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        Schema::new(vec![
            TensorSpec::new("x", DType::F32, vec![-1, 3]).with_feature_names(vec![
                "a".into(),
                "b".into(),
                "c".into(),
            ]),
            TensorSpec::new("mask", DType::Bool, vec![-1]),
        ])
    }

    fn field_of(e: Error) -> String {
        match e {
            Error::SchemaMismatch { field, .. } => field,
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn valid_batch_passes() {
        schema()
            .validate([
                ("x", DType::F32, &[5usize, 3][..]),
                ("mask", DType::Bool, &[5usize][..]),
            ])
            .unwrap();
    }

    #[test]
    fn errors_name_the_field() {
        let s = schema();
        let e = s
            .validate([
                ("x", DType::F64, &[5usize, 3][..]),
                ("mask", DType::Bool, &[5][..]),
            ])
            .unwrap_err();
        assert_eq!(field_of(e), "x");
        let e = s
            .validate([("x", DType::F32, &[5usize, 3][..])])
            .unwrap_err();
        assert_eq!(field_of(e), "mask");
        let e = s
            .validate([
                ("x", DType::F32, &[5usize, 3][..]),
                ("mask", DType::Bool, &[4][..]),
            ])
            .unwrap_err();
        assert_eq!(field_of(e), "mask");
        let e = s
            .validate([
                ("x", DType::F32, &[5usize, 3][..]),
                ("mask", DType::Bool, &[5][..]),
                ("zzz", DType::Bool, &[5][..]),
            ])
            .unwrap_err();
        assert_eq!(field_of(e), "zzz");
        let e = s
            .validate([
                ("x", DType::F32, &[5usize][..]),
                ("mask", DType::Bool, &[5][..]),
            ])
            .unwrap_err();
        assert_eq!(field_of(e), "x");
        let e = s
            .validate([
                ("x", DType::F32, &[5usize, 3][..]),
                ("x", DType::F32, &[5, 3][..]),
            ])
            .unwrap_err();
        assert_eq!(field_of(e), "x");
    }

    #[test]
    fn oip_names_round_trip() {
        for d in DType::ALL {
            assert_eq!(DType::from_oip_name(d.oip_name()).unwrap(), d);
        }
        assert!(DType::from_oip_name("FP8").is_err());
        assert!(DType::from_oip_name("fp32").is_err());
    }

    #[test]
    fn stored_names_stay_and_oip_names_are_read_too() {
        // The serde names of the first eight variants are what stored signatures hold.
        for (d, stored) in [
            (DType::Bool, "BOOL"),
            (DType::U8, "U8"),
            (DType::I32, "I32"),
            (DType::I64, "I64"),
            (DType::F16, "F16"),
            (DType::F32, "F32"),
            (DType::F64, "F64"),
            (DType::Bytes, "BYTES"),
            (DType::U16, "U16"),
            (DType::U32, "U32"),
            (DType::U64, "U64"),
            (DType::I8, "I8"),
            (DType::I16, "I16"),
        ] {
            assert_eq!(serde_json::to_string(&d).unwrap(), format!("{stored:?}"));
            assert_eq!(
                serde_json::from_str::<DType>(&format!("{stored:?}")).unwrap(),
                d
            );
            let oip = format!("{:?}", d.oip_name());
            assert_eq!(serde_json::from_str::<DType>(&oip).unwrap(), d, "{oip}");
        }
        // bincode writes the variant index: the old variants keep theirs.
        assert_eq!(
            bincode::serialize(&DType::Bytes).unwrap(),
            7u32.to_le_bytes()
        );
        assert_eq!(
            bincode::serialize(&DType::I16).unwrap(),
            12u32.to_le_bytes()
        );
        assert_eq!(DType::F16.byte_size(), Some(2));
        assert_eq!(DType::Bytes.byte_size(), None);
    }

    #[test]
    fn serde_round_trips() {
        let sig = Signature {
            inputs: schema(),
            outputs: Schema::new(vec![TensorSpec::new("y", DType::F32, vec![-1, 2])]),
        };
        let j = serde_json::to_string(&sig).unwrap();
        assert_eq!(serde_json::from_str::<Signature>(&j).unwrap(), sig);
        let b = bincode::serialize(&sig).unwrap();
        assert_eq!(bincode::deserialize::<Signature>(&b).unwrap(), sig);
    }
}
