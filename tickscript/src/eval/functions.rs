//! Stateless built-in functions (tick/stateful/functions.go): their signatures and bodies.
//!
//! As in Kapacitor, a call is checked against the function's signatures (the exact argument
//! types) before the body runs, so bodies only see well-typed arguments.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::gomath;
use super::localtime::local_zone;
use super::value::{Ty, Val, format_duration, format_float, parse_duration};

/// Kapacitor's `maxArgs`: no built-in takes more.
pub(crate) const MAX_ARGS: usize = 4;

type Sig = (&'static [Ty], Ty);

#[derive(Debug, Clone, Copy)]
pub(crate) enum Builtin {
    Bool,
    Int,
    Float,
    String,
    Duration,
    Math1(fn(f64) -> f64),
    Math2(fn(f64, f64) -> f64),
    MathIF(fn(i64, f64) -> f64),
    Pow10,
    Str2Bool(fn(&str, &str) -> bool),
    Str2Int(fn(&str, &str) -> i64),
    Str2Str(fn(&str, &str) -> String),
    Str1Str(fn(&str) -> String),
    StrLength,
    StrReplace,
    StrSubstring,
    RegexReplace,
    IsPresent,
    UnixNano,
    Minute,
    Hour,
    Weekday,
    Day,
    Month,
    Year,
    Now,
    HumanBytes,
    If,
    Rand,
}

impl Builtin {
    pub(crate) fn lookup(name: &str) -> Option<Builtin> {
        use Builtin::*;
        let math1 = |f: fn(f64) -> f64| Some(Math1(f));
        let math2 = |f: fn(f64, f64) -> f64| Some(Math2(f));
        match name {
            "bool" => Some(Bool),
            "int" => Some(Int),
            "float" => Some(Float),
            "string" => Some(String),
            "duration" => Some(Duration),
            "abs" => math1(f64::abs),
            "acos" => math1(f64::acos),
            "acosh" => math1(f64::acosh),
            "asin" => math1(f64::asin),
            "asinh" => math1(f64::asinh),
            "atan" => math1(f64::atan),
            "atan2" => math2(f64::atan2),
            "atanh" => math1(f64::atanh),
            "cbrt" => math1(f64::cbrt),
            "ceil" => math1(f64::ceil),
            "cos" => math1(f64::cos),
            "cosh" => math1(f64::cosh),
            "erf" => math1(gomath::erf),
            "erfc" => math1(gomath::erfc),
            "exp" => math1(f64::exp),
            "exp2" => math1(f64::exp2),
            "expm1" => math1(f64::exp_m1),
            "floor" => math1(f64::floor),
            "gamma" => math1(gomath::gamma),
            "hypot" => math2(f64::hypot),
            "j0" => math1(gomath::j0),
            "j1" => math1(gomath::j1),
            "jn" => Some(MathIF(gomath::jn)),
            "log" => math1(f64::ln),
            "log10" => math1(f64::log10),
            "log1p" => math1(f64::ln_1p),
            "log2" => math1(f64::log2),
            "logb" => math1(gomath::logb),
            "max" => math2(gomath::max),
            "min" => math2(gomath::min),
            "mod" => math2(|x, y| x % y),
            "pow" => math2(f64::powf),
            "pow10" => Some(Pow10),
            "sin" => math1(f64::sin),
            "sinh" => math1(f64::sinh),
            "sqrt" => math1(f64::sqrt),
            "tan" => math1(f64::tan),
            "tanh" => math1(f64::tanh),
            "trunc" => math1(f64::trunc),
            "y0" => math1(gomath::y0),
            "y1" => math1(gomath::y1),
            "yn" => Some(MathIF(gomath::yn)),
            "strContains" => Some(Str2Bool(|s, sub| s.contains(sub))),
            "strContainsAny" => Some(Str2Bool(|s, chars| s.chars().any(|c| chars.contains(c)))),
            "strCount" => Some(Str2Int(str_count)),
            "strHasPrefix" => Some(Str2Bool(|s, p| s.starts_with(p))),
            "strHasSuffix" => Some(Str2Bool(|s, p| s.ends_with(p))),
            "strIndex" => Some(Str2Int(|s, sub| index_or_minus_one(s.find(sub)))),
            "strIndexAny" => Some(Str2Int(|s, chars| {
                index_or_minus_one(
                    s.char_indices()
                        .find(|(_, c)| chars.contains(*c))
                        .map(|(i, _)| i),
                )
            })),
            "strLastIndex" => Some(Str2Int(|s, sub| index_or_minus_one(s.rfind(sub)))),
            "strLastIndexAny" => Some(Str2Int(|s, chars| {
                index_or_minus_one(
                    s.char_indices()
                        .rev()
                        .find(|(_, c)| chars.contains(*c))
                        .map(|(i, _)| i),
                )
            })),
            "strLength" => Some(StrLength),
            "strReplace" => Some(StrReplace),
            "strSubstring" => Some(StrSubstring),
            "strToLower" => Some(Str1Str(str::to_lowercase)),
            "strToUpper" => Some(Str1Str(str::to_uppercase)),
            "strTrim" => Some(Str2Str(|s, cut| {
                s.trim_matches(|c| cut.contains(c)).to_string()
            })),
            "strTrimLeft" => Some(Str2Str(|s, cut| {
                s.trim_start_matches(|c| cut.contains(c)).to_string()
            })),
            "strTrimPrefix" => Some(Str2Str(|s, p| s.strip_prefix(p).unwrap_or(s).to_string())),
            "strTrimRight" => Some(Str2Str(|s, cut| {
                s.trim_end_matches(|c| cut.contains(c)).to_string()
            })),
            "strTrimSpace" => Some(Str1Str(|s| s.trim().to_string())),
            "strTrimSuffix" => Some(Str2Str(|s, p| s.strip_suffix(p).unwrap_or(s).to_string())),
            "regexReplace" => Some(RegexReplace),
            "isPresent" => Some(IsPresent),
            "unixNano" => Some(UnixNano),
            "minute" => Some(Minute),
            "hour" => Some(Hour),
            "weekday" => Some(Weekday),
            "day" => Some(Day),
            "month" => Some(Month),
            "year" => Some(Year),
            "now" => Some(Now),
            "humanBytes" => Some(HumanBytes),
            "if" => Some(If),
            "rand" => Some(Rand),
            _ => None,
        }
    }

    /// Whether a call with constant arguments may be evaluated once at compile time.
    pub(crate) fn is_pure(self) -> bool {
        !matches!(self, Builtin::Now | Builtin::Rand)
    }

    /// The accepted argument types and the result type of each, as in Kapacitor's `Signature()`.
    pub(crate) fn signatures(self) -> &'static [Sig] {
        use Ty::*;
        match self {
            Builtin::Bool => &[
                (&[Bool], Bool),
                (&[Str], Bool),
                (&[Int], Bool),
                (&[Float], Bool),
            ],
            Builtin::Int => &[
                (&[Bool], Int),
                (&[Str], Int),
                (&[Int], Int),
                (&[Float], Int),
                (&[Duration], Int),
            ],
            Builtin::Float => &[
                (&[Bool], Float),
                (&[Str], Float),
                (&[Int], Float),
                (&[Float], Float),
            ],
            Builtin::String => &[
                (&[Bool], Str),
                (&[Str], Str),
                (&[Int], Str),
                (&[Float], Str),
                (&[Duration], Str),
            ],
            Builtin::Duration => &[
                (&[Duration], Duration),
                (&[Int, Duration], Duration),
                (&[Float, Duration], Duration),
                (&[Str], Duration),
                (&[Str, Duration], Duration),
            ],
            Builtin::Math1(_) => &[(&[Float], Float)],
            Builtin::Math2(_) => &[(&[Float, Float], Float)],
            Builtin::MathIF(_) => &[(&[Int, Float], Float)],
            Builtin::Pow10 => &[(&[Int], Float)],
            Builtin::Str2Bool(_) => &[(&[Str, Str], Bool)],
            Builtin::Str2Int(_) => &[(&[Str, Str], Int)],
            Builtin::Str2Str(_) => &[(&[Str, Str], Str)],
            Builtin::Str1Str(_) => &[(&[Str], Str)],
            Builtin::StrLength => &[(&[Str], Int)],
            Builtin::StrReplace => &[(&[Str, Str, Str, Int], Str)],
            Builtin::StrSubstring => &[(&[Str, Int, Int], Str)],
            Builtin::RegexReplace => &[(&[Regex, Str, Str], Str)],
            Builtin::IsPresent => &[
                (&[Missing], Bool),
                (&[Bool], Bool),
                (&[Str], Bool),
                (&[Int], Bool),
                (&[Float], Bool),
            ],
            Builtin::UnixNano
            | Builtin::Minute
            | Builtin::Hour
            | Builtin::Weekday
            | Builtin::Day
            | Builtin::Month
            | Builtin::Year => &[(&[Time], Int)],
            Builtin::Now => &[(&[], Time)],
            Builtin::HumanBytes => &[(&[Float], Str), (&[Int], Str)],
            Builtin::If => &[
                (&[Bool, Float, Float], Float),
                (&[Bool, Int, Int], Int),
                (&[Bool, Str, Str], Str),
                (&[Bool, Bool, Bool], Bool),
                (&[Bool, Regex, Regex], Regex),
                (&[Bool, Time, Time], Time),
                (&[Bool, Duration, Duration], Duration),
            ],
            Builtin::Rand => &[(&[], Int), (&[Int], Int)],
        }
    }

    /// Runs the body on arguments that matched one of [`Self::signatures`]. The error text is
    /// wrapped by the caller as `error calling "<name>": <text>`.
    pub(crate) fn call<'a>(self, args: &mut [Val<'a>]) -> Result<Val<'a>, String> {
        use Val as V;
        let take = |v: &mut Val<'a>| std::mem::replace(v, Val::Missing);
        Ok(match (self, &*args) {
            (Builtin::Bool, [v]) => V::Bool(to_bool(v)?),
            (Builtin::Int, [v]) => V::Int(to_int(v)?),
            (Builtin::Float, [v]) => V::Float(to_float(v)?),
            (Builtin::String, [v]) => V::Str(to_string(v)?),
            (Builtin::Duration, [V::Duration(d)]) => V::Duration(*d),
            (Builtin::Duration, [V::Int(n), V::Duration(unit)]) => {
                V::Duration(n.wrapping_mul(*unit))
            }
            (Builtin::Duration, [V::Float(f), V::Duration(unit)]) => {
                V::Duration((f * *unit as f64) as i64)
            }
            (Builtin::Duration, [V::Str(s), ..]) => V::Duration(
                parse_duration(s).ok_or_else(|| format!("invalid duration string {s:?}"))?,
            ),
            (Builtin::Math1(f), [V::Float(x)]) => V::Float(f(*x)),
            (Builtin::Math2(f), [V::Float(x), V::Float(y)]) => V::Float(f(*x, *y)),
            (Builtin::MathIF(f), [V::Int(n), V::Float(x)]) => V::Float(f(*n, *x)),
            (Builtin::Pow10, [V::Int(n)]) => V::Float(gomath::pow10(*n)),
            (Builtin::Str2Bool(f), [V::Str(a), V::Str(b)]) => V::Bool(f(a, b)),
            (Builtin::Str2Int(f), [V::Str(a), V::Str(b)]) => V::Int(f(a, b)),
            (Builtin::Str2Str(f), [V::Str(a), V::Str(b)]) => V::Str(Cow::Owned(f(a, b))),
            (Builtin::Str1Str(f), [V::Str(a)]) => V::Str(Cow::Owned(f(a))),
            (Builtin::StrLength, [V::Str(s)]) => V::Int(s.len() as i64),
            (Builtin::StrReplace, [V::Str(s), V::Str(old), V::Str(new), V::Int(n)]) => {
                V::Str(Cow::Owned(if *n < 0 {
                    s.replace(old.as_ref(), new)
                } else {
                    s.replacen(old.as_ref(), new, usize::try_from(*n).unwrap_or(usize::MAX))
                }))
            }
            (Builtin::StrSubstring, [V::Str(s), V::Int(start), V::Int(stop)]) => {
                V::Str(Cow::Owned(substring(s, *start, *stop)?))
            }
            (Builtin::RegexReplace, [V::Regex(re), V::Str(src), V::Str(repl)]) => {
                V::Str(Cow::Owned(re.replace_all(src, repl.as_ref()).into_owned()))
            }
            (Builtin::IsPresent, [v]) => V::Bool(!matches!(v, V::Missing)),
            (Builtin::UnixNano, [V::Time(t)]) => V::Int(*t),
            (Builtin::Minute, [V::Time(t)]) => V::Int(local_zone().civil(*t).minute),
            (Builtin::Hour, [V::Time(t)]) => V::Int(local_zone().civil(*t).hour),
            (Builtin::Weekday, [V::Time(t)]) => V::Int(local_zone().civil(*t).weekday),
            (Builtin::Day, [V::Time(t)]) => V::Int(local_zone().civil(*t).day),
            (Builtin::Month, [V::Time(t)]) => V::Int(local_zone().civil(*t).month),
            (Builtin::Year, [V::Time(t)]) => V::Int(local_zone().civil(*t).year),
            (Builtin::Now, []) => V::Time(now_nanos()),
            (Builtin::HumanBytes, [V::Int(n)]) => V::Str(Cow::Owned(human_bytes(*n as u64))),
            // Go's uint64(float64) of a negative or NaN value is unspecified; saturate to 0.
            (Builtin::HumanBytes, [V::Float(f)]) => V::Str(Cow::Owned(human_bytes(*f as u64))),
            (Builtin::If, [V::Bool(cond), _, _]) => {
                let pick = if *cond { 1 } else { 2 };
                take(&mut args[pick])
            }
            (Builtin::Rand, []) => V::Int((next_random() >> 1) as i64),
            (Builtin::Rand, [V::Int(n)]) => {
                if *n <= 0 {
                    return Err("invalid argument to rand: must be > 0".to_string());
                }
                V::Int((next_random() % (*n as u64)) as i64)
            }
            _ => return Err("arguments do not match the function signature".to_string()),
        })
    }
}

