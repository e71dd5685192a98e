//! Syntax tree of a TICKscript program.

/// Position in the source: 1-based line and column (column counted in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `-x`
    Neg,
    /// `!x`
    Not,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    And,
    Or,
    Eq,
    NotEq,
    Less,
    LessEq,
    Greater,
    GreaterEq,
    RegexMatch,
    RegexNotMatch,
}

/// A lambda expression (the body of `lambda: ...`), or any primary expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Int(i64, Pos),
    Float(f64, Pos),
    /// Single- or triple-quoted string, unescaped.
    Str(String, Pos),
    Bool(bool, Pos),
    /// Nanoseconds.
    Duration(i64, Pos),
    /// Regex source as written between the slashes, with `\/` already unescaped.
    Regex(String, Pos),
    Star(Pos),
    /// `"name"`: a field or tag of the point.
    Reference(String, Pos),
    /// A bare identifier: a variable (resolved before evaluation).
    Ident(String, Pos),
    Unary {
        op: UnaryOp,
        expr: Box<Expr>,
        pos: Pos,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
        pos: Pos,
    },
    /// A function call inside a lambda: `sigma("value")`, `if(a, b, c)`.
    Call {
        name: String,
        args: Vec<Expr>,
        pos: Pos,
    },
    /// `lambda: <expr>` used as a value.
    Lambda(Box<Expr>, Pos),
    /// `['a', 'b']`
    List(Vec<Expr>, Pos),
}

impl Expr {
    pub fn pos(&self) -> Pos {
        match self {
            Expr::Int(_, p)
            | Expr::Float(_, p)
            | Expr::Str(_, p)
            | Expr::Bool(_, p)
            | Expr::Duration(_, p)
            | Expr::Regex(_, p)
            | Expr::Star(p)
            | Expr::Reference(_, p)
            | Expr::Ident(_, p)
            | Expr::Lambda(_, p)
            | Expr::List(_, p) => *p,
            Expr::Unary { pos, .. } | Expr::Binary { pos, .. } | Expr::Call { pos, .. } => *pos,
        }
    }
}
