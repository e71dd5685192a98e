//! The pipeline a task runs: a DAG of nodes with their arguments and properties, after the
//! script has been parsed, its variables resolved and the whole checked against the node
//! catalog. This is the contract between the language (this crate) and the engine (workers).

use crate::ast::{Expr, Pos};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskType {
    Stream,
    Batch,
}

impl TaskType {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskType::Stream => "stream",
            TaskType::Batch => "batch",
        }
    }
}

/// `dbrp "db"."rp"`
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Dbrp {
    pub db: String,
    pub rp: String,
}

/// A resolved argument of a chaining method or property.
///
/// Arguments are already checked against the catalog: an int given where a float is expected
/// arrives as `Float`, and a query's `.groupBy(time(10s))` dimension arrives as
/// `Lambda(Expr::Call { name: "time", args: [Expr::Duration(..)] })` (`time(10s, 5s)`, with an
/// offset, has a second `Expr::Duration`).
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    /// Nanoseconds.
    Duration(i64),
    /// Regex source (Go RE2 syntax as written); compiled by the consumer.
    Regex(String),
    Star,
    /// A lambda expression with all variables substituted.
    Lambda(Expr),
    List(Vec<Arg>),
    /// Another node of the pipeline (e.g. the extra parents of `join`/`union`), by index.
    Node(usize),
}

/// A property method call: `.period(10s)`. Properties that open a sub-object (alert handlers
/// like `.post(url).header('k','v')`) carry the following properties that apply to it in
/// `props`.
#[derive(Debug, Clone, PartialEq)]
pub struct Property {
    pub name: String,
    pub args: Vec<Arg>,
    pub props: Vec<Property>,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Index in `Pipeline::nodes`, also the number in the node's name (`window2`).
    pub id: usize,
    /// The chaining method as written (`from`, `window`, `mean`, `httpOut`, `stream`, `batch`,
    /// `query`), or `udf:<name>` for `@name()`.
    ///
    /// `deadman(threshold, interval[, lambda…])` stays one node of kind `deadman` (Kapacitor
    /// expands it into `stats → derivative → alert` with the `[deadman]` config's id and
    /// message; the engine does that expansion). Its properties are alert properties.
    /// `stats(interval)` nodes list the observed node as their parent.
    pub kind: String,
    pub args: Vec<Arg>,
    /// Properties in script order.
    pub props: Vec<Property>,
    /// Parent nodes; the chain parent first, then extra parents (join/union arguments).
    pub parents: Vec<usize>,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    pub task_type: TaskType,
    /// Nodes in creation order; a parent always has a smaller index than its children.
    pub nodes: Vec<Node>,
    /// `dbrp` statements of the script, in order.
    pub dbrps: Vec<Dbrp>,
}
