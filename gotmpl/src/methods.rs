//! The `time.Time` and `time.Duration` methods templates commonly call, e.g.
//! `{{ .Time.Unix }}`, `{{ .Time.Format "2006-01-02" }}`, `{{ .Duration.Seconds }}`.

use std::fmt::Write;

use crate::timefmt::{Civil, duration_string, time_string};
use crate::value::Value;

const SECOND: i64 = 1_000_000_000;

/// Number of arguments of a known method, `None` when the receiver has no such method.
pub fn arity(recv: &Value, name: &str) -> Option<usize> {
    match recv {
        Value::Time(_) => match name {
            "Unix" | "UnixNano" | "UnixMilli" | "UnixMicro" | "Year" | "YearDay" | "Day"
            | "Hour" | "Minute" | "Second" | "Nanosecond" | "String" | "UTC" | "Local"
            | "IsZero" => Some(0),
            "Format" | "Add" | "Sub" | "Before" | "After" | "Equal" | "Truncate" => Some(1),
            _ => None,
        },
        Value::Duration(_) => match name {
            "Hours" | "Minutes" | "Seconds" | "Milliseconds" | "Microseconds" | "Nanoseconds"
            | "String" | "Abs" => Some(0),
            "Round" | "Truncate" => Some(1),
            _ => None,
        },
        _ => None,
    }
}

fn int_arg(v: &Value, what: &str) -> Result<i64, String> {
    match v {
        Value::Int(i) | Value::Duration(i) => Ok(*i),
        other => Err(format!(
            "wrong type for value; expected {what}; got {}",
            other.go_type()
        )),
    }
}

fn time_arg(v: &Value) -> Result<i64, String> {
    match v {
        Value::Time(t) => Ok(*t),
        other => Err(format!(
            "wrong type for value; expected time.Time; got {}",
            other.go_type()
        )),
    }
}

/// Calls a method whose arity was checked with [`arity`].
pub fn call(recv: &Value, name: &str, args: &[&Value]) -> Result<Value, String> {
    match *recv {
        Value::Time(t) => {
            let c = Civil::from_unix_nanos(t);
            Ok(match name {
                "Unix" => Value::Int(t.div_euclid(SECOND)),
                "UnixNano" => Value::Int(t),
                "UnixMilli" => Value::Int(t.div_euclid(1_000_000)),
                "UnixMicro" => Value::Int(t.div_euclid(1_000)),
                "Year" => Value::Int(c.year),
                "YearDay" => Value::Int(year_day(&c)),
                "Day" => Value::Int(c.day.into()),
                "Hour" => Value::Int(c.hour.into()),
                "Minute" => Value::Int(c.minute.into()),
                "Second" => Value::Int(c.second.into()),
                "Nanosecond" => Value::Int(c.nanos.into()),
                "String" => {
                    let mut s = String::new();
                    time_string(&mut s, t);
                    Value::Str(s)
                }
                "UTC" | "Local" => Value::Time(t),
                "IsZero" => Value::Bool(false),
                "Format" => {
                    let layout = args[0].as_str().ok_or_else(|| {
                        format!(
                            "wrong type for value; expected string; got {}",
                            args[0].go_type()
                        )
                    })?;
                    Value::Str(format_layout(t, layout))
                }
                "Add" => Value::Time(t.saturating_add(int_arg(args[0], "time.Duration")?)),
                "Sub" => Value::Duration(t.saturating_sub(time_arg(args[0])?)),
                "Before" => Value::Bool(t < time_arg(args[0])?),
                "After" => Value::Bool(t > time_arg(args[0])?),
                "Equal" => Value::Bool(t == time_arg(args[0])?),
                "Truncate" => {
                    let d = int_arg(args[0], "time.Duration")?;
                    if d <= 0 {
                        Value::Time(t)
                    } else {
                        Value::Time(t.saturating_sub(t.rem_euclid(d)))
                    }
                }
                _ => return Err(format!("unknown method {name}")),
            })
        }
        Value::Duration(d) => Ok(match name {
            "Hours" => Value::Float(split_float(d, 3600 * SECOND)),
            "Minutes" => Value::Float(split_float(d, 60 * SECOND)),
            "Seconds" => Value::Float(split_float(d, SECOND)),
            "Milliseconds" => Value::Int(d / 1_000_000),
            "Microseconds" => Value::Int(d / 1_000),
            "Nanoseconds" => Value::Int(d),
            "String" => {
                let mut s = String::new();
                duration_string(&mut s, d);
                Value::Str(s)
            }
            "Abs" => Value::Duration(if d == i64::MIN { i64::MAX } else { d.abs() }),
            "Truncate" => {
                let m = int_arg(args[0], "time.Duration")?;
                Value::Duration(if m <= 0 { d } else { d - d % m })
            }
            "Round" => {
                let m = int_arg(args[0], "time.Duration")?;
                Value::Duration(round_duration(d, m))
            }
            _ => return Err(format!("unknown method {name}")),
        }),
        _ => Err(format!("unknown method {name}")),
    }
}

