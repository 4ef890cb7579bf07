//! Alert thresholds derived from reference chunks, as NannyML computes them.
//!
//! [`StdThreshold`] is NannyML's `StandardDeviationThreshold` (`nannyml/thresholds.py`): the
//! band is `nanmean(values) ∓ multiplier · nanstd(values)` over the reference chunks' realised
//! metric (population standard deviation, NaN chunks ignored), then clipped to the metric's
//! range as `calculate_threshold_values` does: a lower bound `≤` the range's lower end becomes
//! that end (and likewise above). [`ConstantThreshold`] is NannyML's `ConstantThreshold`, clipped
//! the same way. A value breaches a [`Band`] when it is *strictly* outside it (NannyML's
//! `Metric.alert`).
//!
//! The sums here reproduce NumPy's pairwise summation bit for bit (the same 8-way unrolled
//! blocks of at most 128 values, split in halves rounded to a multiple of 8), so that means,
//! standard deviations and the bands built on them equal NumPy's to the last bit on the same
//! input.
//!
//! ```
//! use mlops_monitor::threshold::{Band, StdThreshold};
//! let band = StdThreshold::default().band(&[0.90, 0.92, 0.91, f64::NAN], (0.0, 1.0))?;
//! assert!(band.breached(0.80));
//! assert!(!band.breached(0.91));
//! # Ok::<(), mlops_monitor::Error>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// NumPy's pairwise sum of a contiguous `float64` array (`np.add.reduce`), bit for bit.
pub(crate) fn np_sum(a: &[f64]) -> f64 {
    0.0 + pairwise(a)
}

fn pairwise(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        let mut res = 0.0;
        for &x in a {
            res += x;
        }
        res
    } else if n <= 128 {
        let mut r = [a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]];
        let full = n - n % 8;
        let mut i = 8;
        while i < full {
            for (j, rj) in r.iter_mut().enumerate() {
                *rj += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &x in &a[full..] {
            res += x;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise(&a[..n2]) + pairwise(&a[n2..])
    }
}

/// `np.mean` of a non-empty array.
pub(crate) fn np_mean(a: &[f64]) -> f64 {
    np_sum(a) / a.len() as f64
}

/// `np.std` (population, `ddof=0`) of a non-empty array.
pub(crate) fn np_std(a: &[f64]) -> f64 {
    let mean = np_mean(a);
    let sq: Vec<f64> = a
        .iter()
        .map(|&x| {
            let d = x - mean;
            d * d
        })
        .collect();
    (np_sum(&sq) / a.len() as f64).sqrt()
}

/// `(np.nanmean(a), np.nanstd(a))`, `None` when every value is NaN (or `a` is empty).
pub(crate) fn np_nanmean_nanstd(a: &[f64]) -> Option<(f64, f64)> {
    let count = a.iter().filter(|x| !x.is_nan()).count();
    if count == 0 {
        return None;
    }
    // NumPy replaces NaN by 0 and sums the whole array (so the pairwise tree is the same).
    let zeroed: Vec<f64> = a
        .iter()
        .map(|&x| if x.is_nan() { 0.0 } else { x })
        .collect();
    let mean = np_sum(&zeroed) / count as f64;
    let sq: Vec<f64> = a
        .iter()
        .map(|&x| {
            if x.is_nan() {
                0.0
            } else {
                let d = x - mean;
                d * d
            }
        })
        .collect();
    Some((mean, (np_sum(&sq) / count as f64).sqrt()))
}

/// An alert band: a value below `lower` or above `upper` breaches it; a missing side never does.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Band {
    /// Lower threshold (`None`: no lower threshold).
    pub lower: Option<f64>,
    /// Upper threshold (`None`: no upper threshold).
    pub upper: Option<f64>,
}

impl Band {
    /// Whether `value` is strictly outside the band (NannyML's `Metric.alert`). NaN never
    /// breaches, as in NannyML (`NaN < t` is false).
    pub fn breached(&self, value: f64) -> bool {
        self.lower.is_some_and(|l| value < l) || self.upper.is_some_and(|u| value > u)
    }
}

fn check_range(range: (f64, f64)) -> Result<()> {
    let (lo, hi) = range;
    if lo.is_nan() || hi.is_nan() || lo >= hi {
        return Err(Error::invalid(
            "threshold range",
            format!("({lo}, {hi}) is not an interval with lower < upper"),
        ));
    }
    Ok(())
}

/// Clips a computed band to `range` as NannyML's `calculate_threshold_values` does
/// (`override_using_none=False`): a lower value `≤ range.0` becomes `range.0`, an upper value
/// `≥ range.1` becomes `range.1`. An infinite range end is no limit.
fn clip(lower: Option<f64>, upper: Option<f64>, range: (f64, f64)) -> Band {
    let (lo, hi) = range;
    let lower = lower.map(|l| if lo.is_finite() && l <= lo { lo } else { l });
    let upper = upper.map(|u| if hi.is_finite() && u >= hi { hi } else { u });
    Band { lower, upper }
}

