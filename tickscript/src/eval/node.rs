//! The compiled expression tree and its evaluation.
//!
//! Compilation resolves everything that does not depend on the point (function lookup, regex
//! compilation, constant folding, state slots), so evaluation is one `match` per node with no
//! allocation on comparisons and arithmetic over numbers, strings and booleans.

use std::borrow::Cow;
use std::sync::Arc;

use crate::ast::BinaryOp;

use super::EvalError;
use super::functions::{Builtin, MAX_ARGS};
use super::ops::{self, DIVIDE_BY_ZERO, OpFailure};
use super::scope::Scope;
use super::state::{State, StatefulKind};
use super::value::{Ty, Val, Value};

/// A host function registered with [`super::FunctionSet::with_function`].
pub(crate) type HostFn = Arc<dyn Fn(&[Value]) -> Result<Value, String> + Send + Sync>;

pub(crate) enum Node {
    Const(Value),
    /// `"time"`: the point time.
    Time,
    /// `"name"`: a field, else a tag, else missing.
    Ref(Box<str>),
    Neg(Box<Node>),
    Not(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Binary(BinaryOp, Box<Node>, Box<Node>),
    /// `<expr> <cmp> constant` (`"usage_idle" < 70`, `sigma("x") > 3`), the most common
    /// predicate shape: the constant is not re-materialised and numbers and strings skip the
    /// generic operator table.
    CmpConst {
        op: BinaryOp,
        lhs: Box<Node>,
        konst: Value,
    },
    Call(Box<Call>),
}

pub(crate) struct Call {
    pub name: Box<str>,
    pub kind: CallKind,
    pub args: Vec<Node>,
    /// The arguments as written, for error messages.
    pub arg_texts: Vec<String>,
}

pub(crate) enum CallKind {
    Builtin(Builtin),
    Stateful {
        kind: StatefulKind,
        slot: usize,
    },
    /// Answered by [`Scope::call`].
    Scope,
    Host(HostFn),
}

/// Everything an evaluation reads or updates besides the tree itself.
pub(crate) struct Cx<'a, 's> {
    pub scope: &'a dyn Scope,
    pub state: &'s mut State,
    /// The lambda's references, listed in missing-argument errors as Kapacitor does.
    pub refs: &'a [String],
}

impl Node {
    pub(crate) fn is_const(&self) -> bool {
        matches!(self, Node::Const(_))
    }

    pub(crate) fn eval<'a>(&'a self, cx: &mut Cx<'a, '_>) -> Result<Val<'a>, EvalError> {
        match self {
            Node::Const(v) => Ok(v.as_val()),
            Node::Time => Ok(Val::Time(cx.scope.time())),
            Node::Ref(name) => resolve(cx.scope, name),
            Node::Binary(op, l, r) => {
                let lv = l.eval(cx)?;
                let rv = r.eval(cx)?;
                ops::apply(*op, &lv, &rv).map_err(|f| match f {
                    OpFailure::DivideByZero => EvalError::new(DIVIDE_BY_ZERO),
                    OpFailure::Types => binary_type_error(*op, l, lv.ty(), r, rv.ty()),
                })
            }
            Node::CmpConst { op, lhs, konst } => {
                let v = lhs.eval(cx)?;
                let fast = match (&v, konst) {
                    (Val::Float(a), Value::Float(b)) => ops::compare(*op, a, b),
                    (Val::Float(a), Value::Int(b)) => ops::compare(*op, a, &(*b as f64)),
                    (Val::Int(a), Value::Int(b)) => ops::compare(*op, a, b),
                    (Val::Int(a), Value::Float(b)) => ops::compare(*op, &(*a as f64), b),
                    (Val::Str(a), Value::Str(b)) => ops::compare(*op, a.as_ref(), b.as_ref()),
                    _ => None,
                };
                match fast {
                    Some(b) => Ok(Val::Bool(b)),
                    None => {
                        let k = konst.as_val();
                        ops::apply(*op, &v, &k).map_err(|_| {
                            // The constant side is never a missing reference.
                            binary_type_error(*op, lhs, v.ty(), &Node::Time, k.ty())
                        })
                    }
                }
            }
            Node::And(l, r) => Ok(Val::Bool(logical(BinaryOp::And, l, r, cx, false)?)),
            Node::Or(l, r) => Ok(Val::Bool(logical(BinaryOp::Or, l, r, cx, true)?)),
            Node::Neg(x) => {
                let v = x.eval(cx)?;
                ops::negate(&v).ok_or_else(|| unary_error("-", "math", x, v.ty()))
            }
            Node::Not(x) => match x.eval(cx)? {
                Val::Bool(b) => Ok(Val::Bool(!b)),
                v => Err(unary_error("!", "logical", x, v.ty())),
            },
            Node::Call(call) => call.eval(cx),
        }
    }
}