fn index_or_minus_one(i: Option<usize>) -> i64 {
    i.map_or(-1, |i| i as i64)
}

/// Go's `strings.Count`: an empty separator counts the positions between runes.
fn str_count(s: &str, sub: &str) -> i64 {
    if sub.is_empty() {
        s.chars().count() as i64 + 1
    } else {
        s.matches(sub).count() as i64
    }
}

/// Byte-indexed like Go's `str[start:stop]`; a cut inside a UTF-8 sequence yields U+FFFD
/// where Go would yield the raw bytes.
fn substring(s: &str, start: i64, stop: i64) -> Result<String, String> {
    if start < 0 {
        return Err(format!("found negative index for strSubstring: {start}"));
    }
    if stop < 0 {
        return Err(format!("found negative index for strSubstring: {stop}"));
    }
    if stop as u64 > s.len() as u64 {
        return Err(format!(
            "stop index too large for string in strSubstring: {stop}"
        ));
    }
    if start > stop {
        return Err(format!("slice bounds out of range [{start}:{stop}]"));
    }
    Ok(String::from_utf8_lossy(&s.as_bytes()[start as usize..stop as usize]).into_owned())
}

fn to_bool(v: &Val<'_>) -> Result<bool, String> {
    match v {
        Val::Bool(b) => Ok(*b),
        // strconv.ParseBool
        Val::Str(s) => match s.as_ref() {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
            _ => Err(format!("strconv.ParseBool: parsing {s:?}: invalid syntax")),
        },
        Val::Int(0) => Ok(false),
        Val::Int(1) => Ok(true),
        Val::Int(n) => Err(format!("cannot convert {n} to boolean")),
        Val::Float(f) if *f == 0.0 => Ok(false),
        Val::Float(f) if *f == 1.0 => Ok(true),
        Val::Float(f) => Err(format!("cannot convert {} to boolean", format_float(*f))),
        other => Err(format!(
            "cannot convert {} to boolean",
            other.ty().go_name()
        )),
    }
}

