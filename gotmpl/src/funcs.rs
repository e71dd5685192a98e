//! Template functions: Go's builtins (`funcs.go`) and caller-registered functions such as
//! Kapacitor's `json` and `jsonCompact`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::escape::{html_escape, js_escape, url_query_escape};
use crate::exec::Val;
use crate::gofmt::{print_value, sprint, sprintf, sprintln};
use crate::value::Value;

/// What a caller-registered function returns: a value, or an error message that execution
/// reports as `error calling NAME: MESSAGE`.
pub type FuncResult = Result<Value, String>;

type FuncImpl = dyn Fn(&[&Value]) -> FuncResult + Send + Sync;

/// A caller-registered template function.
#[derive(Clone)]
pub struct Func {
    f: Arc<FuncImpl>,
    arity: Option<usize>,
}

impl Func {
    /// A function taking any number of arguments (missing values arrive as [`Value::Nil`]).
    pub fn new(f: impl Fn(&[&Value]) -> FuncResult + Send + Sync + 'static) -> Func {
        Func {
            f: Arc::new(f),
            arity: None,
        }
    }

    /// Requires exactly `n` arguments, checked like Go checks a fixed-arity function
    /// (`wrong number of args for NAME: want N got M`).
    pub fn with_arity(mut self, n: usize) -> Func {
        self.arity = Some(n);
        self
    }

    pub(crate) fn arity(&self) -> Option<usize> {
        self.arity
    }

    pub(crate) fn call(&self, args: &[&Value]) -> FuncResult {
        (self.f)(args)
    }
}

impl fmt::Debug for Func {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Func").field("arity", &self.arity).finish()
    }
}

/// Functions available to a template in addition to the builtins; like Go's `FuncMap`, they
/// must be known at parse time and take precedence over builtins of the same name.
#[derive(Clone, Debug, Default)]
pub struct FuncMap {
    funcs: HashMap<String, Func>,
}

impl FuncMap {
    pub fn new() -> FuncMap {
        FuncMap::default()
    }

    /// Kapacitor's template functions: `json` (Go's `json.Encoder.Encode`: HTML-safe JSON
    /// followed by a newline, empty when the value cannot be encoded) and `jsonCompact`
    /// (`json.Marshal`, no newline, an error when the value cannot be encoded).
    pub fn kapacitor() -> FuncMap {
        let mut m = FuncMap::new();
        m.insert_func("json", Func::new(json_encode).with_arity(1));
        m.insert_func("jsonCompact", Func::new(json_compact).with_arity(1));
        m
    }

    pub fn insert(
        &mut self,
        name: impl Into<String>,
        f: impl Fn(&[&Value]) -> FuncResult + Send + Sync + 'static,
    ) {
        self.insert_func(name, Func::new(f));
    }

    pub fn insert_func(&mut self, name: impl Into<String>, f: Func) {
        self.funcs.insert(name.into(), f);
    }

    /// Adds all functions of `other`, replacing same-named ones.
    pub fn extend(&mut self, other: &FuncMap) {
        for (k, v) in &other.funcs {
            self.funcs.insert(k.clone(), v.clone());
        }
    }

    pub(crate) fn resolve(&self, name: &str) -> Option<FuncRef> {
        if let Some(f) = self.funcs.get(name) {
            return Some(FuncRef::Custom(f.clone()));
        }
        Builtin::from_name(name).map(FuncRef::Builtin)
    }
}

/// `json` as Kapacitor defines it for `.details()`.
pub fn json_encode(args: &[&Value]) -> FuncResult {
    let mut s = String::new();
    match args.first().map(|v| crate::json::marshal(&mut s, v)) {
        Some(Ok(())) => {
            s.push('\n');
            Ok(Value::Str(s))
        }
        // Kapacitor ignores the encoder's error, which leaves the buffer empty.
        _ => Ok(Value::Str(String::new())),
    }
}

/// `jsonCompact`: `json.Marshal` of the argument.
pub fn json_compact(args: &[&Value]) -> FuncResult {
    let mut s = String::new();
    if let Some(v) = args.first() {
        crate::json::marshal(&mut s, v)?;
    }
    Ok(Value::Str(s))
}