/// Field, else tag, else missing; both present is an error (Kapacitor's `fillScope`).
fn resolve<'a>(scope: &'a dyn Scope, name: &str) -> Result<Val<'a>, EvalError> {
    match (scope.field(name), scope.tag(name)) {
        (Some(v), None) => Ok(v.into()),
        (None, Some(t)) => Ok(Val::Str(Cow::Borrowed(t))),
        (None, None) => Ok(Val::Missing),
        (Some(_), Some(_)) => Err(EvalError::new(format!(
            "cannot have field and tags with same name {name:?}"
        ))),
    }
}

/// `AND`/`OR`: the left side decides first; the right side is evaluated only when needed.
fn logical<'a>(
    op: BinaryOp,
    l: &'a Node,
    r: &'a Node,
    cx: &mut Cx<'a, '_>,
    short_circuit_on: bool,
) -> Result<bool, EvalError> {
    let left = match l.eval(cx)? {
        Val::Bool(b) => b,
        v => return Err(binary_type_error(op, l, v.ty(), r, Ty::Bool)),
    };
    if left == short_circuit_on {
        return Ok(left);
    }
    match r.eval(cx)? {
        Val::Bool(b) => Ok(b),
        v => Err(binary_type_error(op, l, Ty::Bool, r, v.ty())),
    }
}

fn binary_type_error(op: BinaryOp, l: &Node, lt: Ty, r: &Node, rt: Ty) -> EvalError {
    if let (Ty::Missing, Node::Ref(name)) = (lt, l) {
        return EvalError::new(format!("left reference value \"{name}\" is missing value"));
    }
    if let (Ty::Missing, Node::Ref(name)) = (rt, r) {
        return EvalError::new(format!("right reference value \"{name}\" is missing value"));
    }
    EvalError::new(ops::type_error(op, lt, rt))
}

fn unary_error(op: &str, kind: &str, x: &Node, ty: Ty) -> EvalError {
    match (ty, x) {
        (Ty::Missing, Node::Ref(name)) => {
            EvalError::new(format!("reference \"{name}\" is missing value"))
        }
        _ => EvalError::new(format!("invalid {kind} operator {op} for type {ty}")),
    }
}

