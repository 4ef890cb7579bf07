//! Numeric inputs, the missing-value policy, and [`SortedSample`]: a sample stored
//! as its sorted distinct values with their multiplicities.
//!
//! Every numeric statistic in this crate is computed on `SortedSample`s, so a test
//! against a stored [`crate::ReferenceProfile`] gives bit-for-bit the same value as
//! the test against the raw reference it was built from.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::error::{invalid, Error, Result};

/// What to do with NaN and ±infinity.
///
/// In every policy the number of such values is counted and reported
/// (`missing` in results). The difference is what happens next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingPolicy {
    /// Drop them; statistics see only finite values (the default).
    #[default]
    Omit,
    /// Fail with [`Error::NonFinite`] on the first one.
    Error,
    /// Count them as their own "missing" category: binned divergences get an
    /// extra missing bin (so a change in the missing share is drift); rank tests
    /// (KS, CvM, …) still see only the finite values.
    Category,
}

/// Anything that can be read as a column of `f64`: `[f64]`, `[f32]`, `Vec`s of them
/// and 1-D `ndarray` views.
pub trait NumericInput {
    /// The values as `f64` (borrowed when they already are).
    fn to_f64(&self) -> Cow<'_, [f64]>;
}

impl NumericInput for [f64] {
    fn to_f64(&self) -> Cow<'_, [f64]> {
        Cow::Borrowed(self)
    }
}
impl NumericInput for [f32] {
    fn to_f64(&self) -> Cow<'_, [f64]> {
        Cow::Owned(self.iter().map(|&x| f64::from(x)).collect())
    }
}
impl NumericInput for Vec<f64> {
    fn to_f64(&self) -> Cow<'_, [f64]> {
        Cow::Borrowed(self)
    }
}
impl NumericInput for Vec<f32> {
    fn to_f64(&self) -> Cow<'_, [f64]> {
        self.as_slice().to_f64()
    }
}
impl NumericInput for ndarray::ArrayView1<'_, f64> {
    fn to_f64(&self) -> Cow<'_, [f64]> {
        match self.as_slice() {
            Some(s) => Cow::Borrowed(s),
            None => Cow::Owned(self.iter().copied().collect()),
        }
    }
}
impl NumericInput for ndarray::ArrayView1<'_, f32> {
    fn to_f64(&self) -> Cow<'_, [f64]> {
        Cow::Owned(self.iter().map(|&x| f64::from(x)).collect())
    }
}
impl NumericInput for ndarray::Array1<f64> {
    fn to_f64(&self) -> Cow<'_, [f64]> {
        self.view().to_f64().into_owned().into()
    }
}

/// Splits `data` into its finite values and the count of non-finite ones,
/// applying `policy`.
///
/// # Errors
/// [`Error::NonFinite`] under [`MissingPolicy::Error`] when a value is NaN or ±inf.
pub fn finite_values(data: &[f64], policy: MissingPolicy, what: &str) -> Result<(Vec<f64>, u64)> {
    if policy == MissingPolicy::Error {
        if let Some((index, v)) = data.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: what.to_string(),
                index,
                value: v.to_string(),
            });
        }
    }
    let mut out = Vec::with_capacity(data.len());
    out.extend(data.iter().copied().filter(|v| v.is_finite()));
    let missing = (data.len() - out.len()) as u64;
    Ok((out, missing))
}

/// Sorts `f64`s in place in `f64::total_cmp` order (`-0.0` before `0.0`).
///
/// (An LSD radix sort was tried and measured no faster than the standard
/// pattern-defeating quicksort on this hardware, so the standard sort is used.)
pub fn sort_values(v: &mut [f64]) {
    v.sort_unstable_by(f64::total_cmp);
}

/// Sorts two samples, each with [`sort_values`], on two threads (what the two-sample
/// tests do before anything else; benchmarks use it as the "time to sort both" baseline).
pub fn sort_both(a: &mut [f64], b: &mut [f64]) {
    rayon::join(|| sort_values(a), || sort_values(b));
}

/// A sample as sorted distinct finite values with multiplicities.
///
/// `-0.0` and `0.0` compare equal and are merged.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SortedSample {
    values: Vec<f64>,
    counts: Vec<u64>,
    n: u64,
}

impl SortedSample {
    /// Builds from raw values; non-finite values are handled by `policy` and their
    /// number is returned alongside.
    ///
    /// # Errors
    /// [`Error::NonFinite`] under [`MissingPolicy::Error`].
    pub fn from_values(data: &[f64], policy: MissingPolicy, what: &str) -> Result<(Self, u64)> {
        let (mut v, missing) = finite_values(data, policy, what)?;
        sort_values(&mut v);
        Ok((Self::from_sorted_finite(&v), missing))
    }

