//! Go's `time.Time.String()`, RFC 3339 (`encoding/json`) and `time.Duration.String()` layouts.

use std::fmt::Write;

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Civil date and time of a UTC instant.
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub nanos: u32,
}

impl Civil {
    pub fn from_unix_nanos(ns: i64) -> Civil {
        let secs = ns.div_euclid(NANOS_PER_SEC);
        let nanos = ns.rem_euclid(NANOS_PER_SEC) as u32;
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400) as u32;
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
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

/// Appends `.ddddddddd` with trailing zeros removed (nothing when zero), like Go's `.999999999`.
fn push_frac(out: &mut String, nanos: u32) {
    if nanos == 0 {
        return;
    }
    let mut digits = [b'0'; 9];
    let mut n = nanos;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    let mut end = 9;
    while end > 0 && digits[end - 1] == b'0' {
        end -= 1;
    }
    out.push('.');
    for &d in &digits[..end] {
        out.push(d as char);
    }
}

fn push_date_time(out: &mut String, c: &Civil, sep: char) {
    if c.year < 0 {
        let _ = write!(out, "-{:04}", -c.year);
    } else {
        let _ = write!(out, "{:04}", c.year);
    }
    let _ = write!(
        out,
        "-{:02}-{:02}{}{:02}:{:02}:{:02}",
        c.month, c.day, sep, c.hour, c.minute, c.second
    );
    push_frac(out, c.nanos);
}

/// `time.Time.String()` for a UTC time: `2006-01-02 15:04:05.999999999 +0000 UTC`.
pub fn time_string(out: &mut String, unix_nanos: i64) {
    push_date_time(out, &Civil::from_unix_nanos(unix_nanos), ' ');
    out.push_str(" +0000 UTC");
}

/// `time.RFC3339Nano` for a UTC time, as `encoding/json` writes it: `2006-01-02T15:04:05.999999999Z`.
pub fn time_rfc3339(out: &mut String, unix_nanos: i64) {
    push_date_time(out, &Civil::from_unix_nanos(unix_nanos), 'T');
    out.push('Z');
}

/// Writes `v / 10^prec` as an integer plus `.fraction` without trailing zeros (Go's `fmtFrac`
/// followed by `fmtInt`).
fn push_scaled(out: &mut String, v: u64, prec: u32) {
    let scale = 10u64.pow(prec);
    let _ = write!(out, "{}", v / scale);
    let frac = v % scale;
    if frac != 0 {
        let s = format!("{:0width$}", frac, width = prec as usize);
        out.push('.');
        out.push_str(s.trim_end_matches('0'));
    }
}

/// `time.Duration.String()`: `1h2m3.5s`, `1.5ms`, `0s`.
pub fn duration_string(out: &mut String, d: i64) {
    if d < 0 {
        out.push('-');
    }
    let u = d.unsigned_abs();
    if u == 0 {
        out.push_str("0s");
        return;
    }
    if u < NANOS_PER_SEC as u64 {
        let (prec, unit) = if u < 1_000 {
            (0, "ns")
        } else if u < 1_000_000 {
            (3, "µs")
        } else {
            (6, "ms")
        };
        push_scaled(out, u, prec);
        out.push_str(unit);
        return;
    }
    let secs_total = u / NANOS_PER_SEC as u64;
    let nanos = u % NANOS_PER_SEC as u64;
    let hours = secs_total / 3600;
    let minutes = secs_total / 60 % 60;
    let secs = secs_total % 60;
    if hours > 0 {
        let _ = write!(out, "{hours}h");
    }
    if hours > 0 || minutes > 0 {
        let _ = write!(out, "{minutes}m");
    }
    push_scaled(out, secs * NANOS_PER_SEC as u64 + nanos, 9);
    out.push('s');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(ns: i64) -> String {
        let mut s = String::new();
        time_string(&mut s, ns);
        s
    }
    fn ds(ns: i64) -> String {
        let mut s = String::new();
        duration_string(&mut s, ns);
        s
    }

    #[test]
    fn time_layouts() {
        assert_eq!(ts(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(ts(31_536_010_000_000_000), "1971-01-01 00:00:10 +0000 UTC");
        assert_eq!(
            ts(1_500_000_000_123_000_000),
            "2017-07-14 02:40:00.123 +0000 UTC"
        );
        assert_eq!(ts(-1), "1969-12-31 23:59:59.999999999 +0000 UTC");
        assert_eq!(
            ts(951_782_400 * NANOS_PER_SEC),
            "2000-02-29 00:00:00 +0000 UTC"
        );
        let mut s = String::new();
        time_rfc3339(&mut s, 1_000_000_500);
        assert_eq!(s, "1970-01-01T00:00:01.0000005Z");
    }

    #[test]
    fn duration_layouts() {
        let s = NANOS_PER_SEC;
        assert_eq!(ds(0), "0s");
        assert_eq!(ds(90 * s), "1m30s");
        assert_eq!(ds(60 * s), "1m0s");
        assert_eq!(ds(3600 * s), "1h0m0s");
        assert_eq!(ds(10 * s), "10s");
        assert_eq!(ds(1_500_000), "1.5ms");
        assert_eq!(ds(1_500), "1.5µs");
        assert_eq!(ds(999), "999ns");
        assert_eq!(ds(s + 500_000_000), "1.5s");
        assert_eq!(ds(-90 * s), "-1m30s");
        assert_eq!(ds(i64::MIN), "-2562047h47m16.854775808s");
    }
}
