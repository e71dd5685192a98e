//! Canonical formatting, the same layout as Kapacitor's `tickfmt` / `script-format=formatted`
//! (tick/ast/node.go `Format`): four-space indents, `|` one level and `.` two levels below the
//! chain start, a blank line between statements, comments kept, and arguments or operands put
//! on their own lines only when the source already had them on several lines.

use crate::ast::{ChainOp, Comment, Program, Stmt, Tree, TreeKind};

const INDENT: &str = "    ";

pub fn format_program(p: &Program) -> String {
    let mut out = String::new();
    let mut first = true;
    for s in &p.stmts {
        if !first {
            out.push('\n');
        }
        first = false;
        format_stmt(&mut out, s);
        out.push('\n');
    }
    if let Some(c) = &p.trailing_comment {
        if !first {
            out.push('\n');
        }
        format_comment(&mut out, c, "", true);
        out.push('\n');
    }
    out
}

fn format_stmt(out: &mut String, s: &Stmt) {
    match s {
        Stmt::Var {
            name,
            value,
            comment,
            ..
        } => {
            if let Some(c) = comment {
                format_comment(out, c, "", true);
            }
            out.push_str("var ");
            out.push_str(name);
            out.push_str(" = ");
            format_tree(out, value, "", false);
        }
        Stmt::TypedVar {
            name, ty, comment, ..
        } => {
            if let Some(c) = comment {
                format_comment(out, c, "", true);
            }
            out.push_str("var ");
            out.push_str(name);
            out.push(' ');
            out.push_str(ty);
        }
        Stmt::Dbrp {
            db, rp, comment, ..
        } => {
            if let Some(c) = comment {
                format_comment(out, c, "", true);
            }
            out.push_str("dbrp ");
            push_quoted(out, db, '"');
            out.push('.');
            push_quoted(out, rp, '"');
        }
        Stmt::Expr(t) => format_tree(out, t, "", true),
    }
}

fn format_comment(out: &mut String, c: &Comment, indent: &str, on_new_line: bool) {
    if !on_new_line {
        out.push('\n');
    }
    for line in &c.lines {
        if line == "\n" {
            out.push('\n');
            continue;
        }
        out.push_str(indent);
        out.push_str("//");
        if !line.is_empty() {
            out.push(' ');
            out.push_str(line);
        }
        out.push('\n');
    }
}

fn push_quoted(out: &mut String, s: &str, quote: char) {
    out.push(quote);
    for c in s.chars() {
        if c == quote {
            out.push('\\');
        }
        out.push(c);
    }
    out.push(quote);
}

/// Formats a lambda body the way Kapacitor stores lambda vars (`ExpressionString`).
pub fn format_expression(t: &Tree) -> String {
    let mut out = String::new();
    format_tree(&mut out, t, "", true);
    out
}