    /// Builds from values already sorted ascending and all finite (not checked
    /// beyond a debug assertion; unsorted input gives a wrong but safe result).
    pub fn from_sorted_finite(sorted: &[f64]) -> Self {
        let mut values = Vec::with_capacity(sorted.len());
        let mut counts = Vec::with_capacity(sorted.len());
        let mut i = 0;
        while i < sorted.len() {
            let x = sorted[i];
            let mut j = i + 1;
            while j < sorted.len() && sorted[j] == x {
                j += 1;
            }
            values.push(x + 0.0); // -0.0 and 0.0 are one value, stored as 0.0
            counts.push((j - i) as u64);
            i = j;
        }
        Self {
            values,
            counts,
            n: sorted.len() as u64,
        }
    }

    /// Builds from parallel vectors of distinct sorted values and positive counts.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when lengths differ, values are not strictly
    /// increasing and finite, or a count is zero.
    pub fn from_parts(values: Vec<f64>, counts: Vec<u64>) -> Result<Self> {
        if values.len() != counts.len() {
            return Err(invalid(
                "sorted sample",
                "values and counts differ in length",
            ));
        }
        if values.iter().any(|v| !v.is_finite()) || values.windows(2).any(|w| w[0] >= w[1]) {
            return Err(invalid(
                "sorted sample",
                "values must be finite and strictly increasing",
            ));
        }
        if counts.contains(&0) {
            return Err(invalid("sorted sample", "counts must be positive"));
        }
        let n = counts.iter().sum();
        Ok(Self { values, counts, n })
    }

    /// Distinct values, ascending.
    pub fn values(&self) -> &[f64] {
        &self.values
    }
    /// Multiplicity of each distinct value.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }
    /// `(value, multiplicity)` pairs in ascending order.
    pub fn runs(&self) -> impl Iterator<Item = (f64, u64)> + Clone + '_ {
        self.values.iter().copied().zip(self.counts.iter().copied())
    }

    /// Total number of observations.
    pub fn len(&self) -> u64 {
        self.n
    }
    /// True when there is no observation.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Union of two samples (multiplicities add). Exact.
    pub fn merge(&self, other: &Self) -> Self {
        let mut values = Vec::with_capacity(self.values.len() + other.values.len());
        let mut counts = Vec::with_capacity(values.capacity());
        let (mut i, mut j) = (0, 0);
        while i < self.values.len() || j < other.values.len() {
            let take_a = j >= other.values.len()
                || (i < self.values.len() && self.values[i] <= other.values[j]);
            let take_b = i >= self.values.len()
                || (j < other.values.len() && other.values[j] <= self.values[i]);
            if take_a && take_b {
                values.push(self.values[i]);
                counts.push(self.counts[i] + other.counts[j]);
                i += 1;
                j += 1;
            } else if take_a {
                values.push(self.values[i]);
                counts.push(self.counts[i]);
                i += 1;
            } else {
                values.push(other.values[j]);
                counts.push(other.counts[j]);
                j += 1;
            }
        }
        Self {
            values,
            counts,
            n: self.n + other.n,
        }
    }

    /// The value at 0-based order-statistic position `k` (clamped to the range).
    fn order_stat(&self, k: u64, cum: &[u64]) -> f64 {
        // cum[i] = number of observations <= values[i]
        let idx = cum.partition_point(|&c| c <= k);
        self.values[idx.min(self.values.len() - 1)]
    }

    /// Quantiles with numpy's default `'linear'` method (`np.quantile(x, qs)`).
    /// Returns an empty vector for an empty sample.
    pub fn quantiles(&self, qs: &[f64]) -> Vec<f64> {
        if self.n == 0 {
            return Vec::new();
        }
        let mut cum = Vec::with_capacity(self.counts.len());
        let mut acc = 0u64;
        for &c in &self.counts {
            acc += c;
            cum.push(acc);
        }
        let nm1 = (self.n - 1) as f64;
        qs.iter()
            .map(|&q| {
                let vi = nm1 * q;
                let lo = vi.floor().clamp(0.0, nm1);
                let t = vi - lo;
                let a = self.order_stat(lo as u64, &cum);
                let b = self.order_stat(((lo as u64) + 1).min(self.n - 1), &cum);
                let d = b - a;
                if t >= 0.5 {
                    b - d * (1.0 - t)
                } else {
                    a + d * t
                }
            })
            .collect()
    }

    /// Mean and population standard deviation (two-pass).
    pub fn mean_std(&self) -> (f64, f64) {
        if self.n == 0 {
            return (f64::NAN, f64::NAN);
        }
        let n = self.n as f64;
        let mean = self
            .values
            .iter()
            .zip(&self.counts)
            .map(|(v, &c)| v * c as f64)
            .sum::<f64>()
            / n;
        let var = self
            .values
            .iter()
            .zip(&self.counts)
            .map(|(v, &c)| (v - mean) * (v - mean) * c as f64)
            .sum::<f64>()
            / n;
        (mean, var.sqrt())
    }
}
