//! AST → compiled tree: function lookup, regex compilation, state slots, constant folding.

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::sync::Arc;

use crate::ast::{BinaryOp, Expr, Pos, UnaryOp};

use super::EvalError;
use super::functions::{Builtin, MAX_ARGS};
use super::node::{Call, CallKind, Cx, HostFn, Node, format_signatures};
use super::ops;
use super::regex::translate_regex;
use super::scope::Scope;
use super::state::{FnState, State, StatefulKind};
use super::value::{Value, ValueRef, format_duration, format_float};

/// The functions and identifiers a lambda may use: Kapacitor's built-ins plus whatever the host
/// adds. Topic-handler `match` lambdas, for instance, use
/// `FunctionSet::builtins().with_scope_function("level", 0..=0).with_identifier("CRITICAL", Value::Int(3))`.
///
/// Host functions shadow built-ins of the same name.
#[derive(Clone, Default)]
pub struct FunctionSet {
    scope_fns: HashMap<String, RangeInclusive<usize>>,
    host_fns: HashMap<String, (RangeInclusive<usize>, HostFn)>,
    identifiers: HashMap<String, Value>,
}

impl std::fmt::Debug for FunctionSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionSet")
            .field("scope_fns", &self.scope_fns.keys().collect::<Vec<_>>())
            .field("host_fns", &self.host_fns.keys().collect::<Vec<_>>())
            .field("identifiers", &self.identifiers)
            .finish()
    }
}

impl FunctionSet {
    /// Kapacitor's built-in functions only.
    pub fn builtins() -> FunctionSet {
        FunctionSet::default()
    }

    /// A function answered by [`Scope::call`] of the scope the lambda is evaluated against,
    /// taking a number of arguments in `arity`.
    pub fn with_scope_function(mut self, name: &str, arity: RangeInclusive<usize>) -> Self {
        self.scope_fns.insert(name.to_string(), arity);
        self
    }

    /// A pure host function of its arguments.
    pub fn with_function(
        mut self,
        name: &str,
        arity: RangeInclusive<usize>,
        f: impl Fn(&[Value]) -> Result<Value, String> + Send + Sync + 'static,
    ) -> Self {
        self.host_fns.insert(name.to_string(), (arity, Arc::new(f)));
        self
    }

    /// A bare identifier (`CRITICAL`) that evaluates to a constant.
    pub fn with_identifier(mut self, name: &str, value: Value) -> Self {
        self.identifiers.insert(name.to_string(), value);
        self
    }
}

/// The result of compiling one lambda.
pub(crate) struct Compiled {
    pub root: Node,
    pub refs: Vec<String>,
    pub state: State,
}

pub(crate) fn compile(expr: &Expr, funcs: &FunctionSet) -> Result<Compiled, EvalError> {
    let mut c = Compiler {
        funcs,
        refs: Vec::new(),
        slots: Vec::new(),
    };
    let root = c.expr(expr)?;
    Ok(Compiled {
        root,
        refs: c.refs,
        state: State { slots: c.slots },
    })
}

struct Compiler<'f> {
    funcs: &'f FunctionSet,
    refs: Vec<String>,
    slots: Vec<FnState>,
}

impl Compiler<'_> {
    fn expr(&mut self, e: &Expr) -> Result<Node, EvalError> {
        Ok(match e {
            Expr::Int(n, _) => Node::Const(Value::Int(*n)),
            Expr::Float(f, _) => Node::Const(Value::Float(*f)),
            Expr::Str(s, _) => Node::Const(Value::from(s.as_str())),
            Expr::Bool(b, _) => Node::Const(Value::Bool(*b)),
            Expr::Duration(d, _) => Node::Const(Value::Duration(*d)),
            Expr::Regex(src, pos) => Node::Const(Value::Regex(Arc::new(
                translate_regex(src).map_err(|e| EvalError::at(*pos, e))?,
            ))),
            Expr::Reference(name, _) => {
                if !self.refs.iter().any(|r| r == name) {
                    self.refs.push(name.clone());
                }
                if name == "time" {
                    Node::Time
                } else {
                    Node::Ref(name.as_str().into())
                }
            }
            Expr::Ident(name, pos) => match self.funcs.identifiers.get(name) {
                Some(v) => Node::Const(v.clone()),
                None => {
                    return Err(EvalError::at(
                        *pos,
                        format!("undefined identifier {name:?} in lambda"),
                    ));
                }
            },
            Expr::Lambda(inner, _) => self.expr(inner)?,
            Expr::Star(pos) => {
                return Err(EvalError::at(*pos, "unexpected '*' in lambda expression"));
            }
            Expr::List(_, pos) => {
                return Err(EvalError::at(*pos, "unexpected list in lambda expression"));
            }
            Expr::Unary { op, expr, .. } => {
                let x = Box::new(self.expr(expr)?);
                fold(match op {
                    UnaryOp::Neg => Node::Neg(x),
                    UnaryOp::Not => Node::Not(x),
                })
            }
            Expr::Binary { op, lhs, rhs, .. } => {
                let l = Box::new(self.expr(lhs)?);
                let r = Box::new(self.expr(rhs)?);
                specialise(fold(match op {
                    BinaryOp::And => Node::And(l, r),
                    BinaryOp::Or => Node::Or(l, r),
                    op => Node::Binary(*op, l, r),
                }))
            }
            Expr::Call { name, args, pos } => self.call(name, args, *pos)?,
        })
    }

    fn call(&mut self, name: &str, args: &[Expr], pos: Pos) -> Result<Node, EvalError> {
        let arity_error = |expected: String| {
            EvalError::at(
                pos,
                format!(
                    "wrong number of arguments to {name:?}: got {}, expected {expected}",
                    args.len()
                ),
            )
        };
        let check_arity = |arity: &RangeInclusive<usize>| {
            if arity.contains(&args.len()) {
                Ok(())
            } else {
                Err(arity_error(format!("{} to {}", arity.start(), arity.end())))
            }
        };
        let check_sigs = |sigs: &[(&[super::value::Ty], super::value::Ty)]| {
            if sigs.iter().any(|(d, _)| d.len() == args.len()) {
                Ok(())
            } else {
                Err(arity_error(format!("one of {}", format_signatures(sigs))))
            }
        };
        let kind = if let Some((arity, f)) = self.funcs.host_fns.get(name) {
            check_arity(arity)?;
            CallKind::Host(f.clone())
        } else if let Some(arity) = self.funcs.scope_fns.get(name) {
            check_arity(arity)?;
            CallKind::Scope
        } else if let Some(kind) = StatefulKind::lookup(name) {
            check_sigs(kind.signatures())?;
            self.slots.push(kind.initial());
            CallKind::Stateful {
                kind,
                slot: self.slots.len() - 1,
            }
        } else if let Some(f) = Builtin::lookup(name) {
            check_sigs(f.signatures())?;
            debug_assert!(args.len() <= MAX_ARGS);
            CallKind::Builtin(f)
        } else {
            return Err(EvalError::at(pos, format!("undefined function: {name:?}")));
        };
        let foldable = matches!(kind, CallKind::Builtin(f) if f.is_pure());
        let call = Call {
            name: name.into(),
            kind,
            args: args
                .iter()
                .map(|a| self.expr(a))
                .collect::<Result<_, _>>()?,
            arg_texts: args.iter().map(render).collect(),
        };
        let node = Node::Call(Box::new(call));
        Ok(if foldable { fold(node) } else { node })
    }
}

