//! Reference-fitted binning and the binned divergences: PSI, KL (both directions),
//! Jensen–Shannon distance (base 2), Hellinger, total variation and L∞.
//!
//! # Binning
//! Edges are fitted on the reference only: quantile edges (numpy `'linear'`
//! quantiles at `0, 1/k, …, 1`) or equal-width edges over `[min, max]`. Only the
//! *inner* edges `e₁ < … < e_{B−1}` are kept and duplicates are collapsed, so there
//! are never empty duplicate bins. The outer bins are open-ended:
//! bin 0 is `(−∞, e₁)`, bin `j` is `[e_j, e_{j+1})`, the last is `[e_{B−1}, +∞)`.
//! Values outside the reference range therefore land in an outer bin instead of
//! being dropped. An optional explicit missing bin counts NaN/±inf
//! ([`crate::MissingPolicy::Category`]).
//!
//! # Smoothing
//! Proportions are smoothed identically on both sides before any logarithm:
//! `p_i = (c_i/N + ε) / (1 + Bε)` with `ε = 1e-4` by default ([`DEFAULT_EPSILON`]),
//! `B` the number of bins. This keeps every divergence finite without Evidently's
//! asymmetric zero-fill.

use serde::{Deserialize, Serialize};

use crate::error::{invalid, too_few, Result};
use crate::sample::SortedSample;

/// Default smoothing added to every bin proportion.
pub const DEFAULT_EPSILON: f64 = 1e-4;

/// How bin edges are chosen from the reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BinningStrategy {
    /// Reference quantiles (equal-frequency bins); `bins` before tie collapsing.
    Quantile {
        /// Number of bins (≥ 1).
        bins: usize,
    },
    /// Equal-width bins over the reference's `[min, max]`.
    EqualWidth {
        /// Number of bins (≥ 1).
        bins: usize,
    },
}

impl Default for BinningStrategy {
    fn default() -> Self {
        Self::Quantile { bins: 10 }
    }
}

/// Inner bin edges fitted on a reference (see the module docs for the bin layout).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Binning {
    edges: Vec<f64>,
}

impl Binning {
    /// Fits edges on a reference sample.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] for `bins == 0`; [`crate::Error::TooFewValues`] for an
    /// empty reference.
    pub fn fit(reference: &SortedSample, strategy: BinningStrategy) -> Result<Self> {
        if reference.is_empty() {
            return Err(too_few("reference (binning)", 1, 0));
        }
        let edges = match strategy {
            BinningStrategy::Quantile { bins } => {
                if bins == 0 {
                    return Err(invalid("bins", "must be at least 1"));
                }
                let step = 1.0 / bins as f64;
                let qs: Vec<f64> = (1..bins).map(|j| j as f64 * step).collect();
                reference.quantiles(&qs)
            }
            BinningStrategy::EqualWidth { bins } => {
                if bins == 0 {
                    return Err(invalid("bins", "must be at least 1"));
                }
                let lo = reference.values()[0];
                let hi = reference.values()[reference.values().len() - 1];
                let w = (hi - lo) / bins as f64;
                (1..bins).map(|j| lo + j as f64 * w).collect()
            }
        };
        Self::from_edges(edges)
    }

    /// Uses the given inner edges (sorted, duplicates collapsed).
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] when an edge is not finite.
    pub fn from_edges(mut edges: Vec<f64>) -> Result<Self> {
        if edges.iter().any(|e| !e.is_finite()) {
            return Err(invalid("bin edges", "must be finite"));
        }
        edges.sort_unstable_by(f64::total_cmp);
        edges.dedup();
        Ok(Self { edges })
    }

    /// The inner edges.
    pub fn edges(&self) -> &[f64] {
        &self.edges
    }

    /// Number of value bins (`edges + 1`), not counting the missing bin.
    pub fn n_bins(&self) -> usize {
        self.edges.len() + 1
    }

    /// Index of the bin holding finite `x`.
    #[inline]
    pub fn bin_of(&self, x: f64) -> usize {
        self.edges.partition_point(|&e| e <= x)
    }

    /// Counts of `data` per bin; the returned vector has `n_bins() + 1` entries, the
    /// last being the number of non-finite values.
    ///
    /// Branch-free: each value's bin is `Σ_j [x ≥ e_j]`, computed 64 values at a
    /// time so the compiler vectorises the comparisons.
    pub fn histogram(&self, data: &[f64]) -> Vec<u64> {
        let nb = self.n_bins();
        let mut counts = vec![0u64; nb + 1];
        if self.edges.len() > 32 {
            for &x in data {
                let i = if x.is_finite() { self.bin_of(x) } else { nb };
                counts[i] += 1;
            }
            return counts;
        }
        let mut idx = [0u32; 64];
        for chunk in data.chunks(64) {
            let idx = &mut idx[..chunk.len()];
            idx.iter_mut().for_each(|i| *i = 0);
            for &e in &self.edges {
                for (i, &x) in idx.iter_mut().zip(chunk) {
                    *i += u32::from(x >= e);
                }
            }
            for (i, &x) in idx.iter_mut().zip(chunk) {
                let finite = x.is_finite();
                *i = if finite { *i } else { nb as u32 };
            }
            for &i in idx.iter() {
                counts[i as usize] += 1;
            }
        }
        counts
    }

    /// Counts of a sorted sample per bin (`n_bins()` entries; it has no missing values).
    pub fn histogram_sorted(&self, s: &SortedSample) -> Vec<u64> {
        let mut counts = vec![0u64; self.n_bins()];
        for (&v, &c) in s.values().iter().zip(s.counts()) {
            counts[self.bin_of(v)] += c;
        }
        counts
    }
}

