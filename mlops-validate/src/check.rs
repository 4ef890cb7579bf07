//! Checking data against a [`Schema`] in one streaming pass.
//!
//! Each column keeps counters and the first few offending cells per expectation, in constant
//! memory, except `unique`, which needs one entry per distinct value (≈ 24 bytes; integers
//! and floats are keyed by value, text by a 64-bit hash, so two different strings collide with
//! probability ≈ n²/2⁶⁵: 3·10⁻⁶ for 10⁷ distinct values). Columns are checked in parallel
//! (rayon) while the next chunk is parsed on the reader thread.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::BuildHasher;
use std::path::Path;

use mlops_drift::binning::Binning;
use mlops_drift::{FeatureProfile, ReferenceProfile};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::report::{AnomalyKind, ColumnCounts, Example, Report};
use crate::schema::{
    parse_duration_ms, Bound, ColumnSchema, DataType, ExtraColumns, Range, Schema, Severity, Skew,
    Tolerance,
};
use crate::source::{self, Chunk, ChunkReader};
use crate::value::{
    format_timestamp_ms, ordered_value, parse_float, parse_int, parse_timestamp_ms,
};
use crate::Anomaly;

/// Thresholds used for columns without a `skew` table when a reference is given.
pub const DEFAULT_SKEW: Skew = Skew {
    l_infinity: Some(0.1),
    jensen_shannon: Some(0.1),
    severity: Severity::Warning,
};

/// Rows per block: a block's records (≈ 1 KiB per row of 50 columns) stay in a core's cache
/// while every column reads them.
pub const BLOCK_ROWS: usize = 1024;

/// How a check runs.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// "Now" for `freshness`, ms since the epoch (default: the clock).
    pub now_ms: i64,
    /// Offending cells kept per expectation (default 5).
    pub examples: usize,
    /// Rows per chunk (default [`source::DEFAULT_CHUNK_ROWS`]).
    pub chunk_rows: usize,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self {
            now_ms: chrono::Utc::now().timestamp_millis(),
            examples: 5,
            chunk_rows: source::DEFAULT_CHUNK_ROWS,
        }
    }
}

/// Bounds of a range as `f64` (timestamps in ms). Text bounds are timestamps.
pub(crate) fn compile_range(t: DataType, r: &Range) -> std::result::Result<(f64, f64), String> {
    let bound = |b: &Option<Bound>, default: f64| -> std::result::Result<f64, String> {
        match b {
            None => Ok(default),
            Some(Bound::Number(x)) if x.is_nan() => Err("a bound is NaN".into()),
            Some(Bound::Number(x)) => Ok(*x),
            Some(Bound::Text(s)) if t == DataType::Timestamp => parse_timestamp_ms(s)
                .map(|v| v as f64)
                .ok_or_else(|| format!("{s:?} is not a timestamp")),
            Some(Bound::Text(s)) => Err(format!("{s:?} is not a number")),
        }
    };
    if !matches!(t, DataType::Int | DataType::Float | DataType::Timestamp) {
        return Err(format!(
            "a range applies to int, float and timestamp columns, not {t}"
        ));
    }
    let lo = bound(&r.min, f64::NEG_INFINITY)?;
    let hi = bound(&r.max, f64::INFINITY)?;
    if lo > hi {
        return Err(format!("min {lo} > max {hi}"));
    }
    Ok((lo, hi))
}

/// Counts and the first offending cells of one expectation.
#[derive(Debug, Clone, Default)]
struct Counter {
    count: u64,
    examples: Vec<Example>,
}

impl Counter {
    /// Rows arrive in order: the first `keep` are the examples.
    fn add(&mut self, row: u64, value: &str, keep: usize) {
        self.count += 1;
        if self.examples.len() < keep {
            self.examples.push(Example {
                row,
                value: value.to_owned(),
            });
        }
    }

