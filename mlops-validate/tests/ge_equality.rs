//! Equality with Great Expectations on the same data and expectations.
//!
//! The fixture (`tests/data/ge_fixture.csv`, 3,000 rows), the schema
//! (`tests/data/ge_schema.toml`) and every pinned number below come from
//! `tools/reference/validate_ge.py`, run with great_expectations==1.24.1, pandas==2.3.3,
//! numpy==2.4.6 (pandas engine, `pd.read_csv(fixture, parse_dates=["ts"])` with pandas'
//! default NA strings, `result_format="COMPLETE"`). Each value has the GE call above it.
//!
//! How GE's numbers map onto ours:
//! - `unexpected_count` and `success`: equal.
//! - Rows: our example rows are 1-based data rows = GE's `partial_unexpected_index_list` + 1.
//! - `element_count`: GE's is always every row of the batch; ours is the cells the
//!   expectation is evaluated on, so ours = GE `element_count` for `not_null` and GE
//!   `element_count − missing_count` for every other column expectation.
//! - `unexpected_fraction` = GE `unexpected_percent` / 100 (GE's percent is over the
//!   non-missing cells, except for not_null, over all rows), to 1e-12.
//!
//! Where the two differ by design (documented at the pinned values):
//! - A numeric column with a non-numeric cell (`qty`): pandas reads the whole column as text
//!   (`object`), so GE's `expect_column_values_to_be_between` raises ("Column values, min_value,
//!   and max_value must either be None or of the same type") and
//!   `expect_column_values_to_be_in_type_list` finds every cell a `str`. We parse cell by cell:
//!   bad cells count under `type` only and the range is checked on the others. The comparable GE
//!   runs are on a frame whose `qty` cells were parsed one by one by `pd.to_numeric`.

use std::path::PathBuf;

use mlops_validate::schema::Schema;
use mlops_validate::{check_file, Anomaly, AnomalyKind, CheckOptions, Report};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("data")
        .join(name)
}

/// "now" of the script's freshness expectation: 2026-03-01T00:00:00Z (max_age 30d, so GE's
/// `min_value` is 2026-01-30 00:00:00).
const NOW_MS: i64 = 1_772_323_200_000;

fn check(chunk_rows: usize) -> Report {
    let schema = Schema::load(&data("ge_schema.toml")).expect("schema");
    let options = CheckOptions {
        now_ms: NOW_MS,
        examples: 5,
        chunk_rows,
    };
    check_file(&schema, &data("ge_fixture.csv"), &options, None, None).expect("check")
}

/// One GE result, as `validate_ge.py` prints it.
#[derive(Debug)]
struct Ge {
    success: bool,
    unexpected_count: u64,
    unexpected_percent: f64,
    element_count: u64,
    missing_count: u64,
    first_index: &'static [u64],
}

fn outcome<'a>(report: &'a Report, column: &str, kind: AnomalyKind) -> &'a Anomaly {
    let found: Vec<&Anomaly> = report
        .outcomes
        .iter()
        .filter(|a| a.column.as_deref() == Some(column) && a.kind == kind)
        .collect();
    assert_eq!(found.len(), 1, "{column} {kind:?}: {found:?}");
    found[0]
}

fn rows(a: &Anomaly) -> Vec<u64> {
    a.examples.iter().map(|e| e.row).collect()
}

fn ge_rows(ge: &Ge) -> Vec<u64> {
    ge.first_index.iter().map(|i| i + 1).collect()
}

/// Asserts our outcome equals GE's: count, success, first rows, element count and fraction.
fn assert_ge(report: &Report, column: &str, kind: AnomalyKind, ge: Ge) {
    let a = outcome(report, column, kind);
    let what = format!("{column} {kind:?}");
    assert_eq!(
        a.unexpected_count, ge.unexpected_count,
        "{what}: unexpected_count"
    );
    assert_eq!(a.success, ge.success, "{what}: success");
    assert_eq!(rows(a), ge_rows(&ge), "{what}: first rows");
    let element_count = if kind == AnomalyKind::MissingValues {
        ge.element_count
    } else {
        ge.element_count - ge.missing_count
    };
    assert_eq!(a.element_count, element_count, "{what}: element_count");
    assert!(
        (a.unexpected_fraction - ge.unexpected_percent / 100.0).abs() <= 1e-12,
        "{what}: fraction {} vs GE {}%",
        a.unexpected_fraction,
        ge.unexpected_percent
    );
}

