//! Log lines in Kapacitor's logfmt style, one per event, naming the process that wrote it:
//!
//! `ts=2026-11-21T05:40:00.123Z lvl=info proc=apid pid=4242 msg="listening" addr=0.0.0.0:9092`
//!
//! Every process of the tree writes to the same destination (`[logging] file`: `STDERR`,
//! `STDOUT` or a path opened in append mode, so whole lines from different processes do not
//! interleave). Children learn the destination and level from the supervisor through
//! [`LOG_FILE_ENV`] and [`LOG_LEVEL_ENV`], so they can log before their config arrives.
//!
//! Lines are bounded: the message and each field value keep at most [`MAX_VALUE`] bytes and
//! a line about [`MAX_LINE`] at most, cut with a visible marker inside the value
//! (`…[cut: N more bytes]`), so a huge value (a program's output, a request body in an error)
//! neither fills the log nor costs memory. Control characters are escaped as Go's
//! `strconv.Quote` does (`\x00`, `\n`), as Kapacitor's log shows them.
//!
//! Every line is also offered, best effort, to apid's log tap (`<data_dir>/run/logs.sock`, a
//! Unix datagram socket named by [`LOG_TAP_ENV`]), which streams them to
//! `GET /kapacitor/v1preview/logs` clients: a non-blocking send per line, dropped when
//! apid is not there or not keeping up, never delaying the process.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::time::SystemTime;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

pub const LOG_FILE_ENV: &str = "KAPACITORD_LOG_FILE";
pub const LOG_LEVEL_ENV: &str = "KAPACITORD_LOG_LEVEL";
pub const LOG_TAP_ENV: &str = "KAPACITORD_LOG_TAP";

/// Bytes of one value (the message or a field) kept in a line, escaped.
pub const MAX_VALUE: usize = 16 * 1024;
/// Bytes of the message and fields of one line, about: the message keeps up to
/// [`MAX_VALUE`], the fields share the rest, each keeping at least [`MIN_FIELD`] bytes so the
/// names of the fields after a long one still show. A whole line stays under the 64 KiB a log
/// tap datagram carries (`apid/src/logs.rs`).
pub const MAX_LINE: usize = 60 * 1024;
const MIN_FIELD: usize = 128;

/// apid's log tap socket under a data directory.
pub fn log_tap_path(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join("run").join("logs.sock")
}

/// Where and how much to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// `STDERR`, `STDOUT` or a path.
    pub file: String,
    /// `debug`, `info`, `warn` or `error`, any case.
    pub level: String,
    /// apid's log tap socket, if lines are to be offered to it.
    pub tap: Option<std::path::PathBuf>,
}

impl LogSettings {
    /// The settings a child inherits from the supervisor's environment.
    pub fn from_env() -> LogSettings {
        LogSettings {
            file: std::env::var(LOG_FILE_ENV).unwrap_or_else(|_| "STDERR".into()),
            level: std::env::var(LOG_LEVEL_ENV).unwrap_or_else(|_| "info".into()),
            tap: std::env::var_os(LOG_TAP_ENV).map(std::path::PathBuf::from),
        }
    }
}

pub fn parse_level(level: &str) -> Result<LevelFilter, String> {
    match level.to_ascii_lowercase().as_str() {
        "debug" => Ok(LevelFilter::DEBUG),
        "info" => Ok(LevelFilter::INFO),
        "warn" | "warning" => Ok(LevelFilter::WARN),
        "error" => Ok(LevelFilter::ERROR),
        "off" => Ok(LevelFilter::OFF),
        other => Err(format!(
            "invalid log level {other:?}: expected DEBUG, INFO, WARN or ERROR"
        )),
    }
}

