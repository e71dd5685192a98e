//! Cron expressions as Kapacitor's `.cron()` takes them (gorhill/cronexpr): 5 fields
//! (minute hour day-of-month month day-of-week), 6 (… year) or 7 (second … year), names
//! (`JAN`, `MON`), `*`, `?`, lists, ranges, steps and the `@yearly`/`@monthly`/`@weekly`/
//! `@daily`/`@hourly` macros. Times are UTC (Kapacitor uses the host's local zone; the
//! daemon is expected to run in UTC). `L`, `W` and `#` are refused with a clear error.

use crate::error::{Error, Result};

const NS: i64 = 1_000_000_000;
const DAY: i64 = 86_400;
const MAX_YEAR: i64 = 2099;

/// A parsed cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    seconds: u64,
    minutes: u64,
    hours: u32,
    /// Bit d for day d (1..=31).
    dom: u32,
    /// Bit m for month m (1..=12).
    months: u16,
    /// Bit w for weekday w (0 = Sunday).
    dow: u8,
    /// Years 1970..=2099 as offsets from 1970.
    years: Vec<bool>,
    dom_restricted: bool,
    dow_restricted: bool,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

fn err(expr: &str, msg: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("invalid cron expression {expr:?}: {msg}"))
}

/// Parses one field into the list of allowed values within `min..=max`.
fn field(
    expr: &str,
    what: &str,
    text: &str,
    min: u32,
    max: u32,
    names: &[&str],
    name_base: u32,
) -> Result<(Vec<u32>, bool)> {
    let value = |s: &str| -> Result<u32> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(i as u32 + name_base);
        }
        let v: u32 = s
            .parse()
            .map_err(|_| err(expr, format!("{what}: {s:?} is not a number")))?;
        if v < min || v > max {
            return Err(err(
                expr,
                format!("{what}: {v} is out of range {min}-{max}"),
            ));
        }
        Ok(v)
    };
    let mut out = Vec::new();
    let mut restricted = true;
    for part in text.split(',') {
        if part.contains(['L', 'W', '#']) && !names.iter().any(|n| part.eq_ignore_ascii_case(n)) {
            let base = part.split(['-', '/']).next().unwrap_or_default();
            if !names.iter().any(|n| base.eq_ignore_ascii_case(n)) {
                return Err(err(
                    expr,
                    format!("{what}: {part:?} (L, W and # are not supported)"),
                ));
            }
        }
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .map_err(|_| err(expr, format!("{what}: bad step {s:?}")))?;
                if step == 0 {
                    return Err(err(expr, format!("{what}: step must be positive")));
                }
                (r, step)
            }
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" || range == "?" {
            if text == range {
                restricted = false;
            }
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            let v = value(range)?;
            // `5/15` means from 5 to the end in steps of 15.
            (v, if part.contains('/') { max } else { v })
        };
        if lo > hi {
            return Err(err(expr, format!("{what}: range {range:?} goes backwards")));
        }
        out.extend((lo..=hi).step_by(step as usize));
    }
    if out.is_empty() {
        return Err(err(expr, format!("{what}: empty field")));
    }
    Ok((out, restricted))
}

