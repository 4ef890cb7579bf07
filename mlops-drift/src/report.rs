//! [`DriftReport`]: every statistic for every column, a drift decision per column
//! with multiple-testing correction, and a dataset-level verdict.
//!
//! # Which test decides (the default rule)
//! Every applicable statistic is computed and reported; one *deciding* test per
//! column sets `drifted`. By default it follows Evidently's rule so results are
//! familiar:
//!
//! | column      | reference rows ≤ 1000          | reference rows > 1000                          |
//! |-------------|--------------------------------|------------------------------------------------|
//! | numeric     | KS, drift when `p < p_threshold` | normalised Wasserstein, drift when `≥ distance_threshold` |
//! | categorical | χ², drift when `p < p_threshold` | Jensen–Shannon distance, drift when `≥ distance_threshold` |
//!
//! Override it per column with [`DriftConfig::overrides`]. p-value tests are
//! corrected across all columns decided by a p-value ([`Correction`]).
//! The dataset drifts when the share of drifted columns is `≥ drift_share`.
//! Columns are processed in parallel with rayon.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::binning::{divergences_from_counts, Divergences, DEFAULT_EPSILON};
use crate::categorical::{compare_categories, count_categories};
use crate::error::{Error, Result};
use crate::io::{Column, Table};
use crate::numeric::{self, CvmMethod, KsMethod};
use crate::profile::{
    CategoricalProfile, FeatureProfile, NumericProfile, ProfileConfig, ReferenceProfile,
};
use crate::sample::{MissingPolicy, SortedSample};

/// Multiple-testing correction across columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Correction {
    /// Compare each p-value with the threshold as is.
    None,
    /// Bonferroni: `p·m`, capped at 1.
    Bonferroni,
    /// Benjamini–Hochberg step-up adjusted p-values (controls the FDR).
    #[default]
    BenjaminiHochberg,
}

/// A test that can decide a column's drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestKind {
    /// Two-sample KS p-value (numeric).
    Ks,
    /// Cramér–von Mises p-value (numeric).
    Cvm,
    /// Anderson–Darling k-sample p-value (numeric).
    Anderson,
    /// Wasserstein distance normalised by the reference std (numeric).
    WassersteinNorm,
    /// Energy distance (numeric).
    Energy,
    /// χ² homogeneity p-value (categorical).
    Chi2,
    /// Population stability index.
    Psi,
    /// KL(ref ‖ cur).
    Kl,
    /// Jensen–Shannon distance.
    Js,
    /// Hellinger distance.
    Hellinger,
    /// Total variation distance.
    Tvd,
}

impl TestKind {
    /// The key of this test in [`ColumnReport::tests`].
    pub fn key(self) -> &'static str {
        match self {
            TestKind::Ks => "ks",
            TestKind::Cvm => "cvm",
            TestKind::Anderson => "anderson",
            TestKind::WassersteinNorm => "wasserstein_norm",
            TestKind::Energy => "energy",
            TestKind::Chi2 => "chi2",
            TestKind::Psi => "psi",
            TestKind::Kl => "kl",
            TestKind::Js => "js",
            TestKind::Hellinger => "hellinger",
            TestKind::Tvd => "tvd",
        }
    }
    /// True for tests decided by a p-value.
    pub fn is_p_value(self) -> bool {
        matches!(
            self,
            TestKind::Ks | TestKind::Cvm | TestKind::Anderson | TestKind::Chi2
        )
    }
    /// Parses a key (as printed by [`TestKind::key`]).
    pub fn from_key(s: &str) -> Option<Self> {
        [
            TestKind::Ks,
            TestKind::Cvm,
            TestKind::Anderson,
            TestKind::WassersteinNorm,
            TestKind::Energy,
            TestKind::Chi2,
            TestKind::Psi,
            TestKind::Kl,
            TestKind::Js,
            TestKind::Hellinger,
            TestKind::Tvd,
        ]
        .into_iter()
        .find(|t| t.key() == s)
    }
}

