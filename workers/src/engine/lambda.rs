//! Lambda expressions as the engine uses them: compiled once per node with the shared
//! evaluator (`tickscript::eval`), evaluated per point with one `State` per group.

use kapacitor_models::{FieldValue, Point};
use tickscript::ast::Expr;
pub use tickscript::eval::{State, Value};

#[derive(Debug, Clone)]
pub struct Lambda(tickscript::eval::Lambda);

impl Lambda {
    pub fn compile(e: &Expr) -> Result<Lambda, String> {
        let e = match e {
            Expr::Lambda(inner, _) => inner,
            e => e,
        };
        tickscript::eval::Lambda::compile(e)
            .map(Lambda)
            .map_err(|e| e.to_string())
    }

    pub fn new_state(&self) -> State {
        self.0.new_state()
    }

    pub fn eval(&self, p: &Point, st: &mut State) -> Result<Value, String> {
        self.0.eval(p, st).map_err(|e| e.to_string())
    }

    pub fn eval_bool(&self, p: &Point, st: &mut State) -> Result<bool, String> {
        self.0.eval_bool(p, st).map_err(|e| e.to_string())
    }
}

/// A lambda result as a point field. Durations become integer nanoseconds (Kapacitor stores
/// them as Go durations, which line protocol writes as integers); a missing value, a time or a
/// regex cannot be a field.
pub fn to_field(v: &Value) -> Option<FieldValue> {
    Some(match v {
        Value::Int(i) => FieldValue::Int(*i),
        Value::Float(f) => FieldValue::Float(*f),
        Value::Str(s) => FieldValue::Str(s.to_string()),
        Value::Bool(b) => FieldValue::Bool(*b),
        Value::Duration(d) => FieldValue::Int(*d),
        Value::Time(_) | Value::Regex(_) | Value::Missing => return None,
    })
}
