//! Reading a pipeline node's arguments and properties, with clear errors for what the checker
//! cannot rule out (wrong arity, negative durations, ...).

use super::EngineError;
use super::lambda::Lambda;
use tickscript::ast::Expr;
use tickscript::pipeline::{Arg, Node, Property};

/// A view on one node with its display name, for error messages.
pub struct NodeSpec<'a> {
    pub node: &'a Node,
    pub name: String,
}

impl<'a> NodeSpec<'a> {
    pub fn err(&self, msg: impl std::fmt::Display) -> EngineError {
        EngineError::InvalidNode {
            node: self.name.clone(),
            msg: msg.to_string(),
        }
    }

    /// The last occurrence of a property (later calls override earlier ones).
    pub fn prop(&self, name: &str) -> Option<&'a Property> {
        self.node.props.iter().rev().find(|p| p.name == name)
    }

    pub fn props(&self, name: &'a str) -> impl Iterator<Item = &'a Property> + 'a {
        self.node.props.iter().filter(move |p| p.name == name)
    }

    pub fn has(&self, name: &str) -> bool {
        self.prop(name).is_some()
    }

    /// A flag property like `.align()` or `.nonNegative()`; `.deleteAll(FALSE)` turns it off.
    pub fn flag(&self, name: &str) -> Result<bool, EngineError> {
        match self.prop(name) {
            None => Ok(false),
            Some(p) => match p.args.as_slice() {
                [] => Ok(true),
                [Arg::Bool(b)] => Ok(*b),
                _ => Err(self.err(format!(".{name}() takes no argument or a boolean"))),
            },
        }
    }

    pub fn arg(&self, i: usize) -> Option<&'a Arg> {
        self.node.args.get(i)
    }

    pub fn prop_duration(&self, name: &str) -> Result<Option<i64>, EngineError> {
        match self.prop(name) {
            None => Ok(None),
            Some(p) => match p.args.as_slice() {
                [a] => Ok(Some(self.duration(a, name)?)),
                _ => Err(self.err(format!(".{name}() takes one duration"))),
            },
        }
    }

    pub fn prop_int(&self, name: &str) -> Result<Option<i64>, EngineError> {
        match self.prop(name) {
            None => Ok(None),
            Some(p) => match p.args.as_slice() {
                [Arg::Int(i)] => Ok(Some(*i)),
                _ => Err(self.err(format!(".{name}() takes one integer"))),
            },
        }
    }

    pub fn prop_str(&self, name: &str) -> Result<Option<String>, EngineError> {
        match self.prop(name) {
            None => Ok(None),
            Some(p) => match p.args.as_slice() {
                [Arg::Str(s)] => Ok(Some(s.clone())),
                _ => Err(self.err(format!(".{name}() takes one string"))),
            },
        }
    }

    pub fn prop_strs(&self, name: &str) -> Result<Option<Vec<String>>, EngineError> {
        match self.prop(name) {
            None => Ok(None),
            Some(p) => Ok(Some(self.strs(&p.args, name)?)),
        }
    }

    pub fn prop_lambda(&self, name: &str) -> Result<Option<Lambda>, EngineError> {
        match self.prop(name) {
            None => Ok(None),
            Some(p) => match p.args.as_slice() {
                [a] => Ok(Some(self.lambda(a)?)),
                _ => Err(self.err(format!(".{name}() takes one lambda"))),
            },
        }
    }

    pub fn duration(&self, a: &Arg, what: &str) -> Result<i64, EngineError> {
        match a {
            Arg::Duration(d) => Ok(*d),
            Arg::Int(0) => Ok(0),
            _ => Err(self.err(format!("{what}: expected a duration"))),
        }
    }

    pub fn strs(&self, args: &[Arg], what: &str) -> Result<Vec<String>, EngineError> {
        let mut out = Vec::new();
        for a in args {
            match a {
                Arg::Str(s) => out.push(s.clone()),
                Arg::List(l) => out.extend(self.strs(l, what)?),
                _ => return Err(self.err(format!("{what}: expected strings"))),
            }
        }
        Ok(out)
    }

    pub fn lambda(&self, a: &Arg) -> Result<Lambda, EngineError> {
        match a {
            Arg::Lambda(e) => Lambda::compile(e).map_err(|e| self.err(e)),
            // A bare boolean is accepted where Kapacitor takes a lambda (`.where(TRUE)` is
            // rejected by the checker, but a var may hold a literal).
            Arg::Bool(b) => {
                Lambda::compile(&Expr::Bool(*b, Default::default())).map_err(|e| self.err(e))
            }
            _ => Err(self.err("expected a lambda expression")),
        }
    }
}

pub fn arg_f64(a: &Arg) -> Option<f64> {
    match a {
        Arg::Float(f) => Some(*f),
        Arg::Int(i) => Some(*i as f64),
        _ => None,
    }
}
