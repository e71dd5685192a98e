//! Lambda expressions as the engine uses them: compile once per node, evaluate per point with
//! one `State` per group.
//!
//! TEMP until tickscript::eval lands: this is a private evaluator covering Kapacitor's rules
//! (tick/stateful) for the operators, reference resolution, the stateful functions and the
//! common built-ins. The engine only calls `Lambda::{compile,new_state,eval,eval_bool}`, so
//! swapping in the shared evaluator touches this file only.

use kapacitor_models::{FieldValue, Point};
use regex::Regex;
use std::sync::Arc;
use tickscript::ast::{BinaryOp, Expr, UnaryOp};

#[derive(Debug, Clone)]
pub enum Value {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    /// Nanoseconds.
    Duration(i64),
    /// Nanoseconds since the epoch.
    Time(i64),
    Regex(Arc<Regex>),
}

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Bool(_) => "bool",
            Value::Duration(_) => "duration",
            Value::Time(_) => "time",
            Value::Regex(_) => "regex",
        }
    }

    /// The value as a point field; durations become integer nanoseconds, times their
    /// nanoseconds, like Kapacitor's eval node does when it stores them.
    pub fn to_field(&self) -> Option<FieldValue> {
        Some(match self {
            Value::Int(i) => FieldValue::Int(*i),
            Value::Float(f) => FieldValue::Float(*f),
            Value::Str(s) => FieldValue::Str(s.clone()),
            Value::Bool(b) => FieldValue::Bool(*b),
            Value::Duration(d) => FieldValue::Int(*d),
            Value::Time(t) => FieldValue::Int(*t),
            Value::Regex(_) => return None,
        })
    }

    /// The value as a tag string (eval `.tags()`).
    pub fn to_tag(&self) -> String {
        match self {
            Value::Int(i) => i.to_string(),
            Value::Float(f) => format_float(*f),
            Value::Str(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Duration(d) => super::timeutil::go_duration(*d),
            Value::Time(t) => super::timeutil::rfc3339_nano(*t),
            Value::Regex(r) => r.as_str().to_string(),
        }
    }
}