/// Go's `Duration.Seconds` & co: whole units plus the remainder, to keep precision.
fn split_float(d: i64, unit: i64) -> f64 {
    (d / unit) as f64 + (d % unit) as f64 / unit as f64
}

/// Go's `Duration.Round`: halfway values round away from zero; overflow saturates.
fn round_duration(d: i64, m: i64) -> i64 {
    if m <= 0 {
        return d;
    }
    let mut r = d % m;
    if d < 0 {
        r = -r;
        if r + r < m {
            return d + r;
        }
        return d.checked_sub(m - r).unwrap_or(i64::MIN);
    }
    if r + r < m {
        return d - r;
    }
    d.checked_add(m - r).unwrap_or(i64::MAX)
}

fn year_day(c: &Civil) -> i64 {
    const CUM: [i64; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let leap = (c.year % 4 == 0 && c.year % 100 != 0) || c.year % 400 == 0;
    let m = (c.month as usize).clamp(1, 12);
    CUM[m - 1] + i64::from(c.day) + i64::from(leap && c.month > 2)
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// `time.Time.Format(layout)` for a UTC time, with Go's reference-time layout elements.
pub fn format_layout(t: i64, layout: &str) -> String {
    let c = Civil::from_unix_nanos(t);
    let weekday = (t.div_euclid(SECOND).div_euclid(86_400) + 4).rem_euclid(7) as usize;
    let month = MONTHS[(c.month as usize).clamp(1, 12) - 1];
    let hour12 = match c.hour % 12 {
        0 => 12,
        h => h,
    };
    let mut out = String::with_capacity(layout.len() + 8);
    let mut rest = layout;
    // Longest elements first, as Go's nextStdChunk prefers them.
    while !rest.is_empty() {
        macro_rules! take {
            ($tok:expr, $body:expr) => {
                if rest.starts_with($tok) {
                    rest = &rest[$tok.len()..];
                    $body;
                    continue;
                }
            };
        }
        take!("January", out.push_str(month));
        take!("Jan", out.push_str(&month[..3]));
        take!("Monday", out.push_str(DAYS[weekday]));
        take!("Mon", out.push_str(&DAYS[weekday][..3]));
        take!("MST", out.push_str("UTC"));
        take!("2006", {
            let _ = write!(out, "{:04}", c.year);
        });
        take!("Z07:00:00", out.push('Z'));
        take!("Z07:00", out.push('Z'));
        take!("Z0700", out.push('Z'));
        take!("Z07", out.push('Z'));
        take!("-07:00:00", out.push_str("+00:00:00"));
        take!("-07:00", out.push_str("+00:00"));
        take!("-0700", out.push_str("+0000"));
        take!("-07", out.push_str("+00"));
        take!("002", {
            let _ = write!(out, "{:03}", year_day(&c));
        });
        take!("__2", {
            let _ = write!(out, "{:>3}", year_day(&c));
        });
        take!("01", {
            let _ = write!(out, "{:02}", c.month);
        });
        take!("02", {
            let _ = write!(out, "{:02}", c.day);
        });
        take!("_2", {
            let _ = write!(out, "{:>2}", c.day);
        });
        take!("03", {
            let _ = write!(out, "{hour12:02}");
        });
        take!("04", {
            let _ = write!(out, "{:02}", c.minute);
        });
        take!("05", {
            let _ = write!(out, "{:02}", c.second);
        });
        take!("06", {
            let _ = write!(out, "{:02}", c.year.rem_euclid(100));
        });
        take!("15", {
            let _ = write!(out, "{:02}", c.hour);
        });
        take!("PM", out.push_str(if c.hour >= 12 { "PM" } else { "AM" }));
        take!("pm", out.push_str(if c.hour >= 12 { "pm" } else { "am" }));
        if let Some(n) = frac_len(rest) {
            let std0 = rest.as_bytes()[1] == b'0';
            let sep = rest.as_bytes()[0] as char;
            rest = &rest[n + 1..];
            let digits = format!("{:09}", c.nanos);
            let digits = &digits[..n.min(9)];
            if std0 {
                out.push(sep);
                out.push_str(digits);
            } else {
                let trimmed = digits.trim_end_matches('0');
                if !trimmed.is_empty() {
                    out.push(sep);
                    out.push_str(trimmed);
                }
            }
            continue;
        }
        take!("1", {
            let _ = write!(out, "{}", c.month);
        });
        take!("2", {
            let _ = write!(out, "{}", c.day);
        });
        take!("3", {
            let _ = write!(out, "{hour12}");
        });
        take!("4", {
            let _ = write!(out, "{}", c.minute);
        });
        take!("5", {
            let _ = write!(out, "{}", c.second);
        });
        let ch = rest.chars().next().unwrap_or_default();
        out.push(ch);
        rest = &rest[ch.len_utf8()..];
    }
    out
}

/// Length of a `.000` / `.999` / `,000` fractional-seconds element at the start of `s`, which
/// Go only recognizes when it is not followed by another digit.
fn frac_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if b.len() < 2 || !(b[0] == b'.' || b[0] == b',') || !(b[1] == b'0' || b[1] == b'9') {
        return None;
    }
    let d = b[1];
    let n = b[1..].iter().take_while(|&&x| x == d).count();
    if b.get(n + 1).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_format_layouts() {
        // 2017-07-14 02:40:00.123 UTC, a Friday.
        let t = 1_500_000_000_123_000_000;
        assert_eq!(
            format_layout(t, "2006-01-02T15:04:05Z07:00"),
            "2017-07-14T02:40:00Z"
        );
        assert_eq!(
            format_layout(t, "2006-01-02 15:04:05.000"),
            "2017-07-14 02:40:00.123"
        );
        assert_eq!(format_layout(t, "15:04:05.999999"), "02:40:00.123");
        assert_eq!(
            format_layout(t, "Mon Jan _2 3:04PM MST 2006"),
            "Fri Jul 14 2:40AM UTC 2017"
        );
        assert_eq!(
            format_layout(t, "Monday, January 2 -0700"),
            "Friday, July 14 +0000"
        );
        assert_eq!(format_layout(0, "002 06"), "001 70");
    }

    #[test]
    fn duration_methods() {
        let d = Value::Duration(90 * SECOND);
        assert_eq!(call(&d, "Seconds", &[]).unwrap(), Value::Float(90.0));
        assert_eq!(call(&d, "Minutes", &[]).unwrap(), Value::Float(1.5));
        assert_eq!(call(&d, "String", &[]).unwrap(), Value::Str("1m30s".into()));
        assert_eq!(
            call(&d, "Round", &[&Value::Duration(60 * SECOND)]).unwrap(),
            Value::Duration(120 * SECOND)
        );
        assert_eq!(arity(&d, "Nope"), None);
    }
}
