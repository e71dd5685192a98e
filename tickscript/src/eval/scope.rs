//! What a lambda reads: the [`Scope`] trait and its implementation for points.

use kapacitor_models::{FieldValue, Point};

use super::value::{Value, ValueRef};

/// The data a lambda is evaluated against. The engine implements it for points; topic-handler
/// `match` lambdas implement it for alert events.
///
/// Lookups return borrowed values so that evaluating a comparison never allocates.
pub trait Scope {
    /// A field of the point, if present.
    fn field(&self, name: &str) -> Option<ValueRef<'_>>;
    /// A tag of the point, if present.
    fn tag(&self, name: &str) -> Option<&str>;
    /// The point time, nanoseconds since the Unix epoch; `"time"` evaluates to it.
    fn time(&self) -> i64;
    /// Host functions registered with [`super::FunctionSet::with_scope_function`]
    /// (`level()`, `changed()`, ... for topic-handler `match` lambdas). The error text is
    /// reported as `error calling "<name>": <text>`.
    fn call(&self, name: &str, _args: &[Value]) -> Result<Value, String> {
        Err(format!("undefined function: {name:?}"))
    }
}

impl Scope for Point {
    fn field(&self, name: &str) -> Option<ValueRef<'_>> {
        self.fields.get(name).map(|v| match v {
            FieldValue::Float(f) => ValueRef::Float(*f),
            FieldValue::Int(i) => ValueRef::Int(*i),
            FieldValue::Str(s) => ValueRef::Str(s),
            FieldValue::Bool(b) => ValueRef::Bool(*b),
        })
    }

    fn tag(&self, name: &str) -> Option<&str> {
        self.tags.get(name).map(String::as_str)
    }

    fn time(&self) -> i64 {
        self.time
    }
}
