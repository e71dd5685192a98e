//! Recursive-descent parser producing `ast::Program`, following Kapacitor's grammar
//! (tick/ast/parser.go) including where comments attach and which layouts count as
//! multi-line, since the formatter reproduces both.

use crate::ast::{
    BinaryOp, ChainOp, Comment, FuncKind, Pos, Program, Stmt, Tree, TreeKind, UnaryOp,
};
use crate::error::Error;
use crate::lexer::{LineIndex, Tok, Token, lex};

type Result<T> = std::result::Result<T, Error>;

/// Deepest syntax tree accepted. Every nesting level counts: parentheses, calls, and also each
/// link of a chain and each operator of `a + b + c`, which nest to the left. The formatter,
/// the compiler and `Drop` walk the tree recursively, so deeper input is rejected rather than
/// allowed to overflow a 2 MiB thread stack (real scripts stay far below: a 50-line script is
/// about 30 deep).
const MAX_DEPTH: u32 = 250;

pub fn parse_program(src: &str) -> Result<Program> {
    let mut p = Parser::new(src);
    let mut stmts = Vec::new();
    loop {
        if p.peek().tok == Tok::Eof {
            let trailing_comment = p.take_comment(p.idx);
            return Ok(Program {
                stmts,
                trailing_comment,
            });
        }
        stmts.push(p.statement()?);
    }
}

/// Parses the text of a lambda expression (as stored in task vars of type lambda).
pub fn parse_lambda(src: &str) -> Result<Tree> {
    let mut p = Parser::new(src);
    let e = p.primary_expr()?;
    p.expect(Tok::Eof)?;
    Ok(e)
}

struct PTok {
    tok: Tok,
    start: usize,
    end: usize,
    message: String,
    comment: Option<Comment>,
}