/// Settings of a drift comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftConfig {
    /// p-value threshold for p-value tests (default 0.05).
    pub p_threshold: f64,
    /// Threshold for distances (default 0.1).
    pub distance_threshold: f64,
    /// Threshold for PSI when PSI decides (default 0.2; industry bands: < 0.1
    /// stable, 0.1–0.25 moderate, > 0.25 significant).
    pub psi_threshold: f64,
    /// Correction across columns (default Benjamini–Hochberg).
    pub correction: Correction,
    /// Dataset drifts when at least this share of columns drift (default 0.5).
    pub drift_share: f64,
    /// Reference rows up to which p-value tests decide (default 1000).
    pub small_sample_max: u64,
    /// Smoothing for binned divergences (default [`DEFAULT_EPSILON`]).
    pub epsilon: f64,
    /// NaN/±inf policy for the current data (default: omit, but count).
    pub missing: MissingPolicy,
    /// KS p-value method.
    pub ks_method: KsMethod,
    /// Per-column deciding test.
    pub overrides: BTreeMap<String, TestKind>,
    /// Points of the ECDF summary kept per numeric column for plots ([`ColumnReport::ecdf`]);
    /// 0 (the default) keeps none, so the JSON report is unchanged.
    pub ecdf_points: usize,
}

impl Default for DriftConfig {
    fn default() -> Self {
        Self {
            p_threshold: 0.05,
            distance_threshold: 0.1,
            psi_threshold: 0.2,
            correction: Correction::default(),
            drift_share: 0.5,
            small_sample_max: 1000,
            epsilon: DEFAULT_EPSILON,
            missing: MissingPolicy::Omit,
            ks_method: KsMethod::Auto,
            overrides: BTreeMap::new(),
            ecdf_points: 0,
        }
    }
}

/// One statistic in a column's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestOutput {
    /// The statistic (distance, divergence or test statistic).
    pub statistic: f64,
    /// Same as `statistic` (kept for readers that expect `value` for distances).
    pub value: f64,
    /// p-value, for tests that have one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p_value: Option<f64>,
    /// Inner bin edges (binned numeric tests; outer bins are open-ended).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub edges: Option<Vec<f64>>,
    /// Category names (binned categorical tests).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub categories: Option<Vec<String>>,
    /// Reference count per bin.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ref_counts: Option<Vec<u64>>,
    /// Current count per bin.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cur_counts: Option<Vec<u64>>,
}

impl TestOutput {
    fn stat(statistic: f64, p_value: Option<f64>) -> Self {
        Self {
            statistic,
            value: statistic,
            p_value,
            edges: None,
            categories: None,
            ref_counts: None,
            cur_counts: None,
        }
    }
}

/// Both empirical CDFs of a numeric column, thinned for drawing, and the exact point where
/// they are furthest apart (the two-sample KS statistic).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EcdfSummary {
    /// Evaluation points, ascending: every `stride`-th distinct value of the pooled sample,
    /// its first and last, and [`EcdfSummary::ks_x`].
    pub x: Vec<f64>,
    /// The reference ECDF at each point (share of reference values `≤ x`).
    pub reference: Vec<f64>,
    /// The current ECDF at each point.
    pub current: Vec<f64>,
    /// The smallest pooled value where `|F_ref − F_cur|` is largest.
    pub ks_x: f64,
    /// `F_ref(ks_x)`.
    pub ks_reference: f64,
    /// `F_cur(ks_x)`; `|ks_reference − ks_current|` is the KS statistic.
    pub ks_current: f64,
}

