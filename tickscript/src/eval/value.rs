//! Lambda values: the owned [`Value`] callers see, the borrowed [`ValueRef`] a [`super::Scope`]
//! hands out, and the internal `Val` the evaluator passes between nodes without allocating.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use regex::Regex;

/// A value produced by a lambda.
#[derive(Debug, Clone)]
pub enum Value {
    Int(i64),
    Float(f64),
    Str(Arc<str>),
    Bool(bool),
    /// Nanoseconds.
    Duration(i64),
    /// Nanoseconds since the Unix epoch (UTC).
    Time(i64),
    Regex(Arc<Regex>),
    /// A reference that is neither a field nor a tag of the point.
    Missing,
}

impl Value {
    /// Kapacitor's name for the type, as used in error messages (`int`, `boolean`, ...).
    pub fn type_name(&self) -> &'static str {
        self.ty().name()
    }

    pub(crate) fn ty(&self) -> Ty {
        match self {
            Value::Int(_) => Ty::Int,
            Value::Float(_) => Ty::Float,
            Value::Str(_) => Ty::Str,
            Value::Bool(_) => Ty::Bool,
            Value::Duration(_) => Ty::Duration,
            Value::Time(_) => Ty::Time,
            Value::Regex(_) => Ty::Regex,
            Value::Missing => Ty::Missing,
        }
    }

    pub(crate) fn as_val(&self) -> Val<'_> {
        match self {
            Value::Int(v) => Val::Int(*v),
            Value::Float(v) => Val::Float(*v),
            Value::Str(s) => Val::Str(Cow::Borrowed(s)),
            Value::Bool(v) => Val::Bool(*v),
            Value::Duration(v) => Val::Duration(*v),
            Value::Time(v) => Val::Time(*v),
            Value::Regex(r) => Val::Regex(Cow::Borrowed(r)),
            Value::Missing => Val::Missing,
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b,
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Duration(a), Value::Duration(b)) => a == b,
            (Value::Time(a), Value::Time(b)) => a == b,
            (Value::Regex(a), Value::Regex(b)) => a.as_str() == b.as_str(),
            (Value::Missing, Value::Missing) => true,
            _ => false,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(Arc::from(s))
    }
}

/// A value borrowed from a scope (a point's field); `Copy`, so reading a field never allocates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    Int(i64),
    Float(f64),
    Str(&'a str),
    Bool(bool),
    Duration(i64),
    Time(i64),
}

impl<'a> From<ValueRef<'a>> for Val<'a> {
    fn from(v: ValueRef<'a>) -> Self {
        match v {
            ValueRef::Int(v) => Val::Int(v),
            ValueRef::Float(v) => Val::Float(v),
            ValueRef::Str(s) => Val::Str(Cow::Borrowed(s)),
            ValueRef::Bool(v) => Val::Bool(v),
            ValueRef::Duration(v) => Val::Duration(v),
            ValueRef::Time(v) => Val::Time(v),
        }
    }
}

/// The evaluator's working value: strings and regexes stay borrowed from the point or the
/// compiled lambda unless an operation builds a new one.
#[derive(Debug, Clone)]
pub(crate) enum Val<'a> {
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    Bool(bool),
    Duration(i64),
    Time(i64),
    Regex(Cow<'a, Arc<Regex>>),
    Missing,
}

impl Val<'_> {
    pub(crate) fn ty(&self) -> Ty {
        match self {
            Val::Int(_) => Ty::Int,
            Val::Float(_) => Ty::Float,
            Val::Str(_) => Ty::Str,
            Val::Bool(_) => Ty::Bool,
            Val::Duration(_) => Ty::Duration,
            Val::Time(_) => Ty::Time,
            Val::Regex(_) => Ty::Regex,
            Val::Missing => Ty::Missing,
        }
    }

    pub(crate) fn into_value(self) -> Value {
        match self {
            Val::Int(v) => Value::Int(v),
            Val::Float(v) => Value::Float(v),
            Val::Str(s) => Value::Str(Arc::from(s.as_ref())),
            Val::Bool(v) => Value::Bool(v),
            Val::Duration(v) => Value::Duration(v),
            Val::Time(v) => Value::Time(v),
            Val::Regex(r) => Value::Regex(r.into_owned()),
            Val::Missing => Value::Missing,
        }
    }
}

/// Value types, named as Kapacitor names them in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Ty {
    Float,
    Int,
    Str,
    Bool,
    Regex,
    Time,
    Duration,
    Missing,
}