impl From<&FieldValue> for Value {
    fn from(f: &FieldValue) -> Self {
        match f {
            FieldValue::Float(x) => Value::Float(*x),
            FieldValue::Int(x) => Value::Int(*x),
            FieldValue::Str(x) => Value::Str(x.clone()),
            FieldValue::Bool(x) => Value::Bool(*x),
        }
    }
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`, which `string()` uses.
fn format_float(f: f64) -> String {
    format!("{f}")
}

#[derive(Debug)]
enum C {
    Lit(Value),
    Ref(String),
    Unary(UnaryOp, Box<C>),
    Binary(BinaryOp, Box<C>, Box<C>),
    /// A stateful call: index into the state's slots.
    Stateful(StatefulFn, usize, Vec<C>),
    Call(String, Vec<C>),
    IsPresent(String),
}

#[derive(Debug, Clone, Copy)]
enum StatefulFn {
    Count,
    Sigma,
    Spread,
}

#[derive(Debug, Clone)]
enum Slot {
    Count(i64),
    Sigma { n: f64, mean: f64, m2: f64 },
    Spread { min: f64, max: f64, seen: bool },
}

/// Per-group state of a lambda's stateful functions.
#[derive(Debug, Clone, Default)]
pub struct State {
    slots: Vec<Slot>,
}

#[derive(Debug)]
pub struct Lambda {
    root: C,
    init: Vec<Slot>,
}

type R<T> = Result<T, String>;

impl Lambda {
    pub fn compile(e: &Expr) -> R<Lambda> {
        let mut init = Vec::new();
        let root = compile(e, &mut init)?;
        Ok(Lambda { root, init })
    }

    pub fn new_state(&self) -> State {
        State {
            slots: self.init.clone(),
        }
    }

    pub fn eval(&self, p: &Point, st: &mut State) -> R<Value> {
        if st.slots.len() != self.init.len() {
            st.slots = self.init.clone();
        }
        eval(&self.root, p, st)
    }

    pub fn eval_bool(&self, p: &Point, st: &mut State) -> R<bool> {
        match self.eval(p, st)? {
            Value::Bool(b) => Ok(b),
            v => Err(format!(
                "expression returned unexpected type {}",
                v.type_name()
            )),
        }
    }
}

fn compile(e: &Expr, slots: &mut Vec<Slot>) -> R<C> {
    Ok(match e {
        Expr::Int(i, _) => C::Lit(Value::Int(*i)),
        Expr::Float(f, _) => C::Lit(Value::Float(*f)),
        Expr::Str(s, _) => C::Lit(Value::Str(s.clone())),
        Expr::Bool(b, _) => C::Lit(Value::Bool(*b)),
        Expr::Duration(d, _) => C::Lit(Value::Duration(*d)),
        Expr::Regex(r, _) => C::Lit(Value::Regex(Arc::new(
            Regex::new(r).map_err(|e| format!("invalid regex /{r}/: {e}"))?,
        ))),
        Expr::Reference(r, _) => C::Ref(r.clone()),
        Expr::Lambda(inner, _) => compile(inner, slots)?,
        Expr::Unary { op, expr, .. } => C::Unary(*op, Box::new(compile(expr, slots)?)),
        Expr::Binary { op, lhs, rhs, .. } => C::Binary(
            *op,
            Box::new(compile(lhs, slots)?),
            Box::new(compile(rhs, slots)?),
        ),
        Expr::Call { name, args, .. } => {
            if name == "isPresent" {
                match args.as_slice() {
                    [Expr::Reference(r, _)] => return Ok(C::IsPresent(r.clone())),
                    _ => return Err("isPresent expects a single reference argument".into()),
                }
            }
            let cargs = args
                .iter()
                .map(|a| compile(a, slots))
                .collect::<R<Vec<_>>>()?;
            let sf = match name.as_str() {
                "count" => Some((StatefulFn::Count, Slot::Count(0))),
                "sigma" => Some((
                    StatefulFn::Sigma,
                    Slot::Sigma {
                        n: 0.0,
                        mean: 0.0,
                        m2: 0.0,
                    },
                )),
                "spread" => Some((
                    StatefulFn::Spread,
                    Slot::Spread {
                        min: f64::INFINITY,
                        max: f64::NEG_INFINITY,
                        seen: false,
                    },
                )),
                _ => None,
            };
            match sf {
                Some((f, init)) => {
                    slots.push(init);
                    C::Stateful(f, slots.len() - 1, cargs)
                }
                None => C::Call(name.clone(), cargs),
            }
        }
        Expr::Ident(name, _) => return Err(format!("undefined variable {name}")),
        Expr::Star(_) => return Err("unexpected * in lambda".into()),
        Expr::List(_, _) => return Err("unexpected list in lambda".into()),
    })
}

fn lookup(p: &Point, name: &str) -> R<Value> {
    if name == "time" && !p.fields.contains_key("time") {
        return Ok(Value::Time(p.time));
    }
    let f = p.fields.get(name);
    let t = p.tags.get(name);
    match (f, t) {
        (Some(_), Some(_)) => Err(format!(
            "cannot have field and tags with same name {name:?}"
        )),
        (Some(f), None) => Ok(f.into()),
        (None, Some(t)) => Ok(Value::Str(t.clone())),
        (None, None) => Err(format!("no field or tag exists for {name}")),
    }
}

fn eval(c: &C, p: &Point, st: &mut State) -> R<Value> {
    match c {
        C::Lit(v) => Ok(v.clone()),
        C::Ref(r) => lookup(p, r),
        C::IsPresent(r) => Ok(Value::Bool(
            p.fields.contains_key(r) || p.tags.contains_key(r),
        )),
        C::Unary(op, e) => {
            let v = eval(e, p, st)?;
            match (op, v) {
                (UnaryOp::Neg, Value::Int(i)) => Ok(Value::Int(i.wrapping_neg())),
                (UnaryOp::Neg, Value::Float(f)) => Ok(Value::Float(-f)),
                (UnaryOp::Neg, Value::Duration(d)) => Ok(Value::Duration(-d)),
                (UnaryOp::Not, Value::Bool(b)) => Ok(Value::Bool(!b)),
                (op, v) => Err(format!(
                    "invalid unary operator {} on {}",
                    if matches!(op, UnaryOp::Neg) { "-" } else { "!" },
                    v.type_name()
                )),
            }
        }
        C::Binary(op, l, r) => {
            if matches!(op, BinaryOp::And | BinaryOp::Or) {
                let lv = as_bool(eval(l, p, st)?, *op)?;
                if matches!(op, BinaryOp::And) && !lv {
                    return Ok(Value::Bool(false));
                }
                if matches!(op, BinaryOp::Or) && lv {
                    return Ok(Value::Bool(true));
                }
                return Ok(Value::Bool(as_bool(eval(r, p, st)?, *op)?));
            }
            let lv = eval(l, p, st)?;
            let rv = eval(r, p, st)?;
            binary(*op, lv, rv)
        }
        C::Stateful(f, slot, args) => {
            let vals = args.iter().map(|a| eval(a, p, st)).collect::<R<Vec<_>>>()?;
            stateful(*f, &mut st.slots[*slot], &vals)
        }
        C::Call(name, args) => {
            if name == "if" {
                if args.len() != 3 {
                    return Err("if expects 3 arguments".into());
                }
                let c = match eval(&args[0], p, st)? {
                    Value::Bool(b) => b,
                    v => return Err(format!("if condition must be bool, got {}", v.type_name())),
                };
                return eval(if c { &args[1] } else { &args[2] }, p, st);
            }
            let vals = args.iter().map(|a| eval(a, p, st)).collect::<R<Vec<_>>>()?;
            call(name, &vals)
        }
    }
}

fn as_bool(v: Value, op: BinaryOp) -> R<bool> {
    match v {
        Value::Bool(b) => Ok(b),
        v => Err(format!(
            "invalid {:?} operator for type {}",
            op,
            v.type_name()
        )),
    }
}

fn op_str(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Add => "+",
        BinaryOp::Sub => "-",
        BinaryOp::Mul => "*",
        BinaryOp::Div => "/",
        BinaryOp::Mod => "%",
        BinaryOp::And => "AND",
        BinaryOp::Or => "OR",
        BinaryOp::Eq => "==",
        BinaryOp::NotEq => "!=",
        BinaryOp::Less => "<",
        BinaryOp::LessEq => "<=",
        BinaryOp::Greater => ">",
        BinaryOp::GreaterEq => ">=",
        BinaryOp::RegexMatch => "=~",
        BinaryOp::RegexNotMatch => "!~",
    }
}

fn cmp<T: PartialOrd>(op: BinaryOp, a: T, b: T) -> Option<bool> {
    Some(match op {
        BinaryOp::Eq => a == b,
        BinaryOp::NotEq => a != b,
        BinaryOp::Less => a < b,
        BinaryOp::LessEq => a <= b,
        BinaryOp::Greater => a > b,
        BinaryOp::GreaterEq => a >= b,
        _ => return None,
    })
}

fn binary(op: BinaryOp, l: Value, r: Value) -> R<Value> {
    use Value::*;
    let mismatch = |l: &Value, r: &Value| {
        Err(format!(
            "mismatched type to binary operator. got {} {} {}. see bool(), int(), float(), string(), duration()",
            l.type_name(),
            op_str(op),
            r.type_name()
        ))
    };
    match op {
        BinaryOp::RegexMatch | BinaryOp::RegexNotMatch => match (&l, &r) {
            (Str(s), Regex(re)) => {
                let m = re.is_match(s);
                Ok(Bool(if matches!(op, BinaryOp::RegexMatch) {
                    m
                } else {
                    !m
                }))
            }
            _ => mismatch(&l, &r),
        },
        BinaryOp::Eq
        | BinaryOp::NotEq
        | BinaryOp::Less
        | BinaryOp::LessEq
        | BinaryOp::Greater
        | BinaryOp::GreaterEq => {
            let res = match (&l, &r) {
                (Int(a), Int(b)) => cmp(op, a, b),
                (Float(a), Float(b)) => cmp(op, a, b),
                (Int(a), Float(b)) => cmp(op, *a as f64, *b),
                (Float(a), Int(b)) => cmp(op, *a, *b as f64),
                (Str(a), Str(b)) => cmp(op, a, b),
                (Duration(a), Duration(b)) | (Time(a), Time(b)) => cmp(op, a, b),
                (Bool(a), Bool(b)) if matches!(op, BinaryOp::Eq | BinaryOp::NotEq) => cmp(op, a, b),
                _ => None,
            };
            match res {
                Some(b) => Ok(Bool(b)),
                None => mismatch(&l, &r),
            }
        }
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => {
            match (&l, &r) {
                (Int(a), Int(b)) => {
                    let (a, b) = (*a, *b);
                    Ok(Int(match op {
                        BinaryOp::Add => a.wrapping_add(b),
                        BinaryOp::Sub => a.wrapping_sub(b),
                        BinaryOp::Mul => a.wrapping_mul(b),
                        BinaryOp::Div | BinaryOp::Mod if b == 0 => {
                            return Err("integer divide by zero".into());
                        }
                        BinaryOp::Div => a.wrapping_div(b),
                        _ => a.wrapping_rem(b),
                    }))
                }
                (Float(a), Float(b)) => Ok(Float(match op {
                    BinaryOp::Add => a + b,
                    BinaryOp::Sub => a - b,
                    BinaryOp::Mul => a * b,
                    BinaryOp::Div => a / b,
                    _ => return mismatch(&l, &r),
                })),
                (Str(a), Str(b)) if matches!(op, BinaryOp::Add) => Ok(Str(format!("{a}{b}"))),
                (Duration(a), Duration(b)) => match op {
                    BinaryOp::Add => Ok(Duration(a.wrapping_add(*b))),
                    BinaryOp::Sub => Ok(Duration(a.wrapping_sub(*b))),
                    BinaryOp::Div if *b != 0 => Ok(Int(a / b)),
                    _ => mismatch(&l, &r),
                },
                (Duration(a), Int(b)) => match op {
                    BinaryOp::Mul => Ok(Duration(a.wrapping_mul(*b))),
                    BinaryOp::Div if *b != 0 => Ok(Duration(a / b)),
                    _ => mismatch(&l, &r),
                },
                (Int(a), Duration(b)) if matches!(op, BinaryOp::Mul) => {
                    Ok(Duration(a.wrapping_mul(*b)))
                }
                (Duration(a), Float(b)) => match op {
                    BinaryOp::Mul => Ok(Duration((*a as f64 * b) as i64)),
                    BinaryOp::Div => Ok(Duration((*a as f64 / b) as i64)),
                    _ => mismatch(&l, &r),
                },
                (Float(a), Duration(b)) if matches!(op, BinaryOp::Mul) => {
                    Ok(Duration((a * *b as f64) as i64))
                }
                (Time(a), Duration(b)) => match op {
                    BinaryOp::Add => Ok(Time(a + b)),
                    BinaryOp::Sub => Ok(Time(a - b)),
                    _ => mismatch(&l, &r),
                },
                (Time(a), Time(b)) if matches!(op, BinaryOp::Sub) => Ok(Duration(a - b)),
                _ => mismatch(&l, &r),
            }
        }
        BinaryOp::And | BinaryOp::Or => unreachable!("handled by the caller"),
    }
}

fn num(v: &Value) -> R<f64> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        v => Err(format!("expected a number, got {}", v.type_name())),
    }
}

fn stateful(f: StatefulFn, slot: &mut Slot, args: &[Value]) -> R<Value> {
    match (f, slot) {
        (StatefulFn::Count, Slot::Count(n)) => {
            if !args.is_empty() {
                return Err("count expects no arguments".into());
            }
            *n += 1;
            Ok(Value::Int(*n))
        }
        (StatefulFn::Sigma, Slot::Sigma { n, mean, m2 }) => {
            let [x] = args else {
                return Err("sigma expects exactly one argument".into());
            };
            let x = num(x)?;
            *n += 1.0;
            let delta = x - *mean;
            *mean += delta / *n;
            *m2 += delta * (x - *mean);
            if *n < 2.0 {
                return Ok(Value::Float(0.0));
            }
            let sd = (*m2 / (*n - 1.0)).sqrt();
            Ok(Value::Float(if sd == 0.0 {
                0.0
            } else {
                (x - *mean).abs() / sd
            }))
        }
        (StatefulFn::Spread, Slot::Spread { min, max, seen }) => {
            let [x] = args else {
                return Err("spread expects exactly one argument".into());
            };
            let x = num(x)?;
            *seen = true;
            *min = min.min(x);
            *max = max.max(x);
            Ok(Value::Float(*max - *min))
        }
        _ => Err("internal: stateful slot mismatch".into()),
    }
}

fn one<'a>(name: &str, args: &'a [Value]) -> R<&'a Value> {
    match args {
        [v] => Ok(v),
        _ => Err(format!(
            "{name} expects exactly one argument, got {}",
            args.len()
        )),
    }
}

fn float1(name: &str, args: &[Value], f: fn(f64) -> f64) -> R<Value> {
    match one(name, args)? {
        Value::Float(x) => Ok(Value::Float(f(*x))),
        v => Err(format!(
            "cannot call {name} with type {}, expected float",
            v.type_name()
        )),
    }
}

fn call(name: &str, args: &[Value]) -> R<Value> {
    use Value::*;
    match name {
        "string" => Ok(Str(match one(name, args)? {
            Int(i) => i.to_string(),
            Float(f) => format_float(*f),
            Str(s) => s.clone(),
            Bool(b) => b.to_string(),
            Duration(d) => super::timeutil::go_duration(*d),
            v => return Err(format!("cannot convert {} to string", v.type_name())),
        })),
        "int" => Ok(Int(match one(name, args)? {
            Int(i) => *i,
            Float(f) => *f as i64,
            Bool(b) => *b as i64,
            Duration(d) => *d,
            Str(s) => s
                .parse::<i64>()
                .map_err(|e| format!("cannot convert {s:?} to int: {e}"))?,
            v => return Err(format!("cannot convert {} to int", v.type_name())),
        })),
        "float" => Ok(Float(match one(name, args)? {
            Int(i) => *i as f64,
            Float(f) => *f,
            Bool(b) => *b as i64 as f64,
            Duration(d) => *d as f64,
            Str(s) => s
                .parse::<f64>()
                .map_err(|e| format!("cannot convert {s:?} to float: {e}"))?,
            v => return Err(format!("cannot convert {} to float", v.type_name())),
        })),
        "bool" => Ok(Bool(match one(name, args)? {
            Bool(b) => *b,
            Int(0) => false,
            Int(1) => true,
            Float(f) if *f == 0.0 => false,
            Float(f) if *f == 1.0 => true,
            Str(s) if s == "true" => true,
            Str(s) if s == "false" => false,
            v => return Err(format!("cannot convert {} to bool", v.type_name())),
        })),
        "abs" => match one(name, args)? {
            Int(i) => Ok(Int(i.wrapping_abs())),
            Float(f) => Ok(Float(f.abs())),
            v => Err(format!("cannot call abs with {}", v.type_name())),
        },
        "sqrt" => float1(name, args, f64::sqrt),
        "floor" => float1(name, args, f64::floor),
        "ceil" => float1(name, args, f64::ceil),
        "trunc" => float1(name, args, f64::trunc),
        "exp" => float1(name, args, f64::exp),
        "log" => float1(name, args, f64::ln),
        "log10" => float1(name, args, f64::log10),
        "log2" => float1(name, args, f64::log2),
        "sin" => float1(name, args, f64::sin),
        "cos" => float1(name, args, f64::cos),
        "tan" => float1(name, args, f64::tan),
        "pow" | "max" | "min" | "mod" | "hypot" | "atan2" => match args {
            [Float(a), Float(b)] => Ok(Float(match name {
                "pow" => a.powf(*b),
                "max" => a.max(*b),
                "min" => a.min(*b),
                "mod" => a % b,
                "hypot" => a.hypot(*b),
                _ => a.atan2(*b),
            })),
            _ => Err(format!("{name} expects two float arguments")),
        },
        "unixNano" | "minute" | "hour" | "weekday" | "day" | "month" | "year" => {
            let Time(t) = one(name, args)? else {
                return Err(format!("{name} expects a time argument"));
            };
            let secs = t.div_euclid(1_000_000_000);
            let days = secs.div_euclid(86_400);
            let sod = secs.rem_euclid(86_400);
            let (y, m, d) = super::timeutil::civil_from_days(days);
            Ok(Int(match name {
                "unixNano" => *t,
                "minute" => (sod / 60) % 60,
                "hour" => sod / 3600,
                "weekday" => (days + 4).rem_euclid(7),
                "day" => d as i64,
                "month" => m as i64,
                _ => y,
            }))
        }
        "now" => Ok(Time(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as i64)
                .unwrap_or(0),
        )),
        "strLength" => match one(name, args)? {
            Str(s) => Ok(Int(s.chars().count() as i64)),
            _ => Err("strLength expects a string".into()),
        },
        "strToLower" | "strToUpper" | "strTrimSpace" => match one(name, args)? {
            Str(s) => Ok(Str(match name {
                "strToLower" => s.to_lowercase(),
                "strToUpper" => s.to_uppercase(),
                _ => s.trim().to_string(),
            })),
            _ => Err(format!("{name} expects a string")),
        },
        "strContains" | "strHasPrefix" | "strHasSuffix" => match args {
            [Str(a), Str(b)] => Ok(Bool(match name {
                "strContains" => a.contains(b.as_str()),
                "strHasPrefix" => a.starts_with(b.as_str()),
                _ => a.ends_with(b.as_str()),
            })),
            _ => Err(format!("{name} expects two strings")),
        },
        _ => Err(format!("undefined function {name}")),
    }
}
