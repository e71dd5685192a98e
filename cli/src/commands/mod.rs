//! The `kapacitor` subcommands, one module per group. Each command fetches what it needs through
//! the [`Client`], renders with a pure function (unit-tested on JSON fixtures) and writes the
//! result to the context's stdout.

pub mod define;
pub mod delete;
pub mod list;
pub mod record;
pub mod server;
pub mod tasks;
pub mod topics;

use std::io::Write;

use crate::client::{Client, ClientError, ListOptions};
use crate::flags::{FlagError, FlagSet, Parsed};

/// How a command ended when it did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Leave with this exit code; the message and usage were already printed
    /// (Kapacitor: 1 usage, 2 missing arguments or bad flags, 4 client creation).
    Exit(i32),
    /// A command error: printed as `Error: <message>`, exit code 3.
    Error(String),
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Failure::Error(e.to_string())
    }
}

/// Shorthand for a command error.
pub fn fail<T>(msg: impl Into<String>) -> Result<T, Failure> {
    Err(Failure::Error(msg.into()))
}

pub type CmdResult = Result<(), Failure>;

/// Everything a command may use.
pub struct Ctx<'a> {
    pub client: &'a Client,
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
}

impl Ctx<'_> {
    /// Writes rendered output to stdout. A closed pipe (`kapacitor list tasks | head`) is not
    /// an error worth reporting, so write failures are ignored.
    pub fn print(&mut self, s: &str) {
        let _ = self.out.write_all(s.as_bytes());
        let _ = self.out.flush();
    }

    /// Writes a line to stderr.
    pub fn eprintln(&mut self, s: &str) {
        let _ = writeln!(self.err, "{s}");
    }

    /// Prints `msg` and a usage text (Go's `fmt.Fprintln(os.Stderr, usage)`), then fails with
    /// exit code 2, as Kapacitor does for missing arguments.
    pub fn usage_exit(&mut self, msg: &str, usage: &str) -> Failure {
        if !msg.is_empty() {
            self.eprintln(msg);
        }
        self.eprintln(usage);
        Failure::Exit(2)
    }

    /// Parses `args` with Go's `flag.ExitOnError` behaviour: a bad flag prints the error and the
    /// usage (exit 2); `-h` prints the usage (exit 0).
    pub fn parse_flags(
        &mut self,
        set: &FlagSet,
        args: &[String],
        usage: &str,
    ) -> Result<Parsed, Failure> {
        match set.parse(args) {
            Ok(p) => Ok(p),
            Err(FlagError::Help) => {
                self.eprintln(usage);
                let _ = write!(self.err, "{}", set.defaults());
                Err(Failure::Exit(0))
            }
            Err(e) => {
                self.eprintln(&e.to_string());
                self.eprintln(usage);
                let _ = write!(self.err, "{}", set.defaults());
                Err(Failure::Exit(2))
            }
        }
    }
}

/// Page size of the list endpoints, as Kapacitor's CLI uses.
pub const PAGE: usize = 100;

/// Fetches every page of a paged list (`offset` advancing by [`PAGE`] while pages are full).
pub fn all_pages<T>(
    mut opts: ListOptions,
    mut fetch: impl FnMut(&ListOptions) -> Result<Vec<T>, ClientError>,
) -> Result<Vec<T>, ClientError> {
    opts.limit = PAGE;
    let mut all = Vec::new();
    loop {
        let page = fetch(&opts)?;
        let full = page.len() == PAGE;
        all.extend(page);
        if !full {
            return Ok(all);
        }
        opts.offset += PAGE;
    }
}

/// Patterns given on the command line, or the match-everything pattern when there are none.
pub fn patterns_or_all(args: &[String]) -> Vec<String> {
    if args.is_empty() {
        vec![String::new()]
    } else {
        args.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_pages_advances_offset_until_short_page() {
        let mut offsets = Vec::new();
        let got = all_pages(ListOptions::new("*", &[]), |o| {
            offsets.push(o.offset);
            let n = if o.offset < 200 { PAGE } else { 7 };
            Ok(vec![o.offset; n])
        })
        .unwrap();
        assert_eq!(offsets, vec![0, 100, 200]);
        assert_eq!(got.len(), 207);
    }

    #[test]
    fn all_pages_propagates_errors() {
        let r: Result<Vec<u8>, _> = all_pages(ListOptions::default(), |_| {
            Err(ClientError::Server {
                status: 500,
                message: "boom".into(),
            })
        });
        assert_eq!(r.unwrap_err().to_string(), "boom");
    }

    #[test]
    fn empty_pattern_list_means_everything() {
        assert_eq!(patterns_or_all(&[]), vec![String::new()]);
        assert_eq!(patterns_or_all(&["a*".to_string()]), vec!["a*".to_string()]);
    }
}