/// A function resolved at parse time.
#[derive(Clone, Debug)]
pub enum FuncRef {
    Builtin(Builtin),
    Custom(Func),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    And,
    Or,
    Not,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Index,
    Len,
    Slice,
    Print,
    Printf,
    Println,
    Html,
    Js,
    Urlquery,
}

/// How many arguments a builtin takes: exactly `n`, or at least `n`.
pub enum Arity {
    Exactly(usize),
    AtLeast(usize),
}

impl Builtin {
    fn from_name(name: &str) -> Option<Builtin> {
        Some(match name {
            "and" => Builtin::And,
            "or" => Builtin::Or,
            "not" => Builtin::Not,
            "eq" => Builtin::Eq,
            "ne" => Builtin::Ne,
            "lt" => Builtin::Lt,
            "le" => Builtin::Le,
            "gt" => Builtin::Gt,
            "ge" => Builtin::Ge,
            "index" => Builtin::Index,
            "len" => Builtin::Len,
            "slice" => Builtin::Slice,
            "print" => Builtin::Print,
            "printf" => Builtin::Printf,
            "println" => Builtin::Println,
            "html" => Builtin::Html,
            "js" => Builtin::Js,
            "urlquery" => Builtin::Urlquery,
            _ => return None,
        })
    }

    pub fn arity(self) -> Arity {
        match self {
            Builtin::And | Builtin::Or | Builtin::Eq | Builtin::Index | Builtin::Slice => {
                Arity::AtLeast(1)
            }
            Builtin::Printf => Arity::AtLeast(1),
            Builtin::Not | Builtin::Len => Arity::Exactly(1),
            Builtin::Ne | Builtin::Lt | Builtin::Le | Builtin::Gt | Builtin::Ge => {
                Arity::Exactly(2)
            }
            Builtin::Print | Builtin::Println | Builtin::Html | Builtin::Js | Builtin::Urlquery => {
                Arity::AtLeast(0)
            }
        }
    }

    /// Calls a builtin other than `and`/`or` (which the executor short-circuits). Errors are
    /// Go's messages without the `error calling X:` prefix.
    pub fn call<'a>(self, args: &[Val<'a>]) -> Result<Val<'a>, String> {
        match self {
            Builtin::And | Builtin::Or => {
                // Not reached: evaluated lazily by the executor. Mirror the eager semantics.
                let want = self == Builtin::Or;
                for a in args {
                    if a.is_true() == want {
                        return Ok(a.clone());
                    }
                }
                Ok(args.last().cloned().unwrap_or(Val::Missing))
            }
            Builtin::Not => Ok(Val::bool(!args[0].is_true())),
            Builtin::Eq => eq(&args[0], &args[1..]).map(Val::bool),
            Builtin::Ne => eq(&args[0], &args[1..2]).map(|b| Val::bool(!b)),
            Builtin::Lt => lt(&args[0], &args[1]).map(Val::bool),
            Builtin::Le => le(&args[0], &args[1]).map(Val::bool),
            Builtin::Gt => le(&args[0], &args[1]).map(|b| Val::bool(!b)),
            Builtin::Ge => lt(&args[0], &args[1]).map(|b| Val::bool(!b)),
            Builtin::Index => index(&args[0], &args[1..]),
            Builtin::Len => length(&args[0]),
            Builtin::Slice => slice(&args[0], &args[1..]),
            Builtin::Print | Builtin::Println | Builtin::Printf => {
                let refs: Vec<&Value> = args.iter().map(Val::get).collect();
                let mut s = String::new();
                match self {
                    Builtin::Print => sprint(&mut s, &refs),
                    Builtin::Println => sprintln(&mut s, &refs),
                    _ => {
                        let format = refs[0].as_str().unwrap_or_default();
                        sprintf(&mut s, format, &refs[1..]);
                    }
                }
                Ok(Val::owned(Value::Str(s)))
            }
            Builtin::Html | Builtin::Js | Builtin::Urlquery => {
                let text = eval_args(args);
                let mut s = String::with_capacity(text.len());
                match self {
                    Builtin::Html => html_escape(&mut s, &text),
                    Builtin::Js => js_escape(&mut s, &text),
                    _ => url_query_escape(&mut s, &text),
                }
                Ok(Val::owned(Value::Str(s)))
            }
        }
    }
}

