//! The schema: a human-editable TOML file of expectations, one table per column.
//!
//! ```toml
//! version = 1
//!
//! [table]
//! min_rows = 500            # row-count range (either bound optional)
//! max_rows = 2000
//! required_columns = ["id", "age", "city"]
//! extra_columns = "warning" # "error", "warning" or "allow"
//! null_values = ["", "NA", "NULL", "null", "NaN", "nan", "None"]
//!
//! [columns.age]
//! type = "float"            # int | float | bool | string | timestamp
//! not_null = { mostly = 0.97 }            # at most 3 % missing
//! non_negative = {}
//! range = { min = 0.0, max = 120.0, mostly = 0.999 }
//!
//! [columns.city]
//! type = "string"
//! domain = { values = ["Osaka", "Tokyo"], mostly = 0.99, severity = "warning" }
//!
//! [columns.id]
//! type = "int"
//! unique = {}
//!
//! [columns.email]
//! type = "string"
//! length = { min = 6, max = 64 }
//! regex = { pattern = '^[^@\s]+@[^@\s]+\.[^@\s]+$' }
//!
//! [columns.ts]
//! type = "timestamp"
//! freshness = { max_age = "30d" }
//! monotonic = { strict = false, severity = "warning" }
//! ```
//!
//! # Semantics (Great Expectations')
//! Every expectation has `mostly` (default 1.0) and a `severity` (default `error`).
//! - `not_null` ≙ `expect_column_values_to_not_be_null`: unexpected = the missing cells,
//!   fraction over all rows; it passes when `1 − unexpected/rows ≥ mostly`.
//! - All other column expectations ignore missing cells: unexpected counts and the `mostly`
//!   test are over the non-missing cells, as in GE.
//!   - `type` (`type_mostly`, `type_severity`) ≙ `expect_column_values_to_be_in_type_list`
//!     on the parsed cell: `int` accepts 64-bit integers; `float` integers and decimals
//!     (`inf`, `-inf` included); `bool` `true`/`false` in any case; `timestamp` RFC 3339,
//!     `YYYY-MM-DD[ T]HH:MM:SS[.fff]` (UTC) or `YYYY-MM-DD`; `string` anything.
//!   - `range` ≙ `…_to_be_between` (inclusive) on `int`/`float`, or on timestamps given as text;
//!     a cell of the wrong type counts under `type` only.
//!   - `non_negative` ≙ `…_to_be_between(min_value=0)`: a hard bound kept apart from the
//!     statistical `range`, so that one negative price fails even when `range` tolerates a
//!     few outliers.
//!   - `domain` ≙ `…_to_be_in_set` on the raw text.
//!   - `unique` ≙ `…_to_be_unique`: every occurrence of a repeated value is unexpected.
//!   - `length` ≙ `expect_column_value_lengths_to_be_between` (Unicode scalar values).
//!   - `regex` ≙ `expect_column_values_to_match_regex`: `re.search` semantics (anchor the
//!     pattern with `^…$` to match whole values); Rust `regex` syntax.
//!   - `freshness` (`max_age`, e.g. `"36h"`, `"30d"`): a timestamp older than
//!     `now − max_age` is stale.
//!   - `monotonic` ≙ `…_to_be_increasing`: a value below (or, with `strict`, not above)
//!     the previous non-missing value.
//!   - `skew` (needs a reference): `l_infinity` (categorical, TFDV's `infinity_norm`) or
//!     `jensen_shannon` (numeric, JS distance base 2 on the reference's bins) thresholds.
//! - A missing cell is an empty field or one of `table.null_values` (pandas' default NA
//!   strings, so that CSV files mean the same here and in pandas).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Current schema format version.
pub const SCHEMA_VERSION: u32 = 1;

/// The null strings used when a schema does not list its own (pandas' `read_csv` defaults
/// that plausibly occur in data).
pub const DEFAULT_NULL_VALUES: &[&str] = &[
    "", "#N/A", "N/A", "n/a", "NA", "<NA>", "NULL", "null", "NaN", "nan", "-NaN", "-nan", "None",
];

/// How bad a failed expectation is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Reported, does not fail by default.
    Warning,
    /// Fails the check (the default).
    #[default]
    Error,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

impl std::str::FromStr for Severity {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "warning" => Ok(Severity::Warning),
            "error" => Ok(Severity::Error),
            other => Err(Error::invalid(
                "severity",
                format!("{other:?} (expected error or warning)"),
            )),
        }
    }
}

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    /// 64-bit integers.
    Int,
    /// Numbers (integers accepted).
    Float,
    /// `true` / `false`.
    Bool,
    /// Anything.
    String,
    /// Dates and date-times.
    Timestamp,
}