/// All binned divergences between a reference and a current histogram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Divergences {
    /// Population stability index `Σ (q−p) ln(q/p)`.
    pub psi: f64,
    /// `KL(ref ‖ cur) = Σ p ln(p/q)` (nats).
    pub kl_ref_cur: f64,
    /// `KL(cur ‖ ref) = Σ q ln(q/p)` (nats).
    pub kl_cur_ref: f64,
    /// Jensen–Shannon distance, base 2 (in `[0, 1]`).
    pub js: f64,
    /// Hellinger distance `sqrt(Σ(√p−√q)²)/√2` (in `[0, 1]`).
    pub hellinger: f64,
    /// Total variation `½ Σ |p−q|`.
    pub tvd: f64,
    /// L∞ distance `max |p−q|`.
    pub linf: f64,
}

/// Smoothed proportions `(c_i/N + ε)/(1 + Bε)`.
///
/// # Errors
/// [`crate::Error::TooFewValues`] when all counts are zero;
/// [`crate::Error::InvalidInput`] for a negative or non-finite `epsilon`.
pub fn smoothed_proportions(counts: &[u64], epsilon: f64) -> Result<Vec<f64>> {
    if !(epsilon.is_finite() && epsilon >= 0.0) {
        return Err(invalid("epsilon", "must be finite and ≥ 0"));
    }
    let n: u64 = counts.iter().sum();
    if n == 0 {
        return Err(too_few("histogram", 1, 0));
    }
    let nf = n as f64;
    let b = counts.len() as f64;
    Ok(counts
        .iter()
        .map(|&c| (c as f64 / nf + epsilon) / (1.0 + b * epsilon))
        .collect())
}

fn rel_entr(x: f64, y: f64) -> f64 {
    if x > 0.0 && y > 0.0 {
        x * (x / y).ln()
    } else if x == 0.0 && y >= 0.0 {
        0.0
    } else {
        f64::INFINITY
    }
}

/// Divergences between two probability vectors of equal length (already smoothed).
///
/// # Formula
/// With reference proportions `p` and current `q`, `m = (p+q)/2`:
/// PSI `Σ(q−p)ln(q/p)`; KL `Σ p ln(p/q)` (= `scipy.stats.entropy(p, q)`);
/// JS `sqrt((KL(p‖m)+KL(q‖m)) / (2 ln 2))` (= `scipy.spatial.distance.jensenshannon(p, q, base=2)`);
/// Hellinger `sqrt(Σ(√p−√q)²)/√2`; TVD `½Σ|p−q|`; L∞ `max|p−q|`.
///
/// # Errors
/// [`crate::Error::InvalidInput`] when the lengths differ or are zero.
pub fn divergences(p: &[f64], q: &[f64]) -> Result<Divergences> {
    if p.len() != q.len() || p.is_empty() {
        return Err(invalid(
            "proportions",
            "must be non-empty and of equal length",
        ));
    }
    let mut d = Divergences {
        psi: 0.0,
        kl_ref_cur: 0.0,
        kl_cur_ref: 0.0,
        js: 0.0,
        hellinger: 0.0,
        tvd: 0.0,
        linf: 0.0,
    };
    let (mut js, mut hel) = (0.0f64, 0.0f64);
    for (&pi, &qi) in p.iter().zip(q) {
        d.psi += (qi - pi) * (qi / pi).ln();
        d.kl_ref_cur += rel_entr(pi, qi);
        d.kl_cur_ref += rel_entr(qi, pi);
        let mi = (pi + qi) / 2.0;
        js += rel_entr(pi, mi) + rel_entr(qi, mi);
        let h = pi.sqrt() - qi.sqrt();
        hel += h * h;
        let ad = (pi - qi).abs();
        d.tvd += ad;
        d.linf = d.linf.max(ad);
    }
    d.tvd /= 2.0;
    d.js = (js / 2.0 / std::f64::consts::LN_2).max(0.0).sqrt();
    d.hellinger = hel.sqrt() / std::f64::consts::SQRT_2;
    Ok(d)
}

/// Divergences from raw counts, smoothing both sides with `epsilon`.
///
/// # Errors
/// As [`smoothed_proportions`] and [`divergences`].
pub fn divergences_from_counts(
    ref_counts: &[u64],
    cur_counts: &[u64],
    epsilon: f64,
) -> Result<Divergences> {
    let p = smoothed_proportions(ref_counts, epsilon)?;
    let q = smoothed_proportions(cur_counts, epsilon)?;
    divergences(&p, &q)
}
