//! The `match` expression of a topic handler: a TICKscript lambda body evaluated per event
//! with `changed()`, `level()`, `name()`, `taskName()`, `duration()`/`alertDuration()`, the
//! identifiers `OK`..`CRITICAL`, and bare references reading the event's **tags**.

use crate::event::Event;
use crate::level::Level;
use std::sync::LazyLock;
use tickscript::ast::{Expr, FuncKind, Tree, TreeKind};
use tickscript::eval::{FunctionSet, Lambda, Scope, Value, ValueRef};

static FUNCS: LazyLock<FunctionSet> = LazyLock::new(|| {
    let mut f = FunctionSet::builtins();
    for name in [
        "changed",
        "level",
        "name",
        "taskName",
        "duration",
        "alertDuration",
    ] {
        f = f.with_scope_function(name, 0..=0);
    }
    for l in Level::ALL {
        f = f.with_identifier(l.as_str(), Value::Int(l.as_int()));
    }
    f
});

/// A compiled match expression.
#[derive(Debug, Clone)]
pub struct Matcher {
    lambda: Lambda,
    source: String,
}

impl Matcher {
    /// Compiles `changed() == TRUE`-style text; errors read `invalid match expression: ...`.
    pub fn compile(src: &str) -> Result<Matcher, String> {
        let tree =
            tickscript::parse_lambda(src).map_err(|e| format!("invalid match expression: {e}"))?;
        let expr = tree_to_expr(&tree).map_err(|e| format!("invalid match expression: {e}"))?;
        let lambda = Lambda::compile_with(&expr, &FUNCS)
            .map_err(|e| format!("invalid match expression: {e}"))?;
        Ok(Matcher {
            lambda,
            source: src.to_string(),
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the event passes. A missing tag is an error, as in Kapacitor (`no tag exists
    /// for host`), and the event is then not handled.
    pub fn matches(&self, ev: &Event) -> Result<bool, String> {
        for r in self.lambda.references() {
            if r != "time" && !ev.tags.contains_key(&r) {
                return Err(format!("no tag exists for {r}"));
            }
        }
        let mut st = self.lambda.new_state();
        self.lambda
            .eval_bool(&EventScope(ev), &mut st)
            .map_err(|e| e.to_string())
    }
}

struct EventScope<'a>(&'a Event);

impl Scope for EventScope<'_> {
    fn field(&self, _name: &str) -> Option<ValueRef<'_>> {
        None
    }

    fn tag(&self, name: &str) -> Option<&str> {
        self.0.tags.get(name).map(String::as_str)
    }

    fn time(&self) -> i64 {
        self.0.time
    }

    fn call(&self, name: &str, _args: &[Value]) -> Result<Value, String> {
        let ev = self.0;
        Ok(match name {
            "changed" => Value::Bool(ev.level != ev.previous_level),
            "level" => Value::Int(ev.level.as_int()),
            "name" => Value::from(ev.name.as_str()),
            "taskName" => Value::from(ev.task_name.as_str()),
            "duration" | "alertDuration" => Value::Duration(ev.duration),
            _ => return Err(format!("undefined function: {name:?}")),
        })
    }
}

/// The parse tree of a lambda body as an evaluator expression. Identifiers stay identifiers:
/// the function set resolves `OK`..`CRITICAL` and rejects others.
fn tree_to_expr(t: &Tree) -> Result<Expr, String> {
    let pos = t.pos;
    Ok(match &t.kind {
        TreeKind::Int { value, .. } => Expr::Int(*value, pos),
        TreeKind::Float(f) => Expr::Float(*f, pos),
        TreeKind::Duration { nanos, .. } => Expr::Duration(*nanos, pos),
        TreeKind::Str { value, .. } => Expr::Str(value.clone(), pos),
        TreeKind::Bool(b) => Expr::Bool(*b, pos),
        TreeKind::Regex(r) => Expr::Regex(r.replace("\\/", "/"), pos),
        TreeKind::Star => Expr::Star(pos),
        TreeKind::Reference(r) => Expr::Reference(r.clone(), pos),
        TreeKind::Ident(name) => Expr::Ident(name.clone(), pos),
        TreeKind::Unary { op, operand } => Expr::Unary {
            op: *op,
            expr: Box::new(tree_to_expr(operand)?),
            pos,
        },
        TreeKind::Binary { op, lhs, rhs, .. } => Expr::Binary {
            op: *op,
            lhs: Box::new(tree_to_expr(lhs)?),
            rhs: Box::new(tree_to_expr(rhs)?),
            pos,
        },
        TreeKind::Func {
            kind: FuncKind::Global,
            name,
            args,
            ..
        } => Expr::Call {
            name: name.clone(),
            args: args.iter().map(tree_to_expr).collect::<Result<_, _>>()?,
            pos,
        },
        TreeKind::Lambda(body) => tree_to_expr(body)?,
        TreeKind::List(items) => Expr::List(
            items.iter().map(tree_to_expr).collect::<Result<_, _>>()?,
            pos,
        ),
        TreeKind::Func { .. } | TreeKind::Chain { .. } => {
            return Err("a node chain cannot be used in a match expression".to_string());
        }
    })
}
