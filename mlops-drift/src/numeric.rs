//! Two-sample tests and distances on numeric data, each equal to its scipy
//! counterpart.
//!
//! Every function comes in two forms: one on raw slices (`ks_2samp`) which omits
//! NaN/±inf, and one on [`SortedSample`]s (`ks_2samp_sorted`) which is what
//! profiles and reports use. Both give identical results.

use serde::{Deserialize, Serialize};

use crate::error::{too_few, Error, Result};
use crate::sample::{MissingPolicy, SortedSample};
use crate::special;

/// A statistic with an optional p-value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TestResult {
    /// The test statistic.
    pub statistic: f64,
    /// The p-value, for tests that have one.
    pub p_value: Option<f64>,
}

/// How the two-sample KS p-value is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KsMethod {
    /// scipy's `method='auto'`: exact when `max(n1, n2) ≤ 10 000`, else asymptotic.
    #[default]
    Auto,
    /// Exact path counting (falls back to asymptotic, as scipy does, when the
    /// lattice is too large or the computation loses precision).
    Exact,
    /// `kstwo.sf(D, round(n1·n2/(n1+n2)))`.
    Asymptotic,
}

/// Result of [`ks_2samp`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KsResult {
    /// `D = sup_x |F₁(x) − F₂(x)|`.
    pub statistic: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// The method actually used (`Exact` or `Asymptotic`).
    pub method: KsMethod,
    /// A value where the supremum is attained.
    pub location: f64,
}

fn both_nonempty(a: &SortedSample, b: &SortedSample, needed: usize) -> Result<()> {
    if (a.len() as usize) < needed {
        return Err(too_few("first sample", needed, a.len() as usize));
    }
    if (b.len() as usize) < needed {
        return Err(too_few("second sample", needed, b.len() as usize));
    }
    Ok(())
}

fn sorted_pair(a: &[f64], b: &[f64]) -> Result<(SortedSample, SortedSample)> {
    let (sa, sb) = rayon::join(
        || SortedSample::from_values(a, MissingPolicy::Omit, "first sample"),
        || SortedSample::from_values(b, MissingPolicy::Omit, "second sample"),
    );
    Ok((sa?.0, sb?.0))
}

/// Something that can walk the union of two samples' distinct values, calling
/// `f(value, cdf_a, cdf_b, next_value)` with right-continuous ECDF counts at `value`
/// and the next distinct pooled value.
trait Walk {
    fn walk<F: FnMut(f64, u64, u64, Option<f64>)>(self, f: F);
}

/// Two run iterators (sorted samples).
struct RunPair<A, B>(A, B);

impl<A, B> Walk for RunPair<A, B>
where
    A: Iterator<Item = (f64, u64)>,
    B: Iterator<Item = (f64, u64)>,
{
    fn walk<F: FnMut(f64, u64, u64, Option<f64>)>(self, mut f: F) {
        let mut a = self.0.peekable();
        let mut b = self.1.peekable();
        let (mut ca, mut cb) = (0u64, 0u64);
        loop {
            let x = match (a.peek(), b.peek()) {
                (Some(&(x, _)), Some(&(y, _))) => x.min(y),
                (Some(&(x, _)), None) => x,
                (None, Some(&(y, _))) => y,
                (None, None) => break,
            };
            if let Some(&(v, c)) = a.peek() {
                if v == x {
                    ca += c;
                    a.next();
                }
            }
            if let Some(&(v, c)) = b.peek() {
                if v == x {
                    cb += c;
                    b.next();
                }
            }
            let next = match (a.peek(), b.peek()) {
                (Some(&(x, _)), Some(&(y, _))) => Some(x.min(y)),
                (Some(&(x, _)), None) => Some(x),
                (None, Some(&(y, _))) => Some(y),
                (None, None) => None,
            };
            f(x, ca, cb, next);
        }
    }
}

/// Two sorted slices of finite values (the fast path of the slice functions),
/// walked over index ranges `i0..i1` of `x` and `j0..j1` of `y`. The ranges of one
/// walk must end at a value boundary (no tie straddles it); ECDF counts are global.
#[derive(Clone, Copy)]
struct SlicePair<'a> {
    x: &'a [f64],
    y: &'a [f64],
    i0: usize,
    i1: usize,
    j0: usize,
    j1: usize,
}