/// Replaces a node whose operands are all constants by its value. Evaluation errors (a type
/// mismatch, `1 / 0`) are left for run time, where they surface with the point that hit them.
fn fold(node: Node) -> Node {
    let all_const = match &node {
        Node::Neg(x) | Node::Not(x) => x.is_const(),
        Node::And(l, r) | Node::Or(l, r) | Node::Binary(_, l, r) => l.is_const() && r.is_const(),
        Node::Call(call) => call.args.iter().all(Node::is_const),
        _ => false,
    };
    if !all_const {
        return node;
    }
    let mut state = State::default();
    let mut cx = Cx {
        scope: &NoPoint,
        state: &mut state,
        refs: &[],
    };
    let folded = node.eval(&mut cx).ok().map(|v| v.into_value());
    match folded {
        Some(v) => Node::Const(v),
        None => node,
    }
}

/// `<expr> <cmp> constant` becomes [`Node::CmpConst`] (a constant on the left stays generic,
/// so error texts keep naming the sides as written).
fn specialise(node: Node) -> Node {
    let Node::Binary(op, l, r) = node else {
        return node;
    };
    let comparison = matches!(
        op,
        BinaryOp::Eq
            | BinaryOp::NotEq
            | BinaryOp::Less
            | BinaryOp::LessEq
            | BinaryOp::Greater
            | BinaryOp::GreaterEq
    );
    match (*l, *r) {
        (lhs, Node::Const(konst))
            if comparison
                && !lhs.is_const()
                && matches!(konst, Value::Int(_) | Value::Float(_) | Value::Str(_)) =>
        {
            Node::CmpConst {
                op,
                lhs: Box::new(lhs),
                konst,
            }
        }
        (l, r) => Node::Binary(op, Box::new(l), Box::new(r)),
    }
}

/// The scope used for constant folding: constant subtrees never read it.
struct NoPoint;

impl Scope for NoPoint {
    fn field(&self, _: &str) -> Option<ValueRef<'_>> {
        None
    }
    fn tag(&self, _: &str) -> Option<&str> {
        None
    }
    fn time(&self) -> i64 {
        0
    }
}

/// An argument as Kapacitor prints it in function-call errors (`"value"` for references).
fn render(e: &Expr) -> String {
    match e {
        Expr::Int(n, _) => n.to_string(),
        Expr::Float(f, _) => format_float(*f),
        Expr::Str(s, _) => format!("'{s}'"),
        Expr::Bool(b, _) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        Expr::Duration(d, _) => format_duration(*d),
        Expr::Regex(r, _) => format!("/{r}/"),
        Expr::Star(_) => "*".to_string(),
        Expr::Reference(name, _) => format!("\"{name}\""),
        Expr::Ident(name, _) => name.clone(),
        Expr::Unary { op, expr, .. } => {
            format!(
                "{}{}",
                if *op == UnaryOp::Neg { "-" } else { "!" },
                render(expr)
            )
        }
        Expr::Binary { op, lhs, rhs, .. } => {
            format!("{} {} {}", render(lhs), ops::symbol(*op), render(rhs))
        }
        Expr::Call { name, args, .. } => {
            let args: Vec<String> = args.iter().map(render).collect();
            format!("{name}({})", args.join(", "))
        }
        Expr::Lambda(inner, _) => format!("lambda: {}", render(inner)),
        Expr::List(items, _) => {
            let items: Vec<String> = items.iter().map(render).collect();
            format!("[{}]", items.join(", "))
        }
    }
}