#[test]
fn row_count_equals_ge() {
    let report = check(50_000);
    assert_eq!(report.rows, 3000);
    let a = report
        .outcomes
        .iter()
        .find(|a| a.kind == AnomalyKind::RowCount)
        .expect("row count outcome");
    // ExpectTableRowCountToBeBetween(min_value=2500, max_value=3500)
    //   -> success true, observed_value 3000
    assert!(a.success);
    assert_eq!(a.unexpected_count, 0);
    assert!(a.observed.contains("3000"), "{}", a.observed);
}

#[test]
fn not_null_equals_ge() {
    let r = check(50_000);
    // ExpectColumnValuesToNotBeNull(mostly=0.97, column='age')
    // (the 75 missing cells are spelt "", NA, null, None, N/A, NaN, NULL, nan, n/a, <NA>)
    let ge = Ge {
        success: true,
        unexpected_count: 75,
        unexpected_percent: 2.5,
        element_count: 3000,
        missing_count: 0,
        first_index: &[3, 39, 91, 103, 109],
    };
    assert_ge(&r, "age", AnomalyKind::MissingValues, ge);
    // ExpectColumnValuesToNotBeNull(mostly=0.995, column='price')
    let ge = Ge {
        success: false,
        unexpected_count: 30,
        unexpected_percent: 1.0,
        element_count: 3000,
        missing_count: 0,
        first_index: &[233, 284, 397, 470, 593],
    };
    assert_ge(&r, "price", AnomalyKind::MissingValues, ge);
    // ExpectColumnValuesToNotBeNull(mostly=0.99, column='email')
    // (30 / 3000 = 1 − 0.99 exactly: success on the boundary)
    let ge = Ge {
        success: true,
        unexpected_count: 30,
        unexpected_percent: 1.0,
        element_count: 3000,
        missing_count: 0,
        first_index: &[44, 76, 104, 197, 432],
    };
    assert_ge(&r, "email", AnomalyKind::MissingValues, ge);
    // ExpectColumnValuesToNotBeNull(mostly=0.99, column='ts')
    let ge = Ge {
        success: true,
        unexpected_count: 12,
        unexpected_percent: 0.4,
        element_count: 3000,
        missing_count: 0,
        first_index: &[427, 502, 750, 810, 947],
    };
    assert_ge(&r, "ts", AnomalyKind::MissingValues, ge);
    // ExpectColumnValuesToNotBeNull(mostly=0.99, column='qty')
    let ge = Ge {
        success: true,
        unexpected_count: 20,
        unexpected_percent: 0.6666666666666667,
        element_count: 3000,
        missing_count: 0,
        first_index: &[99, 111, 178, 315, 454],
    };
    assert_ge(&r, "qty", AnomalyKind::MissingValues, ge);
}

#[test]
fn between_equals_ge() {
    let r = check(50_000);
    // ExpectColumnValuesToBeBetween(min_value=0, max_value=120, mostly=0.999, column='age')
    let ge = Ge {
        success: false,
        unexpected_count: 4,
        unexpected_percent: 0.13675213675213677,
        element_count: 3000,
        missing_count: 75,
        first_index: &[96, 1485, 1529, 1532],
    };
    assert_ge(&r, "age", AnomalyKind::OutOfRange, ge);
    // ExpectColumnValuesToBeBetween(min_value=0, max_value=500, mostly=0.99, column='price')
    // (cells "inf", "-inf" and "1e3" are numbers in both; "500.00" and "0" are inside)
    let ge = Ge {
        success: true,
        unexpected_count: 24,
        unexpected_percent: 0.8080808080808081,
        element_count: 3000,
        missing_count: 30,
        first_index: &[855, 1077, 1080, 1088, 1158],
    };
    assert_ge(&r, "price", AnomalyKind::OutOfRange, ge);
    // ExpectColumnValuesToBeBetween(min_value='2026-01-01 00:00:00',
    //     max_value='2026-02-28 00:00:00', column='ts')    (ts read with parse_dates)
    let ge = Ge {
        success: false,
        unexpected_count: 288,
        unexpected_percent: 9.63855421686747,
        element_count: 3000,
        missing_count: 12,
        first_index: &[2712, 2713, 2714, 2715, 2716],
    };
    assert_ge(&r, "ts", AnomalyKind::OutOfRange, ge);
}

#[test]
fn freshness_equals_ge_between_from_now_minus_max_age() {
    let r = check(50_000);
    // freshness = { max_age = "30d", mostly = 0.5 } at now = 2026-03-01T00:00:00Z is
    // ExpectColumnValuesToBeBetween(min_value='2026-01-30 00:00:00', mostly=0.5, column='ts')
    let ge = Ge {
        success: true,
        unexpected_count: 1367,
        unexpected_percent: 45.74966532797858,
        element_count: 3000,
        missing_count: 12,
        first_index: &[0, 1, 2, 3, 4],
    };
    assert_ge(&r, "ts", AnomalyKind::Stale, ge);
}