impl<'a> SlicePair<'a> {
    fn new(x: &'a [f64], y: &'a [f64]) -> Self {
        Self {
            x,
            y,
            i0: 0,
            i1: x.len(),
            j0: 0,
            j1: y.len(),
        }
    }

    /// Splits at the median of the longer range into two walks whose union is
    /// this one (`None` when too small to be worth it or when it cannot split).
    fn split(self) -> Option<(Self, Self)> {
        if (self.i1 - self.i0) + (self.j1 - self.j0) < 1 << 16 {
            return None;
        }
        let pivot = if self.i1 - self.i0 >= self.j1 - self.j0 {
            self.x[(self.i0 + self.i1) / 2]
        } else {
            self.y[(self.j0 + self.j1) / 2]
        };
        let im = self.i0 + self.x[self.i0..self.i1].partition_point(|&v| v < pivot);
        let jm = self.j0 + self.y[self.j0..self.j1].partition_point(|&v| v < pivot);
        if (im == self.i0 && jm == self.j0) || (im == self.i1 && jm == self.j1) {
            return None;
        }
        Some((
            Self {
                i1: im,
                j1: jm,
                ..self
            },
            Self {
                i0: im,
                j0: jm,
                ..self
            },
        ))
    }
}

impl Walk for SlicePair<'_> {
    fn walk<F: FnMut(f64, u64, u64, Option<f64>)>(self, mut f: F) {
        let (x, y) = (self.x, self.y);
        let (n1, n2) = (self.i1, self.j1);
        let (mut i, mut j) = (self.i0, self.j0);
        while i < n1 || j < n2 {
            let v = if j >= n2 || (i < n1 && x[i] <= y[j]) {
                x[i]
            } else {
                y[j]
            };
            while i < n1 && x[i] == v {
                i += 1;
            }
            while j < n2 && y[j] == v {
                j += 1;
            }
            let next = match (x.get(i), y.get(j)) {
                (Some(&a), Some(&b)) => Some(a.min(b)),
                (Some(&a), None) => Some(a),
                (None, Some(&b)) => Some(b),
                (None, None) => None,
            };
            f(v, i as u64, j as u64, next);
        }
    }
}

/// `(max d, its location, min d, its location)` of `d = F_a − F_b` over a walk.
fn ks_extremes<W: Walk>(w: W, n1f: f64, n2f: f64) -> (f64, f64, f64, f64) {
    let (mut max_s, mut max_loc) = (f64::NEG_INFINITY, f64::NAN);
    let (mut min_s, mut min_loc) = (f64::INFINITY, f64::NAN);
    w.walk(|x, ca, cb, _| {
        let d = ca as f64 / n1f - cb as f64 / n2f;
        if d > max_s {
            max_s = d;
            max_loc = x;
        }
        if d < min_s {
            min_s = d;
            min_loc = x;
        }
    });
    (max_s, max_loc, min_s, min_loc)
}

/// [`ks_extremes`] on slices, split in two halves walked on two threads.
fn ks_extremes_par(w: SlicePair<'_>, n1f: f64, n2f: f64) -> (f64, f64, f64, f64) {
    match w.split() {
        None => ks_extremes(w, n1f, n2f),
        Some((l, r)) => {
            let (a, b) = rayon::join(|| ks_extremes(l, n1f, n2f), || ks_extremes(r, n1f, n2f));
            // Ties keep the leftmost location, as argmax/argmin do.
            let (max_s, max_loc) = if b.0 > a.0 { (b.0, b.1) } else { (a.0, a.1) };
            let (min_s, min_loc) = if b.2 < a.2 { (b.2, b.3) } else { (a.2, a.3) };
            (max_s, max_loc, min_s, min_loc)
        }
    }
}

fn walk_union<A, B>(a: A, b: B, f: impl FnMut(f64, u64, u64, Option<f64>))
where
    A: Iterator<Item = (f64, u64)>,
    B: Iterator<Item = (f64, u64)>,
{
    RunPair(a, b).walk(f);
}