impl EcdfSummary {
    /// Walks both sorted samples once, without materialising their union.
    /// `None` when either sample is empty or `points` is 0.
    pub fn from_sorted(
        reference: &SortedSample,
        current: &SortedSample,
        points: usize,
    ) -> Option<Self> {
        if reference.is_empty() || current.is_empty() || points == 0 {
            return None;
        }
        let (rv, rc) = (reference.values(), reference.counts());
        let (cv, cc) = (current.values(), current.counts());
        let (nr, nc) = (reference.len() as f64, current.len() as f64);
        // Distinct pooled values: at most rv.len() + cv.len(); thin by this stride.
        let stride = ((rv.len() + cv.len()) / points.max(2)).max(1);
        let (mut i, mut j, mut sr, mut sc) = (0usize, 0usize, 0u64, 0u64);
        let mut out = Self {
            x: Vec::with_capacity(points + 3),
            reference: Vec::with_capacity(points + 3),
            current: Vec::with_capacity(points + 3),
            ks_x: f64::NAN,
            ks_reference: 0.0,
            ks_current: 0.0,
        };
        let (mut best, mut k) = (-1.0f64, 0usize);
        while i < rv.len() || j < cv.len() {
            let x = match (rv.get(i), cv.get(j)) {
                (Some(&a), Some(&b)) => a.min(b),
                (Some(&a), None) => a,
                (None, Some(&b)) => b,
                (None, None) => break,
            };
            if rv.get(i) == Some(&x) {
                sr += rc[i];
                i += 1;
            }
            if cv.get(j) == Some(&x) {
                sc += cc[j];
                j += 1;
            }
            let (fr, fc) = (sr as f64 / nr, sc as f64 / nc);
            let d = (fr - fc).abs();
            if d > best {
                best = d;
                out.ks_x = x;
                out.ks_reference = fr;
                out.ks_current = fc;
            }
            if k % stride == 0 || (i == rv.len() && j == cv.len()) {
                out.x.push(x);
                out.reference.push(fr);
                out.current.push(fc);
            }
            k += 1;
        }
        if let Err(at) = out.x.binary_search_by(|v| v.total_cmp(&out.ks_x)) {
            out.x.insert(at, out.ks_x);
            out.reference.insert(at, out.ks_reference);
            out.current.insert(at, out.ks_current);
        }
        Some(out)
    }
}

/// The decision for one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The deciding test's key.
    pub test: String,
    /// Its statistic or p-value (raw).
    pub value: f64,
    /// The corrected p-value, for p-value tests.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p_value_adjusted: Option<f64>,
    /// The threshold it was compared with.
    pub threshold: f64,
}

/// Drift of one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnReport {
    /// Column name.
    pub column: String,
    /// `numeric` or `categorical`.
    pub kind: String,
    /// Reference rows (missing included).
    pub n_ref: u64,
    /// Current rows (missing included).
    pub n_cur: u64,
    /// Missing (NaN/±inf/empty) values in the reference.
    pub missing_ref: u64,
    /// Missing values in the current data.
    pub missing_cur: u64,
    /// Share of missing values in the reference.
    pub missing_share_ref: f64,
    /// Share of missing values in the current data.
    pub missing_share_cur: f64,
    /// Every statistic computed, by key (`ks`, `psi`, `kl`, `kl_reverse`, `js`,
    /// `hellinger`, `tvd`, `linf`, `wasserstein`, `wasserstein_norm`, `energy`,
    /// `cvm`, `anderson`, `chi2`).
    pub tests: BTreeMap<String, TestOutput>,
    /// Categories present only in the current data.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub unseen_categories: Vec<String>,
    /// Statistics that could not be computed, with the reason.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub skipped: BTreeMap<String, String>,
    /// The deciding test (absent when it could not be computed).
    pub decision: Option<Decision>,
    /// Both empirical CDFs at a few points and where they differ most (numeric columns,
    /// when [`DriftConfig::ecdf_points`] > 0 and both samples are non-empty).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ecdf: Option<EcdfSummary>,
    /// Whether this column drifted.
    pub drifted: bool,
}

/// Dataset-level summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetSummary {
    /// Columns compared.
    pub n_columns: usize,
    /// Columns that drifted.
    pub n_drifted: usize,
    /// `n_drifted / n_columns`.
    pub share_drifted: f64,
    /// The configured share threshold.
    pub drift_share_threshold: f64,
    /// Correction applied.
    pub correction: Correction,
    /// Whether the dataset drifted.
    pub drifted: bool,
}

/// A multi-column drift report (serialises to the `mlops drift --format json` shape).
///
/// Meant for JSON (`serde_json`): optional fields are omitted when empty, so the
/// report is not a bincode format — store [`ReferenceProfile`]s, not reports, in bincode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    /// One entry per column, in the order compared.
    pub columns: Vec<ColumnReport>,
    /// The dataset verdict.
    pub dataset: DatasetSummary,
}