    /// Rows may arrive out of order (`unique` reports a first occurrence late): keep the
    /// `keep` smallest rows.
    fn add_sorted(&mut self, row: u64, value: &str, keep: usize) {
        self.count += 1;
        if keep == 0 {
            return;
        }
        if self.examples.len() == keep {
            if self.examples.last().is_some_and(|e| e.row < row) {
                return;
            }
            self.examples.pop();
        }
        let at = self.examples.partition_point(|e| e.row < row);
        self.examples.insert(
            at,
            Example {
                row,
                value: value.to_owned(),
            },
        );
    }
}

#[derive(Debug)]
enum SkewAcc {
    Numeric {
        binning: Binning,
        ref_counts: Vec<u64>,
        counts: Vec<u64>,
    },
    Categorical {
        reference: BTreeMap<String, u64>,
        counts: HashMap<String, u64>,
    },
}

type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;
type FastSet<K> = HashSet<K, foldhash::fast::FixedState>;

#[derive(Debug)]
struct ColumnCheck {
    name: String,
    index: Option<usize>,
    spec: ColumnSchema,
    range: Option<(f64, f64)>,
    domain: Option<FastSet<String>>,
    regex: Option<regex::Regex>,
    stale_before: Option<f64>,
    keep: usize,
    rows: u64,
    missing: u64,
    min: f64,
    max: f64,
    last: Option<f64>,
    not_null: Counter,
    type_: Counter,
    range_c: Counter,
    negative_c: Counter,
    domain_c: Counter,
    unknown_values: BTreeMap<String, u64>,
    unique_c: Counter,
    /// Key → (first row, capped at `u32::MAX`; occurrences): 16 bytes an entry.
    seen: FastMap<u64, (u32, u32)>,
    length_c: Counter,
    len_min: u64,
    len_max: u64,
    regex_c: Counter,
    stale_c: Counter,
    mono_c: Counter,
    skew: Option<(Skew, SkewAcc)>,
    flags: Vec<u64>,
}

pub(crate) struct Nulls {
    values: Vec<String>,
    max_len: usize,
    empty: bool,
    /// Which first bytes some null string starts with: most cells (digits) are ruled out by
    /// one lookup.
    first: [bool; 256],
}

impl Nulls {
    pub(crate) fn new(values: &[String]) -> Self {
        let mut first = [false; 256];
        for v in values {
            if let Some(&b) = v.as_bytes().first() {
                first[usize::from(b)] = true;
            }
        }
        Self {
            max_len: values.iter().map(String::len).max().unwrap_or(0),
            empty: values.iter().any(String::is_empty),
            values: values.to_vec(),
            first,
        }
    }

    #[inline]
    pub(crate) fn is_null(&self, s: &str) -> bool {
        let Some(&b) = s.as_bytes().first() else {
            return self.empty;
        };
        self.first[usize::from(b)] && s.len() <= self.max_len && self.values.iter().any(|v| v == s)
    }
}

pub(crate) fn hash_key(s: &str, t: DataType, hasher: &foldhash::fast::FixedState) -> u64 {
    match t {
        DataType::Int => {
            if let Some(v) = parse_int(s) {
                // Integers keyed exactly; text hashes have the top bit forced on, integers off
                // unless negative, so the two never meet in practice for id columns.
                return v as u64;
            }
        }
        DataType::Float => {
            if let Some(v) = parse_float(s) {
                // `+ 0.0` turns -0.0 into 0.0 (equal values, different bits). A float's bits
                // meet a text hash (a cell of another type) with probability 2⁻⁶³ a pair.
                return (v + 0.0).to_bits();
            }
        }
        _ => {}
    }
    hasher.hash_one(s) | (1 << 63)
}