impl std::fmt::Display for DataType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DataType::Int => "int",
            DataType::Float => "float",
            DataType::Bool => "bool",
            DataType::String => "string",
            DataType::Timestamp => "timestamp",
        })
    }
}

/// What happens to a column the schema does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ExtraColumns {
    /// Ignored.
    Allow,
    /// A warning anomaly.
    #[default]
    Warning,
    /// An error anomaly.
    Error,
}

fn one() -> f64 {
    1.0
}

fn is_one(x: &f64) -> bool {
    *x == 1.0
}

fn is_default<T: Default + PartialEq>(x: &T) -> bool {
    *x == T::default()
}

/// `mostly` and `severity`, shared by every expectation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tolerance {
    /// Fraction of (non-missing) rows that must satisfy the expectation, in [0, 1].
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub mostly: f64,
    /// How bad a failure is.
    #[serde(default, skip_serializing_if = "is_default")]
    pub severity: Severity,
}

impl Default for Tolerance {
    fn default() -> Self {
        Self {
            mostly: 1.0,
            severity: Severity::Error,
        }
    }
}

/// Inclusive numeric (or timestamp) bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    /// Lower bound: a number, or for timestamps a date-time string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<Bound>,
    /// Upper bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Bound>,
    /// `mostly` and severity.
    #[serde(flatten)]
    pub tolerance: Tolerance,
}

/// A range bound.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Bound {
    /// A number.
    Number(f64),
    /// A timestamp, as text.
    Text(String),
}

/// The allowed values of a categorical column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Domain {
    /// The allowed values (raw text).
    pub values: Vec<String>,
    /// `mostly` (= 1 − the allowed unknown fraction) and severity.
    #[serde(flatten)]
    pub tolerance: Tolerance,
}

/// Bounds on text length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Length {
    /// Shortest allowed length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u64>,
    /// Longest allowed length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
    /// `mostly` and severity.
    #[serde(flatten)]
    pub tolerance: Tolerance,
}

/// A pattern values must contain (anchor it to match whole values).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pattern {
    /// Rust `regex` syntax.
    pub pattern: String,
    /// `mostly` and severity.
    #[serde(flatten)]
    pub tolerance: Tolerance,
}

/// Timestamps must be recent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Freshness {
    /// The oldest allowed age at check time: `<n>s|m|h|d|w`.
    pub max_age: String,
    /// `mostly` and severity.
    #[serde(flatten)]
    pub tolerance: Tolerance,
}

/// Values must not decrease from row to row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Monotonic {
    /// Strictly increasing (ties are unexpected).
    #[serde(default)]
    pub strict: bool,
    /// `mostly` and severity.
    #[serde(flatten)]
    pub tolerance: Tolerance,
}

/// Training–serving skew thresholds against a reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Skew {
    /// Categorical: the largest allowed `max |p − q|` of category frequencies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l_infinity: Option<f64>,
    /// Numeric: the largest allowed Jensen–Shannon distance (base 2) on the reference bins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jensen_shannon: Option<f64>,
    /// Severity (`mostly` does not apply).
    #[serde(default, skip_serializing_if = "is_default")]
    pub severity: Severity,
}

/// A uniqueness expectation (`unique = {}`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Unique {
    /// `mostly` and severity.
    #[serde(flatten)]
    pub tolerance: Tolerance,
}

/// A non-negativity expectation (`non_negative = {}`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NonNegative {
    /// `mostly` and severity.
    #[serde(flatten)]
    pub tolerance: Tolerance,
}

/// A not-null expectation (`not_null = { mostly = 0.97 }`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NotNull {
    /// `mostly` (= 1 − the allowed missing fraction) and severity.
    #[serde(flatten)]
    pub tolerance: Tolerance,
}

/// One column's expectations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSchema {
    /// The type cells must parse as.
    #[serde(rename = "type")]
    pub data_type: DataType,
    /// `mostly` of the type expectation.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub type_mostly: f64,
    /// Severity of the type expectation.
    #[serde(default, skip_serializing_if = "is_default")]
    pub type_severity: Severity,
    /// Upper bound on the missing fraction. Absent: missing cells are allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_null: Option<NotNull>,
    /// Values are ≥ 0 (a hard bound, unlike the statistical `range`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub non_negative: Option<NonNegative>,
    /// Numeric (or timestamp) range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<Range>,
    /// Allowed values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<Domain>,
    /// Values are unique.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique: Option<Unique>,
    /// Text length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<Length>,
    /// A pattern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<Pattern>,
    /// Timestamps are recent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freshness: Option<Freshness>,
    /// Values do not decrease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monotonic: Option<Monotonic>,
    /// Skew thresholds against a reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skew: Option<Skew>,
}