fn kl_outputs(
    tests: &mut BTreeMap<String, TestOutput>,
    d: &Divergences,
    edges: Option<Vec<f64>>,
    categories: Option<Vec<String>>,
    rc: &[u64],
    cc: &[u64],
) {
    for (k, v) in [
        ("psi", d.psi),
        ("kl", d.kl_ref_cur),
        ("kl_reverse", d.kl_cur_ref),
        ("js", d.js),
        ("hellinger", d.hellinger),
        ("tvd", d.tvd),
        ("linf", d.linf),
    ] {
        let mut t = TestOutput::stat(v, None);
        t.edges = edges.clone();
        t.categories = categories.clone();
        t.ref_counts = Some(rc.to_vec());
        t.cur_counts = Some(cc.to_vec());
        tests.insert(k.to_string(), t);
    }
}

fn numeric_column(
    name: &str,
    prof: &NumericProfile,
    pconf: &ProfileConfig,
    cur: &[f64],
    cfg: &DriftConfig,
) -> Result<ColumnReport> {
    let (cs, missing_cur) = SortedSample::from_values(cur, cfg.missing, name)?;
    let mut tests = BTreeMap::new();
    let mut skipped = BTreeMap::new();
    let rs = &prof.sample;
    let mut note = |k: &str, e: Error| {
        skipped.insert(k.to_string(), e.to_string());
    };
    match numeric::ks_2samp_sorted(rs, &cs, cfg.ks_method) {
        Ok(r) => {
            tests.insert("ks".into(), TestOutput::stat(r.statistic, Some(r.p_value)));
        }
        Err(e) => note("ks", e),
    }
    match numeric::cramer_von_mises_sorted(rs, &cs, CvmMethod::Auto) {
        Ok(r) => {
            tests.insert("cvm".into(), TestOutput::stat(r.statistic, r.p_value));
        }
        Err(e) => note("cvm", e),
    }
    match numeric::anderson_ksamp_sorted(&[rs, &cs]) {
        Ok(r) => {
            tests.insert("anderson".into(), TestOutput::stat(r.statistic, r.p_value));
        }
        Err(e) => note("anderson", e),
    }
    match numeric::wasserstein_sorted(rs, &cs) {
        Ok(w) => {
            tests.insert("wasserstein".into(), TestOutput::stat(w, None));
            let (_, sd) = rs.mean_std();
            tests.insert(
                "wasserstein_norm".into(),
                TestOutput::stat(w / sd.max(0.001), None),
            );
        }
        Err(e) => note("wasserstein", e),
    }
    match numeric::energy_distance_sorted(rs, &cs) {
        Ok(v) => {
            tests.insert("energy".into(), TestOutput::stat(v, None));
        }
        Err(e) => note("energy", e),
    }
    // Binned: the missing bin takes part only under the Category policy.
    let mut rc = prof.bin_counts.clone();
    let mut cc = prof.binning.histogram_sorted(&cs);
    let with_missing =
        cfg.missing == MissingPolicy::Category || pconf.missing == MissingPolicy::Category;
    if with_missing {
        rc.push(prof.missing);
        cc.push(missing_cur);
    }
    match divergences_from_counts(&rc, &cc, cfg.epsilon) {
        Ok(d) => kl_outputs(
            &mut tests,
            &d,
            Some(prof.binning.edges().to_vec()),
            None,
            &rc,
            &cc,
        ),
        Err(e) => note("psi", e),
    }
    let ecdf = EcdfSummary::from_sorted(rs, &cs, cfg.ecdf_points);
    let n_ref = prof.rows();
    let n_cur = cs.len() + missing_cur;
    let default = if n_ref <= cfg.small_sample_max {
        TestKind::Ks
    } else {
        TestKind::WassersteinNorm
    };
    let mut report = finish(
        name,
        "numeric",
        (n_ref, prof.missing),
        (n_cur, missing_cur),
        tests,
        Vec::new(),
        skipped,
        cfg.overrides.get(name).copied().unwrap_or(default),
    );
    report.ecdf = ecdf;
    Ok(report)
}

