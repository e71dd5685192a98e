//! Go's time and duration text formats, for the edges where times leave the process as text
//! (JSON bodies, CLI output). Inside, time is `i64` nanoseconds since the Unix epoch, UTC.
//!
//! Every function here is total over `i64`: the representable range (1677-09-21 to
//! 2262-04-11) always has four-digit years, so Go's formats need no special cases.

use std::fmt::Write;

const NANOS_PER_SEC: i64 = 1_000_000_000;
const SECS_PER_DAY: i64 = 86_400;
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A UTC calendar breakdown of a nanosecond timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
}

impl Civil {
    fn from_unix_nanos(ns: i64) -> Civil {
        let secs = ns.div_euclid(NANOS_PER_SEC);
        let nanos = ns.rem_euclid(NANOS_PER_SEC) as u32;
        let days = secs.div_euclid(SECS_PER_DAY);
        let sod = secs.rem_euclid(SECS_PER_DAY) as u32;
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: sod / 3600,
            minute: sod / 60 % 60,
            second: sod % 60,
            nanos,
        }
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month, day) to days since 1970-01-01; the inverse of [`civil_from_days`].
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Appends `.ddd` with trailing zeros removed, or nothing for a whole second (Go's `.999999999`).
fn push_trimmed_fraction(out: &mut String, nanos: u32) {
    if nanos == 0 {
        return;
    }
    let mut digits = 9;
    let mut n = nanos;
    while n.is_multiple_of(10) {
        n /= 10;
        digits -= 1;
    }
    let _ = write!(out, ".{n:0digits$}");
}

/// Go's `time.RFC3339Nano` in UTC, as `encoding/json` writes a `time.Time`:
/// `1971-01-01T00:00:10Z`, `1971-01-01T00:00:10.5Z`.
pub fn rfc3339_nano(ns: i64) -> String {
    let mut out = String::with_capacity(30);
    push_rfc3339_nano(&mut out, ns);
    out
}

/// [`rfc3339_nano`] appending to a buffer, for hot serialisation paths.
pub fn push_rfc3339_nano(out: &mut String, ns: i64) {
    let c = Civil::from_unix_nanos(ns);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    );
    push_trimmed_fraction(out, c.nanos);
    out.push('Z');
}

/// Go's `time.RFC3339` (whole seconds, fraction dropped): `1971-01-01T00:00:10Z`.
pub fn rfc3339(ns: i64) -> String {
    let c = Civil::from_unix_nanos(ns);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// Go's `time.Time.String()` for a UTC time: `1971-01-01 00:00:10.5 +0000 UTC`.
pub fn go_time_string(ns: i64) -> String {
    let c = Civil::from_unix_nanos(ns);
    let mut out = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    );
    push_trimmed_fraction(&mut out, c.nanos);
    out.push_str(" +0000 UTC");
    out
}

/// Go's `time.RFC822` for a UTC time, as the `kapacitor` CLI prints times: `01 Jan 71 00:00 UTC`.
pub fn rfc822(ns: i64) -> String {
    let c = Civil::from_unix_nanos(ns);
    format!(
        "{:02} {} {:02} {:02}:{:02} UTC",
        c.day,
        MONTHS[(c.month - 1) as usize],
        c.year.rem_euclid(100),
        c.hour,
        c.minute
    )
}

/// Why an RFC 3339 timestamp was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parsing time {input:?} as \"2006-01-02T15:04:05Z07:00\": {reason}")]
pub struct TimeParseError {
    pub input: String,
    pub reason: String,
}

/// Parses RFC 3339 as Go's `time.Parse(time.RFC3339, s)` does: `YYYY-MM-DDTHH:MM:SS`, an
/// optional fraction of any length (digits past nanoseconds are dropped), then `Z` or
/// `±hh:mm`. Returns nanoseconds since the epoch; times outside the `i64` range are errors.
pub fn parse_rfc3339(s: &str) -> Result<i64, TimeParseError> {
    parse_rfc3339_inner(s.as_bytes()).map_err(|reason| TimeParseError {
        input: s.to_string(),
        reason: reason.to_string(),
    })
}

fn digits(b: &[u8], at: usize, n: usize) -> Result<u32, &'static str> {
    let chunk = b.get(at..at + n).ok_or("input too short")?;
    chunk.iter().try_fold(0u32, |acc, &d| {
        if d.is_ascii_digit() {
            Ok(acc * 10 + u32::from(d - b'0'))
        } else {
            Err("expected a digit")
        }
    })
}

fn expect(b: &[u8], at: usize, want: u8) -> Result<(), &'static str> {
    match b.get(at) {
        Some(&c) if c == want => Ok(()),
        Some(_) => Err("unexpected character"),
        None => Err("input too short"),
    }
}

