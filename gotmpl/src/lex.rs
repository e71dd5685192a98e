//! Tokenizer for template text, following Go's `text/template/parse/lex.go` (same token kinds,
//! trim-marker and comment rules, and error texts).

use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemType {
    Error,
    Bool,
    /// A printable ASCII character not otherwise used in actions (`,` in range declarations).
    Char,
    CharConstant,
    Comment,
    Complex,
    Assign,
    Declare,
    Eof,
    Field,
    Identifier,
    LeftDelim,
    LeftParen,
    Number,
    Pipe,
    RawString,
    RightDelim,
    RightParen,
    Space,
    String,
    Text,
    Variable,
    // Keywords.
    Block,
    Break,
    Continue,
    Dot,
    Define,
    Else,
    End,
    If,
    Nil,
    Range,
    Template,
    With,
}

impl ItemType {
    fn is_keyword(self) -> bool {
        matches!(
            self,
            ItemType::Block
                | ItemType::Break
                | ItemType::Continue
                | ItemType::Dot
                | ItemType::Define
                | ItemType::Else
                | ItemType::End
                | ItemType::If
                | ItemType::Nil
                | ItemType::Range
                | ItemType::Template
                | ItemType::With
        )
    }
}

#[derive(Debug, Clone)]
pub struct Item<'s> {
    pub typ: ItemType,
    pub pos: usize,
    pub line: usize,
    pub val: Cow<'s, str>,
}

impl std::fmt::Display for Item<'_> {
    /// Go's `item.String()`, used in "unexpected X in Y" messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.typ {
            ItemType::Eof => f.write_str("EOF"),
            ItemType::Error => f.write_str(&self.val),
            t if t.is_keyword() => write!(f, "<{}>", self.val),
            _ => {
                let mut q = String::new();
                if self.val.chars().count() > 10 {
                    let head: String = self.val.chars().take(10).collect();
                    crate::strconv::quote(&mut q, &head);
                    write!(f, "{q}...")
                } else {
                    crate::strconv::quote(&mut q, &self.val);
                    f.write_str(&q)
                }
            }
        }
    }
}

const LEFT_DELIM: &str = "{{";
const RIGHT_DELIM: &str = "}}";
const LEFT_COMMENT: &str = "/*";
const RIGHT_COMMENT: &str = "*/";
/// Length of `" -"` / `"- "`.
const TRIM_MARKER_LEN: usize = 2;

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alphanumeric(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

fn has_left_trim_marker(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0] == b'-' && is_space(b[1] as char)
}

fn has_right_trim_marker(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && is_space(b[0] as char) && b[1] == b'-'
}

fn left_trim_length(s: &str) -> usize {
    s.len() - s.trim_start_matches(is_space).len()
}

fn right_trim_length(s: &str) -> usize {
    s.len() - s.trim_end_matches(is_space).len()
}

#[derive(Clone, Copy)]
enum State {
    Text,
    LeftDelim,
    InsideAction,
    Done,
}

/// Tokenizes the whole input; the last item is always `Eof` or `Error`.
pub fn lex(input: &str) -> Vec<Item<'_>> {
    let mut l = Lexer {
        input,
        pos: 0,
        start: 0,
        line: 1,
        start_line: 1,
        paren_depth: 0,
        items: Vec::new(),
    };
    let mut state = State::Text;
    loop {
        state = match state {
            State::Text => l.lex_text(),
            State::LeftDelim => l.lex_left_delim(),
            State::InsideAction => l.lex_inside_action(),
            State::Done => break,
        };
    }
    l.items
}

struct Lexer<'s> {
    input: &'s str,
    pos: usize,
    start: usize,
    /// Line of `pos`.
    line: usize,
    /// Line of `start`.
    start_line: usize,
    paren_depth: i32,
    items: Vec<Item<'s>>,
}