fn categorical_column(
    name: &str,
    prof: &CategoricalProfile,
    pconf: &ProfileConfig,
    cur: &[Option<String>],
    cfg: &DriftConfig,
) -> Result<ColumnReport> {
    let (counts, missing_cur) = count_categories(cur.iter().map(|s| s.as_deref()));
    if cfg.missing == MissingPolicy::Error && missing_cur > 0 {
        return Err(Error::NonFinite {
            what: name.to_string(),
            index: cur.iter().position(Option::is_none).unwrap_or(0),
            value: "missing".into(),
        });
    }
    let with_missing =
        cfg.missing == MissingPolicy::Category || pconf.missing == MissingPolicy::Category;
    let mut tests = BTreeMap::new();
    let mut skipped = BTreeMap::new();
    let mut unseen = Vec::new();
    match compare_categories(
        &prof.counts,
        &counts,
        with_missing.then_some((prof.missing, missing_cur)),
        cfg.epsilon,
    ) {
        Ok(c) => {
            let mut chi = TestOutput::stat(c.chi2.statistic, c.chi2.p_value);
            chi.categories = Some(c.categories.clone());
            chi.ref_counts = Some(c.ref_counts.clone());
            chi.cur_counts = Some(c.cur_counts.clone());
            tests.insert("chi2".into(), chi);
            kl_outputs(
                &mut tests,
                &c.divergences,
                None,
                Some(c.categories.clone()),
                &c.ref_counts,
                &c.cur_counts,
            );
            unseen = c.unseen;
        }
        Err(e) => {
            skipped.insert("chi2".into(), e.to_string());
        }
    }
    let n_ref = prof.rows();
    let n_cur = cur.len() as u64;
    let default = if n_ref <= cfg.small_sample_max {
        TestKind::Chi2
    } else {
        TestKind::Js
    };
    Ok(finish(
        name,
        "categorical",
        (n_ref, prof.missing),
        (n_cur, missing_cur),
        tests,
        unseen,
        skipped,
        cfg.overrides.get(name).copied().unwrap_or(default),
    ))
}

#[allow(clippy::too_many_arguments)]
fn finish(
    name: &str,
    kind: &str,
    (n_ref, missing_ref): (u64, u64),
    (n_cur, missing_cur): (u64, u64),
    tests: BTreeMap<String, TestOutput>,
    unseen_categories: Vec<String>,
    skipped: BTreeMap<String, String>,
    decider: TestKind,
) -> ColumnReport {
    let decision = tests.get(decider.key()).map(|t| Decision {
        test: decider.key().to_string(),
        value: if decider.is_p_value() {
            t.p_value.unwrap_or(f64::NAN)
        } else {
            t.statistic
        },
        p_value_adjusted: None,
        threshold: f64::NAN,
    });
    let share = |m: u64, n: u64| if n == 0 { 0.0 } else { m as f64 / n as f64 };
    ColumnReport {
        column: name.to_string(),
        kind: kind.to_string(),
        n_ref,
        n_cur,
        missing_ref,
        missing_cur,
        missing_share_ref: share(missing_ref, n_ref),
        missing_share_cur: share(missing_cur, n_cur),
        tests,
        unseen_categories,
        skipped,
        decision,
        ecdf: None,
        drifted: false,
    }
}

/// Benjamini–Hochberg adjusted p-values (step-up, monotone, capped at 1), in input order.
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut idx: Vec<usize> = (0..m).collect();
    idx.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut out = vec![0.0; m];
    let mut running = 1.0f64;
    for rank in (0..m).rev() {
        let i = idx[rank];
        let adj = (p[i] * m as f64 / (rank + 1) as f64).min(1.0);
        running = running.min(adj);
        out[i] = running;
    }
    out
}