impl ColumnCheck {
    fn new(
        name: &str,
        spec: &ColumnSchema,
        index: Option<usize>,
        options: &CheckOptions,
        reference: Option<&ReferenceProfile>,
        notes: &mut Vec<String>,
    ) -> Result<Self> {
        let range = match &spec.range {
            Some(r) => Some(
                compile_range(spec.data_type, r)
                    .map_err(|e| Error::schema(format!("columns.{name}.range"), e))?,
            ),
            None => None,
        };
        let regex = match &spec.regex {
            Some(p) => Some(
                regex::Regex::new(&p.pattern)
                    .map_err(|e| Error::schema(format!("columns.{name}.regex"), e.to_string()))?,
            ),
            None => None,
        };
        let stale_before = match &spec.freshness {
            Some(f) => {
                let age = parse_duration_ms(&f.max_age)
                    .map_err(|e| Error::schema(format!("columns.{name}.freshness"), e))?;
                Some(options.now_ms.saturating_sub(age) as f64)
            }
            None => None,
        };
        let skew = match reference {
            None => None,
            Some(p) => {
                let thresholds = spec.skew.clone().unwrap_or(DEFAULT_SKEW);
                match p.features.get(name) {
                    Some(FeatureProfile::Numeric(n)) if thresholds.jensen_shannon.is_some() => {
                        Some((
                            thresholds,
                            SkewAcc::Numeric {
                                binning: n.binning.clone(),
                                ref_counts: n.bin_counts.clone(),
                                counts: vec![0; n.bin_counts.len()],
                            },
                        ))
                    }
                    Some(FeatureProfile::Categorical(c)) if thresholds.l_infinity.is_some() => {
                        Some((
                            thresholds,
                            SkewAcc::Categorical {
                                reference: c.counts.clone().into_iter().collect(),
                                counts: HashMap::new(),
                            },
                        ))
                    }
                    Some(_) => None,
                    None => {
                        if spec.skew.is_some() {
                            notes.push(format!(
                                "column {name:?}: no reference feature, skew not checked"
                            ));
                        }
                        None
                    }
                }
            }
        };
        Ok(Self {
            name: name.to_owned(),
            index,
            spec: spec.clone(),
            range,
            domain: spec
                .domain
                .as_ref()
                .map(|d| d.values.iter().cloned().collect()),
            regex,
            stale_before,
            keep: options.examples,
            rows: 0,
            missing: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            last: None,
            not_null: Counter::default(),
            type_: Counter::default(),
            range_c: Counter::default(),
            negative_c: Counter::default(),
            domain_c: Counter::default(),
            unknown_values: BTreeMap::new(),
            unique_c: Counter::default(),
            seen: FastMap::default(),
            length_c: Counter::default(),
            len_min: u64::MAX,
            len_max: 0,
            regex_c: Counter::default(),
            stale_c: Counter::default(),
            mono_c: Counter::default(),
            skew,
            flags: Vec::new(),
        })
    }

