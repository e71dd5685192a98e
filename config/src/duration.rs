//! Durations written and printed the way Go's `time.Duration` does (`10s`, `5m0s`, `1h0m0s`).
//!
//! Kapacitor's file is read by Go's `time.ParseDuration` and printed by `Duration.String()`, so
//! both directions are reimplemented here byte for byte rather than approximated with a
//! general-purpose crate (which would print `5m` for `5m0s` and accept `5 minutes`).

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// A configuration duration. Go's `time.Duration` is signed, but no Kapacitor setting takes a
/// negative one, so this holds a `std` duration and rejects `-1s` with a clear error; the exact
/// signed grammar and printing are [`parse_go_duration`] and [`format_go_duration`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct GoDuration(pub Duration);

impl GoDuration {
    pub const ZERO: GoDuration = GoDuration(Duration::ZERO);

    pub const fn from_secs(s: u64) -> Self {
        GoDuration(Duration::from_secs(s))
    }

    pub const fn from_millis(ms: u64) -> Self {
        GoDuration(Duration::from_millis(ms))
    }

    pub const fn from_nanos(ns: u64) -> Self {
        GoDuration(Duration::from_nanos(ns))
    }

    pub const fn as_duration(self) -> Duration {
        self.0
    }

    pub const fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// Parses a Go duration string as `time.ParseDuration` does, refusing negative values.
    pub fn parse(s: &str) -> Result<GoDuration, DurationError> {
        let ns = parse_go_duration(s)?;
        u64::try_from(ns)
            .map(GoDuration::from_nanos)
            .map_err(|_| DurationError(format!("negative duration {} is not allowed", quote(s))))
    }
}

impl From<Duration> for GoDuration {
    fn from(d: Duration) -> Self {
        GoDuration(d)
    }
}

impl From<GoDuration> for Duration {
    fn from(d: GoDuration) -> Self {
        d.0
    }
}

impl FromStr for GoDuration {
    type Err = DurationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GoDuration::parse(s)
    }
}

/// Why a duration string was rejected; the message matches Go's wording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError(String);

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DurationError {}

fn quote(s: &str) -> String {
    format!("{s:?}")
}

fn invalid(orig: &str) -> DurationError {
    DurationError(format!("time: invalid duration {}", quote(orig)))
}

fn unit_nanos(unit: &[u8]) -> Option<u64> {
    Some(match unit {
        b"ns" => 1,
        // U+00B5 micro sign and U+03BC Greek mu, both accepted by Go.
        b"us" | b"\xC2\xB5s" | b"\xCE\xBCs" => 1_000,
        b"ms" => 1_000_000,
        b"s" => 1_000_000_000,
        b"m" => 60_000_000_000,
        b"h" => 3_600_000_000_000,
        _ => return None,
    })
}

const LIMIT: u64 = 1 << 63;

/// Go's `leadingInt`: digits to a u64, failing past 2^63.
fn leading_int(s: &[u8]) -> Result<(u64, &[u8]), ()> {
    let mut x: u64 = 0;
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        if x > LIMIT / 10 {
            return Err(());
        }
        x = x * 10 + u64::from(s[i] - b'0');
        if x > LIMIT {
            return Err(());
        }
        i += 1;
    }
    Ok((x, &s[i..]))
}

/// Go's `leadingFraction`: digits after the point; extra precision is consumed and dropped.
fn leading_fraction(s: &[u8]) -> (u64, f64, &[u8]) {
    let mut x: u64 = 0;
    let mut scale = 1.0;
    let mut overflow = false;
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        if !overflow {
            if x > (LIMIT - 1) / 10 {
                overflow = true;
            } else {
                let y = x * 10 + u64::from(s[i] - b'0');
                if y > LIMIT {
                    overflow = true;
                } else {
                    x = y;
                    scale *= 10.0;
                }
            }
        }
        i += 1;
    }
    (x, scale, &s[i..])
}