/// Finite values of both slices, sorted (on two threads).
fn sorted_finite_pair(a: &[f64], b: &[f64]) -> Result<(Vec<f64>, Vec<f64>)> {
    let prep = |d: &[f64], what: &str| -> Result<Vec<f64>> {
        let (mut v, _) = crate::sample::finite_values(d, MissingPolicy::Omit, what)?;
        crate::sample::sort_values(&mut v);
        Ok(v)
    };
    let (x, y) = rayon::join(|| prep(a, "first sample"), || prep(b, "second sample"));
    let (x, y) = (x?, y?);
    if x.is_empty() {
        return Err(too_few("first sample", 1, 0));
    }
    if y.is_empty() {
        return Err(too_few("second sample", 1, 0));
    }
    Ok((x, y))
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// scipy `_compute_prob_outside_square(n, h)`: `P(D_{n,n} ≥ h/n)`.
fn prob_outside_square(n: u64, h: u64) -> f64 {
    let mut p = 0.0f64;
    let mut k = (n / h) as i64;
    let (nf, hf) = (n as f64, h as f64);
    while k >= 0 {
        let kf = k as f64;
        let mut p1 = 1.0f64;
        for j in 0..h {
            let jf = j as f64;
            p1 = (nf - kf * hf - jf) * p1 / (nf + kf * hf + jf + 1.0);
        }
        p = p1 * (1.0 - p);
        k -= 1;
    }
    2.0 * p
}

/// scipy `_compute_outer_prob_inside_method(m, n, g, h)` (Hodges' inside method,
/// computing `1 − p` directly as in Viehmann 2021).
fn outer_prob_inside(m: u64, n: u64, g: u64, h: u64) -> f64 {
    let (m, n) = if m < n { (n, m) } else { (m, n) };
    let (m, n, g, h) = (m as i64, n as i64, g as i64, h as i64);
    let mg = m / g;
    let ng = n / g;
    let ceil_div = |a: i64, b: i64| -((-a).div_euclid(b));
    let mut minj: i64 = 0;
    let mut maxj: i64 = ceil_div(h, mg).min(n + 1);
    let mut curlen = maxj - minj;
    let len_a = (2 * maxj + 2).min(n + 1) as usize;
    let mut a = vec![1.0f64; len_a.max(1)];
    for x in a.iter_mut().take(maxj as usize) {
        *x = 0.0;
    }
    for i in 1..=m {
        let (lastminj, lastlen) = (minj, curlen);
        minj = ((ng * i - h).div_euclid(mg) + 1).max(0).min(n);
        maxj = ceil_div(ng * i + h, mg).min(n + 1);
        if maxj <= minj {
            return 1.0;
        }
        let mut val = if minj == 0 { 0.0 } else { 1.0 };
        let fi = i as f64;
        for jj in 0..(maxj - minj) {
            let j = jj + minj;
            let src = (jj + minj - lastminj) as usize;
            let prev = a.get(src).copied().unwrap_or(1.0);
            val = (prev * fi + val * j as f64) / (fi + j as f64);
            if let Some(slot) = a.get_mut(jj as usize) {
                *slot = val;
            }
        }
        curlen = maxj - minj;
        if lastlen > curlen {
            let lo = (maxj - minj) as usize;
            let hi = (lo + (lastlen - curlen) as usize).min(a.len());
            for x in a.iter_mut().take(hi).skip(lo) {
                *x = 1.0;
            }
        }
    }
    a.get((maxj - minj - 1) as usize)
        .copied()
        .unwrap_or(f64::NAN)
}

/// Two-sample Kolmogorov–Smirnov test (two-sided), equal to
/// `scipy.stats.ks_2samp(a, b, method=...)`. NaN and ±inf are omitted.
///
/// # Formula
/// `D = sup_x |F_a(x) − F_b(x)|` with right-continuous empirical CDFs (ties are
/// handled by evaluating both ECDFs at every observed value, as scipy's
/// `searchsorted(..., 'right')` does). Exact p-value: `D` is rounded to `h/lcm(n₁,n₂)`
/// and the lattice paths leaving the band are counted (Hodges 1958; scipy's
/// `_compute_prob_outside_square` / `_compute_outer_prob_inside_method`).
/// Asymptotic: `kstwo.sf(D, round(n₁n₂/(n₁+n₂)))` (Simard & L'Ecuyer 2011).
///
/// # Errors
/// [`Error::TooFewValues`] when either sample has no finite value.
pub fn ks_2samp(a: &[f64], b: &[f64], method: KsMethod) -> Result<KsResult> {
    let (x, y) = sorted_finite_pair(a, b)?;
    let (n1, n2) = (x.len() as u64, y.len() as u64);
    let ext = ks_extremes_par(SlicePair::new(&x, &y), n1 as f64, n2 as f64);
    Ok(ks_finish(ext, n1, n2, method))
}

/// [`ks_2samp`] on sorted samples.
///
/// # Errors
/// [`Error::TooFewValues`] when either sample is empty.
pub fn ks_2samp_sorted(a: &SortedSample, b: &SortedSample, method: KsMethod) -> Result<KsResult> {
    both_nonempty(a, b, 1)?;
    Ok(ks_walk(
        RunPair(a.runs(), b.runs()),
        a.len(),
        b.len(),
        method,
    ))
}

fn ks_walk<W: Walk>(w: W, n1: u64, n2: u64, method: KsMethod) -> KsResult {
    let ext = ks_extremes(w, n1 as f64, n2 as f64);
    ks_finish(ext, n1, n2, method)
}

fn ks_finish(
    (max_s, max_loc, min_s, min_loc): (f64, f64, f64, f64),
    n1: u64,
    n2: u64,
    method: KsMethod,
) -> KsResult {
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let min_s_pos = (-min_s).clamp(0.0, 1.0);
    let (mut d, location) = if min_s_pos > max_s {
        (min_s_pos, min_loc)
    } else {
        (max_s, max_loc)
    };
    let g = gcd(n1, n2);
    let (n1g, n2g) = (n1 / g, n2 / g);
    let mut mode = match method {
        KsMethod::Auto => {
            if n1.max(n2) <= 10_000 {
                KsMethod::Exact
            } else {
                KsMethod::Asymptotic
            }
        }
        KsMethod::Exact if n1g as f64 >= f64::from(i32::MAX) / n2g as f64 => KsMethod::Asymptotic,
        m => m,
    };
    let mut prob = f64::NAN;
    if mode == KsMethod::Exact {
        let lcm = n1g * n2;
        let h = (d * lcm as f64).round_ties_even() as u64;
        d = h as f64 / lcm as f64;
        if h == 0 {
            prob = 1.0;
        } else {
            prob = if n1 == n2 {
                prob_outside_square(n1, h)
            } else {
                outer_prob_inside(n1, n2, g, h)
            };
            if !(0.0..=1.0).contains(&prob) {
                mode = KsMethod::Asymptotic;
            }
        }
    }
    if mode == KsMethod::Asymptotic {
        let (m, n) = if n1f >= n2f { (n1f, n2f) } else { (n2f, n1f) };
        let en = m * n / (m + n);
        prob = special::kstwo_sf(en.round_ties_even() as u64, d);
    }
    KsResult {
        statistic: d,
        p_value: prob.clamp(0.0, 1.0),
        method: mode,
        location,
    }
}

/// `Σ |F_a − F_b|^p · Δ` over a walk (no root taken).
fn cdf_integral<W: Walk>(w: W, n1: u64, n2: u64, p: u8) -> f64 {
    let (n1, n2) = (n1 as f64, n2 as f64);
    let mut acc = 0.0f64;
    w.walk(|x, ca, cb, next| {
        if let Some(nx) = next {
            let diff = (ca as f64 / n1 - cb as f64 / n2).abs();
            let delta = nx - x;
            acc += if p == 1 {
                diff * delta
            } else {
                diff * diff * delta
            };
        }
    });
    acc
}

/// [`cdf_distance`] on slices, halves walked on two threads.
fn cdf_distance_par(w: SlicePair<'_>, p: u8) -> f64 {
    let (n1, n2) = (w.x.len() as u64, w.y.len() as u64);
    let acc = match w.split() {
        None => cdf_integral(w, n1, n2, p),
        Some((l, r)) => {
            let (a, b) = rayon::join(|| cdf_integral(l, n1, n2, p), || cdf_integral(r, n1, n2, p));
            a + b
        }
    };
    finish_cdf_distance(acc, p)
}

fn cdf_distance<W: Walk>(w: W, n1: u64, n2: u64, p: u8) -> f64 {
    finish_cdf_distance(cdf_integral(w, n1, n2, p), p)
}

/// The `p`-th root of a [`cdf_integral`] (p is 1 or 2).
fn finish_cdf_distance(acc: f64, p: u8) -> f64 {
    if p == 1 {
        acc
    } else {
        acc.sqrt()
    }
}

/// Wasserstein-1 (earth mover's) distance, equal to
/// `scipy.stats.wasserstein_distance(a, b)`. NaN and ±inf are omitted.
///
/// # Formula
/// `W₁ = ∫ |F_a(x) − F_b(x)| dx`, evaluated exactly between consecutive pooled values.
///
/// # Errors
/// [`Error::TooFewValues`] when either sample has no finite value.
pub fn wasserstein(a: &[f64], b: &[f64]) -> Result<f64> {
    let (x, y) = sorted_finite_pair(a, b)?;
    Ok(cdf_distance_par(SlicePair::new(&x, &y), 1))
}

/// [`wasserstein`] on sorted samples.
///
/// # Errors
/// [`Error::TooFewValues`] when either sample is empty.
pub fn wasserstein_sorted(a: &SortedSample, b: &SortedSample) -> Result<f64> {
    both_nonempty(a, b, 1)?;
    Ok(cdf_distance(
        RunPair(a.runs(), b.runs()),
        a.len(),
        b.len(),
        1,
    ))
}

/// Wasserstein-1 divided by the reference's population standard deviation
/// (floored at 0.001, as Evidently's `wasserstein_distance_norm`); `reference` is
/// the first argument.
///
/// # Formula
/// `W₁(ref, cur) / max(σ_ref, 0.001)`, `σ_ref = sqrt(Σ(x−x̄)²/n)`.
///
/// # Errors
/// [`Error::TooFewValues`] when either sample is empty.
pub fn wasserstein_norm_sorted(reference: &SortedSample, current: &SortedSample) -> Result<f64> {
    let w = wasserstein_sorted(reference, current)?;
    let (_, sd) = reference.mean_std();
    Ok(w / sd.max(0.001))
}

/// Energy distance, equal to `scipy.stats.energy_distance(a, b)`.
///
/// # Formula
/// `E = √2 · (∫ (F_a(x) − F_b(x))² dx)^{1/2}` (Székely & Rizzo; scipy's CDF form).
///
/// # Errors
/// [`Error::TooFewValues`] when either sample has no finite value.
pub fn energy_distance(a: &[f64], b: &[f64]) -> Result<f64> {
    let (x, y) = sorted_finite_pair(a, b)?;
    Ok(std::f64::consts::SQRT_2 * cdf_distance_par(SlicePair::new(&x, &y), 2))
}

/// [`energy_distance`] on sorted samples.
///
/// # Errors
/// [`Error::TooFewValues`] when either sample is empty.
pub fn energy_distance_sorted(a: &SortedSample, b: &SortedSample) -> Result<f64> {
    both_nonempty(a, b, 1)?;
    Ok(std::f64::consts::SQRT_2 * cdf_distance(RunPair(a.runs(), b.runs()), a.len(), b.len(), 2))
}

/// How the Cramér–von Mises p-value is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CvmMethod {
    /// scipy's `'auto'`: exact when `max(n1, n2) ≤ 20`, otherwise asymptotic.
    #[default]
    Auto,
    /// Exact distribution by enumeration (Xiao, Gordon & Yakovlev 2006).
    Exact,
    /// Anderson (1962) normalisation with the limiting one-sample distribution.
    Asymptotic,
}

