//! The lambda evaluator: TICKscript expressions (`lambda: "usage_idle" < 70 AND "host" == 'a'`)
//! compiled once per node, then evaluated per point.
//!
//! - [`Lambda::compile`] turns an [`ast::Expr`] into a tree of resolved nodes: functions are
//!   looked up, arities checked, regexes compiled (Go syntax, see [`translate_regex`]), constant
//!   subtrees folded and a state slot assigned to each stateful call (`sigma`, `count`,
//!   `spread`).
//! - [`Lambda::eval`] / [`Lambda::eval_bool`] walk that tree against a [`Scope`] (a point).
//!   References are read as borrowed values, so comparisons and arithmetic do not allocate.
//!   Operand types are dispatched with one `match` per operator, following Kapacitor's type
//!   table; errors carry Kapacitor's texts.
//! - Stateful functions keep their memory in a [`State`] owned by the caller, one per group.
//!
//! Evaluation never panics: type errors, missing values and integer division by zero are
//! [`EvalError`]s.
//!
//! Topic-handler `match` lambdas reuse all of this with a different [`Scope`] and a
//! [`FunctionSet`] extended with `level()`, `changed()`, ... and identifiers such as `CRITICAL`.

mod compile;
mod functions;
mod gomath;
mod localtime;
mod node;
mod ops;
mod regex;
mod scope;
mod state;
mod value;

use std::fmt;
use std::sync::Arc;

use crate::ast::{self, Pos};

pub use compile::FunctionSet;
pub use regex::translate_regex;
pub use scope::Scope;
pub use state::State;
pub use value::{Value, ValueRef};

use node::{Cx, Node};
use value::Val;

/// An error compiling or evaluating a lambda. The message follows Kapacitor's wording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError {
    message: String,
    pos: Option<Pos>,
}

impl EvalError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        EvalError {
            message: message.into(),
            pos: None,
        }
    }

    pub(crate) fn at(pos: Pos, message: impl Into<String>) -> Self {
        EvalError {
            message: message.into(),
            pos: Some(pos),
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// Where in the script a compile error is (evaluation errors have no position).
    pub fn pos(&self) -> Option<Pos> {
        self.pos
    }
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EvalError {}

/// A compiled lambda. Cheap to clone and share between threads; the per-group mutable part is
/// the separate [`State`].
#[derive(Clone)]
pub struct Lambda {
    inner: Arc<Inner>,
}

struct Inner {
    root: Node,
    refs: Vec<String>,
    initial_state: State,
}

impl fmt::Debug for Lambda {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lambda")
            .field("references", &self.inner.refs)
            .finish_non_exhaustive()
    }
}

impl Lambda {
    /// Compiles with Kapacitor's built-in functions. Fails on an unknown function, a wrong
    /// number of arguments, a bad regex, or syntax that has no meaning in a lambda.
    pub fn compile(expr: &ast::Expr) -> Result<Lambda, EvalError> {
        Lambda::compile_with(expr, &FunctionSet::builtins())
    }

    /// Compiles with extra host functions and identifiers (topic-handler `match` lambdas).
    pub fn compile_with(expr: &ast::Expr, funcs: &FunctionSet) -> Result<Lambda, EvalError> {
        let c = compile::compile(expr, funcs)?;
        Ok(Lambda {
            inner: Arc::new(Inner {
                root: c.root,
                refs: c.refs,
                initial_state: c.state,
            }),
        })
    }

    /// A fresh state for one group.
    pub fn new_state(&self) -> State {
        self.inner.initial_state.clone()
    }

    /// Evaluates to a value. A bare reference to an absent field/tag yields [`Value::Missing`].
    pub fn eval(&self, scope: &dyn Scope, state: &mut State) -> Result<Value, EvalError> {
        let mut cx = Cx {
            scope,
            state,
            refs: &self.inner.refs,
        };
        self.inner.root.eval(&mut cx).map(Val::into_value)
    }

    /// Evaluates a predicate (`where`, alert levels): the result must be a boolean.
    pub fn eval_bool(&self, scope: &dyn Scope, state: &mut State) -> Result<bool, EvalError> {
        let mut cx = Cx {
            scope,
            state,
            refs: &self.inner.refs,
        };
        match self.inner.root.eval(&mut cx)? {
            Val::Bool(b) => Ok(b),
            Val::Missing => Err(EvalError::new(match &self.inner.root {
                Node::Ref(name) => format!("reference \"{name}\" is missing value"),
                _ => "TypeGuard: expression returned unexpected type missing, expected boolean"
                    .to_string(),
            })),
            v => Err(EvalError::new(format!(
                "TypeGuard: expression returned unexpected type {}, expected boolean",
                v.ty()
            ))),
        }
    }

    /// The field/tag names the lambda reads (including `"time"` if used), in order of first
    /// appearance.
    pub fn references(&self) -> Vec<String> {
        self.inner.refs.clone()
    }
}
