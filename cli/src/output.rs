//! Formatting helpers that reproduce Go's `fmt`, `time`, `strconv` and `encoding/json` output, so
//! the tables and detail views print byte-for-byte what Kapacitor's Go CLI prints.

use std::fmt::Write as _;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::Value;

/// Go's zero `time.Time` as Kapacitor serialises it (e.g. `last-enabled` of a never-enabled task).
const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Left-justifies `s` in a field of `width` characters, like Go's `%-<width>s`.
///
/// Go pads by rune count, so this counts chars, not bytes.
pub fn pad(s: &str, width: usize) -> String {
    let len = s.chars().count();
    let mut out = String::with_capacity(s.len() + width.saturating_sub(len));
    out.push_str(s);
    for _ in len..width {
        out.push(' ');
    }
    out
}

/// Right-justifies `s` in a field of `width` characters, like Go's `%<width>v`.
pub fn pad_left(s: &str, width: usize) -> String {
    let len = s.chars().count();
    let mut out = String::with_capacity(s.len() + width.saturating_sub(len));
    for _ in len..width {
        out.push(' ');
    }
    out.push_str(s);
    out
}

/// Formats an RFC 3339 timestamp from the API in Go's `time.RFC822` layout (`02 Jan 06 15:04 MST`)
/// in the local time zone (`TZ` is honoured).
///
/// Go's zero time is printed as `01 Jan 01 00:00 UTC`, which is what Kapacitor shows for a task
/// that was never enabled; converting it to local time would print a meaningless LMT offset.
pub fn rfc822_local(rfc3339: &str) -> Result<String, String> {
    rfc822_in(rfc3339, &TimeZone::system())
}

/// Like [`rfc822_local`] but in an explicit zone; the unit tests use it to stay independent of
/// the machine's zone.
pub fn rfc822_in(rfc3339: &str, tz: &TimeZone) -> Result<String, String> {
    let ts: Timestamp = rfc3339
        .parse()
        .map_err(|e| format!("failed to decode JSON: invalid time {rfc3339:?}: {e}"))?;
    if rfc3339 == GO_ZERO_TIME {
        return Ok("01 Jan 01 00:00 UTC".to_string());
    }
    let zoned = ts.to_zoned(tz.clone());
    let info = tz.to_offset_info(ts);
    let abbrev = info.abbreviation();
    // Go prints a numeric "-0700" offset when the zone has no name.
    let zone = if abbrev.is_empty() || abbrev.starts_with(['+', '-']) {
        let secs = info.offset().seconds();
        let sign = if secs < 0 { '-' } else { '+' };
        let mins = secs.unsigned_abs() / 60;
        format!("{sign}{:02}{:02}", mins / 60, mins % 60)
    } else {
        abbrev.to_string()
    };
    Ok(format!("{} {zone}", zoned.strftime("%d %b %y %H:%M")))
}

/// Go's `time.Duration.String()`: `1h2m3.5s`, `1m0s`, `500ms`, `1.5µs`, `0s`.
pub fn go_duration(ns: i64) -> String {
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if u < 1_000_000_000 {
        let (prec, unit) = match u {
            0 => return "0s".to_string(),
            1..=999 => (0, "ns"),
            1_000..=999_999 => (3, "µs"),
            _ => (6, "ms"),
        };
        out.push_str(&fixed_frac(u, prec));
        out.push_str(unit);
        return out;
    }
    let secs = u / 1_000_000_000;
    let frac = fixed_frac(u % 1_000_000_000, 9);
    let mins = secs / 60;
    let hours = mins / 60;
    if hours > 0 {
        let _ = write!(out, "{hours}h");
    }
    if mins > 0 {
        let _ = write!(out, "{}m", mins % 60);
    }
    // `frac` is "0" or "0.xyz" for the sub-second part; splice the whole seconds in front.
    let _ = write!(out, "{}{}s", secs % 60, &frac[1..]);
    out
}

/// `v / 10^prec` with trailing fractional zeros (and a bare point) removed, as Go's `fmtFrac`.
fn fixed_frac(v: u64, prec: u32) -> String {
    let scale = 10u64.pow(prec);
    let int = v / scale;
    let frac = v % scale;
    if frac == 0 {
        return int.to_string();
    }
    let digits = format!("{frac:0width$}", width = prec as usize);
    format!("{int}.{}", digits.trim_end_matches('0'))
}

/// Go's `%v` for a `float64`: shortest representation, exponent form when the exponent is below
/// -4 or at least 6 (`1e+06`, `1.5e-05`), otherwise plain decimal.
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let (mantissa, exp) = split_exp(f);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
    } else {
        format!("{f}")
    }
}

/// Shortest round-trip mantissa and decimal exponent of a finite, non-zero float.
fn split_exp(f: f64) -> (String, i32) {
    let sci = format!("{f:e}");
    match sci.split_once('e') {
        Some((m, e)) => (m.to_string(), e.parse().unwrap_or(0)),
        None => (sci, 0),
    }
}

/// go-humanize's `Bytes`: SI units, one decimal below 10 (`1.2 kB`, `12 kB`, `9 B`).
pub fn humanize_bytes(size: i64) -> String {
    const SIZES: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    // go-humanize takes a uint64; Kapacitor converts the int64 size with uint64(r.Size).
    let s = size as u64;
    if s < 10 {
        return format!("{s} B");
    }
    let sf = s as f64;
    let e = (sf.ln() / 1000f64.ln()).floor();
    let suffix = SIZES[(e as usize).min(SIZES.len() - 1)];
    let val = (sf / 1000f64.powf(e) * 10.0 + 0.5).floor() / 10.0;
    if val < 10.0 {
        format!("{val:.1} {suffix}")
    } else {
        format!("{val:.0} {suffix}")
    }
}