/// Largest `n1 + n2` for which [`CvmMethod::Exact`] is allowed (path counts stay
/// within `u64` and the enumeration within milliseconds).
pub const CVM_EXACT_MAX_N: u64 = 60;

/// Exact p-value of the two-sample CvM statistic (scipy `_pval_cvm_2samp_exact`).
fn cvm_exact_pvalue(u: f64, m: u64, n: u64) -> f64 {
    let g = gcd(m, n);
    let lcm = m / g * n;
    let a = lcm / m;
    let b = lcm / n;
    let mn = (m * n) as f64;
    let lcmf = lcm as f64;
    let zeta = (lcmf * lcmf * (m + n) as f64 * (6.0 * u - mn * (4.0 * mn - 1.0)) / (6.0 * mn * mn))
        .floor();
    // gs[v]: sorted (value, frequency) pairs
    let mut gs: Vec<Vec<(u64, u64)>> = vec![Vec::new(); (m + 1) as usize];
    gs[0].push((0, 1));
    for u_ in 0..=n {
        let mut next: Vec<Vec<(u64, u64)>> = Vec::with_capacity(gs.len());
        let mut tmp: Vec<(u64, u64)> = Vec::new();
        for (v, g) in gs.iter().enumerate() {
            // merge tmp and g summing equal keys
            let mut merged = Vec::with_capacity(tmp.len() + g.len());
            let (mut i, mut j) = (0, 0);
            while i < tmp.len() || j < g.len() {
                if j >= g.len() || (i < tmp.len() && tmp[i].0 < g[j].0) {
                    merged.push(tmp[i]);
                    i += 1;
                } else if i >= tmp.len() || g[j].0 < tmp[i].0 {
                    merged.push(g[j]);
                    j += 1;
                } else {
                    merged.push((tmp[i].0, tmp[i].1 + g[j].1));
                    i += 1;
                    j += 1;
                }
            }
            let diff = (a * v as u64) as i64 - (b * u_) as i64;
            let res = (diff * diff) as u64;
            for e in merged.iter_mut() {
                e.0 += res;
            }
            tmp = merged;
            next.push(tmp.clone());
        }
        gs = next;
    }
    let combos = binom_f64(m + n, m);
    let hits: u64 = gs[m as usize]
        .iter()
        .filter(|(val, _)| *val as f64 >= zeta)
        .map(|(_, f)| *f)
        .sum();
    hits as f64 / combos
}

