//! Time arithmetic with Go's semantics: window alignment, `from().truncate/round` and join
//! tolerance all depend on how Go rounds `time.Time`.

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
