//! Inferring a [`Schema`] from reference data in one streaming pass (TFDV's `infer_schema`,
//! Deequ's constraint suggestion).
//!
//! Per column:
//! - **type**: the narrowest of bool ⊂ int ⊂ float, then timestamp, then string, that every
//!   non-missing cell satisfies;
//! - **not_null**: no missing cell → `mostly = 1`; otherwise the observed fraction `p` plus
//!   a slack of `max(0.02, p/2, 4·sqrt(p(1−p)/n))`, so that a fresh sample of the same size
//!   stays inside with high probability;
//! - **range** (int, float): `[min − m·span, max + m·span]` with `m = range_margin`, rounded
//!   outwards for integers and never below 0 for a column that was never negative, with
//!   `mostly = range_mostly` (0.999: a heavy tail's next sample has a few values past the
//!   reference's extremes);
//! - **non_negative** (int, float): when no value was negative (a hard bound, mostly 1);
//! - **domain** (string): when there are at most `max_domain` distinct values and each
//!   appears at least twice on average, with `mostly = 1 − unknown_fraction`;
//! - **unique** (int, string, not a domain): when no value repeats; such an id column gets
//!   no range and no skew threshold;
//! - **length** and **regex** (string, not a domain): the observed length range widened by
//!   `length_margin`; an e-mail pattern when every value is an address, or a shape pattern
//!   such as `^[A-Z]{2}-[0-9]{4}$` when every value has the same character-class shape
//!   containing a digit or punctuation (severity warning);
//! - **freshness** and **monotonic** (timestamp): `max_age` = the data's time span (at least
//!   one day); non-decreasing (warning) when the reference was;
//! - **skew**: JS ≤ 0.1 (numeric) or L∞ ≤ 0.1 (domain columns), warning.
//!
//! At table level: `min_rows`/`max_rows` = the row count times `row_factors`, every column
//! required, extra columns a warning.
//!
//! Memory is constant per column except the uniqueness set (8 bytes per distinct value,
//! dropped at the first repeat) and the domain (at most `max_domain + 1` values).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use rayon::prelude::*;

use crate::check::ProgressFn;
use crate::error::{Error, Result};
use crate::schema::{
    format_duration_ms, Bound, ColumnSchema, DataType, Domain, Freshness, Length, Monotonic,
    NonNegative, NotNull, Pattern, Range, Schema, Severity, Skew, TableSchema, Tolerance, Unique,
};
use crate::source::{self, Chunk, ChunkReader};
use crate::value::{parse_bool, parse_float, parse_int, parse_timestamp_ms};

/// The e-mail pattern inferred for address columns.
pub const EMAIL_PATTERN: &str = r"^[^@\s]+@[^@\s]+\.[^@\s]+$";

/// Inference settings.
#[derive(Debug, Clone)]
pub struct InferOptions {
    /// Range widening, as a fraction of the observed span on each side (default 0.1).
    pub range_margin: f64,
    /// `mostly` of inferred ranges (default 0.999).
    pub range_mostly: f64,
    /// Most distinct values of a domain (default 50).
    pub max_domain: usize,
    /// Allowed fraction of unknown categories (default 0).
    pub unknown_fraction: f64,
    /// Length widening, as a fraction of the observed bounds (default 0.5).
    pub length_margin: f64,
    /// Row-count range as factors of the reference's count (default 0.5 and 2).
    pub row_factors: (f64, f64),
    /// Null strings (default [`crate::schema::DEFAULT_NULL_VALUES`]).
    pub null_values: Vec<String>,
    /// Rows per chunk.
    pub chunk_rows: usize,
}

impl Default for InferOptions {
    fn default() -> Self {
        Self {
            range_margin: 0.1,
            range_mostly: 0.999,
            max_domain: 50,
            unknown_fraction: 0.0,
            length_margin: 0.5,
            row_factors: (0.5, 2.0),
            null_values: TableSchema::default().null_values,
            chunk_rows: source::DEFAULT_CHUNK_ROWS,
        }
    }
}