#[test]
fn in_set_equals_ge() {
    let r = check(50_000);
    // ExpectColumnValuesToBeInSet(value_set=['Tokyo', 'Osaka', 'Kyoto', 'Sapporo', 'Nagoya'],
    //     mostly=0.99, column='city')
    // (30 unknown: "Tokio", "osaka", "Zürich", " Tokyo", "東京", "Kyoto "; 30 / 3000 is on
    // the mostly boundary, a success in both)
    let ge = Ge {
        success: true,
        unexpected_count: 30,
        unexpected_percent: 1.0,
        element_count: 3000,
        missing_count: 0,
        first_index: &[136, 191, 433, 479, 555],
    };
    assert_ge(&r, "city", AnomalyKind::UnknownCategory, ge);
}

#[test]
fn unique_equals_ge() {
    let r = check(50_000);
    // ExpectColumnValuesToBeUnique(column='id')   (3 pairs and a triple: every occurrence)
    let ge = Ge {
        success: false,
        unexpected_count: 9,
        unexpected_percent: 0.3,
        element_count: 3000,
        missing_count: 0,
        first_index: &[10, 40, 77, 78, 500],
    };
    assert_ge(&r, "id", AnomalyKind::NotUnique, ge);
    // ExpectColumnValuesToBeUnique(mostly=0.999, column='email')   (missing cells ignored)
    let ge = Ge {
        success: false,
        unexpected_count: 37,
        unexpected_percent: 1.2457912457912457,
        element_count: 3000,
        missing_count: 30,
        first_index: &[5, 158, 169, 188, 250],
    };
    assert_ge(&r, "email", AnomalyKind::NotUnique, ge);
    // ExpectColumnValuesToBeUnique(mostly=0.99, column='score')
    // (a float64 column to pandas: "1.5" = "1.50", "2" = "2.0", "1e2" = "100", "-0.0" = "0",
    // "inf" = "Infinity", "+4" = "4.000" are repeats, as in our float keys; 12 planted cells
    // and 5 natural pairs of equal 3-decimal draws)
    let ge = Ge {
        success: true,
        unexpected_count: 22,
        unexpected_percent: 0.7357859531772575,
        element_count: 3000,
        missing_count: 10,
        first_index: &[64, 87, 107, 308, 526],
    };
    assert_ge(&r, "score", AnomalyKind::NotUnique, ge);
}

#[test]
fn lengths_equal_ge() {
    let r = check(50_000);
    // ExpectColumnValueLengthsToBeBetween(min_value=6, max_value=30, mostly=0.995,
    //     column='email')   (code points: "ü"×12 + "@example.com" is 24, not its 36 bytes)
    let ge = Ge {
        success: true,
        unexpected_count: 12,
        unexpected_percent: 0.40404040404040403,
        element_count: 3000,
        missing_count: 30,
        first_index: &[169, 188, 298, 796, 894],
    };
    assert_ge(&r, "email", AnomalyKind::Length, ge);
    // ExpectColumnValueLengthsToBeBetween(min_value=2, max_value=6, mostly=0.9, column='name')
    let ge = Ge {
        success: true,
        unexpected_count: 259,
        unexpected_percent: 8.676716917922949,
        element_count: 3000,
        missing_count: 15,
        first_index: &[0, 16, 21, 28, 42],
    };
    assert_ge(&r, "name", AnomalyKind::Length, ge);
}

#[test]
fn regex_equals_ge() {
    let r = check(50_000);
    // ExpectColumnValuesToMatchRegex(regex='^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$', mostly=0.995,
    //     column='email')
    let ge = Ge {
        success: false,
        unexpected_count: 16,
        unexpected_percent: 0.5387205387205387,
        element_count: 3000,
        missing_count: 30,
        first_index: &[158, 169, 524, 689, 786],
    };
    assert_ge(&r, "email", AnomalyKind::Pattern, ge);
    // ExpectColumnValuesToMatchRegex(regex='^[A-Z]{2}-\\d{4}$', mostly=0.995, column='code')
    // (\d is Unicode in both Python's re and Rust's regex: "AB-１２３４" matches)
    let ge = Ge {
        success: true,
        unexpected_count: 12,
        unexpected_percent: 0.4,
        element_count: 3000,
        missing_count: 0,
        first_index: &[32, 462, 724, 914, 1137],
    };
    assert_ge(&r, "code", AnomalyKind::Pattern, ge);
    // ExpectColumnValuesToMatchRegex(regex='[A-Za-z]', mostly=0.9, column='name')
    // (unanchored: GE's pandas metric is str.contains, i.e. re.search, as ours; "李雷" and
    // "ノリ" have no ASCII letter)
    let ge = Ge {
        success: false,
        unexpected_count: 580,
        unexpected_percent: 19.430485762144052,
        element_count: 3000,
        missing_count: 15,
        first_index: &[10, 20, 38, 40, 43],
    };
    assert_ge(&r, "name", AnomalyKind::Pattern, ge);
}

