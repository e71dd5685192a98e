//! Parser, following Go's `text/template/parse/parse.go`: same grammar, same variable scoping
//! checks and the same error texts (`template: NAME:LINE: MESSAGE`).

use std::sync::Arc;

use crate::ast::{Branch, Command, List, Node, Operand, Pipe, Tree};
use crate::error::Error;
use crate::funcs::FuncMap;
use crate::lex::{Item, ItemType, lex};
use crate::value::Value;

/// Deepest nesting of parentheses and control structures we accept; it bounds the recursion
/// of both the parser and the executor.
const MAX_DEPTH: usize = 100;

type PResult<T> = Result<T, Error>;

/// What `text_or_action` found: a node, or one of the list terminators.
enum Parsed {
    Node(Node),
    End,
    Else,
    Nothing,
}

pub fn parse(name: &str, src: &str, funcs: &FuncMap) -> PResult<Tree> {
    let mut p = Parser {
        name,
        src,
        items: lex(src),
        i: 0,
        last: 0,
        vars: vec!["$".to_owned()],
        range_depth: 0,
        depth: 0,
        action_line: 0,
        funcs,
        defs: Vec::new(),
    };
    let root = p.parse_root()?;
    Ok(Tree { root, defs: p.defs })
}

struct Parser<'s, 'f> {
    name: &'s str,
    src: &'s str,
    items: Vec<Item<'s>>,
    i: usize,
    /// Index of the furthest token read; Go reports parse errors at its line.
    last: usize,
    vars: Vec<String>,
    range_depth: usize,
    depth: usize,
    action_line: usize,
    funcs: &'f FuncMap,
    defs: Vec<(String, Arc<List>)>,
}

