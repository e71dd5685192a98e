//! `kapacitorctl`, the cluster CLI of Kapacitor Enterprise: `member list|add|remove`, plus
//! `processes` (this member's process tree). Same global flags as `kapacitor`: `-url` (or
//! `KAPACITOR_URL`) and `-skipVerify` (or `KAPACITOR_UNSAFE_SSL`).
//!
//! Exit codes: 0 success, 1 usage, 2 missing or extra arguments, 3 command error
//! (`Error: <message>` on stderr), 4 bad URL.

mod api;
pub mod member;
pub mod processes;

use std::io::Write;

use crate::app::{Environment, main_flags, resolve_connection};
use crate::flags::FlagError;

pub const USAGE: &str = "
Usage: kapacitorctl [options] [command] [args]

Commands:

\tmember     Manage the members of the Kapacitor cluster.
\tprocesses  Show the process tree of the member (supervisor, gossip, API, task workers).
\thelp       Prints help for a command.

Options:
";

pub const MEMBER_USAGE: &str = "
Usage: kapacitorctl member [list|add|remove] [args]

\tlist                    List the members of the cluster, as this member sees them.
\tadd <rpc-address>       Add the member whose RPC service is at <rpc-address> (host:9091)
\t                        to this member's cluster.
\tremove <member-id>      Remove a member (this one or another) from the cluster. The removed
\t                        member becomes a cluster of one with a new cluster ID.
";

pub const PROCESSES_USAGE: &str = "
Usage: kapacitorctl processes

Show the member's process tree: the supervisor, the gossip and API processes and one
worker per task, with their state, restarts and last exit.
";

fn usage(err: &mut dyn Write) {
    let _ = write!(err, "{USAGE}{}", main_flags().defaults());
}

/// Runs `kapacitorctl`; returns the exit code.
pub fn run(args: &[String], env: &Environment, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let parsed = match main_flags().parse(args) {
        Ok(p) => p,
        Err(FlagError::Help) => {
            usage(err);
            return 0;
        }
        Err(e) => {
            let _ = writeln!(err, "{e}");
            usage(err);
            return 1;
        }
    };
    let Some((command, rest)) = parsed.args.split_first() else {
        let _ = writeln!(err, "Error: Must pass a command.");
        usage(err);
        return 1;
    };
    if command == "help" {
        return help(rest, out, err);
    }
    let sub_usage = match command.as_str() {
        "member" => MEMBER_USAGE,
        "processes" => PROCESSES_USAGE,
        other => {
            let _ = writeln!(err, "Unknown command {other}");
            usage(err);
            return 1;
        }
    };
    let conn = match resolve_connection(
        parsed.string_or_empty("url"),
        parsed.bool("skipVerify"),
        env,
    ) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(err, "{e}");
            return 1;
        }
    };
    let api = match api::Api::new(&conn.url, conn.skip_verify) {
        Ok(a) => a,
        Err(e) => {
            let _ = writeln!(err, "{e}");
            return 4;
        }
    };
    let bad_args = |err: &mut dyn Write, msg: &str| {
        let _ = writeln!(err, "Error: {msg}");
        let _ = write!(err, "{sub_usage}");
        2
    };
    let result = match (command.as_str(), rest) {
        ("processes", []) => processes::processes(&api).map(Some),
        ("processes", _) => return bad_args(err, "processes takes no arguments"),
        ("member", [sub, more @ ..]) => match (sub.as_str(), more) {
            ("list", []) => member::list(&api).map(Some),
            ("add", [addr]) => member::add(&api, addr).map(|_| None),
            ("remove", [id]) => member::remove(&api, id).map(|_| None),
            ("list", _) => return bad_args(err, "member list takes no arguments"),
            ("add", _) => return bad_args(err, "member add takes exactly one RPC address"),
            ("remove", _) => return bad_args(err, "member remove takes exactly one member ID"),
            (other, _) => return bad_args(err, &format!("unknown member command {other:?}")),
        },
        ("member", []) => return bad_args(err, "must pass list, add or remove"),
        _ => return bad_args(err, "invalid arguments"),
    };
    match result {
        Ok(Some(text)) => {
            let _ = out.write_all(text.as_bytes());
            0
        }
        Ok(None) => 0,
        Err(msg) => {
            let _ = writeln!(err, "Error: {msg}");
            3
        }
    }
}

fn help(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let text = match args.first().map(String::as_str) {
        None => {
            usage(err);
            return 0;
        }
        Some("member") => MEMBER_USAGE,
        Some("processes") => PROCESSES_USAGE,
        Some(other) => {
            let _ = writeln!(err, "Unknown command {other}");
            usage(err);
            return 1;
        }
    };
    let _ = write!(out, "{text}");
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_ctl(args: &[&str]) -> (i32, String, String) {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let code = run(&args, &Environment::default(), &mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn no_command_prints_usage() {
        let (code, out, err) = run_ctl(&[]);
        assert_eq!(code, 1);
        assert!(out.is_empty());
        assert!(
            err.contains("Usage: kapacitorctl") && err.contains("-url"),
            "{err}"
        );
    }

    #[test]
    fn wrong_arguments_are_usage_errors_before_any_request() {
        for args in [
            &["member"][..],
            &["member", "add"],
            &["member", "remove", "a", "b"],
            &["member", "frobnicate"],
            &["processes", "x"],
        ] {
            let (code, _, err) = run_ctl(args);
            assert_eq!(code, 2, "{args:?}: {err}");
            assert!(
                err.contains("Error:") && err.contains("Usage: kapacitorctl"),
                "{err}"
            );
        }
        assert_eq!(run_ctl(&["nope"]).0, 1);
    }

    #[test]
    fn unreachable_server_is_a_clear_error() {
        // Port 1 on loopback: nothing listens there.
        let (code, _, err) = run_ctl(&["-url", "http://127.0.0.1:1", "member", "list"]);
        assert_eq!(code, 3);
        assert!(
            err.starts_with("Error: cannot reach kapacitord at http://127.0.0.1:1"),
            "{err}"
        );
    }

    #[test]
    fn bad_url_is_rejected() {
        let (code, _, err) = run_ctl(&["-url", "ftp://x", "member", "list"]);
        assert_eq!(code, 4);
        assert!(err.contains("Unsupported protocol scheme"), "{err}");
    }

    #[test]
    fn help_for_member() {
        let (code, out, _) = run_ctl(&["help", "member"]);
        assert_eq!(code, 0);
        assert!(out.contains("remove <member-id>"));
    }
}