fn binom_f64(n: u64, k: u64) -> f64 {
    let k = k.min(n - k);
    let mut r = 1.0f64;
    for i in 0..k {
        r = r * (n - i) as f64 / (i + 1) as f64;
    }
    r.round()
}

/// Two-sample Cramér–von Mises test, equal to
/// `scipy.stats.cramervonmises_2samp(a, b, method=...)`. NaN and ±inf are omitted.
///
/// # Formula
/// With midranks `r` of the pooled sample, `U = n Σ(r_i − i)² + m Σ(s_j − j)²`
/// and `T = U/(nm(n+m)) − (4nm − 1)/(6(n+m))` (Anderson 1962, eqs. 9–10).
/// Asymptotic p-value: `1 − F∞(1/6 + (T − E[T])/√(45 Var[T]))`, `F∞` the limiting
/// one-sample CvM CDF (Csörgő & Faraway 1996); exact: enumeration.
///
/// # Errors
/// [`Error::TooFewValues`] when either sample has fewer than two finite values;
/// [`Error::InvalidInput`] for [`CvmMethod::Exact`] with `n1 + n2 >` [`CVM_EXACT_MAX_N`].
pub fn cramer_von_mises(a: &[f64], b: &[f64], method: CvmMethod) -> Result<TestResult> {
    let (sa, sb) = sorted_pair(a, b)?;
    cramer_von_mises_sorted(&sa, &sb, method)
}

