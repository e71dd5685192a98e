//! Parse tree. `Display` prints nodes back the way Go's `Node.String()` does, because Go puts
//! that text in execution errors (`executing "id" at <index .Tags 1>: ...`).

use std::fmt;
use std::sync::Arc;

use crate::funcs::FuncRef;
use crate::value::Value;

pub type List = Vec<Node>;

#[derive(Debug)]
pub enum Node {
    Text(String),
    Action(Pipe),
    If(Branch),
    Range(Branch),
    With(Branch),
    Template {
        pos: usize,
        name: String,
        pipe: Option<Pipe>,
    },
    Break,
    Continue,
}

#[derive(Debug)]
pub struct Branch {
    pub pipe: Pipe,
    pub list: List,
    pub else_list: Option<List>,
}

#[derive(Debug)]
pub struct Pipe {
    pub pos: usize,
    pub is_assign: bool,
    /// Declared or assigned variable names, including the `$`.
    pub decl: Vec<String>,
    pub cmds: Vec<Command>,
}

#[derive(Debug)]
pub struct Command {
    pub pos: usize,
    pub args: Vec<Operand>,
}

#[derive(Debug)]
pub enum Operand {
    Dot(usize),
    Nil(usize),
    /// A literal bool or string; the value is kept ready for execution.
    Literal {
        pos: usize,
        text: String,
        value: Value,
    },
    /// A number literal; `value` is `None` when it overflows Go's `int`.
    Number {
        pos: usize,
        text: String,
        value: Option<Value>,
    },
    /// `.A.B` — identifiers without dots.
    Field {
        pos: usize,
        idents: Vec<String>,
    },
    /// `$x.A.B` — `idents[0]` is the variable name with its `$`.
    Variable {
        pos: usize,
        idents: Vec<String>,
    },
    /// `(pipeline).A.B`.
    Chain {
        pos: usize,
        node: Box<Operand>,
        fields: Vec<String>,
    },
    Function {
        pos: usize,
        name: String,
        func: FuncRef,
    },
    Pipe(Box<Pipe>),
}

impl Operand {
    pub fn pos(&self) -> usize {
        match self {
            Operand::Dot(p) | Operand::Nil(p) => *p,
            Operand::Literal { pos, .. }
            | Operand::Number { pos, .. }
            | Operand::Field { pos, .. }
            | Operand::Variable { pos, .. }
            | Operand::Chain { pos, .. }
            | Operand::Function { pos, .. } => *pos,
            Operand::Pipe(p) => p.pos,
        }
    }
}

/// A parsed template body plus the templates it defines.
#[derive(Debug)]
pub struct Tree {
    pub root: List,
    pub defs: Vec<(String, Arc<List>)>,
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Dot(_) => f.write_str("."),
            Operand::Nil(_) => f.write_str("nil"),
            Operand::Literal { text, .. } | Operand::Number { text, .. } => f.write_str(text),
            Operand::Field { idents, .. } => {
                for i in idents {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
            Operand::Variable { idents, .. } => f.write_str(&idents.join(".")),
            Operand::Chain { node, fields, .. } => {
                if let Operand::Pipe(p) = node.as_ref() {
                    write!(f, "({p})")?;
                } else {
                    write!(f, "{node}")?;
                }
                for field in fields {
                    write!(f, ".{field}")?;
                }
                Ok(())
            }
            Operand::Function { name, .. } => f.write_str(name),
            Operand::Pipe(p) => write!(f, "{p}"),
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arg) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            if let Operand::Pipe(p) = arg {
                write!(f, "({p})")?;
            } else {
                write!(f, "{arg}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            f.write_str(&self.decl.join(", "))?;
            f.write_str(if self.is_assign { " = " } else { " := " })?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}