struct Parser<'a> {
    src: &'a str,
    lines: LineIndex,
    toks: Vec<PTok>,
    idx: usize,
    depth: u32,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Self {
        let lines = LineIndex::new(src);
        let mut toks = Vec::new();
        let mut pending: Vec<Token> = Vec::new();
        for t in lex(src) {
            if t.tok == Tok::Comment {
                pending.push(t);
                continue;
            }
            let comment = if pending.is_empty() {
                None
            } else {
                let pos = lines.pos(src, pending[0].start);
                Some(make_comment(src, pos, &std::mem::take(&mut pending)))
            };
            toks.push(PTok {
                tok: t.tok,
                start: t.start,
                end: t.end,
                message: t.message,
                comment,
            });
        }
        Parser {
            src,
            lines,
            toks,
            idx: 0,
            depth: 0,
        }
    }

    fn pos_of(&self, i: usize) -> Pos {
        self.lines.pos(self.src, self.toks[i].start)
    }

    fn peek(&self) -> &PTok {
        &self.toks[self.idx.min(self.toks.len() - 1)]
    }

    fn peek2(&self) -> Tok {
        self.toks.get(self.idx + 1).map_or(Tok::Eof, |t| t.tok)
    }

    /// Consumes a token and returns its index. The scan always ends in EOF or an error token,
    /// and neither is ever consumed past.
    fn next(&mut self) -> usize {
        let i = self.idx.min(self.toks.len() - 1);
        if self.idx < self.toks.len() - 1 {
            self.idx += 1;
        }
        i
    }

    fn text(&self, i: usize) -> &'a str {
        let t = &self.toks[i];
        &self.src[t.start..t.end]
    }

    fn take_comment(&mut self, i: usize) -> Option<Comment> {
        self.toks.get_mut(i).and_then(|t| t.comment.take())
    }

    fn expect(&mut self, tok: Tok) -> Result<usize> {
        if self.peek().tok != tok {
            return Err(self.unexpected(self.idx, &[tok]));
        }
        Ok(self.next())
    }

    fn unexpected(&self, i: usize, expected: &[Tok]) -> Error {
        let i = i.min(self.toks.len() - 1);
        let t = &self.toks[i];
        let at = t.start.min(self.src.len());
        let mut start = at.saturating_sub(10);
        while !self.src.is_char_boundary(start) {
            start += 1;
        }
        if let Some(nl) = self.src[start..at].rfind('\n') {
            start += nl + 1;
        }
        let mut stop = (at + 10).min(self.src.len());
        while !self.src.is_char_boundary(stop) {
            stop -= 1;
        }
        if let Some(nl) = self.src[at..stop].find('\n') {
            stop = at + nl;
        }
        let pos = self.pos_of(i);
        let found = if t.tok == Tok::Error {
            t.message.as_str()
        } else {
            t.tok.name()
        };
        let expected: Vec<String> = expected.iter().map(|t| format!("{:?}", t.name())).collect();
        Error::syntax(
            pos,
            format!(
                "unexpected {found} line {} char {} in {:?}. expected: {}",
                pos.line,
                pos.col,
                &self.src[start..stop],
                expected.join(",")
            ),
        )
    }

    fn invalid(&self, i: usize, reason: String) -> Error {
        let pos = self.pos_of(i);
        Error::syntax(
            pos,
            format!("{reason} at line {} char {}", pos.line, pos.col),
        )
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.invalid(
                self.idx.min(self.toks.len() - 1),
                format!("expression nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn statement(&mut self) -> Result<Stmt> {
        match self.peek().tok {
            Tok::Var => self.declaration(),
            Tok::Dbrp => self.dbrp(),
            _ => Ok(Stmt::Expr(self.expression()?)),
        }
    }

    fn declaration(&mut self) -> Result<Stmt> {
        let var = self.expect(Tok::Var)?;
        let comment = self.take_comment(var);
        let pos = self.pos_of(var);
        let name = self.expect(Tok::Ident)?;
        let name = self.text(name).to_string();
        if self.peek().tok == Tok::Asgn {
            self.next();
            let value = self.expression()?;
            Ok(Stmt::Var {
                name,
                value,
                comment,
                pos,
            })
        } else {
            let ty = self.expect(Tok::Ident)?;
            Ok(Stmt::TypedVar {
                name,
                ty: self.text(ty).to_string(),
                ty_pos: self.pos_of(ty),
                comment,
                pos,
            })
        }
    }

    fn dbrp(&mut self) -> Result<Stmt> {
        let kw = self.expect(Tok::Dbrp)?;
        let comment = self.take_comment(kw);
        let pos = self.pos_of(kw);
        let db = self.expect(Tok::Reference)?;
        self.expect(Tok::Dot)?;
        let rp = self.expect(Tok::Reference)?;
        Ok(Stmt::Dbrp {
            db: unescape_quoted(self.text(db), '"'),
            rp: unescape_quoted(self.text(rp), '"'),
            comment,
            pos,
        })
    }

    fn expression(&mut self) -> Result<Tree> {
        self.enter()?;
        let r = self.expression_inner();
        self.depth -= 1;
        r
    }

    fn expression_inner(&mut self) -> Result<Tree> {
        match self.peek().tok {
            Tok::Ident => match self.peek2() {
                Tok::LParen => {
                    let term = self.function(FuncKind::Global)?;
                    match self.peek().tok {
                        Tok::Dot | Tok::Pipe | Tok::At | Tok::Var | Tok::Ident => self.chain(term),
                        _ => self.precedence(term, 0),
                    }
                }
                Tok::Dot | Tok::At | Tok::Pipe | Tok::Var | Tok::Ident => {
                    let term = self.identifier()?;
                    self.chain(term)
                }
                _ => self.primary_expr(),
            },
            Tok::Lambda => self.lambda(),
            Tok::LBracket => self.list(),
            _ => self.primary_expr(),
        }
    }

    fn chain(&mut self, lhs: Tree) -> Result<Tree> {
        let depth = self.depth;
        let r = self.chain_links(lhs);
        self.depth = depth;
        r
    }

    fn chain_links(&mut self, mut lhs: Tree) -> Result<Tree> {
        loop {
            let op = match self.peek().tok {
                Tok::Dot => ChainOp::Dot,
                Tok::Pipe => ChainOp::Pipe,
                Tok::At => ChainOp::At,
                _ => return Ok(lhs),
            };
            // Each link nests the chain so far one level deeper.
            self.enter()?;
            let op_i = self.next();
            let comment = self.take_comment(op_i);
            let rhs = match op {
                ChainOp::Pipe => self.function(FuncKind::Chain)?,
                _ if self.peek2() == Tok::LParen => self.function(if op == ChainOp::Dot {
                    FuncKind::Property
                } else {
                    FuncKind::Dynamic
                })?,
                _ => self.identifier()?,
            };
            lhs = Tree {
                kind: TreeKind::Chain {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
                pos: self.pos_of(op_i),
                comment,
            };
        }
    }

    fn identifier(&mut self) -> Result<Tree> {
        let i = self.expect(Tok::Ident)?;
        Ok(Tree {
            kind: TreeKind::Ident(self.text(i).to_string()),
            pos: self.pos_of(i),
            comment: self.take_comment(i),
        })
    }

    /// `name(args)`: a node/property/UDF call in a chain, or a global function. Chain
    /// arguments are full expressions (lambdas, lists, other chains).
    fn function(&mut self, kind: FuncKind) -> Result<Tree> {
        let name = self.expect(Tok::Ident)?;
        let comment = self.take_comment(name);
        self.expect(Tok::LParen)?;
        let mut args = Vec::new();
        while self.peek().tok != Tok::RParen {
            args.push(self.expression()?);
            if self.peek().tok != Tok::Comma {
                break;
            }
            self.next();
        }
        self.expect(Tok::RParen)?;
        self.func_tree(name, kind, args, comment)
    }

    fn func_tree(
        &self,
        name: usize,
        kind: FuncKind,
        args: Vec<Tree>,
        comment: Option<Comment>,
    ) -> Result<Tree> {
        let pos = self.pos_of(name);
        let multiline = args.last().is_some_and(|a| a.pos.line != pos.line);
        Ok(Tree {
            kind: TreeKind::Func {
                kind,
                name: self.text(name).to_string(),
                args,
                multiline,
            },
            pos,
            comment,
        })
    }

    fn list(&mut self) -> Result<Tree> {
        let open = self.expect(Tok::LBracket)?;
        let comment = self.take_comment(open);
        let mut items = Vec::new();
        while self.peek().tok != Tok::RBracket {
            let item = match self.peek().tok {
                Tok::Ident => self.identifier()?,
                Tok::Str => self.string()?,
                Tok::Star => self.star()?,
                _ => return Err(self.unexpected(self.idx, &[Tok::Ident, Tok::Str, Tok::Star])),
            };
            items.push(item);
            if self.peek().tok != Tok::Comma {
                break;
            }
            self.next();
        }
        self.expect(Tok::RBracket)?;
        Ok(Tree {
            kind: TreeKind::List(items),
            pos: self.pos_of(open),
            comment,
        })
    }

    fn lambda(&mut self) -> Result<Tree> {
        let kw = self.expect(Tok::Lambda)?;
        let comment = self.take_comment(kw);
        let body = self.primary_expr()?;
        Ok(Tree {
            kind: TreeKind::Lambda(Box::new(body)),
            pos: self.pos_of(kw),
            comment,
        })
    }

    fn primary_expr(&mut self) -> Result<Tree> {
        let lhs = self.primary()?;
        self.precedence(lhs, 0)
    }

    /// Operator-precedence climbing; all binary operators are left-associative.
    fn precedence(&mut self, lhs: Tree, min: u8) -> Result<Tree> {
        let depth = self.depth;
        let r = self.precedence_loop(lhs, min);
        self.depth = depth;
        r
    }

    fn precedence_loop(&mut self, mut lhs: Tree, min: u8) -> Result<Tree> {
        while let Some(p) = self.peek().tok.precedence().filter(|p| *p >= min) {
            // Each operator nests the expression so far one level deeper.
            self.enter()?;
            let op_i = self.next();
            let op = binary_op(self.toks[op_i].tok);
            let comment = self.take_comment(op_i);
            let mut rhs = self.primary()?;
            while let Some(lp) = self.peek().tok.precedence().filter(|lp| *lp > p) {
                rhs = self.precedence(rhs, lp)?;
            }
            let multiline = lhs.pos.line != rhs.pos.line;
            lhs = Tree {
                kind: TreeKind::Binary {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                    parens: false,
                    multiline,
                },
                pos: self.pos_of(op_i),
                comment,
            };
        }
        Ok(lhs)
    }

    fn primary(&mut self) -> Result<Tree> {
        self.enter()?;
        let r = self.primary_inner();
        self.depth -= 1;
        r
    }

    fn primary_inner(&mut self) -> Result<Tree> {
        let i = self.idx.min(self.toks.len() - 1);
        match self.peek().tok {
            Tok::LParen => {
                self.next();
                let comment = self.take_comment(i);
                let mut n = self.primary_expr()?;
                if let TreeKind::Binary { parens, .. } = &mut n.kind {
                    *parens = true;
                }
                if comment.is_some() {
                    n.comment = comment;
                }
                self.expect(Tok::RParen)?;
                Ok(n)
            }
            Tok::Number => self.number(),
            Tok::Str => self.string(),
            Tok::True | Tok::False => {
                self.next();
                Ok(Tree {
                    kind: TreeKind::Bool(self.toks[i].tok == Tok::True),
                    pos: self.pos_of(i),
                    comment: self.take_comment(i),
                })
            }
            Tok::Duration => self.duration(),
            Tok::Regex => {
                self.next();
                let text = self.text(i);
                // Kapacitor compiles regex literals while parsing, so a bad one is a parse error.
                let source = text[1..text.len() - 1].replace("\\/", "/");
                if let Err(e) = crate::eval::translate_regex(&source) {
                    // The regex crate's messages span several lines (with a caret diagram).
                    let e = e.split_whitespace().collect::<Vec<_>>().join(" ");
                    return Err(self.invalid(i, format!("invalid regex {text}: {e}")));
                }
                Ok(Tree {
                    kind: TreeKind::Regex(text[1..text.len() - 1].to_string()),
                    pos: self.pos_of(i),
                    comment: self.take_comment(i),
                })
            }
            Tok::Star => self.star(),
            Tok::Reference => {
                self.next();
                Ok(Tree {
                    kind: TreeKind::Reference(unescape_quoted(self.text(i), '"')),
                    pos: self.pos_of(i),
                    comment: self.take_comment(i),
                })
            }
            Tok::Ident => {
                if self.peek2() == Tok::LParen {
                    self.lambda_function()
                } else {
                    self.identifier()
                }
            }
            Tok::Minus | Tok::Not => {
                self.next();
                let op = if self.toks[i].tok == Tok::Minus {
                    UnaryOp::Neg
                } else {
                    UnaryOp::Not
                };
                let comment = self.take_comment(i);
                let operand = self.primary()?;
                Ok(Tree {
                    kind: TreeKind::Unary {
                        op,
                        operand: Box::new(operand),
                    },
                    pos: self.pos_of(i),
                    comment,
                })
            }
            _ => Err(self.unexpected(
                i,
                &[
                    Tok::Number,
                    Tok::Str,
                    Tok::Duration,
                    Tok::Ident,
                    Tok::True,
                    Tok::False,
                    Tok::Equal,
                    Tok::LParen,
                    Tok::Minus,
                    Tok::Not,
                ],
            )),
        }
    }

    /// A function call inside a lambda: arguments are operator expressions only.
    fn lambda_function(&mut self) -> Result<Tree> {
        let name = self.expect(Tok::Ident)?;
        let comment = self.take_comment(name);
        self.expect(Tok::LParen)?;
        let mut args = Vec::new();
        while self.peek().tok != Tok::RParen {
            args.push(self.primary_expr()?);
            if self.peek().tok != Tok::Comma {
                break;
            }
            self.next();
        }
        self.expect(Tok::RParen)?;
        self.func_tree(name, FuncKind::Global, args, comment)
    }

    fn star(&mut self) -> Result<Tree> {
        let i = self.expect(Tok::Star)?;
        Ok(Tree {
            kind: TreeKind::Star,
            pos: self.pos_of(i),
            comment: self.take_comment(i),
        })
    }

    fn string(&mut self) -> Result<Tree> {
        let i = self.expect(Tok::Str)?;
        let text = self.text(i);
        let kind = if text.len() >= 6 && text.starts_with("'''") {
            TreeKind::Str {
                value: text[3..text.len() - 3].to_string(),
                triple: true,
            }
        } else {
            TreeKind::Str {
                value: unescape_quoted(text, '\''),
                triple: false,
            }
        };
        Ok(Tree {
            kind,
            pos: self.pos_of(i),
            comment: self.take_comment(i),
        })
    }

    /// `1.5s` lexes as the number `1.5` and the identifier `s`, `10us` as `10u` and `s`;
    /// reporting that as an undefined `s` would be confusing, so a literal glued to an
    /// identifier is reported as the malformed literal it is.
    fn check_glued_literal(&self, i: usize) -> Result<()> {
        let next = &self.toks[(i + 1).min(self.toks.len() - 1)];
        if next.tok == Tok::Ident && next.start == self.toks[i].end {
            let literal = &self.src[self.toks[i].start..next.end];
            return Err(self.invalid(
                i,
                format!(
                    "invalid number or duration {literal:?}: a duration is an integer followed \
                     by one unit of u, µ, ms, s, m, h, d, w (1500ms, not 1.5s)"
                ),
            ));
        }
        Ok(())
    }

    fn number(&mut self) -> Result<Tree> {
        let i = self.expect(Tok::Number)?;
        self.check_glued_literal(i)?;
        let text = self.text(i);
        let kind = if text.contains('.') {
            match text.parse::<f64>() {
                Ok(f) if f.is_finite() => TreeKind::Float(f),
                _ => return Err(self.invalid(i, format!("illegal number syntax: {text:?}"))),
            }
        } else {
            let octal = text.len() > 1 && text.starts_with('0');
            match i64::from_str_radix(text, if octal { 8 } else { 10 }) {
                Ok(value) => TreeKind::Int { value, octal },
                Err(_) => return Err(self.invalid(i, format!("illegal number syntax: {text:?}"))),
            }
        };
        Ok(Tree {
            kind,
            pos: self.pos_of(i),
            comment: self.take_comment(i),
        })
    }

    fn duration(&mut self) -> Result<Tree> {
        let i = self.expect(Tok::Duration)?;
        self.check_glued_literal(i)?;
        let literal = self.text(i);
        let nanos = parse_duration_literal(literal)
            .ok_or_else(|| self.invalid(i, format!("invalid duration {literal:?}: overflow")))?;
        Ok(Tree {
            kind: TreeKind::Duration {
                nanos,
                literal: literal.to_string(),
            },
            pos: self.pos_of(i),
            comment: self.take_comment(i),
        })
    }
}

/// `10s`, `5m`, `1ms`, `3u`/`3µ`, `1d`, `2w` → nanoseconds; `None` on overflow or bad syntax.
pub(crate) fn parse_duration_literal(s: &str) -> Option<i64> {
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = s.split_at(split);
    let n: i64 = digits.parse().ok()?;
    let mult: i64 = match unit {
        "u" | "µ" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60 * 1_000_000_000,
        "h" => 3_600 * 1_000_000_000,
        "d" => 86_400 * 1_000_000_000,
        "w" => 7 * 86_400 * 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn binary_op(t: Tok) -> BinaryOp {
    match t {
        Tok::Plus => BinaryOp::Add,
        Tok::Minus => BinaryOp::Sub,
        Tok::Mult => BinaryOp::Mul,
        Tok::Div => BinaryOp::Div,
        Tok::Mod => BinaryOp::Mod,
        Tok::And => BinaryOp::And,
        Tok::Or => BinaryOp::Or,
        Tok::Equal => BinaryOp::Eq,
        Tok::NotEqual => BinaryOp::NotEq,
        Tok::Less => BinaryOp::Less,
        Tok::LessEqual => BinaryOp::LessEq,
        Tok::Greater => BinaryOp::Greater,
        Tok::GreaterEqual => BinaryOp::GreaterEq,
        Tok::RegexEqual => BinaryOp::RegexMatch,
        Tok::RegexNotEqual => BinaryOp::RegexNotMatch,
        other => unreachable!("{other:?} has a precedence but is not a binary operator"),
    }
}

/// Strips the surrounding quote characters and unescapes `\<quote>` (only that escape).
fn unescape_quoted(text: &str, quote: char) -> String {
    let inner = &text[1..text.len() - 1];
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek() == Some(&quote) {
            continue;
        }
        out.push(c);
    }
    out
}

/// Builds one comment from consecutive comment tokens: each line trimmed, `//` and one space
/// removed, empty lines dropped, and a `"\n"` entry between tokens (a blank line in the source).
fn make_comment(src: &str, pos: Pos, tokens: &[Token]) -> Comment {
    let mut lines = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        if i != 0 {
            lines.push("\n".to_string());
        }
        for line in src[t.start..t.end].split('\n') {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let line = line.strip_prefix("//").unwrap_or(line);
            lines.push(line.strip_prefix(' ').unwrap_or(line).to_string());
        }
    }
    Comment { lines, pos }
}