    /// Checks rows `block` of `chunk`; `flags` gets one bit per row of the block.
    fn push(&mut self, chunk: &Chunk, block: std::ops::Range<usize>, nulls: &Nulls) {
        let Some(index) = self.index else { return };
        let (lo, n) = (block.start, block.len());
        self.flags.clear();
        self.flags.resize(n.div_ceil(64), 0);
        let t = self.spec.data_type;
        let keep = self.keep;
        let hasher = foldhash::fast::FixedState::with_seed(0x6d6c_6f70_735f_7661);
        let ordered = matches!(t, DataType::Int | DataType::Float | DataType::Timestamp);
        for r in 0..n {
            let row = chunk.first_row + (lo + r) as u64;
            let s = chunk.cell(lo + r, index);
            self.rows += 1;
            let mut bad = false;
            if nulls.is_null(s) {
                self.missing += 1;
                if self.spec.not_null.is_some() {
                    self.not_null.add(row, s, keep);
                    bad = true;
                }
                if bad {
                    self.flags[r / 64] |= 1 << (r % 64);
                }
                continue;
            }
            let value = if ordered { ordered_value(s, t) } else { None };
            let typed = match t {
                DataType::Int | DataType::Float | DataType::Timestamp => value.is_some(),
                other => crate::value::is_of_type(s, other),
            };
            if !typed {
                self.type_.add(row, s, keep);
                bad = true;
            }
            if let Some(v) = value {
                self.min = self.min.min(v);
                self.max = self.max.max(v);
                if let Some((lo, hi)) = self.range {
                    if !(v >= lo && v <= hi) {
                        self.range_c.add(row, s, keep);
                        bad = true;
                    }
                }
                if self.spec.non_negative.is_some() && v < 0.0 {
                    self.negative_c.add(row, s, keep);
                    bad = true;
                }
                if let Some(before) = self.stale_before {
                    if v < before {
                        self.stale_c.add(row, s, keep);
                        bad = true;
                    }
                }
                if let Some(m) = &self.spec.monotonic {
                    if let Some(prev) = self.last {
                        if v < prev || (m.strict && v == prev) {
                            self.mono_c.add(row, s, keep);
                            bad = true;
                        }
                    }
                    self.last = Some(v);
                }
                if let Some((
                    _,
                    SkewAcc::Numeric {
                        binning, counts, ..
                    },
                )) = &mut self.skew
                {
                    if v.is_finite() {
                        counts[binning.bin_of(v)] += 1;
                    }
                }
            }
            if let Some(domain) = &self.domain {
                if !domain.contains(s) {
                    self.domain_c.add(row, s, keep);
                    if self.unknown_values.len() < 64 || self.unknown_values.contains_key(s) {
                        *self.unknown_values.entry(s.to_owned()).or_default() += 1;
                    }
                    bad = true;
                }
            }
            if let Some((_, SkewAcc::Categorical { counts, .. })) = &mut self.skew {
                match counts.get_mut(s) {
                    Some(c) => *c += 1,
                    None => {
                        counts.insert(s.to_owned(), 1);
                    }
                }
            }
            if self.spec.unique.is_some() {
                let key = hash_key(s, t, &hasher);
                let entry = self
                    .seen
                    .entry(key)
                    .or_insert((u32::try_from(row).unwrap_or(u32::MAX), 0));
                entry.1 = entry.1.saturating_add(1);
                match entry.1 {
                    1 => {}
                    2 => {
                        let first = entry.0;
                        // Past row 4,294,967,294 the first occurrence's row is not kept: it is
                        // counted, but not shown as an example.
                        if first < u32::MAX {
                            self.unique_c.add_sorted(u64::from(first), s, keep);
                        } else {
                            self.unique_c.count += 1;
                        }
                        self.unique_c.add_sorted(row, s, keep);
                        bad = true;
                    }
                    _ => {
                        self.unique_c.add_sorted(row, s, keep);
                        bad = true;
                    }
                }
            }
            if let Some(l) = &self.spec.length {
                let len = if s.is_ascii() {
                    s.len() as u64
                } else {
                    s.chars().count() as u64
                };
                self.len_min = self.len_min.min(len);
                self.len_max = self.len_max.max(len);
                if l.min.is_some_and(|m| len < m) || l.max.is_some_and(|m| len > m) {
                    self.length_c.add(row, s, keep);
                    bad = true;
                }
            }
            if let Some(re) = &self.regex {
                if !re.is_match(s) {
                    self.regex_c.add(row, s, keep);
                    bad = true;
                }
            }
            if bad {
                self.flags[r / 64] |= 1 << (r % 64);
            }
        }
    }