/// [`cramer_von_mises`] on sorted samples.
///
/// # Errors
/// As [`cramer_von_mises`].
pub fn cramer_von_mises_sorted(
    a: &SortedSample,
    b: &SortedSample,
    method: CvmMethod,
) -> Result<TestResult> {
    both_nonempty(a, b, 2)?;
    let (nx, ny) = (a.len(), b.len());
    let method = match method {
        CvmMethod::Auto if nx.max(ny) > 20 => CvmMethod::Asymptotic,
        CvmMethod::Auto => CvmMethod::Exact,
        m => m,
    };
    if method == CvmMethod::Exact && nx + ny > CVM_EXACT_MAX_N {
        return Err(crate::error::invalid(
            "cramer_von_mises method",
            format!(
                "the exact p-value enumerates lattice paths and is limited to n1 + n2 <= {CVM_EXACT_MAX_N} \
                 (got {}); use Auto or Asymptotic",
                nx + ny
            ),
        ));
    }
    let (mut sx, mut sy) = (0.0f64, 0.0f64);
    let (mut ix, mut iy) = (0u64, 0u64);
    let mut before = 0u64; // pooled count strictly below the current value
    walk_union(a.runs(), b.runs(), |_, ca, cb, _| {
        let cx = ca - ix;
        let cy = cb - iy;
        let t = cx + cy;
        let r = before as f64 + 1.0 + (t as f64 - 1.0) / 2.0;
        for j in 1..=cx {
            let d = r - (ix + j) as f64;
            sx += d * d;
        }
        for j in 1..=cy {
            let d = r - (iy + j) as f64;
            sy += d * d;
        }
        ix = ca;
        iy = cb;
        before += t;
    });
    let (nxf, nyf) = (nx as f64, ny as f64);
    let u = nxf * sx + nyf * sy;
    let k = nxf * nyf;
    let nn = nxf + nyf;
    let t = u / (k * nn) - (4.0 * k - 1.0) / (6.0 * nn);
    let p = if method == CvmMethod::Exact {
        cvm_exact_pvalue(u, nx, ny)
    } else {
        let et = (1.0 + 1.0 / nn) / 6.0;
        let vt = (nn + 1.0) * (4.0 * k * nn - 3.0 * (nxf * nxf + nyf * nyf) - 2.0 * k)
            / (45.0 * nn * nn * 4.0 * k);
        let tn = 1.0 / 6.0 + (t - et) / (45.0 * vt).sqrt();
        if tn >= 0.003 {
            (1.0 - special::cdf_cvm_inf(tn)).max(0.0)
        } else {
            1.0
        }
    };
    Ok(TestResult {
        statistic: t,
        p_value: Some(p),
    })
}