impl<'s> Parser<'s, '_> {
    // Token access. The lexer always ends the list with Eof or Error, so clamping to the last
    // item makes reading past the end harmless.

    fn at(&mut self, idx: usize) -> Item<'s> {
        let idx = idx.min(self.items.len() - 1);
        self.last = self.last.max(idx);
        self.items[idx].clone()
    }

    fn next(&mut self) -> Item<'s> {
        let it = self.at(self.i);
        if self.i < self.items.len() {
            self.i += 1;
        }
        it
    }

    fn backup(&mut self) {
        self.i = self.i.saturating_sub(1);
    }

    fn peek(&mut self) -> Item<'s> {
        self.at(self.i)
    }

    fn next_non_space(&mut self) -> Item<'s> {
        loop {
            let t = self.next();
            if t.typ != ItemType::Space {
                return t;
            }
        }
    }

    fn peek_non_space(&mut self) -> Item<'s> {
        let t = self.next_non_space();
        self.backup();
        t
    }

    // Errors.

    fn errorf(&self, msg: impl Into<String>) -> Error {
        let item = &self.items[self.last.min(self.items.len() - 1)];
        Error::parse(self.name, self.src, item.line, item.pos, msg.into())
    }

    fn unexpected(&self, token: &Item<'_>, context: &str) -> Error {
        if token.typ == ItemType::Error {
            let mut extra = String::new();
            if self.action_line != 0 && self.action_line != token.line {
                extra = format!(" in action started at {}:{}", self.name, self.action_line);
                if token.val.ends_with(" action") {
                    extra = extra[" in action".len()..].to_owned();
                }
            }
            return self.errorf(format!("{token}{extra}"));
        }
        self.errorf(format!("unexpected {token} in {context}"))
    }

    fn expect(&mut self, typ: ItemType, context: &str) -> PResult<Item<'s>> {
        let t = self.next_non_space();
        if t.typ != typ {
            return Err(self.unexpected(&t, context));
        }
        Ok(t)
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.errorf("max expression depth exceeded"));
        }
        Ok(())
    }

    // Grammar.

    fn parse_root(&mut self) -> PResult<List> {
        let mut root = Vec::new();
        while self.peek().typ != ItemType::Eof {
            if self.peek().typ == ItemType::LeftDelim {
                let save = self.i;
                self.next();
                if self.next_non_space().typ == ItemType::Define {
                    self.parse_definition()?;
                    continue;
                }
                self.i = save;
            }
            match self.text_or_action()? {
                Parsed::Node(n) => root.push(n),
                Parsed::Nothing => {}
                Parsed::End => return Err(self.errorf("unexpected {{end}}")),
                Parsed::Else => return Err(self.errorf("unexpected {{else}}")),
            }
        }
        Ok(root)
    }

    /// Parses a body with its own variable scope, as Go does for `define` and `block`.
    fn parse_body(&mut self, context: &str) -> PResult<List> {
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".to_owned()]);
        let saved_range = std::mem::take(&mut self.range_depth);
        let (list, end) = self.item_list()?;
        self.vars = saved_vars;
        self.range_depth = saved_range;
        if !matches!(end, Parsed::End) {
            return Err(self.errorf(format!("unexpected {{{{else}}}} in {context}")));
        }
        Ok(list)
    }

    fn add_def(&mut self, name: String, list: List) -> PResult<()> {
        if let Some(existing) = self.defs.iter_mut().find(|(n, _)| *n == name) {
            if !is_empty_tree(&existing.1) {
                if is_empty_tree(&list) {
                    return Ok(());
                }
                return Err(self.errorf(format!(
                    "template: multiple definition of template {}",
                    go_quote(&name)
                )));
            }
            existing.1 = Arc::new(list);
            return Ok(());
        }
        self.defs.push((name, Arc::new(list)));
        Ok(())
    }

    fn parse_definition(&mut self) -> PResult<()> {
        const CONTEXT: &str = "define clause";
        let t = self.next_non_space();
        let name = self.template_name(&t, CONTEXT)?;
        self.expect(ItemType::RightDelim, CONTEXT)?;
        let list = self.parse_body(CONTEXT)?;
        self.add_def(name, list)
    }

    fn item_list(&mut self) -> PResult<(List, Parsed)> {
        self.enter()?;
        let mut list = Vec::new();
        while self.peek_non_space().typ != ItemType::Eof {
            match self.text_or_action()? {
                Parsed::Node(n) => list.push(n),
                Parsed::Nothing => {}
                end => {
                    self.depth -= 1;
                    return Ok((list, end));
                }
            }
        }
        Err(self.errorf("unexpected EOF"))
    }

    fn text_or_action(&mut self) -> PResult<Parsed> {
        let token = self.next_non_space();
        match token.typ {
            ItemType::Text => Ok(Parsed::Node(Node::Text(token.val.into_owned()))),
            ItemType::LeftDelim => {
                self.action_line = token.line;
                let r = self.action();
                self.action_line = 0;
                r
            }
            ItemType::Comment => Ok(Parsed::Nothing),
            _ => Err(self.unexpected(&token, "input")),
        }
    }

    fn action(&mut self) -> PResult<Parsed> {
        let token = self.next_non_space();
        let node = match token.typ {
            ItemType::Block => self.block_control()?,
            ItemType::Break | ItemType::Continue => {
                let what = if token.typ == ItemType::Break {
                    "break"
                } else {
                    "continue"
                };
                let t = self.next_non_space();
                if t.typ != ItemType::RightDelim {
                    return Err(self.unexpected(&t, &format!("{{{{{what}}}}}")));
                }
                if self.range_depth == 0 {
                    return Err(self.errorf(format!("{{{{{what}}}}} outside {{{{range}}}}")));
                }
                if token.typ == ItemType::Break {
                    Node::Break
                } else {
                    Node::Continue
                }
            }
            ItemType::Else => {
                // `{{else if ...}}` / `{{else with ...}}` leave the keyword for parse_control.
                let peek = self.peek_non_space();
                if !matches!(peek.typ, ItemType::If | ItemType::With) {
                    self.expect(ItemType::RightDelim, "else")?;
                }
                return Ok(Parsed::Else);
            }
            ItemType::End => {
                self.expect(ItemType::RightDelim, "end")?;
                return Ok(Parsed::End);
            }
            ItemType::If => Node::If(self.parse_control("if")?),
            ItemType::Range => Node::Range(self.parse_control("range")?),
            ItemType::With => Node::With(self.parse_control("with")?),
            ItemType::Template => self.template_control()?,
            _ => {
                self.backup();
                // Variables declared here persist until the enclosing {{end}}.
                Node::Action(self.pipeline("command", ItemType::RightDelim)?)
            }
        };
        Ok(Parsed::Node(node))
    }

    fn parse_control(&mut self, context: &str) -> PResult<Branch> {
        let mark = self.vars.len();
        let pipe = self.pipeline(context, ItemType::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let (list, next) = self.item_list()?;
        if context == "range" {
            self.range_depth -= 1;
        }
        let mut else_list = None;
        if let Parsed::Else = next {
            // `{{if a}}x{{else if b}}y{{end}}` is `{{if a}}x{{else}}{{if b}}y{{end}}{{end}}`.
            let peek = self.peek().typ;
            if context == "if" && peek == ItemType::If {
                self.next();
                else_list = Some(vec![Node::If(self.parse_control("if")?)]);
            } else if context == "with" && peek == ItemType::With {
                self.next();
                else_list = Some(vec![Node::With(self.parse_control("with")?)]);
            } else {
                let (list, next) = self.item_list()?;
                if !matches!(next, Parsed::End) {
                    return Err(self.errorf("expected end; found {{else}}"));
                }
                else_list = Some(list);
            }
        }
        self.vars.truncate(mark);
        Ok(Branch {
            pipe,
            list,
            else_list,
        })
    }

    fn block_control(&mut self) -> PResult<Node> {
        const CONTEXT: &str = "block clause";
        let token = self.next_non_space();
        let name = self.template_name(&token, CONTEXT)?;
        let pipe = self.pipeline(CONTEXT, ItemType::RightDelim)?;
        let list = self.parse_body(CONTEXT)?;
        self.add_def(name.clone(), list)?;
        Ok(Node::Template {
            pos: token.pos,
            name,
            pipe: Some(pipe),
        })
    }

    fn template_control(&mut self) -> PResult<Node> {
        const CONTEXT: &str = "template clause";
        let token = self.next_non_space();
        let name = self.template_name(&token, CONTEXT)?;
        let mut pipe = None;
        if self.next_non_space().typ != ItemType::RightDelim {
            self.backup();
            pipe = Some(self.pipeline(CONTEXT, ItemType::RightDelim)?);
        }
        Ok(Node::Template {
            pos: token.pos,
            name,
            pipe,
        })
    }

    fn template_name(&self, token: &Item<'_>, context: &str) -> PResult<String> {
        match token.typ {
            ItemType::String | ItemType::RawString => {
                crate::strconv::unquote(&token.val).map_err(|e| self.errorf(e))
            }
            _ => Err(self.unexpected(token, context)),
        }
    }

    fn pipeline(&mut self, context: &str, end: ItemType) -> PResult<Pipe> {
        let start = self.peek_non_space();
        let mut pipe = Pipe {
            pos: start.pos,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        // Declarations: `$x :=`, `$x =`, `$i, $e :=` (range only).
        loop {
            let v = self.peek_non_space();
            if v.typ != ItemType::Variable {
                break;
            }
            let save = self.i;
            self.next();
            let next = self.peek_non_space();
            match next.typ {
                ItemType::Assign | ItemType::Declare => {
                    pipe.is_assign = next.typ == ItemType::Assign;
                    self.next_non_space();
                    pipe.decl.push(v.val.to_string());
                    self.vars.push(v.val.to_string());
                    break;
                }
                ItemType::Char if next.val == "," => {
                    self.next_non_space();
                    pipe.decl.push(v.val.to_string());
                    self.vars.push(v.val.to_string());
                    if context == "range" && pipe.decl.len() < 2 {
                        match self.peek_non_space().typ {
                            ItemType::Variable | ItemType::RightDelim | ItemType::RightParen => {
                                continue;
                            }
                            _ => return Err(self.errorf("range can only initialize variables")),
                        }
                    }
                    return Err(self.errorf(format!("too many declarations in {context}")));
                }
                _ => {
                    self.i = save;
                    break;
                }
            }
        }
        loop {
            let token = self.next_non_space();
            if token.typ == end {
                self.check_pipeline(&pipe, context)?;
                return Ok(pipe);
            }
            match token.typ {
                ItemType::Bool
                | ItemType::CharConstant
                | ItemType::Complex
                | ItemType::Dot
                | ItemType::Field
                | ItemType::Identifier
                | ItemType::Number
                | ItemType::Nil
                | ItemType::RawString
                | ItemType::String
                | ItemType::Variable
                | ItemType::LeftParen => {
                    self.backup();
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return Err(self.unexpected(&token, context)),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str) -> PResult<()> {
        if pipe.cmds.is_empty() {
            return Err(self.errorf(format!("missing value for {context}")));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                c.args.first(),
                Some(
                    Operand::Literal { .. }
                        | Operand::Number { .. }
                        | Operand::Dot(_)
                        | Operand::Nil(_)
                )
            ) {
                return Err(self.errorf(format!(
                    "non executable command in pipeline stage {}",
                    i + 1
                )));
            }
        }
        Ok(())
    }

    fn command(&mut self) -> PResult<Command> {
        let pos = self.peek_non_space().pos;
        let mut cmd = Command {
            pos,
            args: Vec::new(),
        };
        loop {
            self.peek_non_space();
            if let Some(op) = self.operand()? {
                cmd.args.push(op);
            }
            let token = self.next();
            match token.typ {
                ItemType::Space => continue,
                ItemType::RightDelim | ItemType::RightParen => self.backup(),
                ItemType::Pipe => {}
                _ => return Err(self.unexpected(&token, "operand")),
            }
            break;
        }
        if cmd.args.is_empty() {
            return Err(self.errorf("empty command"));
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> PResult<Option<Operand>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek().typ != ItemType::Field {
            return Ok(Some(node));
        }
        let chain_pos = self.peek().pos;
        let mut fields = Vec::new();
        while self.peek().typ == ItemType::Field {
            let f = self.next();
            fields.push(f.val[1..].to_owned());
        }
        let node = match node {
            Operand::Field { mut idents, .. } => {
                idents.extend(fields);
                Operand::Field {
                    pos: chain_pos,
                    idents,
                }
            }
            Operand::Variable { mut idents, .. } => {
                idents.extend(fields);
                Operand::Variable {
                    pos: chain_pos,
                    idents,
                }
            }
            Operand::Literal { .. }
            | Operand::Number { .. }
            | Operand::Nil(_)
            | Operand::Dot(_) => {
                return Err(self.errorf(format!(
                    "unexpected . after term {}",
                    go_quote(&node.to_string())
                )));
            }
            node => Operand::Chain {
                pos: chain_pos,
                node: Box::new(node),
                fields,
            },
        };
        Ok(Some(node))
    }

    fn term(&mut self) -> PResult<Option<Operand>> {
        let token = self.next_non_space();
        let pos = token.pos;
        let op = match token.typ {
            ItemType::Identifier => {
                let name = token.val.to_string();
                let Some(func) = self.funcs.resolve(&name) else {
                    return Err(self.errorf(format!("function {} not defined", go_quote(&name))));
                };
                Operand::Function { pos, name, func }
            }
            ItemType::Dot => Operand::Dot(pos),
            ItemType::Nil => Operand::Nil(pos),
            ItemType::Variable => {
                let name = token.val.to_string();
                if !self.vars.contains(&name) {
                    return Err(self.errorf(format!("undefined variable {}", go_quote(&name))));
                }
                Operand::Variable {
                    pos,
                    idents: vec![name],
                }
            }
            ItemType::Field => Operand::Field {
                pos,
                idents: vec![token.val[1..].to_owned()],
            },
            ItemType::Bool => Operand::Literal {
                pos,
                text: token.val.to_string(),
                value: Value::Bool(token.val == "true"),
            },
            ItemType::CharConstant | ItemType::Complex | ItemType::Number => {
                self.number(pos, &token)?
            }
            ItemType::LeftParen => {
                self.enter()?;
                let pipe = self.pipeline("parenthesized pipeline", ItemType::RightParen)?;
                self.depth -= 1;
                Operand::Pipe(Box::new(pipe))
            }
            ItemType::String | ItemType::RawString => {
                let s = crate::strconv::unquote(&token.val).map_err(|e| self.errorf(e))?;
                Operand::Literal {
                    pos,
                    text: token.val.to_string(),
                    value: Value::Str(s),
                }
            }
            _ => {
                self.backup();
                return Ok(None);
            }
        };
        Ok(Some(op))
    }

    fn number(&self, pos: usize, token: &Item<'_>) -> PResult<Operand> {
        let text = token.val.to_string();
        let value = match token.typ {
            ItemType::CharConstant => {
                let s = crate::strconv::unquote(&text).map_err(|e| self.errorf(e))?;
                let c = s
                    .chars()
                    .next()
                    .ok_or_else(|| self.errorf("invalid syntax"))?;
                Some(Value::Int(i64::from(u32::from(c))))
            }
            ItemType::Complex => {
                return Err(self.errorf(format!(
                    "complex number {} is not supported",
                    go_quote(&text)
                )));
            }
            _ => match parse_number(&text) {
                Some(v) => v,
                None => {
                    return Err(self.errorf(format!("illegal number syntax: {}", go_quote(&text))));
                }
            },
        };
        Ok(Operand::Number { pos, text, value })
    }
}

/// Go's number literal rules as `idealConstant` sees them: integers (decimal, `0x`, `0o`, `0b`,
/// leading-0 octal, `_` separators) become `int`, anything with `.`/`e` a float. Returns
/// `Some(None)` for an integer that overflows `int`, `None` for bad syntax.
fn parse_number(text: &str) -> Option<Option<Value>> {
    if text.ends_with('i') {
        return None;
    }
    let clean: String = text.chars().filter(|&c| c != '_').collect();
    let (neg, body) = match clean.as_bytes().first() {
        Some(b'-') => (true, &clean[1..]),
        Some(b'+') => (false, &clean[1..]),
        _ => (false, clean.as_str()),
    };
    let lower = body.to_ascii_lowercase();
    let int = if let Some(h) = lower.strip_prefix("0x") {
        if h.contains('p') || h.contains('.') {
            return None; // hex floats are not supported
        }
        u64::from_str_radix(h, 16).ok()
    } else if let Some(o) = lower.strip_prefix("0o") {
        u64::from_str_radix(o, 8).ok()
    } else if let Some(b) = lower.strip_prefix("0b") {
        u64::from_str_radix(b, 2).ok()
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|b| b.is_ascii_digit())
    {
        u64::from_str_radix(&lower[1..], 8).ok()
    } else if lower.bytes().all(|b| b.is_ascii_digit()) && !lower.is_empty() {
        lower.parse::<u64>().ok()
    } else {
        None
    };
    let is_float_text = body.contains(['.', 'e', 'E']) && !lower.starts_with("0x");
    if let (Some(u), false) = (int, is_float_text) {
        let v = if neg {
            if u <= i64::MAX as u64 + 1 {
                Some(Value::Int((u as i64).wrapping_neg()))
            } else {
                None
            }
        } else {
            i64::try_from(u).ok().map(Value::Int)
        };
        return Some(v);
    }
    if !is_float_text && lower.bytes().all(|b| b.is_ascii_digit()) && !lower.is_empty() {
        // Decimal digits that overflow u64 (or 08-style non-octal): Go tries a float, and an
        // integral float that overflows int is reported at execution.
        let f: f64 = body.parse().ok()?;
        if f.fract() == 0.0 && f.abs() < 9.2e18 {
            let i = f as i64;
            return Some(Some(Value::Int(if neg { -i } else { i })));
        }
        return Some(None);
    }
    let f: f64 = body.parse().ok()?;
    Some(Some(Value::Float(if neg { -f } else { f })))
}

fn is_empty_tree(list: &List) -> bool {
    list.iter()
        .all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()))
}

pub(crate) fn go_quote(s: &str) -> String {
    let mut q = String::new();
    crate::strconv::quote(&mut q, s);
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_number("42"), Some(Some(Value::Int(42))));
        assert_eq!(parse_number("-42"), Some(Some(Value::Int(-42))));
        assert_eq!(parse_number("0x1F"), Some(Some(Value::Int(31))));
        assert_eq!(parse_number("017"), Some(Some(Value::Int(15))));
        assert_eq!(parse_number("1_000"), Some(Some(Value::Int(1000))));
        assert_eq!(parse_number("1.5"), Some(Some(Value::Float(1.5))));
        assert_eq!(parse_number("1e3"), Some(Some(Value::Float(1000.0))));
        assert_eq!(parse_number(".5"), Some(Some(Value::Float(0.5))));
        assert_eq!(
            parse_number("-9223372036854775808"),
            Some(Some(Value::Int(i64::MIN)))
        );
        assert_eq!(parse_number("18446744073709551615"), Some(None));
        assert_eq!(parse_number("0x1p-2"), None);
    }
}