impl ColumnSchema {
    /// A column of `data_type` with no other expectation.
    pub fn new(data_type: DataType) -> Self {
        Self {
            data_type,
            type_mostly: 1.0,
            type_severity: Severity::Error,
            not_null: None,
            non_negative: None,
            range: None,
            domain: None,
            unique: None,
            length: None,
            regex: None,
            freshness: None,
            monotonic: None,
            skew: None,
        }
    }
}

/// Table-level expectations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSchema {
    /// Fewest rows allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_rows: Option<u64>,
    /// Most rows allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rows: Option<u64>,
    /// Severity of a row count outside the range.
    #[serde(default, skip_serializing_if = "is_default")]
    pub row_count_severity: Severity,
    /// Columns that must be present (an absent one is an error).
    #[serde(default)]
    pub required_columns: Vec<String>,
    /// What a column the schema does not describe is.
    #[serde(default)]
    pub extra_columns: ExtraColumns,
    /// Cells that mean "missing".
    #[serde(default = "default_nulls")]
    pub null_values: Vec<String>,
}

fn default_nulls() -> Vec<String> {
    DEFAULT_NULL_VALUES.iter().map(|s| s.to_string()).collect()
}

impl Default for TableSchema {
    fn default() -> Self {
        Self {
            min_rows: None,
            max_rows: None,
            row_count_severity: Severity::Error,
            required_columns: Vec::new(),
            extra_columns: ExtraColumns::Warning,
            null_values: default_nulls(),
        }
    }
}

/// A schema: table expectations and one [`ColumnSchema`] per column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// Format version ([`SCHEMA_VERSION`]).
    pub version: u32,
    /// Table-level expectations.
    #[serde(default)]
    pub table: TableSchema,
    /// Column name → expectations.
    #[serde(default)]
    pub columns: BTreeMap<String, ColumnSchema>,
}

impl Default for Schema {
    fn default() -> Self {
        Self {
            version: SCHEMA_VERSION,
            table: TableSchema::default(),
            columns: BTreeMap::new(),
        }
    }
}

fn check_mostly(at: &str, t: &Tolerance) -> Result<()> {
    if !(0.0..=1.0).contains(&t.mostly) {
        return Err(Error::schema(
            at,
            format!("mostly = {} is outside [0, 1]", t.mostly),
        ));
    }
    Ok(())
}

impl Schema {
    /// Parses a schema from TOML and checks it ([`Schema::check`]).
    ///
    /// # Errors
    /// [`Error::Schema`] for bad TOML, an unknown key, a wrong version or an invalid
    /// expectation.
    pub fn from_toml(text: &str) -> Result<Self> {
        let schema: Schema = toml::from_str(text).map_err(|e| Error::Schema {
            at: None,
            reason: e.to_string(),
        })?;
        schema.check()?;
        Ok(schema)
    }

    /// The schema as TOML (a header comment, then `version`, `[table]` and one table per
    /// column).
    ///
    /// # Errors
    /// [`Error::Schema`] when a value cannot be written (a non-finite bound).
    pub fn to_toml(&self) -> Result<String> {
        let body = toml::to_string(self).map_err(|e| Error::Schema {
            at: None,
            reason: e.to_string(),
        })?;
        Ok(format!(
            "# mlops validate schema (edit freely; see `mlops validate --help` for the keys).\n\
             # Every expectation takes `mostly` (fraction of non-missing rows that must pass,\n\
             # default 1.0) and `severity` (\"error\" | \"warning\", default \"error\").\n{body}"
        ))
    }