impl<'s> Lexer<'s> {
    fn rest(&self) -> &'s str {
        &self.input[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn backup(&mut self, c: char) {
        self.pos -= c.len_utf8();
        if c == '\n' {
            self.line -= 1;
        }
    }

    fn accept(&mut self, valid: &str) -> bool {
        match self.peek() {
            Some(c) if valid.contains(c) => {
                self.next();
                true
            }
            _ => false,
        }
    }

    fn accept_run(&mut self, valid: &str) {
        while self.accept(valid) {}
    }

    /// Moves `pos` forward over text that was examined by slicing rather than `next`.
    fn advance(&mut self, n: usize) {
        self.line += self.input[self.pos..self.pos + n].matches('\n').count();
        self.pos += n;
    }

    fn emit(&mut self, typ: ItemType) {
        self.items.push(Item {
            typ,
            pos: self.start,
            line: self.start_line,
            val: Cow::Borrowed(&self.input[self.start..self.pos]),
        });
        self.ignore();
    }

    fn ignore(&mut self) {
        self.start = self.pos;
        self.start_line = self.line;
    }

    fn error(&mut self, msg: String) -> State {
        self.items.push(Item {
            typ: ItemType::Error,
            pos: self.start,
            line: self.start_line,
            val: Cow::Owned(msg),
        });
        State::Done
    }

    /// Whether the input is at a right delimiter, and whether it is preceded by a trim marker.
    fn at_right_delim(&self) -> (bool, bool) {
        let rest = self.rest();
        if has_right_trim_marker(rest) && rest[TRIM_MARKER_LEN..].starts_with(RIGHT_DELIM) {
            return (true, true);
        }
        (rest.starts_with(RIGHT_DELIM), false)
    }

    fn at_terminator(&self) -> bool {
        match self.peek() {
            None => true,
            Some(c) if is_space(c) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(') => true,
            _ => self.rest().starts_with(RIGHT_DELIM),
        }
    }

    fn lex_text(&mut self) -> State {
        if let Some(x) = self.rest().find(LEFT_DELIM) {
            if x > 0 {
                let delim_at = self.pos + x;
                let mut trim = 0;
                if has_left_trim_marker(&self.input[delim_at + LEFT_DELIM.len()..]) {
                    trim = right_trim_length(&self.input[self.start..delim_at]);
                }
                self.advance(x - trim);
                if self.pos > self.start {
                    self.emit(ItemType::Text);
                }
                self.advance(trim);
                self.ignore();
            }
            return State::LeftDelim;
        }
        let n = self.rest().len();
        self.advance(n);
        if self.pos > self.start {
            self.emit(ItemType::Text);
        }
        self.emit(ItemType::Eof);
        State::Done
    }

    fn lex_left_delim(&mut self) -> State {
        self.advance(LEFT_DELIM.len());
        let trim = has_left_trim_marker(self.rest());
        let after_marker = if trim { TRIM_MARKER_LEN } else { 0 };
        if self.rest()[after_marker..].starts_with(LEFT_COMMENT) {
            self.advance(after_marker);
            self.ignore();
            return self.lex_comment();
        }
        self.emit(ItemType::LeftDelim);
        self.advance(after_marker);
        self.ignore();
        self.paren_depth = 0;
        State::InsideAction
    }

    fn lex_comment(&mut self) -> State {
        self.advance(LEFT_COMMENT.len());
        let Some(x) = self.rest().find(RIGHT_COMMENT) else {
            return self.error("unclosed comment".into());
        };
        self.advance(x + RIGHT_COMMENT.len());
        let (delim, trim) = self.at_right_delim();
        if !delim {
            return self.error("comment ends before closing delimiter".into());
        }
        self.emit(ItemType::Comment);
        if trim {
            self.advance(TRIM_MARKER_LEN);
        }
        self.advance(RIGHT_DELIM.len());
        if trim {
            let n = left_trim_length(self.rest());
            self.advance(n);
        }
        self.ignore();
        State::Text
    }

    fn lex_right_delim(&mut self) -> State {
        let (_, trim) = self.at_right_delim();
        if trim {
            self.advance(TRIM_MARKER_LEN);
            self.ignore();
        }
        self.advance(RIGHT_DELIM.len());
        self.emit(ItemType::RightDelim);
        if trim {
            let n = left_trim_length(self.rest());
            self.advance(n);
            self.ignore();
        }
        State::Text
    }

    fn lex_inside_action(&mut self) -> State {
        loop {
            let (delim, _) = self.at_right_delim();
            if delim {
                if self.paren_depth == 0 {
                    return self.lex_right_delim();
                }
                return self.error("unclosed left paren".into());
            }
            let Some(c) = self.next() else {
                return self.error("unclosed action".into());
            };
            match c {
                c if is_space(c) => {
                    self.backup(c);
                    if let Some(s) = self.lex_space() {
                        return s;
                    }
                }
                '=' => self.emit(ItemType::Assign),
                ':' => {
                    if self.next() != Some('=') {
                        return self.error("expected :=".into());
                    }
                    self.emit(ItemType::Declare);
                }
                '|' => self.emit(ItemType::Pipe),
                '"' => {
                    if let Some(s) = self.lex_quote() {
                        return s;
                    }
                }
                '`' => {
                    if let Some(s) = self.lex_raw_quote() {
                        return s;
                    }
                }
                '$' => {
                    if let Some(s) = self.lex_variable() {
                        return s;
                    }
                }
                '\'' => {
                    if let Some(s) = self.lex_char() {
                        return s;
                    }
                }
                '.' if self.peek().is_some_and(|n| !n.is_ascii_digit()) => {
                    if let Some(s) = self.lex_field_or_variable(ItemType::Field) {
                        return s;
                    }
                }
                '.' | '+' | '-' | '0'..='9' => {
                    self.backup(c);
                    if let Some(s) = self.lex_number() {
                        return s;
                    }
                }
                c if is_alphanumeric(c) => {
                    self.backup(c);
                    if let Some(s) = self.lex_identifier() {
                        return s;
                    }
                }
                '(' => {
                    self.emit(ItemType::LeftParen);
                    self.paren_depth += 1;
                }
                ')' => {
                    self.emit(ItemType::RightParen);
                    self.paren_depth -= 1;
                    if self.paren_depth < 0 {
                        return self.error("unexpected right paren".into());
                    }
                }
                c if c.is_ascii() && !c.is_ascii_control() => self.emit(ItemType::Char),
                c => return self.error(format!("unrecognized character in action: {}", go_u(c))),
            }
        }
    }

    /// Returns `Some(state)` when the action ends right here at a ` -}}`.
    fn lex_space(&mut self) -> Option<State> {
        let mut spaces = 0;
        while let Some(c) = self.peek() {
            if !is_space(c) {
                break;
            }
            self.next();
            spaces += 1;
        }
        // A trim-marked closing delimiter starts with a space; leave that space to it.
        let before = &self.input[self.pos - 1..];
        if has_right_trim_marker(before) && before[TRIM_MARKER_LEN..].starts_with(RIGHT_DELIM) {
            let c = self.input[..self.pos].chars().next_back().unwrap_or(' ');
            self.backup(c);
            if spaces == 1 {
                return Some(self.lex_right_delim());
            }
        }
        self.emit(ItemType::Space);
        None
    }

    fn lex_identifier(&mut self) -> Option<State> {
        while let Some(c) = self.next() {
            if !is_alphanumeric(c) {
                self.backup(c);
                break;
            }
        }
        if !self.at_terminator() {
            let c = self.peek().unwrap_or('\u{fffd}');
            return Some(self.error(format!("bad character {}", go_u(c))));
        }
        let word = &self.input[self.start..self.pos];
        let typ = match word {
            "block" => ItemType::Block,
            "break" => ItemType::Break,
            "continue" => ItemType::Continue,
            "define" => ItemType::Define,
            "else" => ItemType::Else,
            "end" => ItemType::End,
            "if" => ItemType::If,
            "range" => ItemType::Range,
            "nil" => ItemType::Nil,
            "template" => ItemType::Template,
            "with" => ItemType::With,
            "true" | "false" => ItemType::Bool,
            _ => ItemType::Identifier,
        };
        self.emit(typ);
        None
    }

    fn lex_variable(&mut self) -> Option<State> {
        if self.at_terminator() {
            self.emit(ItemType::Variable);
            return None;
        }
        self.lex_field_or_variable(ItemType::Variable)
    }

    /// Lexes `.Field` or `$var` (the `.` or `$` has been consumed).
    fn lex_field_or_variable(&mut self, typ: ItemType) -> Option<State> {
        if self.at_terminator() {
            self.emit(if typ == ItemType::Variable {
                ItemType::Variable
            } else {
                ItemType::Dot
            });
            return None;
        }
        let mut last = None;
        while let Some(c) = self.next() {
            if !is_alphanumeric(c) {
                self.backup(c);
                last = Some(c);
                break;
            }
        }
        if !self.at_terminator() {
            let c = last.unwrap_or('\u{fffd}');
            return Some(self.error(format!("bad character {}", go_u(c))));
        }
        self.emit(typ);
        None
    }

    fn lex_char(&mut self) -> Option<State> {
        loop {
            match self.next() {
                Some('\\') => match self.next() {
                    Some('\n') | None => {
                        return Some(self.error("unterminated character constant".into()));
                    }
                    _ => {}
                },
                Some('\n') | None => {
                    return Some(self.error("unterminated character constant".into()));
                }
                Some('\'') => break,
                _ => {}
            }
        }
        self.emit(ItemType::CharConstant);
        None
    }

    fn lex_quote(&mut self) -> Option<State> {
        loop {
            match self.next() {
                Some('\\') => match self.next() {
                    Some('\n') | None => {
                        return Some(self.error("unterminated quoted string".into()));
                    }
                    _ => {}
                },
                Some('\n') | None => {
                    return Some(self.error("unterminated quoted string".into()));
                }
                Some('"') => break,
                _ => {}
            }
        }
        self.emit(ItemType::String);
        None
    }

    fn lex_raw_quote(&mut self) -> Option<State> {
        loop {
            match self.next() {
                None => return Some(self.error("unterminated raw quoted string".into())),
                Some('`') => break,
                _ => {}
            }
        }
        self.emit(ItemType::RawString);
        None
    }

    fn lex_number(&mut self) -> Option<State> {
        if !self.scan_number() {
            let text = self.input[self.start..self.pos].to_owned();
            let mut q = String::new();
            crate::strconv::quote(&mut q, &text);
            return Some(self.error(format!("bad number syntax: {q}")));
        }
        if matches!(self.peek(), Some('+' | '-')) {
            // Complex: 1+2i. No spaces, must end in 'i'.
            if !self.scan_number() || !self.input[..self.pos].ends_with('i') {
                let text = self.input[self.start..self.pos].to_owned();
                let mut q = String::new();
                crate::strconv::quote(&mut q, &text);
                return Some(self.error(format!("bad number syntax: {q}")));
            }
            self.emit(ItemType::Complex);
            return None;
        }
        self.emit(ItemType::Number);
        None
    }

    fn scan_number(&mut self) -> bool {
        self.accept("+-");
        let mut digits = "0123456789_";
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits.len() == 11 && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if digits.len() == 23 && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        self.accept("i");
        if self.peek().is_some_and(is_alphanumeric) {
            self.next();
            return false;
        }
        true
    }
}

/// Go's `%#U` layout: `U+0040 '@'`.
fn go_u(c: char) -> String {
    if c.is_control() {
        format!("U+{:04X}", c as u32)
    } else {
        format!("U+{:04X} '{}'", c as u32, c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ItemType::*;

    fn types(src: &str) -> Vec<(ItemType, std::string::String)> {
        lex(src)
            .into_iter()
            .map(|i| (i.typ, i.val.into_owned()))
            .collect()
    }

    #[test]
    fn lexes_actions() {
        assert_eq!(
            types("a{{ .Name | printf \"%s\" }}b"),
            vec![
                (Text, "a".into()),
                (LeftDelim, "{{".into()),
                (Space, " ".into()),
                (Field, ".Name".into()),
                (Space, " ".into()),
                (Pipe, "|".into()),
                (Space, " ".into()),
                (Identifier, "printf".into()),
                (Space, " ".into()),
                (String, "\"%s\"".into()),
                (Space, " ".into()),
                (RightDelim, "}}".into()),
                (Text, "b".into()),
                (Eof, "".into()),
            ]
        );
    }

    #[test]
    fn trim_markers_and_comments() {
        let t = types("a  {{- 3 -}}  b {{/* c */}}d{{- /* e */ -}}  f");
        let texts: Vec<_> = t
            .iter()
            .filter(|(k, _)| *k == Text)
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(texts, vec!["a", "b ", "d", "f"]);
        assert!(t.iter().any(|(k, v)| *k == Number && v == "3"));
        // `{{-3}}` is the number -3, not a trim marker.
        assert!(
            types("{{-3}}")
                .iter()
                .any(|(k, v)| *k == Number && v == "-3")
        );
    }

    #[test]
    fn lex_errors() {
        let last = |s: &str| lex(s).pop().map(|i| (i.typ, i.val.into_owned()));
        assert_eq!(last("{{ .x"), Some((Error, "unclosed action".into())));
        assert_eq!(
            last("{{ \"abc }}"),
            Some((Error, "unterminated quoted string".into()))
        );
        assert_eq!(
            last("{{ (1 }}"),
            Some((Error, "unclosed left paren".into()))
        );
        assert_eq!(
            last("{{ 1) }}"),
            Some((Error, "unexpected right paren".into()))
        );
        assert_eq!(last("{{/* x "), Some((Error, "unclosed comment".into())));
        assert_eq!(
            last("{{/* x */ y}}"),
            Some((Error, "comment ends before closing delimiter".into()))
        );
        assert_eq!(
            last("{{ 3x }}"),
            Some((Error, "bad number syntax: \"3x\"".into()))
        );
        assert_eq!(last("{{ a: }}"), Some((Error, "expected :=".into())));
    }
}