/// Installs the global subscriber for this process. `proc_name` goes on every line.
pub fn init(proc_name: &str, settings: &LogSettings) -> Result<(), String> {
    let level = parse_level(&settings.level)?;
    let tap = settings.tap.as_ref().and_then(|path| {
        let sock = std::os::unix::net::UnixDatagram::unbound().ok()?;
        sock.set_nonblocking(true).ok()?;
        Some(std::sync::Arc::new((sock, path.clone())))
    });
    let writer = match settings.file.as_str() {
        "" | "STDERR" => tee(std::io::stderr, tap),
        "STDOUT" => tee(std::io::stdout, tap),
        path => {
            let file = std::sync::Arc::new(std::sync::Mutex::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| format!("opening log file {path}: {e}"))?,
            ));
            tee(move || SharedFile(file.clone()), tap)
        }
    };
    // Dependencies' debug output is noise for operators; keep it at info at most.
    let noisy = std::cmp::min(level, LevelFilter::INFO);
    let filter = Targets::new()
        .with_default(level)
        .with_target("hyper", noisy)
        .with_target("hyper_util", noisy)
        .with_target("h2", noisy)
        .with_target("tower", noisy)
        .with_target("mio", noisy);
    let layer = tracing_subscriber::fmt::layer()
        .event_format(Logfmt {
            proc_name: proc_name.to_string(),
            pid: std::process::id(),
        })
        .with_writer(writer);
    tracing_subscriber::registry()
        .with(filter)
        .with(layer)
        .try_init()
        .map_err(|e| format!("installing the logger: {e}"))
}

type Tap = std::sync::Arc<(std::os::unix::net::UnixDatagram, std::path::PathBuf)>;

/// The destination, plus the tap when there is one.
fn tee<W, F>(make: F, tap: Option<Tap>) -> BoxMakeWriter
where
    W: std::io::Write + 'static,
    F: Fn() -> W + Send + Sync + 'static,
{
    BoxMakeWriter::new(move || TeeWriter {
        inner: make(),
        tap: tap.clone(),
    })
}

/// One log line: written to the destination, then offered to the tap. tracing's fmt layer
/// formats a whole line and writes it with one `write_all`, so each datagram is one line.
struct TeeWriter<W> {
    inner: W,
    tap: Option<Tap>,
}

impl<W: std::io::Write> std::io::Write for TeeWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let r = self.inner.write_all(buf);
        if let Some(tap) = &self.tap {
            let _ = tap.0.send_to(buf, &tap.1);
        }
        r
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The log file shared by every line of this process.
struct SharedFile(std::sync::Arc<std::sync::Mutex<std::fs::File>>);

impl std::io::Write for SharedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .write_all(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).flush()
    }
}

struct Logfmt {
    proc_name: String,
    pid: u32,
}

impl<S, N> FormatEvent<S, N> for Logfmt
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let lvl = match *event.metadata().level() {
            Level::ERROR => "error",
            Level::WARN => "warn",
            Level::INFO => "info",
            Level::DEBUG => "debug",
            Level::TRACE => "trace",
        };
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut line = String::with_capacity(128);
        let _ = write!(
            line,
            "ts={} lvl={lvl} proc={} pid={}",
            humantime::format_rfc3339_millis(SystemTime::now()),
            quote(&self.proc_name),
            self.pid
        );
        if fields.message.is_empty() {
            line.push_str(" msg=\"\"");
        } else {
            let _ = write!(line, " msg={}", fields.message);
        }
        line.push_str(&fields.rest);
        // A worker's lines name its task, so `kapacitor watch <task>` (a `task=` filter on
        // the log stream) finds them.
        if let Some(task) = self.proc_name.strip_prefix("task:")
            && !fields.rest.contains(" task=")
        {
            let _ = write!(line, " task={}", quote(task));
        }
        writeln!(writer, "{line}")
    }
}

/// An event's values, already quoted and capped.
#[derive(Default)]
struct Fields {
    message: String,
    /// ` key=value` for every other field.
    rest: String,
}

impl Fields {
    /// What the next field value may take of the line.
    fn field_budget(&self) -> usize {
        (MAX_LINE - MAX_VALUE)
            .saturating_sub(self.rest.len())
            .clamp(MIN_FIELD, MAX_VALUE)
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = quote_capped(value, MAX_VALUE, None);
        } else {
            let v = quote_capped(value, self.field_budget(), None);
            let _ = write!(self.rest, " {}={v}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let cap = if field.name() == "message" {
            MAX_VALUE
        } else {
            self.field_budget()
        };
        // Formatting stops at the cap: a huge value is never built whole.
        let mut w = CappedWriter {
            text: String::new(),
            cap,
            cut: false,
        };
        let _ = write!(w, "{value:?}");
        let cut_at = w.cut.then_some(cap);
        let v = quote_capped(&w.text, cap, cut_at);
        if field.name() == "message" {
            self.message = v;
        } else {
            let _ = write!(self.rest, " {}={v}", field.name());
        }
    }
}