    /// Reads and checks a schema file.
    ///
    /// # Errors
    /// [`Error::Io`] when it cannot be read; as [`Schema::from_toml`].
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text)
    }

    /// Writes the schema as TOML (atomically: a temporary file renamed into place).
    ///
    /// # Errors
    /// [`Error::Io`]; as [`Schema::to_toml`].
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = self.to_toml()?;
        let io = |source| Error::Io {
            path: path.display().to_string(),
            source,
        };
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Checks the schema's consistency: version, `mostly` in [0, 1], `min ≤ max`, patterns
    /// compile, durations parse, skew thresholds are finite and non-negative.
    ///
    /// # Errors
    /// [`Error::Schema`] naming the offending key.
    pub fn check(&self) -> Result<()> {
        if self.version != SCHEMA_VERSION {
            return Err(Error::schema(
                "version",
                format!(
                    "version {} is not supported (this build reads {SCHEMA_VERSION})",
                    self.version
                ),
            ));
        }
        if let (Some(a), Some(b)) = (self.table.min_rows, self.table.max_rows) {
            if a > b {
                return Err(Error::schema(
                    "table",
                    format!("min_rows {a} > max_rows {b}"),
                ));
            }
        }
        for (name, c) in &self.columns {
            let at = |k: &str| format!("columns.{name}.{k}");
            check_mostly(
                &at("type_mostly"),
                &Tolerance {
                    mostly: c.type_mostly,
                    severity: c.type_severity,
                },
            )?;
            if let Some(n) = &c.not_null {
                check_mostly(&at("not_null"), &n.tolerance)?;
            }
            if let Some(n) = &c.non_negative {
                check_mostly(&at("non_negative"), &n.tolerance)?;
                if !matches!(c.data_type, DataType::Int | DataType::Float) {
                    return Err(Error::schema(
                        at("non_negative"),
                        "applies to int and float columns",
                    ));
                }
            }
            if let Some(r) = &c.range {
                check_mostly(&at("range"), &r.tolerance)?;
                crate::check::compile_range(c.data_type, r)
                    .map_err(|e| Error::schema(at("range"), e))?;
            }
            if let Some(d) = &c.domain {
                check_mostly(&at("domain"), &d.tolerance)?;
            }
            if let Some(u) = &c.unique {
                check_mostly(&at("unique"), &u.tolerance)?;
            }
            if let Some(l) = &c.length {
                check_mostly(&at("length"), &l.tolerance)?;
                if let (Some(a), Some(b)) = (l.min, l.max) {
                    if a > b {
                        return Err(Error::schema(at("length"), format!("min {a} > max {b}")));
                    }
                }
            }
            if let Some(p) = &c.regex {
                check_mostly(&at("regex"), &p.tolerance)?;
                regex::Regex::new(&p.pattern)
                    .map_err(|e| Error::schema(at("regex"), e.to_string()))?;
            }
            if let Some(f) = &c.freshness {
                check_mostly(&at("freshness"), &f.tolerance)?;
                if c.data_type != DataType::Timestamp {
                    return Err(Error::schema(
                        at("freshness"),
                        "applies to timestamp columns only",
                    ));
                }
                parse_duration_ms(&f.max_age).map_err(|e| Error::schema(at("freshness"), e))?;
            }
            if let Some(m) = &c.monotonic {
                check_mostly(&at("monotonic"), &m.tolerance)?;
                if !matches!(
                    c.data_type,
                    DataType::Int | DataType::Float | DataType::Timestamp
                ) {
                    return Err(Error::schema(
                        at("monotonic"),
                        "applies to int, float and timestamp columns",
                    ));
                }
            }
            if let Some(s) = &c.skew {
                for (k, v) in [
                    ("l_infinity", s.l_infinity),
                    ("jensen_shannon", s.jensen_shannon),
                ] {
                    if let Some(v) = v {
                        if !(v.is_finite() && v >= 0.0) {
                            return Err(Error::schema(
                                at("skew"),
                                format!("{k} = {v} must be finite and ≥ 0"),
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Parses `<n>ms|s|m|h|d|w` into milliseconds.
///
/// # Errors
/// A message when the text is not a positive whole number followed by a unit.
pub fn parse_duration_ms(s: &str) -> std::result::Result<i64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("duration {s:?} has no unit (s, m, h, d or w)"))?;
    let (n, unit) = s.split_at(split);
    let n: i64 = n
        .parse()
        .map_err(|_| format!("duration {s:?} must start with a whole number"))?;
    let mult: i64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        other => return Err(format!("duration {s:?}: unknown unit {other:?}")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("duration {s:?} is too long"))
}

/// Writes milliseconds in the largest whole unit (`"30d"`, `"36h"`).
pub fn format_duration_ms(ms: i64) -> String {
    for (unit, m) in [
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if ms % m == 0 && ms >= m {
            return format!("{}{unit}", ms / m);
        }
    }
    format!("{ms}ms")
}