impl DriftReport {
    /// Compares `current` against a stored profile. Columns of `current` that the
    /// profile does not have are an error; profile columns absent from `current`
    /// are skipped.
    ///
    /// # Errors
    /// [`Error::Incompatible`] for an unknown column or a kind mismatch;
    /// [`Error::NonFinite`] under [`MissingPolicy::Error`]; [`Error::InvalidInput`] for
    /// thresholds outside their range.
    pub fn compare(
        profile: &ReferenceProfile,
        current: &Table,
        config: &DriftConfig,
    ) -> Result<Self> {
        use rayon::prelude::*;
        if !(config.p_threshold > 0.0 && config.p_threshold < 1.0) {
            return Err(crate::error::invalid("p_threshold", "must be in (0, 1)"));
        }
        if !(0.0..=1.0).contains(&config.drift_share) {
            return Err(crate::error::invalid("drift_share", "must be in [0, 1]"));
        }
        let mut columns = current
            .columns
            .par_iter()
            .map(|(name, col)| {
                let feat = profile
                    .features
                    .get(name)
                    .ok_or_else(|| Error::Incompatible {
                        what: format!("column {name:?}"),
                        reason: "not in the reference profile".into(),
                    })?;
                match (feat, col) {
                    (FeatureProfile::Numeric(p), Column::Numeric(v)) => {
                        numeric_column(name, p, &profile.config, v, config)
                    }
                    (FeatureProfile::Categorical(p), Column::Categorical(v)) => {
                        categorical_column(name, p, &profile.config, v, config)
                    }
                    (FeatureProfile::Categorical(p), Column::Numeric(v)) => {
                        // A column read as numbers compares against a categorical
                        // reference as text.
                        let text: Vec<Option<String>> = v
                            .iter()
                            .map(|x| (!x.is_nan()).then(|| x.to_string()))
                            .collect();
                        categorical_column(name, p, &profile.config, &text, config)
                    }
                    (FeatureProfile::Numeric(_), Column::Categorical(_)) => {
                        Err(Error::Incompatible {
                            what: format!("column {name:?}"),
                            reason: "numeric in the reference, text in the current data".into(),
                        })
                    }
                }
            })
            .collect::<Result<Vec<_>>>()?;

        // Correction over the p-value decisions.
        let pidx: Vec<usize> = columns
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                c.decision
                    .as_ref()
                    .and_then(|d| TestKind::from_key(&d.test))
                    .is_some_and(TestKind::is_p_value)
            })
            .map(|(i, _)| i)
            .collect();
        let ps: Vec<f64> = pidx
            .iter()
            .map(|&i| columns[i].decision.as_ref().map_or(f64::NAN, |d| d.value))
            .collect();
        let adjusted = match config.correction {
            Correction::None => ps.clone(),
            Correction::Bonferroni => ps.iter().map(|p| (p * ps.len() as f64).min(1.0)).collect(),
            Correction::BenjaminiHochberg => benjamini_hochberg(&ps),
        };
        for (k, &i) in pidx.iter().enumerate() {
            if let Some(d) = columns[i].decision.as_mut() {
                d.p_value_adjusted = Some(adjusted[k]);
            }
        }
        for c in &mut columns {
            if let Some(d) = c.decision.as_mut() {
                let kind = TestKind::from_key(&d.test);
                let (drifted, thr) = match kind {
                    Some(k) if k.is_p_value() => (
                        d.p_value_adjusted.is_some_and(|p| p < config.p_threshold),
                        config.p_threshold,
                    ),
                    Some(TestKind::Psi) => (d.value >= config.psi_threshold, config.psi_threshold),
                    _ => (
                        d.value >= config.distance_threshold,
                        config.distance_threshold,
                    ),
                };
                d.threshold = thr;
                c.drifted = drifted;
            }
        }
        let n = columns.len();
        let nd = columns.iter().filter(|c| c.drifted).count();
        let share = if n == 0 { 0.0 } else { nd as f64 / n as f64 };
        Ok(Self {
            dataset: DatasetSummary {
                n_columns: n,
                n_drifted: nd,
                share_drifted: share,
                drift_share_threshold: config.drift_share,
                correction: config.correction,
                drifted: n > 0 && share >= config.drift_share,
            },
            columns,
        })
    }

    /// Fits a profile on `reference` and compares `current` against it.
    ///
    /// # Errors
    /// As [`ReferenceProfile::fit_table`] and [`DriftReport::compare`].
    pub fn from_tables(
        reference: &Table,
        current: &Table,
        profile_config: ProfileConfig,
        config: &DriftConfig,
    ) -> Result<Self> {
        let profile = ReferenceProfile::fit_table(reference, profile_config)?;
        Self::compare(&profile, current, config)
    }

    /// Pretty JSON.
    ///
    /// # Errors
    /// [`Error::Serde`] (not expected).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| Error::Serde {
            format: "json".into(),
            reason: e.to_string(),
        })
    }
}
