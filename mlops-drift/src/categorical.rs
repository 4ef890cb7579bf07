//! Categorical drift: the χ² homogeneity test on the 2×k contingency table over the
//! union of categories, and PSI/JS/… on category frequencies.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::binning::{divergences_from_counts, Divergences};
use crate::error::{too_few, Result};
use crate::numeric::TestResult;

/// Category counts (sorted by category for deterministic output).
pub type CategoryCounts = BTreeMap<String, u64>;

/// Counts the categories of `values`; `None` (missing) is counted separately and
/// returned as the second element.
pub fn count_categories<'a, I>(values: I) -> (CategoryCounts, u64)
where
    I: IntoIterator<Item = Option<&'a str>>,
{
    let mut counts = CategoryCounts::new();
    let mut missing = 0u64;
    for v in values {
        match v {
            Some(s) => {
                if let Some(c) = counts.get_mut(s) {
                    *c += 1;
                } else {
                    counts.insert(s.to_string(), 1);
                }
            }
            None => missing += 1,
        }
    }
    (counts, missing)
}

/// χ² test of homogeneity, equal to `scipy.stats.chi2_contingency(table)` with its
/// default Yates continuity correction (applied only when `dof == 1`).
///
/// # Formula
/// `E_ij = R_i C_j / N`, `χ² = Σ (O_ij − E_ij)² / E_ij`, `dof = (r−1)(c−1)`; with
/// `dof = 1` each `O_ij` is first moved by `min(0.5, |E_ij − O_ij|)` toward `E_ij`.
/// `p = Q(dof/2, χ²/2)`. A table with `dof = 0` gives `χ² = 0, p = 1` (as scipy).
///
/// # Errors
/// [`crate::Error::TooFewValues`] when a row total is zero or a column is all zero;
/// [`crate::Error::InvalidInput`] when rows differ in length.
pub fn chi2_contingency(rows: &[&[u64]]) -> Result<TestResult> {
    let r = rows.len();
    let c = rows.first().map_or(0, |x| x.len());
    if rows.iter().any(|row| row.len() != c) {
        return Err(crate::error::invalid(
            "contingency table",
            "rows differ in length",
        ));
    }
    let row_tot: Vec<f64> = rows.iter().map(|x| x.iter().sum::<u64>() as f64).collect();
    let mut col_tot = vec![0.0f64; c];
    for row in rows {
        for (t, &v) in col_tot.iter_mut().zip(row.iter()) {
            *t += v as f64;
        }
    }
    let n: f64 = row_tot.iter().sum();
    if row_tot.contains(&0.0) || col_tot.contains(&0.0) || c == 0 {
        return Err(too_few("contingency table row/column", 1, 0));
    }
    let dof = (r.saturating_sub(1) * c.saturating_sub(1)) as f64;
    if dof == 0.0 {
        return Ok(TestResult {
            statistic: 0.0,
            p_value: Some(1.0),
        });
    }
    let mut stat = 0.0f64;
    for (i, row) in rows.iter().enumerate() {
        for (j, &o) in row.iter().enumerate() {
            let e = row_tot[i] * col_tot[j] / n;
            let mut o = o as f64;
            if dof == 1.0 {
                let diff = e - o;
                o += diff.abs().min(0.5) * diff.signum() * f64::from(u8::from(diff != 0.0));
            }
            stat += (o - e) * (o - e) / e;
        }
    }
    Ok(TestResult {
        statistic: stat,
        p_value: Some(crate::special::chi2_sf(stat, dof)),
    })
}

/// Result of comparing two categorical samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoricalComparison {
    /// The union of categories, in table order (sorted; the missing category, if
    /// counted, is last and named by [`MISSING_CATEGORY`]).
    pub categories: Vec<String>,
    /// Reference count per category.
    pub ref_counts: Vec<u64>,
    /// Current count per category.
    pub cur_counts: Vec<u64>,
    /// Categories present in the current data but not in the reference.
    pub unseen: Vec<String>,
    /// χ² homogeneity test on the 2×k table.
    pub chi2: TestResult,
    /// Divergences on smoothed category frequencies.
    pub divergences: Divergences,
}

/// Name of the missing-value category in [`CategoricalComparison::categories`].
pub const MISSING_CATEGORY: &str = "<missing>";

/// Compares category counts. When `missing` is `Some((ref_missing, cur_missing))`
/// and either is non-zero, missing values form their own category.
///
/// # Errors
/// [`crate::Error::TooFewValues`] when either side has no observation.
pub fn compare_categories(
    reference: &CategoryCounts,
    current: &CategoryCounts,
    missing: Option<(u64, u64)>,
    epsilon: f64,
) -> Result<CategoricalComparison> {
    let mut categories: Vec<String> = reference.keys().chain(current.keys()).cloned().collect();
    categories.sort();
    categories.dedup();
    let unseen: Vec<String> = current
        .keys()
        .filter(|k| !reference.contains_key(*k))
        .cloned()
        .collect();
    let mut ref_counts: Vec<u64> = categories
        .iter()
        .map(|k| reference.get(k).copied().unwrap_or(0))
        .collect();
    let mut cur_counts: Vec<u64> = categories
        .iter()
        .map(|k| current.get(k).copied().unwrap_or(0))
        .collect();
    if let Some((mr, mc)) = missing {
        if mr + mc > 0 {
            categories.push(MISSING_CATEGORY.to_string());
            ref_counts.push(mr);
            cur_counts.push(mc);
        }
    }
    if ref_counts.iter().sum::<u64>() == 0 {
        return Err(too_few("reference", 1, 0));
    }
    if cur_counts.iter().sum::<u64>() == 0 {
        return Err(too_few("current", 1, 0));
    }
    let chi2 = chi2_contingency(&[&ref_counts, &cur_counts])?;
    let divergences = divergences_from_counts(&ref_counts, &cur_counts, epsilon)?;
    Ok(CategoricalComparison {
        categories,
        ref_counts,
        cur_counts,
        unseen,
        chi2,
        divergences,
    })
}