fn format_tree(out: &mut String, t: &Tree, indent: &str, mut on_new_line: bool) {
    // A chain prints its comment before its operator, not before its left side.
    if !matches!(t.kind, TreeKind::Chain { .. }) {
        if let Some(c) = &t.comment {
            format_comment(out, c, indent, on_new_line);
            on_new_line = true;
        }
        if on_new_line {
            out.push_str(indent);
        }
    }
    match &t.kind {
        TreeKind::Int { value, octal } => {
            if *octal {
                out.push_str(&format!("0{value:o}"));
            } else {
                out.push_str(&value.to_string());
            }
        }
        TreeKind::Float(f) => out.push_str(&format_float(*f)),
        TreeKind::Duration { nanos, literal } => {
            if literal.is_empty() {
                out.push_str(&format_duration(*nanos));
            } else {
                out.push_str(literal);
            }
        }
        TreeKind::Str { value, triple } => {
            if *triple {
                out.push_str("'''");
                out.push_str(value);
                out.push_str("'''");
            } else {
                push_quoted(out, value, '\'');
            }
        }
        TreeKind::Bool(b) => out.push_str(if *b { "TRUE" } else { "FALSE" }),
        TreeKind::Regex(r) => {
            out.push('/');
            out.push_str(r);
            out.push('/');
        }
        TreeKind::Star => out.push('*'),
        TreeKind::Reference(r) => push_quoted(out, r, '"'),
        TreeKind::Ident(i) => out.push_str(i),
        TreeKind::Unary { op, operand } => {
            out.push_str(op.as_str());
            format_tree(out, operand, indent, false);
        }
        TreeKind::Binary {
            op,
            lhs,
            rhs,
            parens,
            multiline,
        } => {
            let inner;
            let indent = if *parens {
                out.push('(');
                inner = format!("{indent}{INDENT}");
                inner.as_str()
            } else {
                indent
            };
            format_tree(out, lhs, indent, false);
            out.push(' ');
            out.push_str(op.as_str());
            out.push(if *multiline { '\n' } else { ' ' });
            format_tree(out, rhs, indent, *multiline);
            if *parens {
                out.push(')');
            }
        }
        TreeKind::Func {
            name,
            args,
            multiline,
            ..
        } => {
            out.push_str(name);
            out.push('(');
            let arg_indent = format!("{indent}{INDENT}");
            for (i, a) in args.iter().enumerate() {
                if i != 0 {
                    out.push(',');
                    if !multiline {
                        out.push(' ');
                    }
                }
                if *multiline {
                    out.push('\n');
                }
                format_tree(out, a, &arg_indent, *multiline);
            }
            if *multiline && !args.is_empty() {
                out.push('\n');
                out.push_str(indent);
            }
            out.push(')');
        }
        TreeKind::Lambda(body) => {
            out.push_str("lambda: ");
            format_tree(out, body, indent, false);
        }
        TreeKind::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i != 0 {
                    out.push_str(", ");
                }
                format_tree(out, item, indent, on_new_line);
            }
            out.push(']');
        }
        TreeKind::Chain { op, lhs, rhs } => {
            format_tree(out, lhs, indent, on_new_line);
            out.push('\n');
            let mut inner = format!("{indent}{INDENT}");
            if *op == ChainOp::Dot {
                inner.push_str(INDENT);
            }
            if let Some(c) = &t.comment {
                format_comment(out, c, &inner, true);
            }
            out.push_str(&inner);
            out.push_str(op.as_str());
            format_tree(out, rhs, &inner, false);
        }
    }
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)` plus a `.0` when the result has no point.
fn format_float(f: f64) -> String {
    let mut s = format!("{f}");
    if !s.contains('.') && f.is_finite() {
        s.push_str(".0");
    }
    s
}

/// InfluxQL duration formatting, used only for durations that have no literal.
fn format_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let units: [(i64, &str); 7] = [
        (7 * 86_400_000_000_000, "w"),
        (86_400_000_000_000, "d"),
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "u"),
    ];
    for (size, unit) in units {
        if ns % size == 0 {
            return format!("{}{unit}", ns / size);
        }
    }
    format!("{ns}ns")
}

/// Prints a lambda expression (after var substitution) as TICKscript, with the parentheses
/// its tree needs. Used for lambda var values and messages.
pub fn expr_to_string(e: &crate::ast::Expr) -> String {
    let mut out = String::new();
    write_expr(&mut out, e);
    out
}

fn binary_precedence(op: crate::ast::BinaryOp) -> u8 {
    use crate::ast::BinaryOp::*;
    match op {
        Or => 0,
        And => 1,
        Eq | NotEq | RegexMatch | RegexNotMatch => 2,
        Less | LessEq | Greater | GreaterEq => 3,
        Add | Sub => 4,
        Mul | Div | Mod => 5,
    }
}

fn write_expr(out: &mut String, e: &crate::ast::Expr) {
    use crate::ast::Expr;
    match e {
        Expr::Int(i, _) => {
            if *i < 0 {
                out.push_str(&format!("-{}", i.unsigned_abs()));
            } else {
                out.push_str(&i.to_string());
            }
        }
        Expr::Float(f, _) => out.push_str(&format_float(*f)),
        Expr::Str(s, _) => push_quoted(out, s, '\''),
        Expr::Bool(b, _) => out.push_str(if *b { "TRUE" } else { "FALSE" }),
        Expr::Duration(d, _) => {
            if *d < 0 {
                out.push('-');
            }
            out.push_str(&format_duration(
                d.unsigned_abs().min(i64::MAX as u64) as i64
            ));
        }
        Expr::Regex(r, _) => {
            out.push('/');
            out.push_str(&r.replace('/', "\\/"));
            out.push('/');
        }
        Expr::Star(_) => out.push('*'),
        Expr::Reference(r, _) => push_quoted(out, r, '"'),
        Expr::Ident(i, _) => out.push_str(i),
        Expr::Unary { op, expr, .. } => {
            out.push_str(op.as_str());
            let parens = matches!(**expr, Expr::Binary { .. });
            if parens {
                out.push('(');
            }
            write_expr(out, expr);
            if parens {
                out.push(')');
            }
        }
        Expr::Binary { op, lhs, rhs, .. } => {
            let p = binary_precedence(*op);
            let lp = matches!(**lhs, Expr::Binary { op, .. } if binary_precedence(op) < p);
            let rp = matches!(**rhs, Expr::Binary { op, .. } if binary_precedence(op) <= p);
            if lp {
                out.push('(');
            }
            write_expr(out, lhs);
            if lp {
                out.push(')');
            }
            out.push(' ');
            out.push_str(op.as_str());
            out.push(' ');
            if rp {
                out.push('(');
            }
            write_expr(out, rhs);
            if rp {
                out.push(')');
            }
        }
        Expr::Call { name, args, .. } => {
            out.push_str(name);
            out.push('(');
            for (i, a) in args.iter().enumerate() {
                if i != 0 {
                    out.push_str(", ");
                }
                write_expr(out, a);
            }
            out.push(')');
        }
        Expr::Lambda(body, _) => write_expr(out, body),
        Expr::List(items, _) => {
            out.push('[');
            for (i, a) in items.iter().enumerate() {
                if i != 0 {
                    out.push_str(", ");
                }
                write_expr(out, a);
            }
            out.push(']');
        }
    }
}