/// Go's `time.ParseDuration`, byte for byte: the signed nanosecond count of `orig`.
pub fn parse_go_duration(orig: &str) -> Result<i64, DurationError> {
    let mut s = orig.as_bytes();
    let mut neg = false;
    if let Some(&c) = s.first()
        && (c == b'-' || c == b'+')
    {
        neg = c == b'-';
        s = &s[1..];
    }
    if s == b"0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid(orig));
    }
    let mut d: u64 = 0;
    while !s.is_empty() {
        if !(s[0] == b'.' || s[0].is_ascii_digit()) {
            return Err(invalid(orig));
        }
        let before = s.len();
        let (mut v, rest) = leading_int(s).map_err(|_| invalid(orig))?;
        s = rest;
        let pre = before != s.len();
        let mut post = false;
        let (mut f, mut scale) = (0u64, 1.0f64);
        if s.first() == Some(&b'.') {
            s = &s[1..];
            let before = s.len();
            let (ff, sc, rest) = leading_fraction(s);
            f = ff;
            scale = sc;
            s = rest;
            post = before != s.len();
        }
        if !pre && !post {
            return Err(invalid(orig));
        }
        let unit_len = s
            .iter()
            .position(|&c| c == b'.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if unit_len == 0 {
            return Err(DurationError(format!(
                "time: missing unit in duration {}",
                quote(orig)
            )));
        }
        let (u, rest) = s.split_at(unit_len);
        s = rest;
        let unit = unit_nanos(u).ok_or_else(|| {
            DurationError(format!(
                "time: unknown unit {} in duration {}",
                quote(&String::from_utf8_lossy(u)),
                quote(orig)
            ))
        })?;
        if v > LIMIT / unit {
            return Err(invalid(orig));
        }
        v *= unit;
        if f > 0 {
            // Go does this in float64 too, which keeps fractions of hours nanosecond-exact.
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > LIMIT {
                return Err(invalid(orig));
            }
        }
        d += v;
        if d > LIMIT {
            return Err(invalid(orig));
        }
    }
    if neg {
        // d <= 2^63 here, so the negation fits (2^63 itself is i64::MIN).
        return Ok((d as i64).wrapping_neg());
    }
    if d > LIMIT - 1 {
        return Err(invalid(orig));
    }
    Ok(d as i64)
}

/// Go's `fmtFrac`: the fraction of `v / 10^prec` without trailing zeros (nothing when zero).
fn fmt_frac(buf: &mut Vec<u8>, mut v: u128, prec: usize) -> u128 {
    let mut printing = false;
    for _ in 0..prec {
        let digit = (v % 10) as u8;
        printing = printing || digit != 0;
        if printing {
            buf.push(b'0' + digit);
        }
        v /= 10;
    }
    if printing {
        buf.push(b'.');
    }
    v
}

fn fmt_int(buf: &mut Vec<u8>, mut v: u128) {
    if v == 0 {
        buf.push(b'0');
        return;
    }
    while v > 0 {
        buf.push(b'0' + (v % 10) as u8);
        v /= 10;
    }
}

/// Go's `Duration.String()` for a signed nanosecond count (`0s`, `1.5s`, `5m0s`, `-1µs`).
pub fn format_go_duration(nanos: i64) -> String {
    format_magnitude(u128::from(nanos.unsigned_abs()), nanos < 0)
}

/// The text is built back to front, as Go does, then reversed.
fn format_magnitude(mut u: u128, negative: bool) -> String {
    if u == 0 {
        return "0s".into();
    }
    let mut rev: Vec<u8> = Vec::with_capacity(40);
    if u < NANOS_PER_SEC as u128 {
        rev.push(b's');
        let prec = if u < 1_000 {
            rev.push(b'n');
            0
        } else if u < 1_000_000 {
            // "µ" (U+00B5) byte-reversed, since the whole buffer is reversed at the end.
            rev.extend_from_slice(&[0xB5, 0xC2]);
            3
        } else {
            rev.push(b'm');
            6
        };
        u = fmt_frac(&mut rev, u, prec);
        fmt_int(&mut rev, u);
    } else {
        rev.push(b's');
        u = fmt_frac(&mut rev, u, 9);
        fmt_int(&mut rev, u % 60);
        u /= 60;
        if u > 0 {
            rev.push(b'm');
            fmt_int(&mut rev, u % 60);
            u /= 60;
            if u > 0 {
                rev.push(b'h');
                fmt_int(&mut rev, u);
            }
        }
    }
    if negative {
        rev.push(b'-');
    }
    rev.reverse();
    // Only ASCII and whole U+00B5 sequences were written.
    String::from_utf8(rev).unwrap_or_default()
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_magnitude(self.0.as_nanos(), false))
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(GoDurationVisitor)
    }
}

struct GoDurationVisitor;

