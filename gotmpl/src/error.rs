//! Template errors, printed the way Go prints them so that API and CLI messages match
//! Kapacitor's.

use std::fmt;

/// Whether the error came from parsing or from executing a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Parse,
    Exec,
}

/// A parse or execution error.
///
/// `Display` follows Go: `template: id:1: function "foo" not defined` for parse errors and
/// `template: id:1:12: executing "id" at <index .Tags 1>: error calling index: ...` for
/// execution errors. [`Error::line`] and [`Error::column`] give the position for tools that want
/// to point at it (the column is 1-based and counts characters, unlike Go's 0-based byte
/// offset in the message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(Box<Inner>);

/// Boxed so that `Result<_, Error>` stays one word wide on the executor's recursive paths.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Inner {
    kind: ErrorKind,
    template: String,
    line: usize,
    column: usize,
    go_column: usize,
    executing: Option<String>,
    context: Option<String>,
    message: String,
}

/// Line (1-based), character column (1-based) and byte offset in the line (0-based) of `pos`.
fn locate(src: &str, pos: usize) -> (usize, usize, usize) {
    let pos = pos.min(src.len());
    let mut pos_ok = pos;
    while !src.is_char_boundary(pos_ok) {
        pos_ok -= 1;
    }
    let before = &src[..pos_ok];
    let line = 1 + before.matches('\n').count();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col, pos_ok - line_start)
}

impl Error {
    pub(crate) fn parse(name: &str, src: &str, line: usize, pos: usize, message: String) -> Error {
        let (_, column, go_column) = locate(src, pos);
        Error(Box::new(Inner {
            kind: ErrorKind::Parse,
            template: name.to_owned(),
            line,
            column,
            go_column,
            executing: None,
            context: None,
            message,
        }))
    }

    pub(crate) fn exec(
        name: &str,
        src: &str,
        executing: &str,
        pos: Option<usize>,
        context: Option<String>,
        message: String,
    ) -> Error {
        let (line, column, go_column) = pos.map_or((0, 0, 0), |p| locate(src, p));
        Error(Box::new(Inner {
            kind: ErrorKind::Exec,
            template: name.to_owned(),
            line,
            column,
            go_column,
            executing: Some(executing.to_owned()),
            context: if pos.is_some() { context } else { None },
            message,
        }))
    }

    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// Name of the template the error is in.
    pub fn template(&self) -> &str {
        &self.0.template
    }

    /// 1-based line, 0 when the error is not tied to a position.
    pub fn line(&self) -> usize {
        self.0.line
    }

    /// 1-based character column, 0 when the error is not tied to a position.
    pub fn column(&self) -> usize {
        self.0.column
    }

    /// The message without the `template: name:line:` prefix.
    pub fn message(&self) -> &str {
        &self.0.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.kind {
            ErrorKind::Parse => write!(
                f,
                "template: {}:{}: {}",
                self.0.template, self.0.line, self.0.message
            ),
            ErrorKind::Exec => match &self.0.context {
                Some(ctx) => write!(
                    f,
                    "template: {}:{}:{}: executing {} at <{}>: {}",
                    self.0.template,
                    self.0.line,
                    self.0.go_column,
                    crate::parse::go_quote(self.0.executing.as_deref().unwrap_or_default()),
                    ctx,
                    self.0.message
                ),
                None => write!(f, "template: {}: {}", self.0.template, self.0.message),
            },
        }
    }
}

impl std::error::Error for Error {}
