//! `smtp` (the `.email()` handler): subject = message, HTML body = details, sent with a small
//! SMTP client (EHLO/HELO, AUTH PLAIN, MAIL/RCPT/DATA). Plain connections only: STARTTLS and
//! implicit TLS are not implemented.

use super::{DeliveryError, Shared, render, template};
use crate::event::Event;
use crate::options::SmtpOptions;
use base64::Engine;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub(crate) struct SmtpAction {
    to: Vec<String>,
    to_templates: Vec<gotmpl::Template>,
}

impl SmtpAction {
    pub fn new(o: SmtpOptions) -> Result<SmtpAction, String> {
        Ok(SmtpAction {
            to: o.to,
            to_templates: o
                .to_templates
                .iter()
                .map(|t| template("to", t))
                .collect::<Result<_, _>>()?,
        })
    }

    pub async fn deliver(&self, ev: &Event, sh: &Shared) -> Result<(), DeliveryError> {
        let cfg = sh.cfg();
        let c = &cfg.smtp;
        if !c.enabled {
            return Err(DeliveryError::permanent("service is not enabled"));
        }
        let mut to = if self.to.is_empty() {
            c.to.clone()
        } else {
            self.to.clone()
        };
        for t in &self.to_templates {
            let addr = render(t, ev)?;
            if !addr.is_empty() {
                to.push(addr);
            }
        }
        if to.is_empty() {
            return Err(DeliveryError::permanent(
                "not sending email, no recipients defined",
            ));
        }
        let msg = Message {
            from: &c.from,
            to: &to,
            subject: &ev.message,
            html_body: &ev.details,
        };
        let limit = sh.http_timeout;
        tokio::time::timeout(
            limit,
            send(
                &c.host,
                c.port,
                &c.username,
                &c.password,
                &cfg.hostname,
                &msg,
            ),
        )
        .await
        .map_err(|_| DeliveryError::retryable(format!("SMTP timed out after {limit:?}")))?
    }
}

pub(crate) struct Message<'a> {
    pub from: &'a str,
    pub to: &'a [String],
    pub subject: &'a str,
    pub html_body: &'a str,
}

struct Conn {
    r: BufReader<tokio::net::tcp::OwnedReadHalf>,
    w: tokio::net::tcp::OwnedWriteHalf,
}

/// Longest SMTP reply line read, and longest multi-line reply.
const MAX_REPLY_LINE: u64 = 8 * 1024;
const MAX_REPLY: usize = 64 * 1024;

impl Conn {
    /// Reads one (possibly multi-line) reply: its code and text.
    async fn reply(&mut self) -> Result<(u16, String), DeliveryError> {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            // RFC 5321 lines are at most 512 bytes; a server sending endless text is cut off.
            let n = (&mut self.r)
                .take(MAX_REPLY_LINE)
                .read_line(&mut line)
                .await
                .map_err(|e| DeliveryError::retryable(format!("SMTP read failed: {e}")))?;
            if n == 0 {
                return Err(DeliveryError::retryable(
                    "SMTP server closed the connection",
                ));
            }
            if !line.ends_with('\n') && n as u64 == MAX_REPLY_LINE {
                return Err(DeliveryError::retryable(format!(
                    "SMTP reply line longer than {MAX_REPLY_LINE} bytes"
                )));
            }
            if text.len() > MAX_REPLY {
                return Err(DeliveryError::retryable(format!(
                    "SMTP reply longer than {MAX_REPLY} bytes"
                )));
            }
            let line = line.trim_end();
            let code: u16 = line
                .get(..3)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| DeliveryError::permanent(format!("bad SMTP reply {line:?}")))?;
            text.push_str(line.get(4..).unwrap_or(""));
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok((code, text));
            }
            text.push('\n');
        }
    }

    async fn cmd(&mut self, line: &str, want: &[u16]) -> Result<String, DeliveryError> {
        self.w
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .map_err(|e| DeliveryError::retryable(format!("SMTP write failed: {e}")))?;
        self.expect(line, want).await
    }

    async fn expect(&mut self, what: &str, want: &[u16]) -> Result<String, DeliveryError> {
        let (code, text) = self.reply().await?;
        if want.contains(&code) {
            return Ok(text);
        }
        // Hide credentials in errors.
        let what = if what.starts_with("AUTH") {
            "AUTH"
        } else {
            what
        };
        let err = format!("SMTP {what:?} failed: {code} {text}");
        Err(if code >= 500 {
            DeliveryError::permanent(err)
        } else {
            DeliveryError::retryable(err)
        })
    }
}