fn to_int(v: &Val<'_>) -> Result<i64, String> {
    match v {
        Val::Int(n) | Val::Duration(n) => Ok(*n),
        // Go's int64(float64) is unspecified out of range; Rust's `as` saturates (NaN → 0).
        Val::Float(f) => Ok(*f as i64),
        Val::Bool(b) => Ok(i64::from(*b)),
        Val::Str(s) => s.parse::<i64>().map_err(|e| {
            let why = match e.kind() {
                std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                    "value out of range"
                }
                _ => "invalid syntax",
            };
            format!("strconv.ParseInt: parsing {s:?}: {why}")
        }),
        other => Err(format!(
            "cannot convert {} to integer",
            other.ty().go_name()
        )),
    }
}

fn to_float(v: &Val<'_>) -> Result<f64, String> {
    match v {
        Val::Float(f) => Ok(*f),
        Val::Int(n) => Ok(*n as f64),
        Val::Bool(b) => Ok(if *b { 1.0 } else { 0.0 }),
        Val::Str(s) => s
            .parse::<f64>()
            .map_err(|_| format!("strconv.ParseFloat: parsing {s:?}: invalid syntax")),
        other => Err(format!("cannot convert {} to float", other.ty().go_name())),
    }
}

fn to_string<'a>(v: &Val<'a>) -> Result<Cow<'a, str>, String> {
    Ok(match v {
        Val::Str(s) => s.clone(),
        Val::Int(n) => Cow::Owned(n.to_string()),
        Val::Float(f) => Cow::Owned(format_float(*f)),
        Val::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        Val::Duration(d) => Cow::Owned(format_duration(*d)),
        other => return Err(format!("cannot convert {} to string", other.ty().go_name())),
    })
}