impl InferOptions {
    fn check(&self) -> Result<()> {
        let frac = |what: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(Error::invalid(what, format!("{v} is outside [0, 1]")))
            }
        };
        frac("range_mostly", self.range_mostly)?;
        frac("unknown_fraction", self.unknown_fraction)?;
        if !(self.range_margin.is_finite() && self.range_margin >= 0.0) {
            return Err(Error::invalid("range_margin", "must be finite and ≥ 0"));
        }
        if !(self.length_margin.is_finite() && self.length_margin >= 0.0) {
            return Err(Error::invalid("length_margin", "must be finite and ≥ 0"));
        }
        let (a, b) = self.row_factors;
        if !(a.is_finite() && b.is_finite() && 0.0 <= a && a <= b) {
            return Err(Error::invalid("row_factors", "need 0 ≤ low ≤ high, finite"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Upper,
    Lower,
    Digit,
    Lit(char),
}

fn class_of(c: char) -> Class {
    if c.is_ascii_uppercase() {
        Class::Upper
    } else if c.is_ascii_lowercase() {
        Class::Lower
    } else if c.is_ascii_digit() {
        Class::Digit
    } else {
        Class::Lit(c)
    }
}

/// Runs of character classes with their min/max lengths.
#[derive(Debug, Clone, Default)]
struct Shape {
    tokens: Vec<(Class, usize, usize)>,
}

const MAX_SHAPE_TOKENS: usize = 8;

impl Shape {
    fn runs(s: &str, out: &mut Vec<(Class, usize)>) -> bool {
        out.clear();
        for c in s.chars() {
            let k = class_of(c);
            match out.last_mut() {
                Some((last, n)) if *last == k => *n += 1,
                _ => {
                    if out.len() == MAX_SHAPE_TOKENS {
                        return false;
                    }
                    out.push((k, 1));
                }
            }
        }
        !out.is_empty()
    }

    /// Merges a value's runs; false when the class sequence differs.
    fn merge(&mut self, runs: &[(Class, usize)]) -> bool {
        if self.tokens.is_empty() {
            self.tokens = runs.iter().map(|&(k, n)| (k, n, n)).collect();
            return true;
        }
        if self.tokens.len() != runs.len() || self.tokens.iter().zip(runs).any(|(t, r)| t.0 != r.0)
        {
            return false;
        }
        for (t, r) in self.tokens.iter_mut().zip(runs) {
            t.1 = t.1.min(r.1);
            t.2 = t.2.max(r.1);
        }
        true
    }

    fn pattern(&self) -> Option<String> {
        let meaningful = self
            .tokens
            .iter()
            .any(|t| matches!(t.0, Class::Digit | Class::Lit(_)));
        if !meaningful || self.tokens.len() < 2 {
            return None;
        }
        let mut p = String::from("^");
        for &(k, lo, hi) in &self.tokens {
            let atom = match k {
                Class::Upper => "[A-Z]".to_owned(),
                Class::Lower => "[a-z]".to_owned(),
                Class::Digit => "[0-9]".to_owned(),
                Class::Lit(c) => regex::escape(&c.to_string()),
            };
            p.push_str(&atom);
            if lo == hi {
                if lo > 1 {
                    p.push_str(&format!("{{{lo}}}"));
                }
            } else {
                p.push_str(&format!("{{{lo},{hi}}}"));
            }
        }
        p.push('$');
        Some(p)
    }
}

#[derive(Debug)]
struct ColumnStats {
    index: usize,
    rows: u64,
    missing: u64,
    could_bool: bool,
    could_int: bool,
    could_float: bool,
    could_ts: bool,
    min: f64,
    max: f64,
    never_negative: bool,
    ts_min: i64,
    ts_max: i64,
    ts_last: Option<i64>,
    ts_nondecreasing: bool,
    domain: Option<BTreeMap<String, u64>>,
    unique: Option<HashSet<u64, foldhash::fast::FixedState>>,
    len_min: usize,
    len_max: usize,
    all_email: bool,
    shape: Option<Shape>,
    runs: Vec<(Class, usize)>,
    max_domain: usize,
}

impl ColumnStats {
    fn new(index: usize, max_domain: usize) -> Self {
        Self {
            index,
            rows: 0,
            missing: 0,
            could_bool: true,
            could_int: true,
            could_float: true,
            could_ts: true,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            never_negative: true,
            ts_min: i64::MAX,
            ts_max: i64::MIN,
            ts_last: None,
            ts_nondecreasing: true,
            domain: Some(BTreeMap::new()),
            unique: Some(HashSet::default()),
            len_min: usize::MAX,
            len_max: 0,
            all_email: true,
            shape: Some(Shape::default()),
            runs: Vec::new(),
            max_domain,
        }
    }

    fn push(
        &mut self,
        chunk: &Chunk,
        block: std::ops::Range<usize>,
        nulls: &crate::check::Nulls,
        email: &regex::Regex,
    ) {
        let hasher = foldhash::fast::FixedState::with_seed(0x6d6c_6f70_735f_6966);
        for r in block {
            let s = chunk.cell(r, self.index);
            self.rows += 1;
            if nulls.is_null(s) {
                self.missing += 1;
                continue;
            }
            if self.could_bool && parse_bool(s).is_none() {
                self.could_bool = false;
            }
            if self.could_int {
                match parse_int(s) {
                    Some(v) => {
                        let v = v as f64;
                        self.min = self.min.min(v);
                        self.max = self.max.max(v);
                    }
                    None => self.could_int = false,
                }
            }
            if self.could_float && !self.could_int {
                match parse_float(s) {
                    Some(v) => {
                        self.min = self.min.min(v);
                        self.max = self.max.max(v);
                    }
                    None => self.could_float = false,
                }
            }
            if self.could_ts {
                match parse_timestamp_ms(s) {
                    Some(t) => {
                        self.ts_min = self.ts_min.min(t);
                        self.ts_max = self.ts_max.max(t);
                        if self.ts_last.is_some_and(|l| t < l) {
                            self.ts_nondecreasing = false;
                        }
                        self.ts_last = Some(t);
                    }
                    None => self.could_ts = false,
                }
            }
            if s.starts_with('-') {
                self.never_negative = false;
            }
            if let Some(d) = &mut self.domain {
                if let Some(c) = d.get_mut(s) {
                    *c += 1;
                } else if d.len() < self.max_domain {
                    d.insert(s.to_owned(), 1);
                } else {
                    self.domain = None;
                }
            }
            if let Some(u) = &mut self.unique {
                let t = if self.could_int {
                    DataType::Int
                } else {
                    DataType::String
                };
                let key = crate::check::hash_key(s, t, &hasher);
                if !u.insert(key) {
                    self.unique = None;
                }
            }
            let len = if s.is_ascii() {
                s.len()
            } else {
                s.chars().count()
            };
            self.len_min = self.len_min.min(len);
            self.len_max = self.len_max.max(len);
            if self.all_email && !email.is_match(s) {
                self.all_email = false;
            }
            if let Some(shape) = &mut self.shape {
                if !(Shape::runs(s, &mut self.runs) && shape.merge(&self.runs)) {
                    self.shape = None;
                }
            }
        }
    }

    fn data_type(&self) -> DataType {
        if self.rows == self.missing {
            DataType::String
        } else if self.could_bool {
            DataType::Bool
        } else if self.could_int {
            DataType::Int
        } else if self.could_float {
            DataType::Float
        } else if self.could_ts {
            DataType::Timestamp
        } else {
            DataType::String
        }
    }

    fn schema(&self, o: &InferOptions) -> ColumnSchema {
        let t = self.data_type();
        let mut c = ColumnSchema::new(t);
        let n = self.rows;
        let non_null = n - self.missing;
        if n > 0 {
            let p = self.missing as f64 / n as f64;
            let mostly = if self.missing == 0 {
                1.0
            } else {
                let slack = (4.0 * (p * (1.0 - p) / n as f64).sqrt())
                    .max(0.5 * p)
                    .max(0.02);
                1.0 - (p + slack).min(1.0)
            };
            if mostly > 0.0 {
                c.not_null = Some(NotNull {
                    tolerance: Tolerance {
                        mostly: round6(mostly),
                        severity: Severity::Error,
                    },
                });
            }
        }
        if non_null == 0 {
            return c;
        }
        let unique = matches!(t, DataType::Int | DataType::String)
            && self.unique.is_some()
            && non_null >= 2
            && !(t == DataType::String && self.domain_fits(non_null));
        match t {
            // An id's range and distribution say nothing about the next batch's ids.
            DataType::Int | DataType::Float if !unique => {
                let span = self.max - self.min;
                let m = o.range_margin * span;
                let (mut lo, mut hi) = (self.min - m, self.max + m);
                if self.never_negative {
                    lo = lo.max(0.0);
                    c.non_negative = Some(NonNegative::default());
                }
                if t == DataType::Int {
                    lo = lo.floor();
                    hi = hi.ceil();
                }
                if lo.is_finite() && hi.is_finite() {
                    c.range = Some(Range {
                        min: Some(Bound::Number(lo)),
                        max: Some(Bound::Number(hi)),
                        tolerance: Tolerance {
                            mostly: o.range_mostly,
                            severity: Severity::Error,
                        },
                    });
                }
                c.skew = Some(Skew {
                    l_infinity: None,
                    jensen_shannon: Some(0.1),
                    severity: Severity::Warning,
                });
            }
            DataType::Timestamp => {
                let span = self.ts_max.saturating_sub(self.ts_min);
                let day = 86_400_000i64;
                let age = (span.max(day) + day - 1) / day * day;
                c.freshness = Some(Freshness {
                    max_age: format_duration_ms(age),
                    tolerance: Tolerance::default(),
                });
                if self.ts_nondecreasing && non_null > 1 {
                    c.monotonic = Some(Monotonic {
                        strict: false,
                        tolerance: Tolerance {
                            mostly: 1.0,
                            severity: Severity::Warning,
                        },
                    });
                }
            }
            DataType::Int | DataType::Float | DataType::Bool | DataType::String => {}
        }
        if t == DataType::String {
            let domain = self.domain.as_ref().filter(|_| self.domain_fits(non_null));
            if let Some(d) = domain {
                c.domain = Some(Domain {
                    values: d.keys().cloned().collect(),
                    tolerance: Tolerance {
                        mostly: round6(1.0 - o.unknown_fraction),
                        severity: Severity::Error,
                    },
                });
                c.skew = Some(Skew {
                    l_infinity: Some(0.1),
                    jensen_shannon: None,
                    severity: Severity::Warning,
                });
            } else {
                let lo = (self.len_min as f64 * (1.0 - o.length_margin))
                    .floor()
                    .max(0.0) as u64;
                let hi = (self.len_max as f64 * (1.0 + o.length_margin)).ceil() as u64;
                c.length = Some(Length {
                    min: (lo > 0).then_some(lo),
                    max: Some(hi.max(1)),
                    tolerance: Tolerance::default(),
                });
                if self.all_email {
                    c.regex = Some(Pattern {
                        pattern: EMAIL_PATTERN.into(),
                        tolerance: Tolerance::default(),
                    });
                } else if let Some(p) = self.shape.as_ref().and_then(Shape::pattern) {
                    c.regex = Some(Pattern {
                        pattern: p,
                        tolerance: Tolerance {
                            mostly: 1.0,
                            severity: Severity::Warning,
                        },
                    });
                }
            }
        }
        if unique {
            c.unique = Some(Unique::default());
        }
        c
    }

    /// A text column is categorical when its values fit the domain cap and each appears at
    /// least twice on average.
    fn domain_fits(&self, non_null: u64) -> bool {
        self.domain
            .as_ref()
            .is_some_and(|d| (d.len() as u64) * 2 <= non_null)
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).floor() / 1e6
}

/// Infers a schema from everything `reader` yields.
///
/// # Errors
/// [`Error::InvalidInput`] for bad options; the reader's errors.
pub fn infer_reader(
    reader: Box<dyn ChunkReader>,
    options: &InferOptions,
    mut progress: Option<ProgressFn<'_>>,
) -> Result<Schema> {
    options.check()?;
    let header = reader.header().to_vec();
    let email = regex::Regex::new(EMAIL_PATTERN)
        .map_err(|e| Error::invalid("e-mail pattern", e.to_string()))?;
    let mut stats: Vec<ColumnStats> = (0..header.len())
        .map(|i| ColumnStats::new(i, options.max_domain))
        .collect();
    let mut rows = 0u64;
    let nulls = &crate::check::Nulls::new(&options.null_values);
    source::for_each_chunk(reader, options.chunk_rows, |chunk, bytes, total| {
        let mut lo = 0;
        while lo < chunk.len() {
            let hi = (lo + crate::check::BLOCK_ROWS).min(chunk.len());
            stats
                .par_iter_mut()
                .with_min_len(1)
                .for_each(|s| s.push(chunk, lo..hi, nulls, &email));
            lo = hi;
        }
        rows += chunk.len() as u64;
        if let Some(p) = progress.as_mut() {
            p(rows, bytes, total);
        }
        Ok(())
    })?;
    let mut schema = Schema {
        table: TableSchema {
            min_rows: Some((rows as f64 * options.row_factors.0).floor() as u64),
            max_rows: Some((rows as f64 * options.row_factors.1).ceil() as u64),
            required_columns: header.clone(),
            null_values: options.null_values.clone(),
            ..TableSchema::default()
        },
        ..Schema::default()
    };
    for (name, s) in header.iter().zip(&stats) {
        schema.columns.insert(name.clone(), s.schema(options));
    }
    schema.check()?;
    Ok(schema)
}

/// Infers a schema from a CSV or Parquet file.
///
/// # Errors
/// As [`infer_reader`] and [`source::open`].
#[tracing::instrument(skip_all, fields(path = %path.display()), err)]
pub fn infer_file(
    path: &Path,
    options: &InferOptions,
    progress: Option<ProgressFn<'_>>,
) -> Result<Schema> {
    infer_reader(source::open(path)?, options, progress)
}
