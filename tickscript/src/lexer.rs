//! Tokenizer for TICKscript.
//!
//! The lexer is modal the way Kapacitor's is: after an operand (identifier, literal, `)`) a
//! `/` is division, `*` multiplication and `=` assignment or comparison; anywhere else `/`
//! starts a regex and `*` is the star literal. Keeping the same modes is what makes
//! `groupBy(*)`, `"a" * 2` and `=~ /re/` all lex as the user meant.

use crate::ast::Pos;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tok {
    Error,
    Eof,
    Var,
    Dbrp,
    Asgn,
    Dot,
    Pipe,
    At,
    Ident,
    Reference,
    Lambda,
    Number,
    Str,
    Duration,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Not,
    True,
    False,
    Regex,
    Comment,
    Star,
    Plus,
    Minus,
    Mult,
    Div,
    Mod,
    And,
    Or,
    Equal,
    NotEqual,
    Less,
    Greater,
    LessEqual,
    GreaterEqual,
    RegexEqual,
    RegexNotEqual,
}

impl Tok {
    /// The name Kapacitor uses for the token in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Tok::Error => "ERR",
            Tok::Eof => "EOF",
            Tok::Var => "var",
            Tok::Dbrp => "dbrp",
            Tok::Asgn => "=",
            Tok::Dot => ".",
            Tok::Pipe => "|",
            Tok::At => "@",
            Tok::Ident => "identifier",
            Tok::Reference => "reference",
            Tok::Lambda => "lambda",
            Tok::Number => "number",
            Tok::Str => "string",
            Tok::Duration => "duration",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::Comma => ",",
            Tok::Not => "!",
            Tok::True => "TRUE",
            Tok::False => "FALSE",
            Tok::Regex => "regex",
            Tok::Comment => "//",
            Tok::Star => "*",
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Mult => "*",
            Tok::Div => "/",
            Tok::Mod => "%",
            Tok::And => "AND",
            Tok::Or => "OR",
            Tok::Equal => "==",
            Tok::NotEqual => "!=",
            Tok::Less => "<",
            Tok::Greater => ">",
            Tok::LessEqual => "<=",
            Tok::GreaterEqual => ">=",
            Tok::RegexEqual => "=~",
            Tok::RegexNotEqual => "!~",
        }
    }

    /// Binary operator precedence (higher binds tighter), `None` if not a binary operator.
    /// `-` is listed because after an operand it is subtraction.
    pub fn precedence(self) -> Option<u8> {
        Some(match self {
            Tok::Or => 0,
            Tok::And => 1,
            Tok::Equal | Tok::NotEqual | Tok::RegexEqual | Tok::RegexNotEqual => 2,
            Tok::Greater | Tok::GreaterEqual | Tok::Less | Tok::LessEqual => 3,
            Tok::Plus | Tok::Minus => 4,
            Tok::Mult | Tok::Div | Tok::Mod => 5,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    /// Byte offset of the first character.
    pub start: usize,
    /// Byte offset one past the last character.
    pub end: usize,
    /// For `Tok::Error`, the lexer's message; otherwise empty (the text is `src[start..end]`).
    pub message: String,
}

/// Maps byte offsets to 1-based line and character columns.
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(src: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    pub fn pos(&self, src: &str, offset: usize) -> Pos {
        let line = match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.starts[line];
        let end = offset.min(src.len());
        let col = src
            .get(start..end)
            .map_or(end - start, |s| s.chars().count())
            + 1;
        Pos {
            line: line as u32 + 1,
            col: col as u32,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Expecting an operand or punctuation.
    Token,
    /// Just after an operand: try a binary operator first.
    AfterOperand,
    /// Just after `=`, `=~` or `!~`: a `/` starts a regex.
    RegexNext,
}

/// Tokenizes the whole input. The result always ends with exactly one `Eof` or `Error` token.
pub fn lex(src: &str) -> Vec<Token> {
    let mut l = Lexer {
        src,
        pos: 0,
        tokens: Vec::new(),
    };
    l.run();
    l.tokens
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    tokens: Vec<Token>,
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_dur_unit(c: char) -> bool {
    matches!(c, 'u' | 'µ' | 's' | 'm' | 'h' | 'd' | 'w')
}

impl<'a> Lexer<'a> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek2(&self) -> Option<char> {
        let mut it = self.src[self.pos..].chars();
        it.next();
        it.next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn emit(&mut self, tok: Tok, start: usize) {
        self.tokens.push(Token {
            tok,
            start,
            end: self.pos,
            message: String::new(),
        });
    }

    fn error(&mut self, start: usize, message: String) {
        self.tokens.push(Token {
            tok: Tok::Error,
            start,
            end: self.pos,
            message,
        });
    }

    fn skip_space(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.bump();
            } else {
                break;
            }
        }
    }

    fn run(&mut self) {
        let mut mode = Mode::Token;
        loop {
            let next = match mode {
                Mode::AfterOperand => self.binary_operator(),
                Mode::RegexNext => {
                    self.skip_space();
                    if self.peek() == Some('/') && self.peek2() != Some('/') {
                        self.regex()
                    } else {
                        Some(Mode::Token)
                    }
                }
                Mode::Token => self.token(),
            };
            match next {
                Some(m) => mode = m,
                None => return,
            }
        }
    }

    /// Lexes one token in operand position. `None` ends the scan (EOF or error emitted).
    fn token(&mut self) -> Option<Mode> {
        self.skip_space();
        let start = self.pos;
        let Some(c) = self.bump() else {
            self.emit(Tok::Eof, start);
            return None;
        };
        match c {
            '-' => {
                self.emit(Tok::Minus, start);
                Some(Mode::Token)
            }
            '!' => {
                self.emit(Tok::Not, start);
                Some(Mode::Token)
            }
            '.' if !self.peek().is_some_and(|c| c.is_ascii_digit()) => {
                self.emit(Tok::Dot, start);
                Some(Mode::Token)
            }
            '.' | '0'..='9' => self.number(start),
            c if c.is_alphabetic() => self.ident(start),
            '"' => self.reference(start),
            '\'' => self.string(start),
            '(' => {
                self.emit(Tok::LParen, start);
                Some(Mode::Token)
            }
            ')' => {
                self.emit(Tok::RParen, start);
                Some(Mode::AfterOperand)
            }
            '[' => {
                self.emit(Tok::LBracket, start);
                Some(Mode::Token)
            }
            ']' => {
                self.emit(Tok::RBracket, start);
                Some(Mode::Token)
            }
            '|' => {
                self.emit(Tok::Pipe, start);
                Some(Mode::Token)
            }
            '@' => {
                self.emit(Tok::At, start);
                Some(Mode::Token)
            }
            ',' => {
                self.emit(Tok::Comma, start);
                Some(Mode::Token)
            }
            '*' => {
                self.emit(Tok::Star, start);
                Some(Mode::Token)
            }
            '/' => {
                self.pos = start;
                if self.peek2() == Some('/') {
                    self.comment()
                } else {
                    self.regex()
                }
            }
            other => {
                self.error(start, format!("unknown state, last char: {other:?}"));
                None
            }
        }
    }

    fn binary_operator(&mut self) -> Option<Mode> {
        self.skip_space();
        let start = self.pos;
        let Some(c) = self.peek() else {
            return Some(Mode::Token);
        };
        let two = |l: &mut Self, second: &[char]| {
            l.bump();
            if l.peek().is_some_and(|c| second.contains(&c)) {
                l.bump();
            }
            &l.src[start..l.pos]
        };
        let tok = match c {
            '+' => {
                self.bump();
                Tok::Plus
            }
            '-' => {
                self.bump();
                Tok::Minus
            }
            '*' => {
                self.bump();
                Tok::Mult
            }
            '%' => {
                self.bump();
                Tok::Mod
            }
            '/' => {
                if self.peek2() == Some('/') {
                    return self.comment();
                }
                self.bump();
                Tok::Div
            }
            '!' => match two(self, &['=', '~']) {
                "!=" => Tok::NotEqual,
                "!~" => Tok::RegexNotEqual,
                _ => Tok::Not,
            },
            '<' => match two(self, &['=']) {
                "<=" => Tok::LessEqual,
                _ => Tok::Less,
            },
            '>' => match two(self, &['=']) {
                ">=" => Tok::GreaterEqual,
                _ => Tok::Greater,
            },
            '=' => match two(self, &['=', '~']) {
                "==" => Tok::Equal,
                "=~" => Tok::RegexEqual,
                _ => Tok::Asgn,
            },
            _ => return Some(Mode::Token),
        };
        self.emit(tok, start);
        Some(match tok {
            Tok::RegexEqual | Tok::RegexNotEqual | Tok::Asgn | Tok::Equal | Tok::NotEqual => {
                Mode::RegexNext
            }
            _ => Mode::Token,
        })
    }

    fn ident(&mut self, start: usize) -> Option<Mode> {
        while self.peek().is_some_and(is_ident_char) {
            self.bump();
        }
        let tok = match &self.src[start..self.pos] {
            "AND" => Tok::And,
            "OR" => Tok::Or,
            "TRUE" => Tok::True,
            "FALSE" => Tok::False,
            "var" => Tok::Var,
            "dbrp" => Tok::Dbrp,
            // `lambda` is only a keyword when immediately followed by ':'.
            "lambda" if self.peek() == Some(':') => {
                self.bump();
                Tok::Lambda
            }
            _ => Tok::Ident,
        };
        self.emit(tok, start);
        // Kapacitor tries a binary operator after every keyword; after `AND`, `OR` and
        // `lambda:` an operand follows, so a `/` there starts a regex (`x AND /re/`).
        Some(match tok {
            Tok::And | Tok::Or | Tok::Lambda | Tok::Var | Tok::Dbrp => Mode::Token,
            _ => Mode::AfterOperand,
        })
    }

    fn number(&mut self, start: usize) -> Option<Mode> {
        // The first character (digit or '.') is already consumed.
        let mut decimal = self.src[start..].starts_with('.');
        loop {
            match self.peek() {
                Some('.') => {
                    if decimal {
                        self.bump();
                        self.error(start, "multiple decimals in number".into());
                        return None;
                    }
                    decimal = true;
                    self.bump();
                }
                Some(c) if c.is_ascii_digit() => {
                    self.bump();
                }
                Some(c) if !decimal && is_dur_unit(c) => {
                    self.bump();
                    if c == 'm' && self.peek() == Some('s') {
                        self.bump();
                    }
                    self.emit(Tok::Duration, start);
                    return Some(Mode::AfterOperand);
                }
                _ => {
                    self.emit(Tok::Number, start);
                    return Some(Mode::AfterOperand);
                }
            }
        }
    }

    fn reference(&mut self, start: usize) -> Option<Mode> {
        loop {
            match self.bump() {
                Some('\\') => {
                    if self.peek() == Some('"') {
                        self.bump();
                    }
                }
                Some('"') => {
                    self.emit(Tok::Reference, start);
                    return Some(Mode::AfterOperand);
                }
                Some(_) => {}
                None => {
                    self.error(start, "unterminated field reference".into());
                    return None;
                }
            }
        }
    }

    fn string(&mut self, start: usize) -> Option<Mode> {
        // The opening quote is consumed.
        if self.src[self.pos..].starts_with("''") {
            self.pos += 2;
            // Triple-quoted: no escapes, ends at the next three quotes.
            match self.src[self.pos..].find("'''") {
                Some(i) => {
                    self.pos += i + 3;
                    self.emit(Tok::Str, start);
                    Some(Mode::AfterOperand)
                }
                None => {
                    self.pos = self.src.len();
                    self.error(start, "unterminated string".into());
                    None
                }
            }
        } else if self.peek() == Some('\'') {
            self.bump();
            self.emit(Tok::Str, start);
            Some(Mode::AfterOperand)
        } else {
            loop {
                match self.bump() {
                    Some('\\') => {
                        if self.peek() == Some('\'') {
                            self.bump();
                        }
                    }
                    Some('\'') => {
                        self.emit(Tok::Str, start);
                        return Some(Mode::AfterOperand);
                    }
                    Some(_) => {}
                    None => {
                        self.error(start, "unterminated string".into());
                        return None;
                    }
                }
            }
        }
    }

    fn regex(&mut self) -> Option<Mode> {
        let start = self.pos;
        self.bump(); // the opening '/'
        loop {
            match self.bump() {
                Some('\\') => {
                    if self.peek() == Some('/') {
                        self.bump();
                    }
                }
                Some('/') => {
                    self.emit(Tok::Regex, start);
                    // Kapacitor lexes the token after a regex in operand position, so it cannot
                    // take an operator after it (`/a/ == x`); accepting one is harmless.
                    return Some(Mode::AfterOperand);
                }
                Some(_) => {}
                None => {
                    self.error(start, "unterminated regex".into());
                    return None;
                }
            }
        }
    }

    /// A `//` comment to the end of the line. Following lines that are also comments (only
    /// whitespace before their `//`) belong to the same token, so a block of comment lines is
    /// one token and a blank line separates blocks.
    fn comment(&mut self) -> Option<Mode> {
        let start = self.pos;
        self.pos += 2;
        loop {
            match self.src[self.pos..].find('\n') {
                None => {
                    self.pos = self.src.len();
                    break;
                }
                Some(i) => {
                    self.pos += i + 1;
                    let rest = &self.src[self.pos..];
                    let indent = rest.len() - rest.trim_start_matches([' ', '\t', '\r']).len();
                    if rest[indent..].starts_with("//") {
                        self.pos += indent + 2;
                        continue;
                    }
                    break;
                }
            }
        }
        self.emit(Tok::Comment, start);
        Some(Mode::Token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<(Tok, &str)> {
        lex(src)
            .into_iter()
            .map(|t| (t.tok, &src[t.start..t.end]))
            .collect()
    }

    #[test]
    fn star_and_mult_depend_on_position() {
        assert_eq!(
            toks("groupBy(*)"),
            vec![
                (Tok::Ident, "groupBy"),
                (Tok::LParen, "("),
                (Tok::Star, "*"),
                (Tok::RParen, ")"),
                (Tok::Eof, "")
            ]
        );
        assert_eq!(toks("a * 2")[1].0, Tok::Mult);
    }

    #[test]
    fn regex_after_match_operator_and_division_after_operand() {
        let t = toks(r#""host" =~ /^s\/x$/ AND "v" / 2"#);
        assert_eq!(t[1], (Tok::RegexEqual, "=~"));
        assert_eq!(t[2], (Tok::Regex, r"/^s\/x$/"));
        assert_eq!(t[3].0, Tok::And);
        assert_eq!(t[5].0, Tok::Div);
    }

    #[test]
    fn durations_numbers_and_units() {
        let t = toks("10s 5m 1ms 1µ 1.5 .5 010 3w");
        let kinds: Vec<Tok> = t.iter().map(|t| t.0).collect();
        assert_eq!(
            kinds,
            vec![
                Tok::Duration,
                Tok::Duration,
                Tok::Duration,
                Tok::Duration,
                Tok::Number,
                Tok::Number,
                Tok::Number,
                Tok::Duration,
                Tok::Eof
            ]
        );
        assert_eq!(t[2].1, "1ms");
    }

    #[test]
    fn strings_and_comments() {
        let t = toks("'a\\'b' '''x\n'y''' '' // c1\n  // c2\n\n// c3\nx");
        assert_eq!(t[0], (Tok::Str, "'a\\'b'"));
        assert_eq!(t[1], (Tok::Str, "'''x\n'y'''"));
        assert_eq!(t[2], (Tok::Str, "''"));
        assert_eq!(t[3].0, Tok::Comment);
        assert!(t[3].1.contains("c2"));
        assert_eq!(t[4].0, Tok::Comment);
        assert_eq!(t[5], (Tok::Ident, "x"));
    }

    #[test]
    fn lambda_keyword_needs_colon() {
        assert_eq!(toks("lambda: x")[0].0, Tok::Lambda);
        assert_eq!(toks("lambda x")[0].0, Tok::Ident);
    }

    #[test]
    fn errors_stop_the_scan() {
        let t = lex("'abc");
        assert_eq!(t.last().unwrap().tok, Tok::Error);
        assert_eq!(t.last().unwrap().message, "unterminated string");
        assert_eq!(lex("a = #").last().unwrap().tok, Tok::Error);
    }

    #[test]
    fn line_index_counts_characters() {
        let src = "ab\nµx y";
        let idx = LineIndex::new(src);
        assert_eq!(idx.pos(src, 0), Pos { line: 1, col: 1 });
        let y = src.find('y').unwrap();
        assert_eq!(idx.pos(src, y), Pos { line: 2, col: 4 });
    }
}