async fn send(
    host: &str,
    port: u16,
    username: &str,
    password: &str,
    hostname: &str,
    msg: &Message<'_>,
) -> Result<(), DeliveryError> {
    let stream = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect((host, port)))
        .await
        .map_err(|_| DeliveryError::retryable(format!("SMTP connect to {host}:{port} timed out")))?
        .map_err(|e| DeliveryError::retryable(format!("SMTP connect to {host}:{port}: {e}")))?;
    let (r, w) = stream.into_split();
    let mut c = Conn {
        r: BufReader::new(r),
        w,
    };
    c.expect("greeting", &[220]).await?;
    let helo = if hostname.is_empty() {
        "localhost"
    } else {
        hostname
    };
    if c.cmd(&format!("EHLO {helo}"), &[250]).await.is_err() {
        c.cmd(&format!("HELO {helo}"), &[250]).await?;
    }
    if !username.is_empty() {
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("\0{username}\0{password}"));
        c.cmd(&format!("AUTH PLAIN {token}"), &[235]).await?;
    }
    c.cmd(&format!("MAIL FROM:<{}>", msg.from), &[250]).await?;
    for to in msg.to {
        c.cmd(&format!("RCPT TO:<{to}>"), &[250, 251]).await?;
    }
    c.cmd("DATA", &[354]).await?;
    let data = dot_stuff(&format_message(msg));
    c.w.write_all(data.as_bytes())
        .await
        .map_err(|e| DeliveryError::retryable(format!("SMTP write failed: {e}")))?;
    c.cmd(".", &[250]).await?;
    let _ = c.cmd("QUIT", &[221]).await;
    Ok(())
}

/// The message as gomail writes it: headers, an HTML body, quoted-printable.
pub(crate) fn format_message(msg: &Message<'_>) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    let mut s = String::new();
    s.push_str("Mime-Version: 1.0\r\n");
    s.push_str(&format!(
        "Date: {}\r\n",
        kapacitor_models::time_fmt::rfc822(now)
    ));
    s.push_str(&format!("From: {}\r\n", msg.from));
    s.push_str(&format!("To: {}\r\n", msg.to.join(", ")));
    s.push_str(&format!("Subject: {}\r\n", encode_header(msg.subject)));
    s.push_str("Content-Type: text/html; charset=UTF-8\r\n");
    s.push_str("Content-Transfer-Encoding: quoted-printable\r\n\r\n");
    s.push_str(&quoted_printable(msg.html_body));
    s.push_str("\r\n");
    s
}

fn encode_header(v: &str) -> String {
    if v.is_ascii() && !v.contains(['\r', '\n']) {
        v.to_string()
    } else {
        format!(
            "=?UTF-8?b?{}?=",
            base64::engine::general_purpose::STANDARD.encode(v.as_bytes())
        )
    }
}

/// RFC 2045 quoted-printable with soft breaks before 76 columns; `\n` becomes CRLF.
pub(crate) fn quoted_printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for (i, line) in s.split('\n').enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        let line = line.strip_suffix('\r').unwrap_or(line);
        let bytes = line.as_bytes();
        let mut col = 0;
        for (j, &b) in bytes.iter().enumerate() {
            let last = j + 1 == bytes.len();
            let enc = match b {
                b' ' | b'\t' if last => format!("={b:02X}"),
                b'=' => "=3D".to_string(),
                33..=126 | b' ' | b'\t' => (b as char).to_string(),
                _ => format!("={b:02X}"),
            };
            if col + enc.len() > 75 {
                out.push_str("=\r\n");
                col = 0;
            }
            col += enc.len();
            out.push_str(&enc);
        }
    }
    out
}

/// Doubles a leading dot on every line (RFC 5321 §4.5.2).
fn dot_stuff(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for (i, line) in s.split("\r\n").enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
    }
    if !out.ends_with("\r\n") {
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_printable_escapes_and_wraps() {
        assert_eq!(quoted_printable("a=b <p>"), "a=3Db <p>");
        assert_eq!(quoted_printable("x \n"), "x=20\r\n");
        assert_eq!(quoted_printable("é"), "=C3=A9");
        let long = "a".repeat(100);
        let qp = quoted_printable(&long);
        assert!(qp.split("\r\n").all(|l| l.len() <= 76), "{qp}");
        assert_eq!(qp.replace("=\r\n", ""), long);
    }

    #[test]
    fn dot_stuffing() {
        assert_eq!(dot_stuff("a\r\n.b\r\n"), "a\r\n..b\r\n");
    }
}
