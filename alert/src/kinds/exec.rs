//! `exec`: runs a program with the alert JSON on stdin, in its own process group, killed
//! with its group after a timeout and when this process dies (PDEATHSIG).
//!
//! Like Kapacitor, stdout and stderr go to one buffer that is shown when the program fails;
//! unlike Kapacitor, only its first [`OUTPUT_PREFIX`] bytes are kept and the rest is read and
//! counted without being held, so a program that prints gigabytes costs this process nothing
//! (Kapacitor buffered it all and logged it in one line).

use super::{DeliveryError, Shared};
use crate::event::Event;
use crate::options::ExecOptions;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// Bytes of a program's output (stdout and stderr together) kept for its error message.
pub(crate) const OUTPUT_PREFIX: usize = 4096;

/// The start of a program's output and how long all of it was.
#[derive(Default)]
struct Output {
    kept: Vec<u8>,
    total: u64,
}

impl Output {
    fn push(&mut self, chunk: &[u8]) {
        let room = OUTPUT_PREFIX - self.kept.len();
        self.kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
        self.total += chunk.len() as u64;
    }

    /// The kept text (invalid UTF-8 replaced), with a marker when output was cut.
    fn render(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.kept).trim_end().to_string();
        let cut = self.total - self.kept.len() as u64;
        if cut > 0 {
            text.push_str(&format!(
                " [... {cut} more bytes of output not shown, {} in all]",
                self.total
            ));
        }
        text
    }
}

/// Reads `stream` to its end into `out`'s bounded prefix.
async fn drain(stream: Option<impl AsyncRead + Unpin>, out: &Mutex<Output>) {
    let Some(mut s) = stream else { return };
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => out
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(&buf[..n]),
        }
    }
}

pub(crate) struct ExecAction {
    prog: String,
    args: Vec<String>,
    timeout: Option<Duration>,
}

impl ExecAction {
    pub fn new(o: ExecOptions) -> Result<ExecAction, String> {
        if o.prog.is_empty() {
            return Err("exec handler needs a prog".to_string());
        }
        Ok(ExecAction {
            prog: o.prog,
            args: o.args,
            timeout: (o.timeout > 0).then(|| Duration::from_nanos(o.timeout as u64)),
        })
    }

    pub async fn deliver(&self, ev: &Event, sh: &Shared) -> Result<(), DeliveryError> {
        let mut cmd = Command::new(&self.prog);
        cmd.args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| {
            DeliveryError::permanent(format!("exec command {:?} failed to start: {e}", self.prog))
        })?;
        let pid = child.id();
        let input = ev.alert_json();
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let run = async {
            let out = Mutex::new(Output::default());
            // Everything at once: a program may write before it reads its stdin.
            let (_, _, _, status) = tokio::join!(
                async {
                    if let Some(mut s) = stdin {
                        // A program that ignores its stdin may close it early: not an error.
                        let _ = s.write_all(input.as_bytes()).await;
                    }
                },
                drain(stdout, &out),
                drain(stderr, &out),
                child.wait()
            );
            (status, out.into_inner().unwrap_or_else(|p| p.into_inner()))
        };
        let limit = self.timeout.unwrap_or(sh.exec_timeout);
        match tokio::time::timeout(limit, run).await {
            Ok((Ok(status), _)) if status.success() => Ok(()),
            Ok((Ok(status), out)) => Err(DeliveryError::permanent(format!(
                "exec command failed: {status}; output: {}",
                out.render()
            ))),
            Ok((Err(e), _)) => Err(DeliveryError::permanent(format!(
                "exec command failed: {e}"
            ))),
            Err(_) => {
                if let Some(pid) = pid {
                    // The child leads its own group: kill everything it started.
                    let _ = nix::sys::signal::killpg(
                        nix::unistd::Pid::from_raw(pid as i32),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                Err(DeliveryError::permanent(format!(
                    "exec command {:?} timed out after {limit:?}; its process group was killed",
                    self.prog
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_keeps_a_prefix_and_counts_the_rest() {
        let mut o = Output::default();
        o.push(b"hello\0world\n");
        assert_eq!(o.render(), "hello\0world");
        for _ in 0..1000 {
            o.push(&[b'x'; 1000]);
        }
        assert_eq!(o.kept.len(), OUTPUT_PREFIX);
        let total = 12 + 1_000_000;
        let shown = o.render();
        assert!(
            shown.ends_with(&format!(
                " [... {} more bytes of output not shown, {total} in all]",
                total - OUTPUT_PREFIX
            )),
            "{shown}"
        );
        assert!(shown.len() < OUTPUT_PREFIX + 100);
    }
}