    fn outcomes(self, out: &mut Vec<Anomaly>, counts: &mut BTreeMap<String, ColumnCounts>) {
        let Some(_) = self.index else { return };
        let non_null = self.rows - self.missing;
        let name = Some(self.name.clone());
        let mk = |kind: AnomalyKind,
                  expectation: &str,
                  tol: Tolerance,
                  c: Counter,
                  element_count: u64,
                  observed: String,
                  expected: String| {
            let frac = if element_count == 0 {
                0.0
            } else {
                c.count as f64 / element_count as f64
            };
            let success = element_count == 0 || 1.0 - frac >= tol.mostly - 1e-12;
            let expected = if tol.mostly < 1.0 {
                format!("{expected}, mostly {}", tol.mostly)
            } else {
                expected
            };
            Anomaly {
                column: name.clone(),
                kind,
                expectation: expectation.to_owned(),
                severity: tol.severity,
                success,
                observed,
                expected,
                element_count,
                unexpected_count: c.count,
                unexpected_fraction: frac,
                examples: c.examples,
            }
        };
        let t = self.spec.data_type;
        let fmt = |v: f64| -> String {
            if !v.is_finite() {
                return v.to_string();
            }
            if t == DataType::Timestamp {
                format_timestamp_ms(v as i64)
            } else {
                v.to_string()
            }
        };
        let observed_range = if self.min <= self.max {
            format!("min {}, max {}", fmt(self.min), fmt(self.max))
        } else {
            "no value".to_owned()
        };
        counts.insert(
            self.name.clone(),
            ColumnCounts {
                rows: self.rows,
                missing: self.missing,
                type_mismatch: self.type_.count,
                out_of_range: self.range_c.count,
                unknown: self.domain_c.count,
            },
        );
        if let Some(nn) = &self.spec.not_null {
            let frac = if self.rows == 0 {
                0.0
            } else {
                self.missing as f64 / self.rows as f64
            };
            out.push(mk(
                AnomalyKind::MissingValues,
                "expect_column_values_to_not_be_null",
                nn.tolerance,
                self.not_null,
                self.rows,
                format!("{:.4}% missing", frac * 100.0),
                format!(
                    "at most {:.4}% missing",
                    (1.0 - nn.tolerance.mostly) * 100.0
                ),
            ));
        }
        out.push(mk(
            AnomalyKind::TypeMismatch,
            "expect_column_values_to_be_in_type_list",
            Tolerance {
                mostly: self.spec.type_mostly,
                severity: self.spec.type_severity,
            },
            self.type_,
            non_null,
            match self.spec.data_type {
                DataType::String => "text".to_owned(),
                _ => "cells of other types".to_owned(),
            },
            format!("{t}"),
        ));
        if let (Some(r), Some((lo, hi))) = (&self.spec.range, self.range) {
            out.push(mk(
                AnomalyKind::OutOfRange,
                "expect_column_values_to_be_between",
                r.tolerance,
                self.range_c,
                non_null,
                observed_range.clone(),
                format!("[{}, {}]", fmt(lo), fmt(hi)),
            ));
        }
        if let Some(nn) = &self.spec.non_negative {
            out.push(mk(
                AnomalyKind::Negative,
                "expect_column_values_to_be_between",
                nn.tolerance,
                self.negative_c.clone(),
                non_null,
                format!("{} negative", self.negative_c.count),
                "≥ 0".into(),
            ));
        }
        if let Some(d) = &self.spec.domain {
            let mut unknown: Vec<(u64, String)> = self
                .unknown_values
                .into_iter()
                .map(|(k, v)| (v, k))
                .collect();
            unknown.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            let shown: Vec<String> = unknown
                .iter()
                .take(5)
                .map(|(n, v)| format!("{v:?}×{n}"))
                .collect();
            out.push(mk(
                AnomalyKind::UnknownCategory,
                "expect_column_values_to_be_in_set",
                d.tolerance,
                self.domain_c,
                non_null,
                if shown.is_empty() {
                    "no unknown value".into()
                } else {
                    format!("unknown {}", shown.join(", "))
                },
                format!("{} known value(s)", d.values.len()),
            ));
        }
        if let Some(u) = &self.spec.unique {
            let dups = self.seen.values().filter(|(_, c)| *c > 1).count();
            out.push(mk(
                AnomalyKind::NotUnique,
                "expect_column_values_to_be_unique",
                u.tolerance,
                self.unique_c,
                non_null,
                format!("{dups} repeated value(s)"),
                "unique values".into(),
            ));
        }
        if let Some(l) = &self.spec.length {
            out.push(mk(
                AnomalyKind::Length,
                "expect_column_value_lengths_to_be_between",
                l.tolerance,
                self.length_c,
                non_null,
                if self.len_min <= self.len_max {
                    format!("lengths {}..={}", self.len_min, self.len_max)
                } else {
                    "no value".into()
                },
                format!(
                    "lengths {}..={}",
                    l.min.map_or("0".into(), |m| m.to_string()),
                    l.max.map_or("∞".into(), |m| m.to_string())
                ),
            ));
        }
        if let Some(p) = &self.spec.regex {
            out.push(mk(
                AnomalyKind::Pattern,
                "expect_column_values_to_match_regex",
                p.tolerance,
                self.regex_c.clone(),
                non_null,
                format!("{} non-matching", self.regex_c.count),
                format!("matches {}", p.pattern),
            ));
        }
        if let (Some(f), Some(before)) = (&self.spec.freshness, self.stale_before) {
            out.push(mk(
                AnomalyKind::Stale,
                "expect_column_values_to_be_between",
                f.tolerance,
                self.stale_c,
                non_null,
                observed_range.clone(),
                format!("at most {} old (≥ {})", f.max_age, fmt(before)),
            ));
        }
        if let Some(m) = &self.spec.monotonic {
            out.push(mk(
                AnomalyKind::NotMonotonic,
                "expect_column_values_to_be_increasing",
                m.tolerance,
                self.mono_c.clone(),
                non_null,
                format!("{} decrease(s)", self.mono_c.count),
                if m.strict {
                    "strictly increasing".into()
                } else {
                    "non-decreasing".into()
                },
            ));
        }
        if let Some((thresholds, acc)) = self.skew {
            let (stat, threshold, what) = match acc {
                SkewAcc::Numeric {
                    ref_counts, counts, ..
                } => {
                    let js = if counts.iter().sum::<u64>() == 0 {
                        None
                    } else {
                        mlops_drift::binning::divergences_from_counts(&ref_counts, &counts, 0.0)
                            .ok()
                            .map(|d| d.js)
                    };
                    (js, thresholds.jensen_shannon, "Jensen–Shannon distance")
                }
                SkewAcc::Categorical { reference, counts } => (
                    linf(&reference, &counts),
                    thresholds.l_infinity,
                    "L∞ distance",
                ),
            };
            if let (Some(stat), Some(threshold)) = (stat, threshold) {
                out.push(Anomaly {
                    column: name.clone(),
                    kind: AnomalyKind::Skew,
                    expectation: "skew_comparator".into(),
                    severity: thresholds.severity,
                    success: stat <= threshold,
                    observed: format!("{what} {stat:.4}"),
                    expected: format!("{what} ≤ {threshold}"),
                    element_count: non_null,
                    unexpected_count: 0,
                    unexpected_fraction: 0.0,
                    examples: Vec::new(),
                });
            }
        }
    }
}