/// Mean ± multiplier · standard deviation of the reference values (NannyML's
/// `StandardDeviationThreshold(std_lower_multiplier=3, std_upper_multiplier=3)` by default).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StdThreshold {
    /// Multiplier of the standard deviation subtracted from the mean.
    pub lower_multiplier: f64,
    /// Multiplier of the standard deviation added to the mean.
    pub upper_multiplier: f64,
}

impl Default for StdThreshold {
    fn default() -> Self {
        StdThreshold {
            lower_multiplier: 3.0,
            upper_multiplier: 3.0,
        }
    }
}

impl StdThreshold {
    /// The band of `reference_values` (typically one realised metric per reference chunk),
    /// clipped to `range` (the metric's `(min, max)`, `±∞` for no limit; see
    /// [`crate::values::metric_range`]).
    ///
    /// NaN values (chunks where the metric is undefined) are ignored, as `np.nanmean` /
    /// `np.nanstd` ignore them. A single defined value gives a zero-width band.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when a multiplier is negative or not finite, when `range` is not
    /// an interval, when a value is ±∞, or when no value is defined (empty or all NaN: NannyML
    /// would produce NaN thresholds that never alert).
    pub fn band(&self, reference_values: &[f64], range: (f64, f64)) -> Result<Band> {
        for (name, m) in [
            ("lower_multiplier", self.lower_multiplier),
            ("upper_multiplier", self.upper_multiplier),
        ] {
            if !m.is_finite() || m < 0.0 {
                return Err(Error::invalid(
                    format!("StdThreshold.{name}"),
                    format!("{m} is not a finite number ≥ 0"),
                ));
            }
        }
        check_range(range)?;
        if let Some(i) = reference_values.iter().position(|x| x.is_infinite()) {
            return Err(Error::invalid(
                "reference values",
                format!("value [{i}] is {}", reference_values[i]),
            ));
        }
        let (mean, std) = np_nanmean_nanstd(reference_values).ok_or_else(|| {
            Error::invalid(
                "reference values",
                format!(
                    "none of the {} values is defined (empty or all NaN)",
                    reference_values.len()
                ),
            )
        })?;
        Ok(clip(
            Some(mean - std * self.lower_multiplier),
            Some(mean + std * self.upper_multiplier),
            range,
        ))
    }
}

/// Fixed thresholds (NannyML's `ConstantThreshold`); `None` is no threshold on that side.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ConstantThreshold {
    /// Lower threshold.
    pub lower: Option<f64>,
    /// Upper threshold.
    pub upper: Option<f64>,
}

impl ConstantThreshold {
    /// A constant threshold.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when a value is NaN or ±∞, or when `lower ≥ upper` (NannyML's
    /// `ThresholdException`).
    pub fn new(lower: Option<f64>, upper: Option<f64>) -> Result<Self> {
        for (name, v) in [("lower", lower), ("upper", upper)] {
            if let Some(v) = v {
                if !v.is_finite() {
                    return Err(Error::invalid(
                        format!("ConstantThreshold.{name}"),
                        format!("{v} is not finite"),
                    ));
                }
            }
        }
        if let (Some(l), Some(u)) = (lower, upper) {
            if l >= u {
                return Err(Error::invalid(
                    "ConstantThreshold",
                    format!("lower threshold {l} must be less than upper threshold {u}"),
                ));
            }
        }
        Ok(ConstantThreshold { lower, upper })
    }

    /// The band, clipped to `range` as NannyML clips every threshold.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `range` is not an interval.
    pub fn band(&self, range: (f64, f64)) -> Result<Band> {
        check_range(range)?;
        Ok(clip(self.lower, self.upper, range))
    }
}

/// A threshold rule, for configurations.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Threshold {
    /// [`StdThreshold`].
    StandardDeviation(StdThreshold),
    /// [`ConstantThreshold`].
    Constant(ConstantThreshold),
}

impl Default for Threshold {
    fn default() -> Self {
        Threshold::StandardDeviation(StdThreshold::default())
    }
}

impl Threshold {
    /// The band for `reference_values` (ignored by a constant threshold), clipped to `range`.
    ///
    /// # Errors
    /// As [`StdThreshold::band`] / [`ConstantThreshold::band`].
    pub fn band(&self, reference_values: &[f64], range: (f64, f64)) -> Result<Band> {
        match self {
            Threshold::StandardDeviation(t) => t.band(reference_values, range),
            Threshold::Constant(t) => {
                // Re-validate: a deserialised constant threshold skipped `new`.
                ConstantThreshold::new(t.lower, t.upper)?.band(range)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_matches_plain_sum_on_exact_values() {
        let a: Vec<f64> = (0..1000).map(|i| i as f64).collect();
        assert_eq!(np_sum(&a), 499_500.0);
        assert_eq!(np_sum(&[]), 0.0);
        assert_eq!(np_std(&[1.0, 1.0]), 0.0);
    }

    #[test]
    fn clip_is_inclusive() {
        let b = clip(Some(0.0), Some(1.0), (0.0, 1.0));
        assert_eq!(b.lower, Some(0.0));
        let b = clip(Some(-0.5), Some(2.0), (f64::NEG_INFINITY, f64::INFINITY));
        assert_eq!(
            b,
            Band {
                lower: Some(-0.5),
                upper: Some(2.0)
            }
        );
    }
}