/// Go's `strconv.Quote` (what `%q` prints): double quotes, backslash escapes for quotes,
/// backslashes and non-printable characters; printable Unicode is kept as is.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{07}' => out.push_str("\\a"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{0b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let cp = c as u32;
                if cp <= 0xffff {
                    let _ = write!(out, "\\u{cp:04x}");
                } else {
                    let _ = write!(out, "\\U{cp:08x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `json.Marshal` of a decoded `interface{}`: compact, map keys sorted at every level,
/// `<`, `>` and `&` escaped as `\u003c`-style sequences, Go's float format
/// (`kapacitor_models::go_json` on a copy with sorted keys).
pub fn go_json(v: &Value) -> String {
    kapacitor_models::go_json::to_string(&sorted_keys(v))
}

fn sorted_keys(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            // The workspace's serde_json keeps insertion order: sorted in, sorted out.
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sorted_keys(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted_keys).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_like_go_width_verbs() {
        assert_eq!(pad("ID", 5), "ID   ");
        assert_eq!(pad("toolong", 3), "toolong");
        assert_eq!(pad("é", 3), "é  ");
        assert_eq!(pad_left("12", 5), "   12");
    }

    #[test]
    fn rfc822_in_utc_and_named_zones() {
        let utc = TimeZone::UTC;
        assert_eq!(
            rfc822_in("2016-03-31T11:24:55.526388889Z", &utc).unwrap(),
            "31 Mar 16 11:24 UTC"
        );
        let paris = TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        assert_eq!(
            rfc822_in("2016-03-31T11:24:55Z", &paris).unwrap(),
            "31 Mar 16 13:24 CEST"
        );
        // An offset in the input is an instant, converted to the display zone.
        assert_eq!(
            rfc822_in("2016-03-31T13:24:55+02:00", &utc).unwrap(),
            "31 Mar 16 11:24 UTC"
        );
    }

    #[test]
    fn rfc822_zero_time_is_utc() {
        let paris = TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        assert_eq!(
            rfc822_in(GO_ZERO_TIME, &paris).unwrap(),
            "01 Jan 01 00:00 UTC"
        );
    }

    #[test]
    fn rfc822_unnamed_zone_prints_numeric_offset() {
        let fixed = TimeZone::fixed(jiff::tz::offset(5));
        assert_eq!(
            rfc822_in("2016-03-31T11:24:55Z", &fixed).unwrap(),
            "31 Mar 16 16:24 +0500"
        );
    }

    #[test]
    fn rfc822_rejects_garbage() {
        assert!(rfc822_in("yesterday", &TimeZone::UTC).is_err());
    }

    #[test]
    fn go_duration_strings() {
        let s = 1_000_000_000i64;
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(1), "1ns");
        assert_eq!(go_duration(1_500), "1.5µs");
        assert_eq!(go_duration(500_000_000), "500ms");
        assert_eq!(go_duration(10 * s), "10s");
        assert_eq!(go_duration(60 * s), "1m0s");
        assert_eq!(go_duration(3600 * s), "1h0m0s");
        assert_eq!(go_duration(5430 * s + 500_000_000), "1h30m30.5s");
        assert_eq!(go_duration(-90 * s), "-1m30s");
    }

    #[test]
    fn go_float_matches_percent_v() {
        assert_eq!(go_float(80.0), "80");
        assert_eq!(go_float(80.5), "80.5");
        assert_eq!(go_float(100000.0), "100000");
        assert_eq!(go_float(1234567.0), "1.234567e+06");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(1e21), "1e+21");
        assert_eq!(go_float(-2.5), "-2.5");
    }

    #[test]
    fn humanize_bytes_like_go_humanize() {
        assert_eq!(humanize_bytes(0), "0 B");
        assert_eq!(humanize_bytes(9), "9 B");
        assert_eq!(humanize_bytes(10), "10 B");
        assert_eq!(humanize_bytes(1234), "1.2 kB");
        assert_eq!(humanize_bytes(12345), "12 kB");
        assert_eq!(humanize_bytes(999_999), "1000 kB");
        assert_eq!(humanize_bytes(5_000_000), "5.0 MB");
    }

    #[test]
    fn go_quote_escapes() {
        assert_eq!(go_quote("telegraf"), "\"telegraf\"");
        assert_eq!(go_quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(go_quote("é\u{1}"), "\"é\\x01\"");
    }

    #[test]
    fn go_json_sorts_keys_and_escapes_html() {
        let v: Value = serde_json::from_str(
            r##"{"url":"http://x/?a=1&b=<2>","channel":"#a","nested":{"z":1,"a":[true,null]},"f":1.5,"big":1e21,"tiny":1e-7}"##,
        )
        .unwrap();
        assert_eq!(
            go_json(&v),
            r##"{"big":1e+21,"channel":"#a","f":1.5,"nested":{"a":[true,null],"z":1},"tiny":1e-7,"url":"http://x/?a=1\u0026b=\u003c2\u003e"}"##
        );
    }
}