/// k-sample Anderson–Darling test (midrank variant), equal to
/// `scipy.stats.anderson_ksamp(samples, variant='midrank')`: the statistic and
/// scipy's p-value interpolated from Scholz & Stephens' table (capped to
/// `[0.001, 0.25]`).
///
/// # Formula
/// Scholz & Stephens (1987), eq. 7 (`A²_akN`), standardised as
/// `(A²_akN − (k−1)) / σ_N`; `p = exp(poly₂(A²))` with the quadratic least-squares
/// fit of `log(significance)` on the critical values for `k − 1` degrees of freedom.
///
/// # Errors
/// [`Error::InvalidInput`] for fewer than two samples; [`Error::TooFewValues`] for an
/// empty sample; [`Error::Undefined`] when all pooled values are equal or fewer than
/// four values are pooled.
pub fn anderson_ksamp(samples: &[&[f64]]) -> Result<TestResult> {
    let sorted = samples
        .iter()
        .map(|s| SortedSample::from_values(s, MissingPolicy::Omit, "sample").map(|x| x.0))
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<&SortedSample> = sorted.iter().collect();
    anderson_ksamp_sorted(&refs)
}

/// [`anderson_ksamp`] on sorted samples.
///
/// # Errors
/// As [`anderson_ksamp`].
pub fn anderson_ksamp_sorted(samples: &[&SortedSample]) -> Result<TestResult> {
    let k = samples.len();
    if k < 2 {
        return Err(crate::error::invalid(
            "anderson_ksamp",
            "needs at least two samples",
        ));
    }
    for s in samples {
        if s.is_empty() {
            return Err(too_few("anderson_ksamp sample", 1, 0));
        }
    }
    let pooled = samples[1..]
        .iter()
        .fold(samples[0].clone(), |acc, s| acc.merge(s));
    let nn = pooled.len() as f64;
    if pooled.values().len() < 2 {
        return Err(Error::Undefined {
            statistic: "anderson_ksamp".into(),
            reason: "needs more than one distinct observation".into(),
        });
    }
    if pooled.len() < 4 {
        return Err(Error::Undefined {
            statistic: "anderson_ksamp".into(),
            reason: "needs at least four pooled observations".into(),
        });
    }
    let mut a2 = 0.0f64;
    for s in samples {
        let ni = s.len() as f64;
        let (sv, sc) = (s.values(), s.counts());
        let mut p = 0usize;
        let mut m_right = 0u64; // # s <= z
        let mut below = 0u64; // # pooled < z
        let mut inner_sum = 0.0f64;
        for (&z, &lj) in pooled.values().iter().zip(pooled.counts()) {
            let mut fij = 0u64;
            if p < sv.len() && sv[p] == z {
                fij = sc[p];
                m_right += fij;
                p += 1;
            }
            let ljf = lj as f64;
            let bj = below as f64 + ljf / 2.0;
            let mij = m_right as f64 - fij as f64 / 2.0;
            let num = nn * mij - bj * ni;
            inner_sum += ljf / nn * num * num / (bj * (nn - bj) - nn * ljf / 4.0);
            below += lj;
        }
        a2 += inner_sum / ni;
    }
    a2 *= (nn - 1.0) / nn;

    let hsum: f64 = samples.iter().map(|s| 1.0 / s.len() as f64).sum();
    let ntot = pooled.len() as usize;
    // hs_cs = cumsum(1 / arange(N-1, 1, -1))
    let mut hs_cs = Vec::with_capacity(ntot.saturating_sub(2));
    let mut acc = 0.0f64;
    for d in (2..ntot).rev() {
        acc += 1.0 / d as f64;
        hs_cs.push(acc);
    }
    let h = hs_cs.last().copied().unwrap_or(0.0) + 1.0;
    let g: f64 = hs_cs
        .iter()
        .enumerate()
        .map(|(i, v)| v / (i + 2) as f64)
        .sum();
    let kf = k as f64;
    let a = (4.0 * g - 6.0) * (kf - 1.0) + (10.0 - 6.0 * g) * hsum;
    let b = (2.0 * g - 4.0) * kf * kf + 8.0 * h * kf + (2.0 * g - 14.0 * h - 4.0) * hsum - 8.0 * h
        + 4.0 * g
        - 6.0;
    let c = (6.0 * h + 2.0 * g - 2.0) * kf * kf
        + (4.0 * h - 4.0 * g + 6.0) * kf
        + (2.0 * h - 6.0) * hsum
        + 4.0 * h;
    let d = (2.0 * h + 6.0) * kf * kf - 4.0 * h * kf;
    let sigmasq =
        (a * nn.powi(3) + b * nn * nn + c * nn + d) / ((nn - 1.0) * (nn - 2.0) * (nn - 3.0));
    let m = kf - 1.0;
    let stat = (a2 - m) / sigmasq.sqrt();

    const B0: [f64; 7] = [0.675, 1.281, 1.645, 1.96, 2.326, 2.573, 3.085];
    const B1: [f64; 7] = [-0.245, 0.25, 0.678, 1.149, 1.822, 2.364, 3.615];
    const B2: [f64; 7] = [-0.105, -0.305, -0.362, -0.391, -0.396, -0.345, -0.154];
    const SIG: [f64; 7] = [0.25, 0.1, 0.05, 0.025, 0.01, 0.005, 0.001];
    let critical: Vec<f64> = (0..7)
        .map(|i| B0[i] + B1[i] / m.sqrt() + B2[i] / m)
        .collect();
    let cmin = critical.iter().copied().fold(f64::INFINITY, f64::min);
    let cmax = critical.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let p = if stat < cmin {
        0.25
    } else if stat > cmax {
        0.001
    } else {
        let ys: Vec<f64> = SIG.iter().map(|s| s.ln()).collect();
        let coef = polyfit2(&critical, &ys);
        (coef[0] * stat * stat + coef[1] * stat + coef[2]).exp()
    };
    Ok(TestResult {
        statistic: stat,
        p_value: Some(p),
    })
}

