//! Reading a cell as a typed value.

use chrono::{Datelike, NaiveDate, NaiveDateTime};

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
    if let Some(ms) = fast_timestamp(b) {
        return Some(ms);
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

fn digits(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// The common forms without chrono's format machinery: `YYYY-MM-DD`, and
/// `YYYY-MM-DD[T ]HH:MM:SS[.f…]` optionally followed by `Z` (no offset). Anything else (or an
/// invalid date) goes the slow way.
fn fast_timestamp(b: &[u8]) -> Option<i64> {
    let date = NaiveDate::from_ymd_opt(
        i32::try_from(digits(&b[0..4])?).ok()?,
        digits(&b[5..7])?,
        digits(&b[8..10])?,
    )?;
    let days = i64::from(date.num_days_from_ce()) - 719_163;
    if b.len() == 10 {
        return Some(days * 86_400_000);
    }
    if b.len() < 19 || !(b[10] == b'T' || b[10] == b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, m, s) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    if h > 23 || m > 59 || s > 59 {
        return None;
    }
    let mut rest = &b[19..];
    let mut ms = 0i64;
    if let Some((b'.', frac)) = rest.split_first() {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return None;
        }
        let mut scale = 100;
        for &c in &frac[..n.min(3)] {
            ms += i64::from(c - b'0') * scale;
            scale /= 10;
        }
        rest = &frac[n..];
    }
    if !(rest.is_empty() || rest == b"Z") {
        return None;
    }
    Some((days * 86_400 + i64::from(h * 3600 + m * 60 + s)) * 1000 + ms)
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

    trait AddZ {
        fn add_z(self) -> String;
    }
    impl AddZ for String {
        fn add_z(self) -> String {
            if self.len() == 10 {
                self
            } else {
                self + "Z"
            }
        }
    }

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
        // The fast path agrees with chrono on every form it takes, and refuses what it must.
        for s in [
            "2026-11-01T12:34:56Z",
            "2026-11-01 12:34:56",
            "2026-11-01T12:34:56",
            "2026-11-01 12:34:56.789",
            "2026-11-01T12:34:56.5Z",
            "2026-11-01T12:34:56.123456789Z",
            "1969-12-31T23:59:59.999Z",
            "1969-12-31T23:59:59Z",
            "2024-02-29",
            "0001-01-01",
        ] {
            let slow = chrono::DateTime::parse_from_rfc3339(
                &s.replace(' ', "T")
                    .trim_end_matches('Z')
                    .to_string()
                    .add_z(),
            )
            .map(|t| t.timestamp_millis())
            .ok()
            .or_else(|| {
                NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .ok()
                    .map(|d| d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis())
            });
            assert_eq!(parse_timestamp_ms(s), slow, "{s}");
        }
        assert_eq!(parse_timestamp_ms("2026-11-01T24:00:00Z"), None);
        assert_eq!(parse_timestamp_ms("2026-13-01"), None);
        assert_eq!(parse_timestamp_ms("2025-02-29"), None);
        assert_eq!(parse_timestamp_ms("2026-11-01T12:34:56."), None);
        assert_eq!(
            parse_timestamp_ms("2026-11-01T12:34:56+09:00"),
            parse_timestamp_ms("2026-11-01T03:34:56Z")
        );
    }
}