/// `max |p − q|` over the union of categories (raw frequencies, as TFDV).
fn linf(reference: &BTreeMap<String, u64>, current: &HashMap<String, u64>) -> Option<f64> {
    let nr: u64 = reference.values().sum();
    let nc: u64 = current.values().sum();
    if nr == 0 || nc == 0 {
        return None;
    }
    let mut d = 0.0f64;
    for (k, &r) in reference {
        let c = current.get(k).copied().unwrap_or(0);
        d = d.max((r as f64 / nr as f64 - c as f64 / nc as f64).abs());
    }
    for (k, &c) in current {
        if !reference.contains_key(k) {
            d = d.max(c as f64 / nc as f64);
        }
    }
    Some(d)
}

/// Checks chunks of rows against a schema. Feed it with [`Validator::push`], then take the
/// [`Report`] with [`Validator::finish`].
pub struct Validator {
    schema: Schema,
    header: Vec<String>,
    nulls: Nulls,
    columns: Vec<ColumnCheck>,
    rows: u64,
    rows_with_unexpected: u64,
    notes: Vec<String>,
    row_flags: Vec<u64>,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field("columns", &self.header.len())
            .field("rows", &self.rows)
            .finish()
    }
}

impl Validator {
    /// A validator for data whose header is `header`. `reference`, when given, adds the skew
    /// comparators.
    ///
    /// # Errors
    /// [`Error::Schema`] for an invalid schema ([`Schema::check`]).
    pub fn new(
        schema: &Schema,
        header: &[String],
        options: &CheckOptions,
        reference: Option<&ReferenceProfile>,
    ) -> Result<Self> {
        schema.check()?;
        let mut notes = Vec::new();
        let mut columns = Vec::new();
        for (name, spec) in &schema.columns {
            let index = header.iter().position(|h| h == name);
            columns.push(ColumnCheck::new(
                name, spec, index, options, reference, &mut notes,
            )?);
        }
        Ok(Self {
            nulls: Nulls::new(&schema.table.null_values),
            schema: schema.clone(),
            header: header.to_vec(),
            columns,
            rows: 0,
            rows_with_unexpected: 0,
            notes,
            row_flags: Vec::new(),
        })
    }