/// text/template's `evalArgs`: the single string argument as is, otherwise `fmt.Sprint` of the
/// arguments with missing values shown as `<no value>`.
fn eval_args<'v>(args: &'v [Val<'_>]) -> Cow<'v, str> {
    if let [one] = args
        && let Value::Str(s) = one.get()
    {
        return Cow::Borrowed(s);
    }
    let mut out = String::new();
    let mut prev_string = false;
    for (i, a) in args.iter().enumerate() {
        let v = a.get();
        let is_string = matches!(v, Value::Str(_) | Value::Nil);
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        if matches!(v, Value::Nil) {
            out.push_str("<no value>");
        } else {
            print_value(&mut out, v);
        }
        prev_string = is_string;
    }
    Cow::Owned(out)
}

/// Go's `basicKind` classes for comparisons.
enum Basic<'v> {
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(&'v str),
    /// nil / missing.
    Invalid,
    /// Not a basic kind (time, map, slice, struct).
    Other(&'v Value),
}

fn basic<'v>(v: &'v Val<'_>) -> Basic<'v> {
    match v.get() {
        Value::Nil => Basic::Invalid,
        Value::Bool(b) => Basic::Bool(*b),
        Value::Int(i) | Value::Duration(i) => Basic::Int(*i),
        Value::Uint(u) => Basic::Uint(*u),
        Value::Float(f) => Basic::Float(*f),
        Value::Str(s) => Basic::Str(s),
        other => Basic::Other(other),
    }
}

const ERR_BAD_COMPARISON_TYPE: &str = "invalid type for comparison";
const ERR_BAD_COMPARISON: &str = "incompatible types for comparison";
const ERR_NO_COMPARISON: &str = "missing argument for comparison";

fn eq(arg1: &Val<'_>, rest: &[Val<'_>]) -> Result<bool, String> {
    if rest.is_empty() {
        return Err(ERR_NO_COMPARISON.into());
    }
    let k1 = basic(arg1);
    for arg in rest {
        let k2 = basic(arg);
        let truth = match (&k1, &k2) {
            (Basic::Bool(a), Basic::Bool(b)) => a == b,
            (Basic::Int(a), Basic::Int(b)) => a == b,
            (Basic::Uint(a), Basic::Uint(b)) => a == b,
            (Basic::Float(a), Basic::Float(b)) => a == b,
            (Basic::Str(a), Basic::Str(b)) => a == b,
            (Basic::Int(a), Basic::Uint(b)) => a >= &0 && *a as u64 == *b,
            (Basic::Uint(a), Basic::Int(b)) => b >= &0 && *a == *b as u64,
            (Basic::Invalid, Basic::Invalid) => true,
            (Basic::Invalid, _) | (_, Basic::Invalid) => false,
            (Basic::Other(a), Basic::Other(b)) => {
                for v in [a, b] {
                    if matches!(v, Value::Map(_) | Value::Slice(_)) {
                        return Err(format!("non-comparable type {}", v.go_type()));
                    }
                }
                a == b
            }
            _ => return Err(ERR_BAD_COMPARISON.into()),
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

fn lt(a: &Val<'_>, b: &Val<'_>) -> Result<bool, String> {
    let k1 = basic(a);
    if matches!(k1, Basic::Invalid | Basic::Other(_)) {
        return Err(ERR_BAD_COMPARISON_TYPE.into());
    }
    let k2 = basic(b);
    if matches!(k2, Basic::Invalid | Basic::Other(_)) {
        return Err(ERR_BAD_COMPARISON_TYPE.into());
    }
    Ok(match (k1, k2) {
        (Basic::Int(x), Basic::Uint(y)) => x < 0 || (x as u64) < y,
        (Basic::Uint(x), Basic::Int(y)) => y >= 0 && x < y as u64,
        (Basic::Bool(_), Basic::Bool(_)) => return Err(ERR_BAD_COMPARISON_TYPE.into()),
        (Basic::Int(x), Basic::Int(y)) => x < y,
        (Basic::Uint(x), Basic::Uint(y)) => x < y,
        (Basic::Float(x), Basic::Float(y)) => x < y,
        (Basic::Str(x), Basic::Str(y)) => x < y,
        _ => return Err(ERR_BAD_COMPARISON.into()),
    })
}

fn le(a: &Val<'_>, b: &Val<'_>) -> Result<bool, String> {
    if lt(a, b)? {
        return Ok(true);
    }
    eq(a, std::slice::from_ref(b))
}

/// Go's `indexArg`: an integer index within `0..=cap`.
fn index_arg(idx: &Val<'_>, cap: usize) -> Result<usize, String> {
    let x: i128 = match idx.get() {
        Value::Int(i) | Value::Duration(i) => i128::from(*i),
        Value::Uint(u) => i128::from(*u),
        Value::Nil => return Err("cannot index slice/array with nil".into()),
        v => {
            return Err(format!(
                "cannot index slice/array with type {}",
                v.go_type()
            ));
        }
    };
    if x < 0 || x > cap as i128 {
        return Err(format!("index out of range: {x}"));
    }
    Ok(x as usize)
}

fn index<'a>(item: &Val<'a>, indexes: &[Val<'a>]) -> Result<Val<'a>, String> {
    if matches!(item.get(), Value::Nil) {
        return Err("index of untyped nil".into());
    }
    let mut item = item.clone();
    for idx in indexes {
        item = match item.get() {
            Value::Nil => return Err("index of nil pointer".into()),
            Value::Slice(s) => {
                let x = index_arg(idx, s.len())?;
                if x == s.len() {
                    return Err(format!("index out of range: {x}"));
                }
                item.project(|v| match v {
                    Value::Slice(s) => s.get(x),
                    _ => None,
                })
                .unwrap_or(Val::Missing)
            }
            Value::Str(s) => {
                let x = index_arg(idx, s.len())?;
                match s.as_bytes().get(x) {
                    Some(b) => Val::owned(Value::Uint(u64::from(*b))),
                    None => return Err(format!("index out of range: {x}")),
                }
            }
            Value::Map(m) => {
                let key = match idx.get() {
                    Value::Str(k) => k.as_str(),
                    Value::Nil => return Err("value is nil; should be of type string".into()),
                    v => return Err(format!("value has type {}; should be string", v.go_type())),
                };
                let elem = m.elem();
                item.project(|v| match v {
                    Value::Map(m) => m.get(key),
                    _ => None,
                })
                .unwrap_or_else(|| Val::Ref(crate::exec::zero_of(elem)))
            }
            v => return Err(format!("can't index item of type {}", v.go_type())),
        };
    }
    Ok(item)
}

fn slice<'a>(item: &Val<'a>, indexes: &[Val<'a>]) -> Result<Val<'a>, String> {
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    let (len, is_str) = match item.get() {
        Value::Nil => return Err("slice of untyped nil".into()),
        Value::Str(s) => {
            if indexes.len() == 3 {
                return Err("cannot 3-index slice a string".into());
            }
            (s.len(), true)
        }
        Value::Slice(s) => (s.len(), false),
        v => return Err(format!("can't slice item of type {}", v.go_type())),
    };
    let mut idx = [0, len, len];
    for (i, index) in indexes.iter().enumerate() {
        idx[i] = index_arg(index, len)?;
    }
    if idx[0] > idx[1] {
        return Err(format!("invalid slice index: {} > {}", idx[0], idx[1]));
    }
    if indexes.len() == 3 && idx[1] > idx[2] {
        return Err(format!("invalid slice index: {} > {}", idx[1], idx[2]));
    }
    Ok(Val::owned(match item.get() {
        Value::Str(s) if is_str => {
            // Go slices bytes; a cut inside a UTF-8 sequence yields replacement characters.
            Value::Str(String::from_utf8_lossy(&s.as_bytes()[idx[0]..idx[1]]).into_owned())
        }
        Value::Slice(s) => Value::Slice(s[idx[0]..idx[1]].to_vec()),
        _ => Value::Nil,
    }))
}

fn length<'a>(item: &Val<'a>) -> Result<Val<'a>, String> {
    let n = match item.get() {
        Value::Str(s) => s.len(),
        Value::Map(m) => m.len(),
        Value::Slice(s) => s.len(),
        Value::Nil => return Err("reflect: call of reflect.Value.Type on zero Value".into()),
        v => return Err(format!("len of type {}", v.go_type())),
    };
    Ok(Val::owned(Value::Int(n as i64)))
}