#[test]
fn increasing_equals_ge() {
    let r = check(50_000);
    // ExpectColumnValuesToBeIncreasing(strictly=False, mostly=0.999, column='ts')
    // (6 ties are expected when not strict; each of the 8 decreases is one unexpected row:
    // both compare with the previous non-missing value, not the running maximum)
    let ge = Ge {
        success: false,
        unexpected_count: 8,
        unexpected_percent: 0.2677376171352075,
        element_count: 3000,
        missing_count: 12,
        first_index: &[515, 835, 1016, 1846, 2230],
    };
    assert_ge(&r, "ts", AnomalyKind::NotMonotonic, ge);
}

#[test]
fn type_check_equals_ge_on_cells_parsed_one_by_one() {
    let r = check(50_000);
    // On pd.read_csv's frame qty is an object column (7 cells are not numbers), so every
    // value is a str to GE:
    // ExpectColumnValuesToBeInTypeList(type_list=['int', 'int64'], mostly=0.99, column='qty')
    //   -> success false, unexpected_count 2980 (all non-missing cells), 100 %
    // We parse each cell, as GE does on a frame whose qty cells went through pd.to_numeric
    // one by one (a cell it cannot parse stays str; "1.5" and "1e3" become floats):
    // ExpectColumnValuesToBeInTypeList(type_list=['int', 'int64'], mostly=0.99, column='qty')
    // (unexpected: "abc", "12x", "1.5", "１２", "seven", "1e3", "--3")
    let ge = Ge {
        success: true,
        unexpected_count: 7,
        unexpected_percent: 0.2348993288590604,
        element_count: 3000,
        missing_count: 20,
        first_index: &[264, 405, 500, 589, 813],
    };
    assert_ge(&r, "qty", AnomalyKind::TypeMismatch, ge);
}

#[test]
fn range_on_a_column_with_type_errors_differs_from_ge_by_its_element_count() {
    let r = check(50_000);
    // ExpectColumnValuesToBeBetween(min_value=0, max_value=50, mostly=0.8, column='qty')
    //   -> success false, raised: Column values, min_value, and max_value must either be
    //      None or of the same type.   (on pd.read_csv's object column, and also on the
    //      per-cell parsed frame, where the 5 unparseable cells are still str)
    // GE can only evaluate it once the 7 cells that are not integers are blanked (NaN):
    // ExpectColumnValuesToBeBetween(min_value=0, max_value=50, mostly=0.8, column='qty')
    let ge = Ge {
        success: true,
        unexpected_count: 470,
        unexpected_percent: 15.80894719138917,
        element_count: 3000,
        missing_count: 27,
        first_index: &[3, 4, 7, 19, 63],
    };
    let a = outcome(&r, "qty", AnomalyKind::OutOfRange);
    assert_eq!(a.unexpected_count, ge.unexpected_count);
    assert_eq!(a.success, ge.success);
    assert_eq!(rows(a), ge_rows(&ge));
    // The difference: our range is evaluated over every non-missing cell (2980), the 7 cells
    // of the wrong type counting as "not unexpected" here (they are unexpected under `type`),
    // while GE's evaluable run has them missing (2973 cells). So our fraction is 470 / 2980,
    // GE's 470 / 2973.
    let type_errors = outcome(&r, "qty", AnomalyKind::TypeMismatch).unexpected_count;
    assert_eq!(type_errors, 7);
    assert_eq!(
        a.element_count,
        ge.element_count - ge.missing_count + type_errors
    );
    assert!((a.unexpected_fraction - 470.0 / 2980.0).abs() <= 1e-15);
    assert!((ge.unexpected_percent / 100.0 - 470.0 / 2973.0).abs() <= 1e-15);
}

#[test]
fn chunking_does_not_change_any_outcome() {
    // Small chunks put repeated values, decreases and examples across chunk boundaries.
    let whole = check(50_000);
    for chunk_rows in [1, 7, 64, 1000] {
        let chunked = check(chunk_rows);
        assert_eq!(chunked.outcomes, whole.outcomes, "chunk_rows {chunk_rows}");
        assert_eq!(chunked.rows_with_unexpected, whole.rows_with_unexpected);
    }
}