    /// Checks one chunk (rows in order; each column's cells are checked on the rayon pool).
    ///
    /// The chunk is walked in blocks of [`BLOCK_ROWS`] rows, each block column by column in
    /// parallel: a block's records stay in cache while every column reads them.
    pub fn push(&mut self, chunk: &Chunk) {
        let nulls = &self.nulls;
        let mut lo = 0;
        while lo < chunk.len() {
            let hi = (lo + BLOCK_ROWS).min(chunk.len());
            self.columns
                .par_iter_mut()
                .with_min_len(1)
                .for_each(|c| c.push(chunk, lo..hi, nulls));
            self.row_flags.clear();
            self.row_flags.resize((hi - lo).div_ceil(64), 0);
            for c in &self.columns {
                for (acc, f) in self.row_flags.iter_mut().zip(&c.flags) {
                    *acc |= f;
                }
            }
            self.rows_with_unexpected += self
                .row_flags
                .iter()
                .map(|w| u64::from(w.count_ones()))
                .sum::<u64>();
            lo = hi;
        }
        self.rows += chunk.len() as u64;
    }

    /// Sizes the `unique` sets for about `rows` rows in all, so that they are allocated once
    /// instead of growing (and rehashing) while the rows stream in.
    pub fn reserve_rows(&mut self, rows: u64) {
        let extra = usize::try_from(rows.saturating_sub(self.rows)).unwrap_or(usize::MAX);
        for c in &mut self.columns {
            if c.spec.unique.is_some() && c.index.is_some() {
                c.seen.reserve(extra.saturating_sub(c.seen.len()));
            }
        }
    }

