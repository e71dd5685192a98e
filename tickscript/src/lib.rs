//! TICKscript, Kapacitor's task language.
//!
//! The crate is split the way a script is processed:
//! - `lexer` and `parser`: text to `ast::Program` (statements, chains, lambda expressions,
//!   comments), with Kapacitor's token rules and error messages.
//! - `format`: `ast::Program` back to text in Kapacitor's canonical layout.
//! - `catalog`: the static table of node kinds, chaining methods and property methods.
//! - `compile`: evaluates the statements (vars, chains) against the catalog into a checked
//!   `pipeline::Pipeline`, with task vars applied.
//! - `vars`: task/template vars in Kapacitor's JSON shape.
//! - `dot`: graphviz output of a pipeline, plain and with stats.
//! - `eval`: the lambda evaluator (separate owner).
//!
//! It is its own crate because it is a large, self-contained component used by three processes:
//! apid (validating and formatting scripts), the supervisor (task type and dbrps at define time)
//! and the workers (building the pipeline and evaluating lambdas).

pub mod ast;
pub mod catalog;
mod compile;
mod dot;
mod error;
pub mod eval;
mod format;
mod lexer;
mod parser;
pub mod pipeline;
mod rules;
mod vars;

pub use dot::{DotStats, NodeDotStats};
pub use error::{Error, ErrorKind};
pub use vars::{Var, VarType, VarValue, Vars};

/// Parses a script into its syntax tree.
pub fn parse(src: &str) -> Result<ast::Program, Error> {
    parser::parse_program(src)
}

/// Parses the text of a lambda expression without the `lambda:` keyword (`"usage_idle" < 10`),
/// the form lambda task vars are given in.
pub fn parse_lambda(src: &str) -> Result<ast::Tree, Error> {
    parser::parse_lambda(src)
}

/// Formats a script in Kapacitor's canonical layout. Idempotent: formatting the output again
/// returns it unchanged.
pub fn format(src: &str) -> Result<String, Error> {
    let mut out = format::format_program(&parse(src)?);
    // A comment placed inside an argument list or an expression adds a line break the
    // original layout flags did not have, which the next parse records as a multi-line
    // layout. Re-formatting until stable (at most a couple of rounds) keeps the result
    // idempotent, as a formatter must be.
    for _ in 0..3 {
        let again = format::format_program(&parse(&out)?);
        if again == out {
            break;
        }
        out = again;
    }
    Ok(out)
}

/// Formats an already-parsed program (one round, see `format`).
pub fn format_program(program: &ast::Program) -> String {
    format::format_program(program)
}

/// The vars a script declares, in Kapacitor's template-vars shape: declared values as
/// defaults, `var x type` declarations as required vars with a null value.
pub fn declared_vars(program: &ast::Program) -> Vars {
    compile::declared_vars(program)
}

/// Parses the script, applies `vars` (which override the script's own var values, with type
/// checks), and checks every node and property against the catalog.
pub fn compile(src: &str, vars: &Vars) -> Result<pipeline::Pipeline, Error> {
    let program = parse(src)?;
    compile::compile(&program, vars)
}

/// `compile` for an already-parsed program.
pub fn compile_program(program: &ast::Program, vars: &Vars) -> Result<pipeline::Pipeline, Error> {
    compile::compile(program, vars)
}

/// Formats a lambda body the way Kapacitor stores lambda vars: `"usage_idle" < 10`.
pub fn format_lambda(body: &ast::Tree) -> String {
    format::format_expression(body)
}

/// Prints a (var-substituted) lambda expression as TICKscript.
pub fn expr_to_string(expr: &ast::Expr) -> String {
    format::expr_to_string(expr)
}