fn parse_rfc3339_inner(b: &[u8]) -> Result<i64, &'static str> {
    let year = digits(b, 0, 4)?;
    expect(b, 4, b'-')?;
    let month = digits(b, 5, 2)?;
    expect(b, 7, b'-')?;
    let day = digits(b, 8, 2)?;
    expect(b, 10, b'T')?;
    let hour = digits(b, 11, 2)?;
    expect(b, 13, b':')?;
    let minute = digits(b, 14, 2)?;
    expect(b, 16, b':')?;
    let second = digits(b, 17, 2)?;
    let mut i = 19;
    let mut nanos: i64 = 0;
    if matches!(b.get(i), Some(b'.') | Some(b',')) {
        i += 1;
        let start = i;
        let mut scale = 100_000_000;
        while let Some(&d) = b.get(i).filter(|d| d.is_ascii_digit()) {
            nanos += i64::from(d - b'0') * scale;
            scale /= 10;
            i += 1;
        }
        if i == start {
            return Err("expected fractional second digits");
        }
    }
    let offset_secs: i64 = match b.get(i) {
        Some(b'Z') => {
            i += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let oh = digits(b, i + 1, 2)?;
            expect(b, i + 3, b':')?;
            let om = digits(b, i + 4, 2)?;
            if oh > 23 || om > 59 {
                return Err("time zone offset out of range");
            }
            i += 6;
            let secs = i64::from(oh) * 3600 + i64::from(om) * 60;
            if sign == b'-' { -secs } else { secs }
        }
        Some(_) => return Err("expected Z or a numeric time zone offset"),
        None => return Err("missing time zone"),
    };
    if i != b.len() {
        return Err("extra text after the time zone");
    }
    let year = i64::from(year);
    if !(1..=12).contains(&month) {
        return Err("month out of range");
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err("day out of range");
    }
    if hour > 23 {
        return Err("hour out of range");
    }
    if minute > 59 {
        return Err("minute out of range");
    }
    if second > 59 {
        return Err("second out of range");
    }
    let secs = days_from_civil(year, month, day) * SECS_PER_DAY
        + i64::from(hour) * 3600
        + i64::from(minute) * 60
        + i64::from(second)
        - offset_secs;
    // i128 because the earliest representable instant is `secs * 1e9` below i64::MIN plus
    // a positive fraction.
    let ns = i128::from(secs) * i128::from(NANOS_PER_SEC) + i128::from(nanos);
    i64::try_from(ns).map_err(|_| "time outside the range of nanosecond timestamps")
}

/// Go's `time.Duration.String()`: `0s`, `100ns`, `1.5µs`, `2ms`, `1m30s`, `1h0m0s`, `-3s`.
///
/// Kept here rather than taken from the config crate so that `models` depends on nothing of
/// ours; parsing durations belongs to the config and TICKscript crates.
pub fn go_duration_string(ns: i64) -> String {
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let mut out = String::with_capacity(16);
    if neg {
        out.push('-');
    }
    if u == 0 {
        return "0s".to_string();
    }
    if u < 1_000_000_000 {
        let (unit, prec) = match u {
            0..1_000 => ("ns", 0),
            1_000..1_000_000 => ("µs", 3),
            _ => ("ms", 6),
        };
        push_int_frac(&mut out, u, prec);
        out.push_str(unit);
        return out;
    }
    let secs = u / 1_000_000_000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        let _ = write!(out, "{h}h{m}m");
    } else if m > 0 {
        let _ = write!(out, "{m}m");
    }
    push_int_frac(&mut out, s * 1_000_000_000 + u % 1_000_000_000, 9);
    out.push('s');
    out
}

