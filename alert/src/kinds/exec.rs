//! `exec`: runs a program with the alert JSON on stdin, in its own process group, killed
//! with its group after a timeout and when this process dies (PDEATHSIG).

use super::{DeliveryError, Shared};
use crate::event::Event;
use crate::options::ExecOptions;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

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
        let mut stdin = child.stdin.take();
        let mut stdout = child.stdout.take();
        let mut stderr = child.stderr.take();
        let run = async {
            if let Some(mut s) = stdin.take() {
                // A program that ignores its stdin may close it early: not an error.
                let _ = s.write_all(input.as_bytes()).await;
            }
            let mut out = Vec::new();
            let mut err = Vec::new();
            let (_, _, status) = tokio::join!(
                async {
                    if let Some(s) = stdout.as_mut() {
                        let _ = s.read_to_end(&mut out).await;
                    }
                },
                async {
                    if let Some(s) = stderr.as_mut() {
                        let _ = s.read_to_end(&mut err).await;
                    }
                },
                child.wait()
            );
            out.extend_from_slice(&err);
            (status, out)
        };
        let limit = self.timeout.unwrap_or(sh.exec_timeout);
        match tokio::time::timeout(limit, run).await {
            Ok((Ok(status), _)) if status.success() => Ok(()),
            Ok((Ok(status), out)) => Err(DeliveryError::permanent(format!(
                "exec command failed: {status}; output: {}",
                String::from_utf8_lossy(&out).trim_end()
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
