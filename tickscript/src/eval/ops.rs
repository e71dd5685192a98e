//! Binary and unary operators: Kapacitor's type table (tick/stateful/evaluation_funcs.go) and
//! its error texts.
//!
//! Comparisons mix int and float numerically; arithmetic does not (`int * float` is an error).
//! Integer overflow wraps as in Go. Integer division or modulo by zero, which panics in Go, is an
//! error here.

use std::borrow::Cow;

use crate::ast::BinaryOp;

use super::value::{Ty, Val};

/// Why an operator could not be applied.
#[derive(Debug)]
pub(crate) enum OpFailure {
    /// The operand types have no entry in the table.
    Types,
    DivideByZero,
}

pub(crate) const DIVIDE_BY_ZERO: &str = "integer divide by zero";

pub(crate) fn symbol(op: BinaryOp) -> &'static str {
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

fn kind(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => "math",
        BinaryOp::And | BinaryOp::Or => "logical",
        _ => "comparison",
    }
}

/// Whether `ty` appears on either side of any table entry for `op` (Kapacitor's
/// `typeToBinaryOperators`), which decides between the two type-error texts.
fn type_has_operator(ty: Ty, op: BinaryOp) -> bool {
    use BinaryOp::*;
    match ty {
        Ty::Bool => matches!(op, And | Or | Eq | NotEq),
        Ty::Float | Ty::Duration => {
            matches!(
                op,
                Eq | NotEq | Less | LessEq | Greater | GreaterEq | Add | Sub | Mul | Div
            )
        }
        Ty::Int => matches!(
            op,
            Eq | NotEq | Less | LessEq | Greater | GreaterEq | Add | Sub | Mul | Div | Mod
        ),
        Ty::Str => matches!(
            op,
            Eq | NotEq | Less | LessEq | Greater | GreaterEq | RegexMatch | RegexNotMatch | Add
        ),
        Ty::Regex => matches!(op, RegexMatch | RegexNotMatch),
        Ty::Time | Ty::Missing => false,
    }
}

/// The error for operand types with no table entry. Like Kapacitor, only the left type is
/// checked for support of the operator.
pub(crate) fn type_error(op: BinaryOp, left: Ty, right: Ty) -> String {
    if !type_has_operator(left, op) {
        format!(
            "invalid {} operator {} for type {}",
            kind(op),
            symbol(op),
            left
        )
    } else {
        format!(
            "mismatched type to binary operator. got {} {} {}. see bool(), int(), float(), string(), duration()",
            left,
            symbol(op),
            right
        )
    }
}

#[inline]
pub(crate) fn compare<T: PartialOrd + ?Sized>(op: BinaryOp, a: &T, b: &T) -> Option<bool> {
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

/// Applies a non-logical binary operator (`AND`/`OR` short-circuit in the evaluator).
pub(crate) fn apply<'a>(op: BinaryOp, l: &Val<'a>, r: &Val<'a>) -> Result<Val<'a>, OpFailure> {
    use BinaryOp::*;
    use Val as V;
    let cmp = match (l, r) {
        (V::Float(a), V::Float(b)) => compare(op, a, b),
        (V::Int(a), V::Int(b)) => compare(op, a, b),
        (V::Int(a), V::Float(b)) => compare(op, &(*a as f64), b),
        (V::Float(a), V::Int(b)) => compare(op, a, &(*b as f64)),
        (V::Str(a), V::Str(b)) => compare(op, a.as_ref(), b.as_ref()),
        (V::Duration(a), V::Duration(b)) => compare(op, a, b),
        (V::Bool(a), V::Bool(b)) if matches!(op, Eq | NotEq) => compare(op, a, b),
        _ => None,
    };
    if let Some(b) = cmp {
        return Ok(V::Bool(b));
    }
    Ok(match (op, l, r) {
        (RegexMatch, V::Str(s), V::Regex(re)) => V::Bool(re.is_match(s)),
        (RegexNotMatch, V::Str(s), V::Regex(re)) => V::Bool(!re.is_match(s)),

        (Add, V::Float(a), V::Float(b)) => V::Float(a + b),
        (Sub, V::Float(a), V::Float(b)) => V::Float(a - b),
        (Mul, V::Float(a), V::Float(b)) => V::Float(a * b),
        (Div, V::Float(a), V::Float(b)) => V::Float(a / b),

        (Add, V::Int(a), V::Int(b)) => V::Int(a.wrapping_add(*b)),
        (Sub, V::Int(a), V::Int(b)) => V::Int(a.wrapping_sub(*b)),
        (Mul, V::Int(a), V::Int(b)) => V::Int(a.wrapping_mul(*b)),
        (Div, V::Int(a), V::Int(b)) => V::Int(a.wrapping_div(nonzero(*b)?)),
        (Mod, V::Int(a), V::Int(b)) => V::Int(a.wrapping_rem(nonzero(*b)?)),

        (Add, V::Duration(a), V::Duration(b)) => V::Duration(a.wrapping_add(*b)),
        (Sub, V::Duration(a), V::Duration(b)) => V::Duration(a.wrapping_sub(*b)),
        (Mul, V::Duration(a), V::Int(b)) | (Mul, V::Int(b), V::Duration(a)) => {
            V::Duration(a.wrapping_mul(*b))
        }
        (Mul, V::Duration(a), V::Float(b)) | (Mul, V::Float(b), V::Duration(a)) => {
            V::Duration((*a as f64 * b) as i64)
        }
        (Div, V::Duration(a), V::Int(b)) => V::Duration(a.wrapping_div(nonzero(*b)?)),
        (Div, V::Duration(a), V::Float(b)) => V::Duration((*a as f64 / b) as i64),
        (Div, V::Duration(a), V::Duration(b)) => V::Int(a.wrapping_div(nonzero(*b)?)),

        (Add, V::Str(a), V::Str(b)) => {
            let mut s = String::with_capacity(a.len() + b.len());
            s.push_str(a);
            s.push_str(b);
            V::Str(Cow::Owned(s))
        }
        _ => return Err(OpFailure::Types),
    })
}

/// Integer division/modulo by zero is an error (a panic in Go); `MIN / -1` wraps like Go.
fn nonzero(b: i64) -> Result<i64, OpFailure> {
    if b == 0 {
        Err(OpFailure::DivideByZero)
    } else {
        Ok(b)
    }
}

/// `-x`: numbers and durations.
pub(crate) fn negate<'a>(v: &Val<'a>) -> Option<Val<'a>> {
    match v {
        Val::Int(n) => Some(Val::Int(n.wrapping_neg())),
        Val::Float(f) => Some(Val::Float(-f)),
        Val::Duration(d) => Some(Val::Duration(d.wrapping_neg())),
        _ => None,
    }
}
