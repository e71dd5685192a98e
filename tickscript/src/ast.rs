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

// ---------------------------------------------------------------------------------------------
// The syntax tree of a whole script. `Expr` above is the evaluator's view of one lambda body;
// the types below keep everything the formatter needs (comments, parentheses, line breaks,
// literals as written) and are turned into `Expr`/`pipeline::Arg` by `compile`.

/// A parsed script: statements in order, plus the comment block after the last statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    pub stmts: Vec<Stmt>,
    pub trailing_comment: Option<Comment>,
}

/// A block of `//` comment lines. A `"\n"` entry stands for a blank line between two blocks.
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    pub lines: Vec<String>,
    pub pos: Pos,
}

impl Comment {
    /// The comment as a var description: its lines joined by newlines.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    /// `var name = value`
    Var {
        name: String,
        value: Tree,
        comment: Option<Comment>,
        pos: Pos,
    },
    /// `var name type`: a template var that must be given a value by the task.
    TypedVar {
        name: String,
        ty: String,
        /// Position of the type identifier (reported if the type is unknown).
        ty_pos: Pos,
        comment: Option<Comment>,
        pos: Pos,
    },
    /// `dbrp "db"."rp"`
    Dbrp {
        db: String,
        rp: String,
        comment: Option<Comment>,
        pos: Pos,
    },
    /// Any other expression, usually a node chain.
    Expr(Tree),
}

/// One syntax node with its position and the comment written just before it.
#[derive(Debug, Clone, PartialEq)]
pub struct Tree {
    pub kind: TreeKind,
    pub pos: Pos,
    pub comment: Option<Comment>,
}

/// Whether a call creates a node (`|`), sets a property (`.`), calls a UDF (`@`), or is a
/// plain function (`time(10s)` in a chain argument, `sigma("x")` in a lambda).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FuncKind {
    Global,
    Chain,
    Property,
    Dynamic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChainOp {
    /// `|`
    Pipe,
    /// `.`
    Dot,
    /// `@`
    At,
}

impl ChainOp {
    pub fn as_str(self) -> &'static str {
        match self {
            ChainOp::Pipe => "|",
            ChainOp::Dot => ".",
            ChainOp::At => "@",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum TreeKind {
    /// Integer literal; `octal` when written with a leading zero (`0644`).
    Int {
        value: i64,
        octal: bool,
    },
    Float(f64),
    /// Duration in nanoseconds and the literal as written (`1m`), which the formatter keeps.
    Duration {
        nanos: i64,
        literal: String,
    },
    /// String literal, unescaped; `triple` for `'''...'''`.
    Str {
        value: String,
        triple: bool,
    },
    Bool(bool),
    /// Regex literal as written between the slashes (`\/` still escaped).
    Regex(String),
    Star,
    /// `"name"`, unescaped.
    Reference(String),
    Ident(String),
    Unary {
        op: UnaryOp,
        operand: Box<Tree>,
    },
    /// `pos` of a binary tree is the position of its operator.
    Binary {
        op: BinaryOp,
        lhs: Box<Tree>,
        rhs: Box<Tree>,
        /// Written inside parentheses.
        parens: bool,
        /// The right operand started on a new line.
        multiline: bool,
    },
    Func {
        kind: FuncKind,
        name: String,
        args: Vec<Tree>,
        /// Arguments were spread over several lines.
        multiline: bool,
    },
    /// `lambda: expr`
    Lambda(Box<Tree>),
    /// `['a', b, *]`
    List(Vec<Tree>),
    /// `lhs | rhs`, `lhs . rhs`, `lhs @ rhs`; `rhs` is a `Func` (or an `Ident` for `.name`).
    Chain {
        op: ChainOp,
        lhs: Box<Tree>,
        rhs: Box<Tree>,
    },
}

impl BinaryOp {
    pub fn as_str(self) -> &'static str {
        match self {
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
}

impl UnaryOp {
    pub fn as_str(self) -> &'static str {
        match self {
            UnaryOp::Neg => "-",
            UnaryOp::Not => "!",
        }
    }
}

impl Program {
    /// A copy without positions, comments and layout flags: two programs that differ only in
    /// formatting have equal `normalized()` forms.
    pub fn normalized(&self) -> Program {
        Program {
            stmts: self
                .stmts
                .iter()
                .map(|s| match s {
                    Stmt::Var { name, value, .. } => Stmt::Var {
                        name: name.clone(),
                        value: value.normalized(),
                        comment: None,
                        pos: Pos::default(),
                    },
                    Stmt::TypedVar { name, ty, .. } => Stmt::TypedVar {
                        name: name.clone(),
                        ty: ty.clone(),
                        ty_pos: Pos::default(),
                        comment: None,
                        pos: Pos::default(),
                    },
                    Stmt::Dbrp { db, rp, .. } => Stmt::Dbrp {
                        db: db.clone(),
                        rp: rp.clone(),
                        comment: None,
                        pos: Pos::default(),
                    },
                    Stmt::Expr(t) => Stmt::Expr(t.normalized()),
                })
                .collect(),
            trailing_comment: None,
        }
    }
}

impl Tree {
    pub fn new(kind: TreeKind, pos: Pos) -> Tree {
        Tree {
            kind,
            pos,
            comment: None,
        }
    }

    /// See `Program::normalized`.
    pub fn normalized(&self) -> Tree {
        let b = |t: &Tree| Box::new(t.normalized());
        let kind = match &self.kind {
            TreeKind::Unary { op, operand } => TreeKind::Unary {
                op: *op,
                operand: b(operand),
            },
            TreeKind::Binary { op, lhs, rhs, .. } => TreeKind::Binary {
                op: *op,
                lhs: b(lhs),
                rhs: b(rhs),
                parens: false,
                multiline: false,
            },
            TreeKind::Func {
                kind, name, args, ..
            } => TreeKind::Func {
                kind: *kind,
                name: name.clone(),
                args: args.iter().map(Tree::normalized).collect(),
                multiline: false,
            },
            TreeKind::Lambda(e) => TreeKind::Lambda(b(e)),
            TreeKind::List(items) => TreeKind::List(items.iter().map(Tree::normalized).collect()),
            TreeKind::Chain { op, lhs, rhs } => TreeKind::Chain {
                op: *op,
                lhs: b(lhs),
                rhs: b(rhs),
            },
            TreeKind::Duration { nanos, .. } => TreeKind::Duration {
                nanos: *nanos,
                literal: String::new(),
            },
            TreeKind::Int { value, .. } => TreeKind::Int {
                value: *value,
                octal: false,
            },
            TreeKind::Str { value, .. } => TreeKind::Str {
                value: value.clone(),
                triple: false,
            },
            other => other.clone(),
        };
        Tree::new(kind, Pos::default())
    }
}