impl Call {
    fn eval<'a>(&'a self, cx: &mut Cx<'a, '_>) -> Result<Val<'a>, EvalError> {
        match &self.kind {
            CallKind::Builtin(f) => {
                let mut buf: [Val<'a>; MAX_ARGS] = std::array::from_fn(|_| Val::Missing);
                let args = self.eval_args(cx, &mut buf)?;
                self.check_signature(f.signatures(), args, cx.refs)?;
                f.call(args).map_err(|e| self.calling_error(e))
            }
            CallKind::Stateful { kind, slot } => {
                let mut buf: [Val<'a>; MAX_ARGS] = std::array::from_fn(|_| Val::Missing);
                let args = self.eval_args(cx, &mut buf)?;
                self.check_signature(kind.signatures(), args, cx.refs)?;
                let state = cx.state.slots.get_mut(*slot).ok_or_else(|| {
                    self.calling_error("state does not belong to this lambda".to_string())
                })?;
                state.update(args).map_err(|e| self.calling_error(e))
            }
            CallKind::Scope | CallKind::Host(_) => {
                let mut values = Vec::with_capacity(self.args.len());
                for (i, arg) in self.args.iter().enumerate() {
                    values.push(arg.eval(cx).map_err(|e| arg_error(i, e))?.into_value());
                }
                let out = match &self.kind {
                    CallKind::Host(f) => f(&values),
                    _ => cx.scope.call(&self.name, &values),
                };
                out.map(Val::from_value).map_err(|e| self.calling_error(e))
            }
        }
    }

    fn eval_args<'a, 'b>(
        &'a self,
        cx: &mut Cx<'a, '_>,
        buf: &'b mut [Val<'a>; MAX_ARGS],
    ) -> Result<&'b mut [Val<'a>], EvalError> {
        // The compiler rejects built-in calls with more than MAX_ARGS arguments.
        let n = self.args.len().min(MAX_ARGS);
        for (i, arg) in self.args[..n].iter().enumerate() {
            buf[i] = arg.eval(cx).map_err(|e| arg_error(i, e))?;
        }
        Ok(&mut buf[..n])
    }

    fn check_signature(
        &self,
        sigs: &[(&[Ty], Ty)],
        args: &[Val<'_>],
        refs: &[String],
    ) -> Result<(), EvalError> {
        let matches = |domain: &[Ty]| {
            domain.len() == args.len() && domain.iter().zip(args).all(|(t, a)| *t == a.ty())
        };
        if sigs.iter().any(|(domain, _)| matches(domain)) {
            return Ok(());
        }
        let missing: Vec<&str> = args
            .iter()
            .zip(&self.arg_texts)
            .filter(|(a, _)| matches!(a, Val::Missing))
            .map(|(_, text)| text.as_str())
            .collect();
        let msg = if missing.is_empty() {
            let given: Vec<String> = args
                .iter()
                .zip(&self.arg_texts)
                .map(|(a, text)| format!("{text}: {}", a.ty()))
                .collect();
            format!(
                "Cannot call function \"{}\" with args ({}), available signatures are {}.",
                self.name,
                given.join(","),
                format_signatures(sigs)
            )
        } else {
            let (noun, verb) = if missing.len() > 1 {
                ("arguments", "are")
            } else {
                ("argument", "is")
            };
            format!(
                "Cannot call function \"{}\" {noun} {} {verb} missing, values in scope are [{}]",
                self.name,
                missing.join(", "),
                refs.join(", ")
            )
        };
        Err(EvalError::new(msg))
    }

    fn calling_error(&self, e: String) -> EvalError {
        EvalError::new(format!("error calling \"{}\": {e}", self.name))
    }
}

fn arg_error(i: usize, e: EvalError) -> EvalError {
    EvalError::new(format!(
        "Failed to handle {} argument: {}",
        i + 1,
        e.message()
    ))
}

/// Kapacitor's `Domains.String()`: `[(float), (int,float)]`.
pub(crate) fn format_signatures(sigs: &[(&[Ty], Ty)]) -> String {
    let domains: Vec<String> = sigs
        .iter()
        .map(|(domain, _)| {
            let names: Vec<&str> = domain.iter().map(|t| t.name()).collect();
            format!("({})", names.join(","))
        })
        .collect();
    format!("[{}]", domains.join(", "))
}

impl Val<'static> {
    pub(crate) fn from_value(v: Value) -> Val<'static> {
        match v {
            Value::Int(n) => Val::Int(n),
            Value::Float(f) => Val::Float(f),
            Value::Str(s) => Val::Str(Cow::Owned(s.to_string())),
            Value::Bool(b) => Val::Bool(b),
            Value::Duration(d) => Val::Duration(d),
            Value::Time(t) => Val::Time(t),
            Value::Regex(r) => Val::Regex(Cow::Owned(r)),
            Value::Missing => Val::Missing,
        }
    }
}