    /// Rows checked so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The report: table-level outcomes (row count, required and extra columns), then every
    /// column's.
    pub fn finish(self) -> Report {
        let mut outcomes = Vec::new();
        let t = &self.schema.table;
        if t.min_rows.is_some() || t.max_rows.is_some() {
            let ok = t.min_rows.is_none_or(|m| self.rows >= m)
                && t.max_rows.is_none_or(|m| self.rows <= m);
            outcomes.push(table_outcome(
                None,
                AnomalyKind::RowCount,
                "expect_table_row_count_to_be_between",
                t.row_count_severity,
                ok,
                format!("{} rows", self.rows),
                format!(
                    "{}..={} rows",
                    t.min_rows.map_or("0".into(), |m| m.to_string()),
                    t.max_rows.map_or("∞".into(), |m| m.to_string())
                ),
                if ok { 0 } else { 1 },
            ));
        }
        for req in &t.required_columns {
            let ok = self.header.contains(req);
            outcomes.push(table_outcome(
                Some(req.clone()),
                AnomalyKind::MissingColumn,
                "expect_column_to_exist",
                Severity::Error,
                ok,
                if ok { "present" } else { "absent" }.into(),
                "present".into(),
                u64::from(!ok),
            ));
        }
        let severity = match t.extra_columns {
            ExtraColumns::Allow => None,
            ExtraColumns::Warning => Some(Severity::Warning),
            ExtraColumns::Error => Some(Severity::Error),
        };
        if let Some(severity) = severity {
            for h in &self.header {
                if !self.schema.columns.contains_key(h) {
                    outcomes.push(table_outcome(
                        Some(h.clone()),
                        AnomalyKind::ExtraColumn,
                        "expect_table_columns_to_match_set",
                        severity,
                        false,
                        "present".into(),
                        "not in the schema".into(),
                        1,
                    ));
                }
            }
        }
        let mut counts = BTreeMap::new();
        for c in self.columns {
            c.outcomes(&mut outcomes, &mut counts);
        }
        Report {
            rows: self.rows,
            rows_with_unexpected: self.rows_with_unexpected,
            outcomes,
            columns: counts,
            notes: self.notes,
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn table_outcome(
    column: Option<String>,
    kind: AnomalyKind,
    expectation: &str,
    severity: Severity,
    success: bool,
    observed: String,
    expected: String,
    unexpected: u64,
) -> Anomaly {
    Anomaly {
        column,
        kind,
        expectation: expectation.into(),
        severity,
        success,
        observed,
        expected,
        element_count: 0,
        unexpected_count: unexpected,
        unexpected_fraction: 0.0,
        examples: Vec::new(),
    }
}

/// Progress of a streaming pass: rows so far, bytes read, total bytes (when known).
pub type ProgressFn<'a> = &'a mut dyn FnMut(u64, u64, Option<u64>);

/// Checks everything `reader` yields.
///
/// # Errors
/// As [`Validator::new`], and the reader's [`Error::Malformed`] / [`Error::Io`].
pub fn check_reader(
    schema: &Schema,
    reader: Box<dyn ChunkReader>,
    options: &CheckOptions,
    reference: Option<&ReferenceProfile>,
    mut progress: Option<ProgressFn<'_>>,
) -> Result<Report> {
    let mut v = Validator::new(schema, reader.header(), options, reference)?;
    let mut reserved = false;
    source::for_each_chunk(reader, options.chunk_rows, |chunk, bytes, total| {
        if let (false, Some(total)) = (reserved, total) {
            // Estimate the row count from the first chunk's bytes per row (+10 %).
            if bytes > 0 && !chunk.is_empty() {
                let per_row = bytes as f64 / chunk.len() as f64;
                v.reserve_rows((total as f64 / per_row * 1.1) as u64);
            }
            reserved = true;
        }
        v.push(chunk);
        if let Some(p) = progress.as_mut() {
            p(v.rows(), bytes, total);
        }
        Ok(())
    })?;
    Ok(v.finish())
}

/// Fits the reference profile for skew from a reference data file: the file's columns that
/// have a `skew` table in the schema, numeric for `int`/`float` columns, categorical otherwise
/// (ids, free text and timestamps, which get no skew table from inference, are not profiled).
///
/// # Errors
/// [`Error::Io`] / [`Error::Malformed`] when the file cannot be read; [`Error::Drift`] when a
/// column cannot be profiled (e.g. a numeric column with no finite value).
#[tracing::instrument(skip_all, fields(path = %path.display()), err)]
pub fn fit_reference(schema: &Schema, path: &Path) -> Result<ReferenceProfile> {
    use mlops_drift::io::{read_table, ColumnKind, ReadOptions};
    let header = source::open(path)?.header().to_vec();
    let mut options = ReadOptions::default();
    let mut wanted = Vec::new();
    for h in header {
        if let Some(c) = schema.columns.get(&h).filter(|c| c.skew.is_some()) {
            let kind = match c.data_type {
                DataType::Int | DataType::Float => ColumnKind::Numeric,
                _ => ColumnKind::Categorical,
            };
            options = options.with_kind(&h, kind);
            wanted.push(h);
        }
    }
    let table = read_table(path, &options.with_columns(wanted))?;
    Ok(ReferenceProfile::fit_table(
        &table,
        mlops_drift::ProfileConfig::default(),
    )?)
}

/// Checks a CSV or Parquet file.
///
/// # Errors
/// As [`check_reader`] and [`source::open`].
#[tracing::instrument(skip_all, fields(path = %path.display()), err)]
pub fn check_file(
    schema: &Schema,
    path: &Path,
    options: &CheckOptions,
    reference: Option<&ReferenceProfile>,
    progress: Option<ProgressFn<'_>>,
) -> Result<Report> {
    check_reader(schema, source::open(path)?, options, reference, progress)
}
