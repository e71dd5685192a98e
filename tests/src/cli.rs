//! Running the real `kapacitor` CLI binary against a daemon.

use std::path::Path;
use std::process::{Command, Stdio};

/// What one CLI invocation produced.
#[derive(Debug, Clone)]
pub struct CliOutput {
    /// Exit code; -1 when the process was killed by a signal.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    /// Panics with both streams unless the command exited 0; returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.code, 0,
            "kapacitor failed\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout, self.stderr
        );
        &self.stdout
    }
}

/// Runs `kapacitor -url <url> <args...>` in `cwd` (if given) with `TZ=UTC`, so times print
/// the same on every machine, and without any `KAPACITOR_*` variable of the caller.
pub fn kapacitor_in(url: &str, cwd: Option<&Path>, args: &[&str]) -> CliOutput {
    let mut cmd = Command::new(crate::binary("kapacitor"));
    cmd.arg("-url").arg(url).args(args);
    run(cmd, cwd)
}

/// Runs `kapacitor <args...>` exactly as given (no `-url`), e.g. to test global flags.
pub fn kapacitor_raw(args: &[&str]) -> CliOutput {
    let mut cmd = Command::new(crate::binary("kapacitor"));
    cmd.args(args);
    run(cmd, None)
}

/// Runs `kapacitor -url <url> <args...>`.
pub fn kapacitor(url: &str, args: &[&str]) -> CliOutput {
    kapacitor_in(url, None, args)
}

fn run(mut cmd: Command, cwd: Option<&Path>) -> CliOutput {
    cmd.env_remove("KAPACITOR_URL")
        .env_remove("KAPACITOR_UNSAFE_SSL")
        .env("TZ", "UTC")
        .stdin(Stdio::null());
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let out = cmd.output().expect("running kapacitor");
    CliOutput {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
