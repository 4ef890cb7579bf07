//! Reading a cell as a typed value.

use chrono::{NaiveDate, NaiveDateTime};

use crate::schema::DataType;

/// Parses a 64-bit integer (`+`/`-` sign allowed, no spaces, no decimal point).
pub fn parse_int(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let digits = match b.first() {
        Some(b'+') | Some(b'-') => &b[1..],
        _ => b,
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.parse().ok()
}

/// Parses a number: what `f64::from_str` accepts (`inf`, `-inf` included), except NaN, which
/// is a missing value and never reaches here in a well-formed schema.
pub fn parse_float(s: &str) -> Option<f64> {
    match s.parse::<f64>() {
        Ok(x) if !x.is_nan() => Some(x),
        _ => None,
    }
}

/// Parses `true`/`false` in any case.
pub fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Parses a timestamp into milliseconds since the Unix epoch (UTC): RFC 3339 (with an
/// offset), `YYYY-MM-DD[ T]HH:MM:SS[.fff]` (taken as UTC) or `YYYY-MM-DD` (midnight UTC).
pub fn parse_timestamp_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    // Cheap rejection: every accepted form starts with `dddd-dd-dd`.
    if b.len() < 10 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    if b.len() == 10 {
        return NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc().timestamp_millis());
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    None
}

/// Formats milliseconds since the epoch as RFC 3339 (UTC, `Z`).
pub fn format_timestamp_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| ms.to_string())
}

/// Whether `s` is a valid cell of `t`.
pub fn is_of_type(s: &str, t: DataType) -> bool {
    match t {
        DataType::Int => parse_int(s).is_some(),
        DataType::Float => parse_float(s).is_some(),
        DataType::Bool => parse_bool(s).is_some(),
        DataType::Timestamp => parse_timestamp_ms(s).is_some(),
        DataType::String => true,
    }
}

/// The numeric value used for ranges and monotonicity: the number itself, or a timestamp's
/// milliseconds. `None` when the cell is not of the type (a type anomaly) or the type has no
/// order (bool, string).
pub fn ordered_value(s: &str, t: DataType) -> Option<f64> {
    match t {
        DataType::Int => parse_int(s).map(|v| v as f64),
        DataType::Float => parse_float(s),
        DataType::Timestamp => parse_timestamp_ms(s).map(|v| v as f64),
        DataType::Bool | DataType::String => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_floats_and_bools() {
        assert_eq!(parse_int("-42"), Some(-42));
        assert_eq!(parse_int("+7"), Some(7));
        assert_eq!(parse_int("1.0"), None);
        assert_eq!(parse_int("1e3"), None);
        assert_eq!(parse_int(" 1"), None);
        assert_eq!(parse_int("99999999999999999999"), None);
        assert_eq!(parse_float("1e3"), Some(1000.0));
        assert_eq!(parse_float("-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_float("NaN"), None);
        assert_eq!(parse_float("abc"), None);
        assert_eq!(parse_bool("TRUE"), Some(true));
        assert_eq!(parse_bool("0"), None);
    }

    #[test]
    fn timestamps_in_the_accepted_forms() {
        assert_eq!(parse_timestamp_ms("1970-01-02"), Some(86_400_000));
        assert_eq!(parse_timestamp_ms("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_timestamp_ms("1970-01-01T01:00:01+01:00"), Some(1000));
        assert_eq!(parse_timestamp_ms("1970-01-01 00:00:01.5"), Some(1500));
        assert_eq!(parse_timestamp_ms("1970-01-01T00:00:01"), Some(1000));
        assert_eq!(parse_timestamp_ms("2026-02-30"), None);
        assert_eq!(parse_timestamp_ms("12345"), None);
        assert_eq!(parse_timestamp_ms("２０２６-01-01"), None);
        assert_eq!(format_timestamp_ms(1500), "1970-01-01T00:00:01.500Z");
    }
}
