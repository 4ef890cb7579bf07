//! [`ReferenceProfile`]: everything a drift comparison needs from the reference,
//! fitted once, stored (JSON or bincode) and merged across partitions.
//!
//! # What is stored
//! Per numeric feature: the reference as sorted distinct values with
//! multiplicities ([`SortedSample`]), the missing count, the fitted [`Binning`] and
//! the reference bin counts. Per categorical feature: category counts and the
//! missing count.
//!
//! # Exactness and size
//! No sketch is used: KS, CvM, Anderson–Darling, Wasserstein and energy distance
//! against a profile equal the same statistics against the raw reference exactly,
//! and [`ReferenceProfile::merge`] is exact — binning is refitted on the merged
//! distribution, so merging profiles of partitions gives the same edges and
//! counts as one profile built on all rows. The price is size: 16 bytes per
//! *distinct* reference value (a column with 10⁶ distinct floats takes ~16 MB; a
//! column with few distinct values stays small).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::binning::{Binning, BinningStrategy};
use crate::categorical::{count_categories, CategoryCounts};
use crate::error::{Error, Result};
use crate::io::{Column, Table};
use crate::sample::{MissingPolicy, NumericInput, SortedSample};

/// Format version written into every profile.
pub const PROFILE_VERSION: u32 = 1;

/// Reference-side settings fixed when a profile is fitted.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProfileConfig {
    /// How numeric bin edges are fitted (default: 10 quantile bins).
    pub binning: BinningStrategy,
    /// NaN/±inf policy applied to the reference (default: omit, but count).
    pub missing: MissingPolicy,
}

impl Default for ProfileConfig {
    fn default() -> Self {
        Self {
            binning: BinningStrategy::default(),
            missing: MissingPolicy::Omit,
        }
    }
}

/// A numeric feature's reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericProfile {
    /// The finite reference values, sorted with multiplicities.
    pub sample: SortedSample,
    /// Number of NaN/±inf values seen.
    pub missing: u64,
    /// Bin edges fitted on `sample`.
    pub binning: Binning,
    /// Reference count per bin (`binning.n_bins()` entries).
    pub bin_counts: Vec<u64>,
}

impl NumericProfile {
    /// Fits a numeric profile.
    ///
    /// # Errors
    /// [`Error::NonFinite`] under [`MissingPolicy::Error`]; [`Error::TooFewValues`]
    /// when there is no finite value.
    pub fn fit(data: &[f64], config: &ProfileConfig, name: &str) -> Result<Self> {
        let (sample, missing) = SortedSample::from_values(data, config.missing, name)?;
        Self::from_sample(sample, missing, config.binning)
    }

    fn from_sample(sample: SortedSample, missing: u64, strategy: BinningStrategy) -> Result<Self> {
        let binning = Binning::fit(&sample, strategy)?;
        let bin_counts = binning.histogram_sorted(&sample);
        Ok(Self {
            sample,
            missing,
            binning,
            bin_counts,
        })
    }

    /// Rows seen, missing included.
    pub fn rows(&self) -> u64 {
        self.sample.len() + self.missing
    }
}

/// A categorical feature's reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoricalProfile {
    /// Count per category.
    pub counts: CategoryCounts,
    /// Number of missing values.
    pub missing: u64,
}

impl CategoricalProfile {
    /// Rows seen, missing included.
    pub fn rows(&self) -> u64 {
        self.counts.values().sum::<u64>() + self.missing
    }
}

/// One feature's reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureProfile {
    /// A numeric column.
    Numeric(NumericProfile),
    /// A categorical column.
    Categorical(CategoricalProfile),
}

/// The fitted reference of a dataset; see the module docs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceProfile {
    /// Format version ([`PROFILE_VERSION`]).
    pub version: u32,
    /// Settings the profile was fitted with.
    pub config: ProfileConfig,
    /// Features by column name.
    pub features: BTreeMap<String, FeatureProfile>,
}

