use std::fmt;

use crate::ast::Pos;

/// Any error from parsing, checking or compiling a script. Always carries the line and the
/// column (in characters, 1-based) the problem was found at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    pos: Pos,
    reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The text is not TICKscript: `parser: unexpected ... line L char C in "...". expected: ...`.
    Syntax,
    /// Well-formed but wrong: unknown node, property or var, bad argument, mixed task type.
    Semantic,
}

impl Error {
    /// A syntax error; `reason` is the complete message after `parser: `, which already names
    /// the line and char the way Kapacitor does.
    pub(crate) fn syntax(pos: Pos, reason: impl Into<String>) -> Error {
        Error {
            kind: ErrorKind::Syntax,
            pos,
            reason: reason.into(),
        }
    }

    /// A semantic error at `pos`; displayed as `line L char C: reason`.
    pub(crate) fn at(pos: Pos, reason: impl Into<String>) -> Error {
        Error {
            kind: ErrorKind::Semantic,
            pos,
            reason: reason.into(),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn line(&self) -> u32 {
        self.pos.line
    }

    pub fn col(&self) -> u32 {
        self.pos.col
    }

    pub fn pos(&self) -> Pos {
        self.pos
    }

    /// The message without the position prefix.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ErrorKind::Syntax => write!(f, "parser: {}", self.reason),
            ErrorKind::Semantic => write!(
                f,
                "line {} char {}: {}",
                self.pos.line, self.pos.col, self.reason
            ),
        }
    }
}

impl std::error::Error for Error {}