impl Visitor<'_> for GoDurationVisitor {
    type Value = GoDuration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Go duration string such as \"10s\" or \"1h30m\"")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<GoDuration, E> {
        // InfluxDB's toml.Duration treats an empty string as zero.
        if v.is_empty() {
            return Ok(GoDuration::ZERO);
        }
        GoDuration::parse(v).map_err(E::custom)
    }

    // Kapacitor's sample file writes `timeout = 0`; Go decodes the integer through its text
    // form, so 0 is accepted and any other bare number lacks a unit.
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<GoDuration, E> {
        if v == 0 {
            Ok(GoDuration::ZERO)
        } else {
            Err(E::custom(format!("time: missing unit in duration \"{v}\"")))
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<GoDuration, E> {
        match i64::try_from(v) {
            Ok(v) => self.visit_i64(v),
            Err(_) => Err(E::custom(format!("time: invalid duration \"{v}\""))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> i64 {
        parse_go_duration(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_go_forms() {
        const S: i64 = NANOS_PER_SEC;
        assert_eq!(p("0"), 0);
        assert_eq!(p("-0"), 0);
        assert_eq!(p("0s"), 0);
        assert_eq!(p("10s"), 10 * S);
        assert_eq!(p("5m0s"), 300 * S);
        assert_eq!(p("200ms"), 200_000_000);
        assert_eq!(p("1h0m0s"), 3600 * S);
        assert_eq!(p("1h30m"), 5400 * S);
        assert_eq!(p("1.5h"), 5400 * S);
        assert_eq!(p("300ms"), 300_000_000);
        assert_eq!(p("1us"), 1_000);
        assert_eq!(p("1µs"), 1_000);
        assert_eq!(p("1μs"), 1_000);
        assert_eq!(p("100ns"), 100);
        assert_eq!(p("-1s"), -S);
        assert_eq!(p("+1s"), S);
        assert_eq!(p(".5s"), S / 2);
        assert_eq!(p("1.s"), S);
        assert_eq!(p("2h45m30.5s"), 9930 * S + S / 2);
        assert_eq!(p("1.0000000000000000000001s"), S);
        assert_eq!(p("9223372036854775807ns"), i64::MAX);
        assert_eq!(p("-9223372036854775808ns"), i64::MIN);
    }

    #[test]
    fn rejects_what_go_rejects() {
        for bad in [
            "",
            "-",
            "s",
            ".",
            ".s",
            "1",
            "10",
            "5 minutes",
            "1d",
            "1.5",
            "1h 30m",
            "1sm",
            "9223372036854775808ns",
            "3000000h",
        ] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?} should fail");
        }
        assert_eq!(
            parse_go_duration("10").unwrap_err().to_string(),
            "time: missing unit in duration \"10\""
        );
        assert_eq!(
            parse_go_duration("1d").unwrap_err().to_string(),
            "time: unknown unit \"d\" in duration \"1d\""
        );
        assert_eq!(
            parse_go_duration("abc").unwrap_err().to_string(),
            "time: invalid duration \"abc\""
        );
    }

    #[test]
    fn config_durations_refuse_negatives() {
        assert_eq!(
            GoDuration::parse("1h30m").unwrap(),
            GoDuration::from_secs(5400)
        );
        assert_eq!(GoDuration::parse("-0s").unwrap(), GoDuration::ZERO);
        let e = GoDuration::parse("-1s").unwrap_err().to_string();
        assert_eq!(e, "negative duration \"-1s\" is not allowed");
    }

    #[test]
    fn prints_like_go() {
        let cases: &[(i64, &str)] = &[
            (0, "0s"),
            (1, "1ns"),
            (1_100, "1.1µs"),
            (1_000, "1µs"),
            (2_200_000, "2.2ms"),
            (200_000_000, "200ms"),
            (1_500_000_000, "1.5s"),
            (10 * NANOS_PER_SEC, "10s"),
            (60 * NANOS_PER_SEC, "1m0s"),
            (300 * NANOS_PER_SEC, "5m0s"),
            (3600 * NANOS_PER_SEC, "1h0m0s"),
            (5400 * NANOS_PER_SEC, "1h30m0s"),
            (
                4 * 3600 * NANOS_PER_SEC + 5 * 60 * NANOS_PER_SEC + 6_700_000_000,
                "4h5m6.7s",
            ),
            (-NANOS_PER_SEC, "-1s"),
            (-1, "-1ns"),
            (i64::MAX, "2562047h47m16.854775807s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
        ];
        for &(ns, text) in cases {
            assert_eq!(format_go_duration(ns), text);
            if ns >= 0 {
                assert_eq!(GoDuration::from_nanos(ns as u64).to_string(), text);
            }
        }
        assert_eq!(GoDuration::from_secs(10).to_string(), "10s");
        assert_eq!(GoDuration::from_millis(200).to_string(), "200ms");
    }

    proptest! {
        #[test]
        fn print_parse_round_trip(ns in any::<i64>()) {
            prop_assert_eq!(parse_go_duration(&format_go_duration(ns)).unwrap(), ns);
        }

        #[test]
        fn config_duration_round_trip(ns in 0..=i64::MAX) {
            let d = GoDuration::from_nanos(ns as u64);
            prop_assert_eq!(GoDuration::parse(&d.to_string()).unwrap(), d);
        }

        #[test]
        fn parse_never_panics(s in "[-+]?[0-9.]{0,6}(ns|us|µs|ms|s|m|h|d|x)?[0-9.]{0,4}[a-z]{0,2}") {
            let _ = parse_go_duration(&s);
        }
    }
}