impl ReferenceProfile {
    /// An empty profile.
    pub fn new(config: ProfileConfig) -> Self {
        Self {
            version: PROFILE_VERSION,
            config,
            features: BTreeMap::new(),
        }
    }

    /// Adds (or replaces) a numeric feature.
    ///
    /// # Errors
    /// As [`NumericProfile::fit`].
    pub fn add_numeric<T: NumericInput + ?Sized>(&mut self, name: &str, data: &T) -> Result<()> {
        let p = NumericProfile::fit(&data.to_f64(), &self.config, name)?;
        self.features
            .insert(name.to_string(), FeatureProfile::Numeric(p));
        Ok(())
    }

    /// Adds (or replaces) a categorical feature; `None` is a missing value.
    ///
    /// # Errors
    /// [`Error::NonFinite`] (reused for "missing") under [`MissingPolicy::Error`] when a
    /// value is missing.
    pub fn add_categorical<'a, I>(&mut self, name: &str, values: I) -> Result<()>
    where
        I: IntoIterator<Item = Option<&'a str>>,
    {
        let (counts, missing) = count_categories(values);
        if self.config.missing == MissingPolicy::Error && missing > 0 {
            return Err(Error::NonFinite {
                what: name.to_string(),
                index: 0,
                value: "missing".into(),
            });
        }
        self.features.insert(
            name.to_string(),
            FeatureProfile::Categorical(CategoricalProfile { counts, missing }),
        );
        Ok(())
    }

    /// Fits a profile on every column of `table` (in parallel).
    ///
    /// # Errors
    /// The first per-column error.
    pub fn fit_table(table: &Table, config: ProfileConfig) -> Result<Self> {
        use rayon::prelude::*;
        let features = table
            .columns
            .par_iter()
            .map(|(name, col)| {
                let f = match col {
                    Column::Numeric(v) => {
                        FeatureProfile::Numeric(NumericProfile::fit(v, &config, name)?)
                    }
                    Column::Categorical(v) => {
                        let mut p = ReferenceProfile::new(config);
                        p.add_categorical(name, v.iter().map(|s| s.as_deref()))?;
                        p.features.remove(name).ok_or_else(|| {
                            crate::error::invalid("column", "lost while profiling")
                        })?
                    }
                };
                Ok((name.clone(), f))
            })
            .collect::<Result<BTreeMap<_, _>>>()?;
        Ok(Self {
            version: PROFILE_VERSION,
            config,
            features,
        })
    }

    /// Merges two profiles of disjoint row sets of the same columns. Exact: the
    /// result equals the profile fitted on all rows.
    ///
    /// # Errors
    /// [`Error::Incompatible`] when configs, feature names or feature kinds differ.
    pub fn merge(&self, other: &Self) -> Result<Self> {
        if self.config != other.config {
            return Err(Error::Incompatible {
                what: "profile config".into(),
                reason: format!("{:?} vs {:?}", self.config, other.config),
            });
        }
        if self.features.len() != other.features.len()
            || self
                .features
                .keys()
                .any(|k| !other.features.contains_key(k))
        {
            return Err(Error::Incompatible {
                what: "profile features".into(),
                reason: "the two profiles have different columns".into(),
            });
        }
        let mut features = BTreeMap::new();
        for (name, a) in &self.features {
            let b = &other.features[name];
            let merged = match (a, b) {
                (FeatureProfile::Numeric(a), FeatureProfile::Numeric(b)) => {
                    FeatureProfile::Numeric(NumericProfile::from_sample(
                        a.sample.merge(&b.sample),
                        a.missing + b.missing,
                        self.config.binning,
                    )?)
                }
                (FeatureProfile::Categorical(a), FeatureProfile::Categorical(b)) => {
                    let mut counts = a.counts.clone();
                    for (k, v) in &b.counts {
                        *counts.entry(k.clone()).or_insert(0) += v;
                    }
                    FeatureProfile::Categorical(CategoricalProfile {
                        counts,
                        missing: a.missing + b.missing,
                    })
                }
                _ => {
                    return Err(Error::Incompatible {
                        what: format!("feature {name:?}"),
                        reason: "numeric in one profile, categorical in the other".into(),
                    })
                }
            };
            features.insert(name.clone(), merged);
        }
        Ok(Self {
            version: PROFILE_VERSION,
            config: self.config,
            features,
        })
    }

