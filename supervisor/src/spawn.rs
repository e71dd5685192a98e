//! Starting a child: re-exec of `/proc/self/exe` with the hidden role argument, one end of a
//! socketpair at fd 3, its own process group, and a parent-death signal.
//!
//! Call only from the main thread: PR_SET_PDEATHSIG fires when the *thread* that forked the
//! child exits, so a child forked from a short-lived thread would be killed with it. The
//! supervisor's current-thread runtime keeps every spawn on the main thread.

use crate::logging::{LOG_FILE_ENV, LOG_LEVEL_ENV, LOG_TAP_ENV, LogSettings};
use kapacitor_ipc::{IPC_FD, IPC_FD_ENV, Role};
use nix::sys::signal::Signal;
use std::io;
use std::os::fd::AsRawFd;
use std::process::Stdio;

/// The hidden first argument that selects a child role; never shown by `--help`.
pub const ROLE_ARG: &str = "__role";

pub struct Spawned {
    pub child: tokio::process::Child,
    pub pid: u32,
    /// The supervisor's end of the socketpair.
    pub stream: tokio::net::UnixStream,
}

/// The arguments after argv[0] that make `kapacitord` run `role`.
pub fn role_args(role: &Role) -> Vec<String> {
    match role {
        Role::Supervisor => vec![],
        Role::Gossipd => vec![ROLE_ARG.into(), "gossipd".into()],
        Role::Apid => vec![ROLE_ARG.into(), "apid".into()],
        // The control link's role names a worker's second connection, never a process.
        Role::Worker { task_id } | Role::WorkerControl { task_id } => {
            vec![ROLE_ARG.into(), "task".into(), task_id.clone()]
        }
    }
}

/// Parses what [`role_args`] produced (argv after argv[0]); `None` when it is not a role call.
pub fn parse_role_args(args: &[String]) -> Option<Result<Role, String>> {
    if args.first().map(String::as_str) != Some(ROLE_ARG) {
        return None;
    }
    Some(match &args[1..] {
        [r] if r == "gossipd" => Ok(Role::Gossipd),
        [r] if r == "apid" => Ok(Role::Apid),
        [r, id] if r == "task" && !id.is_empty() => Ok(Role::Worker {
            task_id: id.clone(),
        }),
        other => Err(format!("unknown role {other:?}")),
    })
}

/// `env`: variables every child gets besides the IPC and logging ones.
pub fn spawn_child(
    role: &Role,
    log: &LogSettings,
    env: &[(String, String)],
) -> io::Result<Spawned> {
    // std creates both ends with SOCK_CLOEXEC; only the end dup'ed to fd 3 crosses exec.
    let (parent_end, child_end) = std::os::unix::net::UnixStream::pair()?;
    let child_raw = child_end.as_raw_fd();
    let supervisor_pid = nix::unistd::getpid();

    let mut cmd = tokio::process::Command::new("/proc/self/exe");
    cmd.arg0(format!("kapacitord {}", role.title()))
        .args(role_args(role))
        .env(IPC_FD_ENV, IPC_FD.to_string())
        .env(LOG_FILE_ENV, &log.file)
        .env(LOG_LEVEL_ENV, &log.level)
        .envs(log.tap.iter().map(|t| (LOG_TAP_ENV, t.as_os_str())))
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        // Only the supervisor talks to systemd.
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .process_group(0)
        .kill_on_drop(false);
    // SAFETY: the closure runs between fork and exec and only makes async-signal-safe calls
    // (prctl, getppid, dup2, fcntl) on values computed before the fork.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            // The supervisor may have died between fork and prctl; then nobody would kill us.
            if nix::unistd::getppid() != supervisor_pid {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            if child_raw == IPC_FD {
                let flags = libc::fcntl(IPC_FD, libc::F_GETFD);
                if flags < 0 || libc::fcntl(IPC_FD, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    return Err(io::Error::last_os_error());
                }
            } else if libc::dup2(child_raw, IPC_FD) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    // Our copy of the child's end must go, or we would never see EOF when the child dies.
    drop(child_end);
    let pid = child
        .id()
        .ok_or_else(|| io::Error::other("child exited before its pid was read"))?;
    parent_end.set_nonblocking(true)?;
    let stream = tokio::net::UnixStream::from_std(parent_end)?;
    Ok(Spawned { child, pid, stream })
}

/// Signals a child's whole process group (the child and anything it started). Errors are
/// ignored: the group may already be gone.
pub fn signal_group(pid: u32, signal: Signal) {
    if pid == 0 {
        return;
    }
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid as i32), signal);
}

/// Go's description of how a process ended: `exit status 1`, `signal: killed`.
pub fn describe_exit(status: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    match status.signal() {
        Some(sig) => {
            let name = match Signal::try_from(sig) {
                Ok(Signal::SIGKILL) => "killed".to_string(),
                Ok(Signal::SIGTERM) => "terminated".to_string(),
                Ok(Signal::SIGINT) => "interrupt".to_string(),
                Ok(Signal::SIGSEGV) => "segmentation fault".to_string(),
                Ok(Signal::SIGABRT) => "aborted".to_string(),
                Ok(s) => s.as_str().to_string(),
                Err(_) => format!("signal {sig}"),
            };
            format!("signal: {name}")
        }
        None => "exited".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_args_round_trip() {
        for role in [
            Role::Gossipd,
            Role::Apid,
            Role::Worker {
                task_id: "cpu_alert".into(),
            },
        ] {
            let args = role_args(&role);
            assert_eq!(parse_role_args(&args), Some(Ok(role)));
        }
        assert_eq!(parse_role_args(&["run".into()]), None);
        assert!(matches!(
            parse_role_args(&[ROLE_ARG.into(), "nope".into()]),
            Some(Err(_))
        ));
    }

    #[test]
    fn exit_descriptions() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            describe_exit(&std::process::ExitStatus::from_raw(9)),
            "signal: killed"
        );
        assert_eq!(
            describe_exit(&std::process::ExitStatus::from_raw(1 << 8)),
            "exit status 1"
        );
    }
}