/// Keeps what is written up to `cap` bytes, then refuses more (ending the formatting).
struct CappedWriter {
    text: String,
    cap: usize,
    cut: bool,
}

impl std::fmt::Write for CappedWriter {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let room = self.cap.saturating_sub(self.text.len());
        if s.len() <= room {
            self.text.push_str(s);
            return Ok(());
        }
        let mut end = room;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.text.push_str(&s[..end]);
        self.cut = true;
        Err(std::fmt::Error)
    }
}

/// logfmt quoting: bare when the value is a simple token, double-quoted and escaped otherwise.
fn quote(value: &str) -> String {
    quote_capped(value, usize::MAX, None)
}

/// [`quote`], keeping at most `cap` bytes of escaped text; what is cut is named in a marker
/// inside the quotes (`cut_at`: the value was already cut at that many bytes, length unknown).
fn quote_capped(value: &str, cap: usize, cut_at: Option<usize>) -> String {
    let plain = !value.is_empty()
        && cut_at.is_none()
        && value.len() <= cap
        && value
            .chars()
            .all(|c| !c.is_whitespace() && c != '"' && c != '=' && c != '\\' && !c.is_control());
    if plain {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len().min(cap) + 2);
    out.push('"');
    let mut rest = "";
    for (i, c) in value.char_indices() {
        if out.len() > cap {
            rest = &value[i..];
            break;
        }
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    if !rest.is_empty() {
        let _ = write!(out, "…[cut: {} more bytes]", rest.len());
    } else if let Some(at) = cut_at {
        let _ = write!(out, "…[cut at {at} bytes]");
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("apid"), "apid");
        assert_eq!(quote("task cpu"), "\"task cpu\"");
        assert_eq!(quote(""), "\"\"");
        assert_eq!(quote("a\"b\nc"), "\"a\\\"b\\nc\"");
        assert_eq!(quote("k=v"), "\"k=v\"");
        // Control characters as Go's strconv.Quote shows them (Kapacitor's log).
        assert_eq!(
            quote("a\0b\u{1b}\u{7f}\u{85}"),
            "\"a\\x00b\\x1b\\x7f\\u0085\""
        );
    }

    #[test]
    fn long_values_are_cut_with_a_marker() {
        let long = "x".repeat(100_000);
        let q = quote_capped(&long, MAX_VALUE, None);
        assert!(q.len() < MAX_VALUE + 64, "{}", q.len());
        assert!(
            q.ends_with(&format!("…[cut: {} more bytes]\"", 100_000 - MAX_VALUE)),
            "{}",
            &q[q.len() - 40..]
        );
        // Escapes count against the cap, and a cut never splits a character.
        let q = quote_capped(&"\0é".repeat(50_000), 1000, None);
        assert!(q.len() < 1100 && q.contains("…[cut: "), "{}", q.len());
    }

    #[test]
    fn a_line_with_huge_values_stays_bounded() {
        use tracing_subscriber::fmt::MakeWriter;
        #[derive(Clone, Default)]
        struct Buf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        impl<'a> MakeWriter<'a> for Buf {
            type Writer = Buf;
            fn make_writer(&'a self) -> Buf {
                self.clone()
            }
        }
        let buf = Buf::default();
        let sub = tracing_subscriber::fmt()
            .event_format(Logfmt {
                proc_name: "apid".into(),
                pid: 1,
            })
            .with_writer(buf.clone())
            .finish();
        let big = "y".repeat(1_000_000);
        tracing::subscriber::with_default(sub, || {
            tracing::error!(
                a = %big, b = %big, c = ?big, d = big.as_str(), e = %big, f = 1,
                "{}", big
            );
        });
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(out.lines().count(), 1);
        assert!(out.len() < 64 * 1024, "{}", out.len());
        for k in [" a=\"", " b=\"", " c=\"", " d=\"", " e=\"", " f=1"] {
            assert!(out.contains(k), "{k} missing");
        }
        assert!(out.contains("…[cut: "), "no marker");
        assert!(out.contains("…[cut at "), "no marker for a formatted value");
    }

    #[test]
    fn levels() {
        assert_eq!(parse_level("DEBUG").unwrap(), LevelFilter::DEBUG);
        assert_eq!(parse_level("Error").unwrap(), LevelFilter::ERROR);
        assert!(parse_level("loud").unwrap_err().contains("loud"));
    }
}