/// Least-squares quadratic `[a, b, c]` (highest power first, as `np.polyfit`).
fn polyfit2(x: &[f64], y: &[f64]) -> [f64; 3] {
    // Solve on centred x for conditioning, then expand.
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let mut s = [0.0f64; 5];
    let mut t = [0.0f64; 3];
    for (&xi, &yi) in x.iter().zip(y) {
        let u = xi - mx;
        let mut p = 1.0;
        for sk in s.iter_mut() {
            *sk += p;
            p *= u;
        }
        t[0] += yi;
        t[1] += yi * u;
        t[2] += yi * u * u;
    }
    // normal equations M [c0, c1, c2]^T = t with M[i][j] = s[i+j]
    let mut mat = [
        [s[0], s[1], s[2], t[0]],
        [s[1], s[2], s[3], t[1]],
        [s[2], s[3], s[4], t[2]],
    ];
    for col in 0..3 {
        let piv = (col..3)
            .max_by(|&i, &j| mat[i][col].abs().total_cmp(&mat[j][col].abs()))
            .unwrap_or(col);
        mat.swap(col, piv);
        for r in 0..3 {
            if r != col && mat[col][col] != 0.0 {
                let f = mat[r][col] / mat[col][col];
                let pivot_row = mat[col];
                for (x, p) in mat[r].iter_mut().zip(pivot_row).skip(col) {
                    *x -= f * p;
                }
            }
        }
    }
    let c0 = mat[0][3] / mat[0][0];
    let c1 = mat[1][3] / mat[1][1];
    let c2 = mat[2][3] / mat[2][2];
    // y = c0 + c1 (x - mx) + c2 (x - mx)^2
    [c2, c1 - 2.0 * c2 * mx, c0 - c1 * mx + c2 * mx * mx]
}