/// Writes `v / 10^prec` with the fraction's trailing zeros (and a bare `.`) removed.
fn push_int_frac(out: &mut String, v: u64, prec: u32) {
    let scale = 10u64.pow(prec);
    let _ = write!(out, "{}", v / scale);
    let mut frac = v % scale;
    if frac != 0 {
        let mut width = prec as usize;
        while frac.is_multiple_of(10) {
            frac /= 10;
            width -= 1;
        }
        let _ = write!(out, ".{frac:0width$}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T1971: i64 = 31_536_000 * NANOS_PER_SEC;

    #[test]
    fn rfc3339_nano_matches_go() {
        assert_eq!(rfc3339_nano(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_nano(T1971 + 10 * NANOS_PER_SEC),
            "1971-01-01T00:00:10Z"
        );
        assert_eq!(
            rfc3339_nano(T1971 + 10_500_000_000),
            "1971-01-01T00:00:10.5Z"
        );
        assert_eq!(rfc3339_nano(1), "1970-01-01T00:00:00.000000001Z");
        assert_eq!(rfc3339_nano(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(
            rfc3339_nano(1_700_000_000_123_000_000),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(
            rfc3339_nano(951_782_400 * NANOS_PER_SEC),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(rfc3339_nano(i64::MIN), "1677-09-21T00:12:43.145224192Z");
        assert_eq!(rfc3339_nano(i64::MAX), "2262-04-11T23:47:16.854775807Z");
    }

    #[test]
    fn rfc3339_drops_fraction() {
        assert_eq!(rfc3339(T1971 + 10_500_000_000), "1971-01-01T00:00:10Z");
    }

    #[test]
    fn parse_round_trips_formatting() {
        for ns in [
            0,
            1,
            -1,
            T1971,
            1_700_000_000_123_456_789,
            i64::MIN,
            i64::MAX,
        ] {
            assert_eq!(parse_rfc3339(&rfc3339_nano(ns)), Ok(ns), "{ns}");
        }
    }

    #[test]
    fn parse_accepts_offsets_and_long_fractions() {
        assert_eq!(
            parse_rfc3339("1971-01-01T01:00:10+01:00"),
            Ok(T1971 + 10 * NANOS_PER_SEC)
        );
        assert_eq!(parse_rfc3339("1970-12-31T23:00:00-01:00"), Ok(T1971));
        assert_eq!(
            parse_rfc3339("1970-01-01T00:00:00.1234567891Z"),
            Ok(123_456_789)
        );
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00,5Z"), Ok(500_000_000));
    }

    #[test]
    fn parse_rejects_malformed() {
        for bad in [
            "",
            "1971-01-01",
            "1971-01-01 00:00:00Z",
            "1971-13-01T00:00:00Z",
            "1971-02-29T00:00:00Z",
            "1971-01-01T24:00:00Z",
            "1971-01-01T00:60:00Z",
            "1971-01-01T00:00:60Z",
            "1971-01-01T00:00:00",
            "1971-01-01T00:00:00.Z",
            "1971-01-01T00:00:00Zjunk",
            "1971-01-01T00:00:00+1:00",
            "1971-01-01T00:00:00+24:00",
            "3000-01-01T00:00:00Z",
            "1971-01-01t00:00:00z",
            "１971-01-01T00:00:00Z",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad:?} should not parse");
        }
        let err = parse_rfc3339("nope").unwrap_err().to_string();
        assert!(err.starts_with("parsing time \"nope\""), "{err}");
    }

    #[test]
    fn go_string_and_rfc822() {
        assert_eq!(
            go_time_string(T1971 + 10 * NANOS_PER_SEC),
            "1971-01-01 00:00:10 +0000 UTC"
        );
        assert_eq!(
            go_time_string(T1971 + 250_000_000),
            "1971-01-01 00:00:00.25 +0000 UTC"
        );
        assert_eq!(rfc822(T1971 + 3_723 * NANOS_PER_SEC), "01 Jan 71 01:02 UTC");
        assert_eq!(rfc822(1_700_000_000 * NANOS_PER_SEC), "14 Nov 23 22:13 UTC");
    }

    proptest::proptest! {
        #[test]
        fn rfc3339_nano_round_trips_every_instant(ns in proptest::num::i64::ANY) {
            let text = rfc3339_nano(ns);
            proptest::prop_assert_eq!(parse_rfc3339(&text), Ok(ns), "{}", text);
            proptest::prop_assert_eq!(text.len() >= 20 && text.ends_with('Z'), true);
        }

        #[test]
        fn parse_rfc3339_never_panics(s in "[0-9T:.,+Z-]{0,40}") {
            let _ = parse_rfc3339(&s);
        }
    }

    #[test]
    fn duration_string_matches_go() {
        let cases: [(i64, &str); 16] = [
            (0, "0s"),
            (1, "1ns"),
            (999, "999ns"),
            (1_000, "1µs"),
            (1_500, "1.5µs"),
            (1_000_000, "1ms"),
            (1_234_567, "1.234567ms"),
            (1_000_000_000, "1s"),
            (1_500_000_000, "1.5s"),
            (90 * NANOS_PER_SEC, "1m30s"),
            (3_600 * NANOS_PER_SEC, "1h0m0s"),
            (3_661 * NANOS_PER_SEC + 1, "1h1m1.000000001s"),
            (-3 * NANOS_PER_SEC, "-3s"),
            (-1, "-1ns"),
            (i64::MAX, "2562047h47m16.854775807s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
        ];
        for (ns, want) in cases {
            assert_eq!(go_duration_string(ns), want, "{ns}");
        }
    }
}