    /// JSON text.
    ///
    /// # Errors
    /// [`Error::Serde`] (not expected for profiles: all numbers are finite).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::Serde {
            format: "json".into(),
            reason: e.to_string(),
        })
    }

    /// Parses JSON text.
    ///
    /// # Errors
    /// [`Error::Serde`] for malformed input or an unknown version.
    pub fn from_json(s: &str) -> Result<Self> {
        let p: Self = serde_json::from_str(s).map_err(|e| Error::Serde {
            format: "json".into(),
            reason: e.to_string(),
        })?;
        p.check_version()
    }

    /// bincode (1.x) bytes.
    ///
    /// # Errors
    /// [`Error::Serde`].
    pub fn to_bincode(&self) -> Result<Vec<u8>> {
        bincode::serialize(self).map_err(|e| Error::Serde {
            format: "bincode".into(),
            reason: e.to_string(),
        })
    }

    /// Parses bincode bytes (bounded to the input size, so a corrupt length prefix
    /// cannot trigger a huge allocation).
    ///
    /// # Errors
    /// [`Error::Serde`] for malformed input or an unknown version.
    pub fn from_bincode(bytes: &[u8]) -> Result<Self> {
        use bincode::Options;
        let p: Self = bincode::DefaultOptions::new()
            .with_fixint_encoding()
            .allow_trailing_bytes()
            .with_limit(bytes.len() as u64 * 8 + 1024)
            .deserialize(bytes)
            .map_err(|e| Error::Serde {
                format: "bincode".into(),
                reason: e.to_string(),
            })?;
        p.check_version()
    }

    fn check_version(self) -> Result<Self> {
        if self.version != PROFILE_VERSION {
            return Err(Error::Serde {
                format: "profile".into(),
                reason: format!("unsupported profile version {}", self.version),
            });
        }
        for (name, f) in &self.features {
            if let FeatureProfile::Numeric(n) = f {
                // Re-validate invariants a hand-edited file could break.
                SortedSample::from_parts(n.sample.values().to_vec(), n.sample.counts().to_vec())
                    .map_err(|e| Error::Serde {
                        format: "profile".into(),
                        reason: format!("feature {name:?}: {e}"),
                    })?;
                if n.bin_counts.len() != n.binning.n_bins() {
                    return Err(Error::Serde {
                        format: "profile".into(),
                        reason: format!("feature {name:?}: bin counts do not match edges"),
                    });
                }
            }
        }
        Ok(self)
    }

    /// Writes the profile: JSON when the extension is `.json`, bincode otherwise.
    /// The file is written to a temporary sibling and renamed into place.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Serde`].
    #[tracing::instrument(skip_all, fields(path = %path.display()), err)]
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = if is_json(path) {
            self.to_json()?.into_bytes()
        } else {
            self.to_bincode()?
        };
        let io = |source| Error::Io {
            path: path.display().to_string(),
            source,
        };
        let tmp = path.with_extension(format!(
            "{}.tmp{}",
            path.extension().and_then(|e| e.to_str()).unwrap_or(""),
            std::process::id()
        ));
        std::fs::write(&tmp, bytes).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Reads a profile written by [`ReferenceProfile::save`].
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Serde`].
    #[tracing::instrument(skip_all, fields(path = %path.display()), err)]
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        if is_json(path) {
            let s = std::str::from_utf8(&bytes).map_err(|e| Error::Serde {
                format: "json".into(),
                reason: e.to_string(),
            })?;
            Self::from_json(s)
        } else {
            Self::from_bincode(&bytes)
        }
    }
}

fn is_json(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
}