impl Cron {
    pub fn parse(expr: &str) -> Result<Cron> {
        let trimmed = expr.trim();
        let expanded = match trimmed.to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => "0 0 0 1 1 * *".to_string(),
            "@monthly" => "0 0 0 1 * * *".to_string(),
            "@weekly" => "0 0 0 * * 0 *".to_string(),
            "@daily" => "0 0 0 * * * *".to_string(),
            "@hourly" => "0 0 * * * * *".to_string(),
            s if s.starts_with('@') => return Err(err(expr, "unknown macro")),
            _ => trimmed.to_string(),
        };
        let f: Vec<&str> = expanded.split_whitespace().collect();
        let f: Vec<&str> = match f.len() {
            5 => ["0"].into_iter().chain(f).chain(["*"]).collect(),
            6 => ["0"].into_iter().chain(f).collect(),
            7 => f,
            n => return Err(err(expr, format!("expected 5, 6 or 7 fields, got {n}"))),
        };
        let (sec, _) = field(expr, "seconds", f[0], 0, 59, &[], 0)?;
        let (min, _) = field(expr, "minutes", f[1], 0, 59, &[], 0)?;
        let (hour, _) = field(expr, "hours", f[2], 0, 23, &[], 0)?;
        let (dom, dom_restricted) = field(expr, "day of month", f[3], 1, 31, &[], 0)?;
        let (mon, _) = field(expr, "month", f[4], 1, 12, &MONTHS, 1)?;
        let (dow, dow_restricted) = field(expr, "day of week", f[5], 0, 7, &DAYS, 0)?;
        let (years, _) = field(expr, "year", f[6], 1970, MAX_YEAR as u32, &[], 0)?;
        let mut c = Cron {
            seconds: 0,
            minutes: 0,
            hours: 0,
            dom: 0,
            months: 0,
            dow: 0,
            years: vec![false; (MAX_YEAR - 1969) as usize],
            dom_restricted,
            dow_restricted,
        };
        sec.iter().for_each(|&v| c.seconds |= 1 << v);
        min.iter().for_each(|&v| c.minutes |= 1 << v);
        hour.iter().for_each(|&v| c.hours |= 1 << v);
        dom.iter().for_each(|&v| c.dom |= 1 << v);
        mon.iter().for_each(|&v| c.months |= 1 << v);
        // 7 is another spelling of Sunday.
        dow.iter().for_each(|&v| c.dow |= 1 << (v % 7));
        years
            .iter()
            .for_each(|&y| c.years[(y - 1970) as usize] = true);
        Ok(c)
    }

    fn day_matches(&self, y: i64, m: u32, d: u32, weekday: u32) -> bool {
        if !(1970..=MAX_YEAR).contains(&y) || !self.years[(y - 1970) as usize] {
            return false;
        }
        if self.months & (1 << m) == 0 {
            return false;
        }
        let dom_ok = self.dom & (1 << d) != 0;
        let dow_ok = self.dow & (1 << weekday) != 0;
        match (self.dom_restricted, self.dow_restricted) {
            (true, true) => dom_ok || dow_ok,
            (true, false) => dom_ok,
            (false, true) => dow_ok,
            (false, false) => true,
        }
    }

    /// First second of the day at or after `from_sec` (seconds into the day) that matches.
    fn time_in_day(&self, from_sec: i64) -> Option<i64> {
        let (h0, m0, s0) = (from_sec / 3600, from_sec / 60 % 60, from_sec % 60);
        for h in h0..24 {
            if self.hours & (1 << h) == 0 {
                continue;
            }
            let m_start = if h == h0 { m0 } else { 0 };
            for m in m_start..60 {
                if self.minutes & (1 << m) == 0 {
                    continue;
                }
                let s_start = if h == h0 && m == m0 { s0 } else { 0 };
                if let Some(s) = (s_start..60).find(|s| self.seconds & (1 << s) != 0) {
                    return Some(h * 3600 + m * 60 + s);
                }
            }
        }
        None
    }

    /// The first matching instant strictly after `after_ns` (whole seconds), or `None` when
    /// there is none before the end of 2099.
    pub fn next(&self, after_ns: i64) -> Option<i64> {
        let start = after_ns.div_euclid(NS) + 1;
        let mut day = start.div_euclid(DAY);
        let mut from = start.rem_euclid(DAY);
        let last_day = days_from_civil(MAX_YEAR, 12, 31);
        while day <= last_day {
            let (y, m, d) = civil_from_days(day);
            // 1970-01-01 was a Thursday.
            let weekday = (day + 4).rem_euclid(7) as u32;
            if self.day_matches(y, m, d, weekday)
                && let Some(t) = self.time_in_day(from)
            {
                return (day * DAY + t).checked_mul(NS);
            }
            day += 1;
            from = 0;
        }
        None
    }
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use kapacitor_models::time_fmt::{parse_rfc3339, rfc3339_nano};

    fn next(expr: &str, after: &str) -> String {
        let c = Cron::parse(expr).unwrap();
        rfc3339_nano(c.next(parse_rfc3339(after).unwrap()).unwrap())
    }

    #[test]
    fn five_field_every_minute_and_steps() {
        assert_eq!(
            next("* * * * *", "2020-01-01T00:00:00Z"),
            "2020-01-01T00:01:00Z"
        );
        assert_eq!(
            next("* * * * *", "2020-01-01T00:00:30.5Z"),
            "2020-01-01T00:01:00Z"
        );
        assert_eq!(
            next("*/15 * * * *", "2020-01-01T00:16:00Z"),
            "2020-01-01T00:30:00Z"
        );
        assert_eq!(
            next("5/15 * * * *", "2020-01-01T00:51:00Z"),
            "2020-01-01T01:05:00Z"
        );
        assert_eq!(
            next("0 12 * * *", "2020-01-01T12:00:00Z"),
            "2020-01-02T12:00:00Z"
        );
    }

    #[test]
    fn seven_fields_with_seconds_and_years() {
        assert_eq!(
            next("*/10 * * * * * *", "2020-01-01T00:00:05Z"),
            "2020-01-01T00:00:10Z"
        );
        assert_eq!(
            next("0 0 0 1 1 * 2030", "2020-06-01T00:00:00Z"),
            "2030-01-01T00:00:00Z"
        );
        // Six fields: minute … year.
        assert_eq!(
            next("30 1 * * * 2021", "2020-06-01T00:00:00Z"),
            "2021-01-01T01:30:00Z"
        );
    }

    #[test]
    fn names_weekdays_and_dom_dow_union() {
        // 2020-01-01 was a Wednesday.
        assert_eq!(
            next("0 9 * * MON-FRI", "2020-01-03T10:00:00Z"),
            "2020-01-06T09:00:00Z"
        );
        assert_eq!(
            next("0 0 * * 7", "2020-01-01T00:00:00Z"),
            "2020-01-05T00:00:00Z"
        );
        assert_eq!(
            next("0 0 1 FEB *", "2020-01-01T00:00:00Z"),
            "2020-02-01T00:00:00Z"
        );
        // Both restricted: the 15th or any Monday.
        assert_eq!(
            next("0 0 15 * MON", "2020-01-01T00:00:00Z"),
            "2020-01-06T00:00:00Z"
        );
        assert_eq!(
            next("0 0 29 2 *", "2021-01-01T00:00:00Z"),
            "2024-02-29T00:00:00Z"
        );
    }

    #[test]
    fn macros() {
        assert_eq!(
            next("@hourly", "2020-01-01T00:00:00Z"),
            "2020-01-01T01:00:00Z"
        );
        assert_eq!(
            next("@daily", "2020-01-01T00:00:01Z"),
            "2020-01-02T00:00:00Z"
        );
        assert_eq!(
            next("@weekly", "2020-01-01T00:00:00Z"),
            "2020-01-05T00:00:00Z"
        );
        assert_eq!(
            next("@monthly", "2020-01-01T00:00:00Z"),
            "2020-02-01T00:00:00Z"
        );
        assert_eq!(
            next("@yearly", "2020-01-01T00:00:00Z"),
            "2021-01-01T00:00:00Z"
        );
    }

    #[test]
    fn bad_expressions_are_clear_errors() {
        for (e, want) in [
            ("* * * *", "expected 5, 6 or 7 fields, got 4"),
            ("61 * * * *", "minutes: 61 is out of range 0-59"),
            ("* * * * FOO", "day of week: \"FOO\" is not a number"),
            ("*/0 * * * *", "step must be positive"),
            ("5-1 * * * *", "goes backwards"),
            ("0 0 L * *", "not supported"),
            ("@sometimes", "unknown macro"),
        ] {
            let msg = Cron::parse(e).unwrap_err().to_string();
            assert!(msg.contains(want), "{e}: {msg}");
        }
        // No Feb 30th ever: no next time, not a hang.
        assert_eq!(Cron::parse("0 0 30 2 *").unwrap().next(0), None);
    }
}
