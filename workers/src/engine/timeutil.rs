//! Time arithmetic with Go's semantics (Kapacitor's behaviour depends on them) and RFC 3339
//! formatting. TEMP until models::time_fmt lands for the formatting half.

/// Nanoseconds between Go's zero time (0001-01-01) and the Unix epoch. Go's `Time.Truncate`
/// and `Time.Round` work relative to the zero time, which matters for durations that do not
/// divide a day (weeks, 7h, ...).
const GO_ZERO_OFFSET_NS: i128 = 62_135_596_800 * 1_000_000_000;

/// Go's `t.Truncate(d)`; `d <= 0` returns `t` unchanged.
pub fn truncate(t: i64, d: i64) -> i64 {
    if d <= 0 {
        return t;
    }
    let abs = t as i128 + GO_ZERO_OFFSET_NS;
    let r = abs.rem_euclid(d as i128);
    (t as i128 - r) as i64
}

/// Go's `t.Round(d)`: halfway values round up.
pub fn round(t: i64, d: i64) -> i64 {
    if d <= 0 {
        return t;
    }
    let abs = t as i128 + GO_ZERO_OFFSET_NS;
    let r = abs.rem_euclid(d as i128);
    if r + r < d as i128 {
        (t as i128 - r) as i64
    } else {
        (t as i128 + (d as i128 - r)) as i64
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Go's `time.RFC3339Nano` in UTC: `2006-01-02T15:04:05.999999999Z` (trailing zeros of the
/// fraction dropped).
pub fn rfc3339_nano(t: i64) -> String {
    let mut s = String::with_capacity(30);
    write_rfc3339_nano(&mut s, t);
    s
}

pub fn write_rfc3339_nano(s: &mut String, t: i64) {
    use std::fmt::Write;
    let secs = t.div_euclid(1_000_000_000);
    let nanos = t.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let _ = write!(
        s,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        y,
        m,
        d,
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    );
    if nanos != 0 {
        let mut frac = format!("{nanos:09}");
        while frac.ends_with('0') {
            frac.pop();
        }
        s.push('.');
        s.push_str(&frac);
    }
    s.push('Z');
}

/// Go's `time.Duration.String()`: `1h2m3.5s`, `150ms`, `0s`.
pub fn go_duration(d: i64) -> String {
    if d == 0 {
        return "0s".into();
    }
    let neg = d < 0;
    let u = d.unsigned_abs();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if u < 1_000_000_000 {
        // Sub-second: pick the largest unit that keeps an integer part.
        let (unit, div) = if u < 1_000 {
            ("ns", 1u64)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        out.push_str(&frac_str(u, div));
        out.push_str(unit);
        return out;
    }
    let h = u / 3_600_000_000_000;
    let rem = u % 3_600_000_000_000;
    let m = rem / 60_000_000_000;
    let rem = rem % 60_000_000_000;
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&frac_str(rem, 1_000_000_000));
    out.push('s');
    out
}

fn frac_str(v: u64, div: u64) -> String {
    let int = v / div;
    let frac = v % div;
    if frac == 0 {
        return int.to_string();
    }
    let width = (div as f64).log10().round() as usize;
    let mut f = format!("{frac:0width$}");
    while f.ends_with('0') {
        f.pop();
    }
    format!("{int}.{f}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        assert_eq!(rfc3339_nano(31_536_000_000_000_000), "1971-01-01T00:00:00Z");
        assert_eq!(rfc3339_nano(1_500_000_000), "1970-01-01T00:00:01.5Z");
        assert_eq!(rfc3339_nano(-1), "1969-12-31T23:59:59.999999999Z");
    }

    #[test]
    fn truncates_relative_to_go_zero_time() {
        let s = 1_000_000_000;
        assert_eq!(truncate(31_536_013 * s, 10 * s), 31_536_010 * s);
        // 1970-01-01 was a Thursday; Go weeks start on Monday 0001-01-01.
        let week = 7 * 86_400 * s;
        assert_eq!(truncate(0, week), -3 * 86_400 * s);
        assert_eq!(round(15 * s, 10 * s), 20 * s);
        assert_eq!(round(14 * s, 10 * s), 10 * s);
    }

    #[test]
    fn durations_like_go() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(3_600_000_000_000 + 2_000_000_000), "1h0m2s");
        assert_eq!(go_duration(150_000_000), "150ms");
        assert_eq!(go_duration(-60_000_000_000), "-1m0s");
    }
}