/// go-humanize `Bytes`: SI units, one decimal below 10.
pub(crate) fn human_bytes(n: u64) -> String {
    const SIZES: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    if n < 10 {
        return format!("{n} B");
    }
    let e = ((n as f64).ln() / 1000f64.ln()).floor();
    let suffix = SIZES[(e as usize).min(SIZES.len() - 1)];
    let val = ((n as f64) / 1000f64.powf(e) * 10.0 + 0.5).floor() / 10.0;
    if val < 10.0 {
        format!("{val:.1} {suffix}")
    } else {
        format!("{val:.0} {suffix}")
    }
}

pub(crate) fn now_nanos() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}

/// splitmix64 over a process-wide counter seeded from the clock: cheap, lock-free, not crypto.
fn next_random() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut seed = STATE.load(Ordering::Relaxed);
    if seed == 0 {
        // Seed once; a lost race only means two threads seeded from nearby clock values.
        seed = (now_nanos() as u64) | 1;
        STATE.store(seed, Ordering::Relaxed);
    }
    let mut z = STATE
        .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_matches_go_humanize() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(9), "9 B");
        assert_eq!(human_bytes(82_854_982), "83 MB");
        assert_eq!(human_bytes(1_000), "1.0 kB");
        assert_eq!(human_bytes(1_500), "1.5 kB");
        assert_eq!(human_bytes(u64::MAX), "18 EB");
    }

    #[test]
    fn every_builtin_has_a_signature_its_body_accepts() {
        // A signature whose body falls through to the catch-all would be a silent bug.
        let sample = |t: Ty| -> Val<'static> {
            match t {
                Ty::Float => Val::Float(1.0),
                Ty::Int => Val::Int(1),
                Ty::Str => Val::Str(Cow::Borrowed("1")),
                Ty::Bool => Val::Bool(true),
                Ty::Regex => Val::Regex(Cow::Owned(std::sync::Arc::new(
                    regex::Regex::new("a").expect("valid"),
                ))),
                Ty::Time => Val::Time(0),
                Ty::Duration => Val::Duration(1),
                Ty::Missing => Val::Missing,
            }
        };
        let names = [
            "bool",
            "int",
            "float",
            "string",
            "duration",
            "abs",
            "atan2",
            "jn",
            "pow10",
            "strContains",
            "strCount",
            "strTrim",
            "strToUpper",
            "strLength",
            "strReplace",
            "strSubstring",
            "regexReplace",
            "isPresent",
            "unixNano",
            "hour",
            "now",
            "humanBytes",
            "if",
            "rand",
        ];
        for name in names {
            let f = Builtin::lookup(name).expect(name);
            for (domain, ret) in f.signatures() {
                let mut args: Vec<Val<'_>> = domain.iter().map(|t| sample(*t)).collect();
                if name == "strSubstring" {
                    args[1] = Val::Int(0);
                }
                if name == "duration" && domain[0] == Ty::Str {
                    args[0] = Val::Str(Cow::Borrowed("1s"));
                }
                let out = f
                    .call(&mut args)
                    .unwrap_or_else(|e| panic!("{name}{domain:?}: {e}"));
                assert_eq!(out.ty(), *ret, "{name}{domain:?}");
            }
        }
    }
}