impl Ty {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Ty::Float => "float",
            Ty::Int => "int",
            Ty::Str => "string",
            Ty::Bool => "boolean",
            Ty::Regex => "regex",
            Ty::Time => "time",
            Ty::Duration => "duration",
            Ty::Missing => "missing",
        }
    }

    /// The Go type name (`%T`) Kapacitor prints in some function errors.
    pub(crate) fn go_name(self) -> &'static str {
        match self {
            Ty::Float => "float64",
            Ty::Int => "int64",
            Ty::Str => "string",
            Ty::Bool => "bool",
            Ty::Regex => "*regexp.Regexp",
            Ty::Time => "time.Time",
            Ty::Duration => "time.Duration",
            Ty::Missing => "*ast.Missing",
        }
    }
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`: the shortest decimal that round-trips, never an
/// exponent. Rust's `Display` for `f64` has the same contract; only the infinities differ.
pub(crate) fn format_float(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    format!("{v}")
}

const NS_US: i64 = 1_000;
const NS_MS: i64 = 1_000_000;
const NS_S: i64 = 1_000_000_000;
const NS_M: i64 = 60 * NS_S;
const NS_H: i64 = 60 * NS_M;
const NS_D: i64 = 24 * NS_H;
const NS_W: i64 = 7 * NS_D;

/// InfluxQL's `FormatDuration`: the largest unit that divides the duration exactly.
pub(crate) fn format_duration(d: i64) -> String {
    if d == 0 {
        return "0s".to_string();
    }
    for (unit, suffix) in [
        (NS_W, "w"),
        (NS_D, "d"),
        (NS_H, "h"),
        (NS_M, "m"),
        (NS_S, "s"),
        (NS_MS, "ms"),
        (NS_US, "u"),
    ] {
        if d % unit == 0 {
            return format!("{}{suffix}", d / unit);
        }
    }
    format!("{d}ns")
}

/// InfluxQL's `ParseDuration`: an optional `-`, then one or more `<digits><unit>` groups with
/// units `ns u µ ms s m h d w`. Overflow wraps like Go's `time.Duration` arithmetic.
pub(crate) fn parse_duration(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 2 {
        return None;
    }
    let (neg, mut i) = if b[0] == b'-' { (true, 1) } else { (false, 0) };
    let mut total: i64 = 0;
    if i >= b.len() {
        return None;
    }
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start || i >= b.len() {
            return None;
        }
        let n: i64 = s[start..i].parse().ok()?;
        let rest = &s[i..];
        let (unit, len) = if rest.starts_with("ns") {
            (1, 2)
        } else if rest.starts_with("ms") {
            (NS_MS, 2)
        } else if rest.starts_with('µ') {
            (NS_US, 'µ'.len_utf8())
        } else {
            match b[i] {
                b'u' => (NS_US, 1),
                b's' => (NS_S, 1),
                b'm' => (NS_M, 1),
                b'h' => (NS_H, 1),
                b'd' => (NS_D, 1),
                b'w' => (NS_W, 1),
                _ => return None,
            }
        };
        total = total.wrapping_add(n.wrapping_mul(unit));
        i += len;
    }
    Some(if neg { total.wrapping_neg() } else { total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_format_like_go_shortest() {
        assert_eq!(format_float(1.5), "1.5");
        assert_eq!(format_float(10.0), "10");
        assert_eq!(format_float(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_float(1e21), "1000000000000000000000");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(format_float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_float(f64::NAN), "NaN");
    }

    #[test]
    fn durations_format_with_largest_exact_unit() {
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(NS_W * 2), "2w");
        assert_eq!(format_duration(NS_D * 3), "3d");
        assert_eq!(format_duration(NS_M * 90), "90m");
        assert_eq!(format_duration(1_500 * NS_MS), "1500ms");
        assert_eq!(format_duration(7 * NS_US), "7u");
        assert_eq!(format_duration(7), "7ns");
        assert_eq!(format_duration(-NS_S), "-1s");
    }

    #[test]
    fn durations_parse_like_influxql() {
        assert_eq!(parse_duration("10s"), Some(10 * NS_S));
        assert_eq!(parse_duration("1h30m"), Some(NS_H + 30 * NS_M));
        assert_eq!(parse_duration("5ms"), Some(5 * NS_MS));
        assert_eq!(parse_duration("3µ"), Some(3 * NS_US));
        assert_eq!(parse_duration("3u"), Some(3 * NS_US));
        assert_eq!(parse_duration("2ns"), Some(2));
        assert_eq!(parse_duration("-1w"), Some(-NS_W));
        for bad in ["", "s", "10", "10x", "1.5s", "-", "-s", "1n"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }
}
