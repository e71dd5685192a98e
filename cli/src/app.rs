//! Entry point of the `kapacitor` binary: global flags, client creation, dispatch, exit codes.
//!
//! Exit codes (as Kapacitor's): 0 success, 1 usage / unknown command, 2 missing arguments or bad
//! subcommand flags, 3 command error (`Error: <message>` on stderr), 4 client creation failure.

use std::io::Write;

use crate::client::{Client, DEFAULT_URL};
use crate::commands::{self, CmdResult, Ctx, Failure};
use crate::flags::{FlagDef, FlagError, FlagSet, parse_go_bool};
use crate::usage;

/// The environment variables the CLI reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    /// `KAPACITOR_URL`.
    pub url: Option<String>,
    /// `KAPACITOR_UNSAFE_SSL`.
    pub unsafe_ssl: Option<String>,
}

impl Environment {
    pub fn from_process() -> Self {
        Environment {
            url: std::env::var("KAPACITOR_URL").ok(),
            unsafe_ssl: std::env::var("KAPACITOR_UNSAFE_SSL").ok(),
        }
    }
}

/// The global flags (before the command).
pub fn main_flags() -> FlagSet {
    FlagSet::new(vec![
        FlagDef::string(
            "url",
            "The URL http(s)://host:port of the kapacitord server. Defaults to the KAPACITOR_URL environment variable or http://localhost:9092 if not set.",
        ),
        FlagDef::boolean(
            "skipVerify",
            "Disable SSL verification (note, this is insecure). Defaults to the KAPACITOR_UNSAFE_SSL environment variable or false if not set.",
        ),
    ])
}

/// Prints the main usage and the global flags (Kapacitor's `usage()`).
fn print_usage(err: &mut dyn Write) {
    let _ = writeln!(err, "{}", usage::MAIN);
    let _ = write!(err, "{}", main_flags().defaults());
}

/// Where to connect and whether to verify TLS, from flags and environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub url: String,
    pub skip_verify: bool,
}

/// Resolves the connection settings: `-url` > `KAPACITOR_URL` > default; `-skipVerify` or
/// `KAPACITOR_UNSAFE_SSL`. An unparsable `KAPACITOR_UNSAFE_SSL` is an error.
pub fn resolve_connection(
    flag_url: &str,
    flag_skip: bool,
    env: &Environment,
) -> Result<Connection, String> {
    let mut skip_verify = false;
    if let Some(v) = env.unsafe_ssl.as_deref().filter(|v| !v.is_empty()) {
        skip_verify = parse_go_bool(v)
            .ok_or_else(|| format!("strconv.ParseBool: parsing {v:?}: invalid syntax"))?;
    }
    if flag_skip {
        skip_verify = true;
    }
    let mut url = DEFAULT_URL.to_string();
    if let Some(u) = env.url.as_deref().filter(|u| !u.is_empty()) {
        url = u.to_string();
    }
    if !flag_url.is_empty() {
        url = flag_url.to_string();
    }
    Ok(Connection { url, skip_verify })
}

/// Runs the `kapacitor` CLI with `args` (without the program name) and returns the exit code.
pub fn run(args: &[String], env: &Environment, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let main = main_flags();
    let parsed = match main.parse(args) {
        Ok(p) => p,
        Err(FlagError::Help) => {
            let _ = write!(err, "Usage of main:\n{}", main.defaults());
            return 0;
        }
        Err(e) => {
            let _ = write!(err, "{e}\nUsage of main:\n{}", main.defaults());
            return 2;
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
    let client = match Client::new(&conn.url, conn.skip_verify) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(err, "{e}");
            return 4;
        }
    };
    let Some((command, rest)) = parsed.args.split_first() else {
        let _ = writeln!(err, "Error: Must pass a command.");
        print_usage(err);
        return 1;
    };
    let mut ctx = Ctx {
        client: &client,
        out,
        err,
    };
    let result = match command.as_str() {
        "help" => help(&mut ctx, rest),
        _ => match command_fn(command) {
            Some(f) => f(&mut ctx, rest),
            None => {
                ctx.eprintln(&format!("Unknown command {command}"));
                print_usage(ctx.err);
                Err(Failure::Exit(1))
            }
        },
    };
    match result {
        Ok(()) => 0,
        Err(Failure::Exit(code)) => code,
        Err(Failure::Error(msg)) => {
            let _ = writeln!(ctx.err, "Error: {msg}");
            3
        }
    }
}

type CommandFn = fn(&mut Ctx<'_>, &[String]) -> CmdResult;

fn command_fn(name: &str) -> Option<CommandFn> {
    use commands::{define, delete, list, record, server, tasks, topics};
    Some(match name {
        "define" => define::define,
        "define-template" => define::define_template,
        "define-topic-handler" => define::define_topic_handler,
        "enable" => tasks::enable,
        "disable" => tasks::disable,
        "reload" => tasks::reload,
        "show" => tasks::show,
        "show-template" => tasks::show_template,
        "show-topic" => topics::show_topic,
        "show-topic-handler" => topics::show_topic_handler,
        "list" => list::list,
        "delete" => delete::delete,
        "level" => server::level,
        "stats" => server::stats,
        "vars" => server::vars,
        "version" => server::version,
        "backup" => server::backup,
        "service-tests" => server::service_tests,
        "record" => record::record,
        "replay" => record::replay,
        "replay-live" => record::replay_live,
        "watch" => record::watch,
        "logs" => record::logs,
        _ => return None,
    })
}

/// The usage text `help <command>` prints, with the flag listing where the command has flags.
pub fn command_usage(name: &str) -> Option<String> {
    use commands::{define, tasks};
    let text = match name {
        "record" => format!("{}\n", usage::RECORD),
        "define" => format!("{}\n{}", usage::DEFINE, define::define_flags().defaults()),
        "define-template" => {
            format!(
                "{}\n{}",
                usage::DEFINE_TEMPLATE,
                define::define_template_flags().defaults()
            )
        }
        "define-topic-handler" => format!("{}\n", usage::DEFINE_TOPIC_HANDLER),
        "replay" => format!(
            "{}\n{}",
            usage::REPLAY,
            commands::record::replay_flags().defaults()
        ),
        "replay-live" => format!("{}\n", usage::REPLAY_LIVE),
        "enable" => format!("{}\n", usage::ENABLE),
        "disable" => format!("{}\n", usage::DISABLE),
        "reload" => format!("{}\n", usage::RELOAD),
        "delete" => format!("{}\n", usage::DELETE),
        "list" => format!("{}\n", usage::LIST),
        "show" => format!("{}\n{}", usage::SHOW, tasks::show_flags().defaults()),
        "show-template" => format!("{}\n", usage::SHOW_TEMPLATE),
        "show-topic-handler" => format!("{}\n", usage::SHOW_TOPIC_HANDLER),
        "show-topic" => format!("{}\n", usage::SHOW_TOPIC),
        "backup" => format!("{}\n", usage::BACKUP),
        "watch" => format!("{}\n", usage::WATCH),
        "logs" => format!("{}\n", usage::LOGS),
        "level" => format!("{}\n", usage::LEVEL),
        "help" => format!("{}\n", usage::HELP),
        "stats" => format!("{}\n", usage::STATS),
        "version" => format!("{}\n", usage::VERSION),
        "vars" => format!("{}\n", usage::VARS),
        "service-tests" => format!("{}\n", usage::SERVICE_TESTS),
        _ => return None,
    };
    Some(text)
}

/// `kapacitor help [command]`.
fn help(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    if args.len() != 1 {
        ctx.eprintln(usage::HELP);
        print_usage(ctx.err);
        return Err(Failure::Exit(1));
    }
    match command_usage(&args[0]) {
        Some(text) => {
            let _ = write!(ctx.err, "{text}");
            Ok(())
        }
        None => {
            ctx.eprintln(&format!("Unknown command {}", args[0]));
            print_usage(ctx.err);
            Err(Failure::Exit(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_args(args: &[&str], env: &Environment) -> (i32, String, String) {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut out = Vec::new();
        let mut err = Vec::new();
        let code = run(&args, env, &mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    /// Nothing listens on port 1, so commands that reach the network fail fast.
    fn dead() -> Environment {
        Environment {
            url: Some("http://127.0.0.1:1".into()),
            unsafe_ssl: None,
        }
    }

    #[test]
    fn no_command_is_exit_1_with_usage() {
        let (code, out, err) = run_args(&[], &dead());
        assert_eq!(code, 1);
        assert!(out.is_empty());
        assert!(err.starts_with(
            "Error: Must pass a command.\n\nUsage: kapacitor [options] [command] [args]"
        ));
        assert!(err.ends_with("  -url string\n    \tThe URL http(s)://host:port of the kapacitord server. Defaults to the KAPACITOR_URL environment variable or http://localhost:9092 if not set.\n"));
    }

    #[test]
    fn unknown_command_is_exit_1() {
        let (code, _, err) = run_args(&["push"], &dead());
        assert_eq!(code, 1);
        assert!(err.starts_with("Unknown command push\n"), "{err}");
    }

    #[test]
    fn bad_global_flag_is_exit_2() {
        let (code, _, err) = run_args(&["-nope", "list", "tasks"], &dead());
        assert_eq!(code, 2);
        assert!(
            err.starts_with("flag provided but not defined: -nope\nUsage of main:\n"),
            "{err}"
        );
    }

    #[test]
    fn bad_url_is_exit_4() {
        let (code, _, err) = run_args(&["-url", "ftp://x", "list", "tasks"], &dead());
        assert_eq!(code, 4);
        assert!(err.starts_with("Unsupported protocol scheme: ftp"), "{err}");
    }

    #[test]
    fn bad_unsafe_ssl_env_is_exit_1() {
        let env = Environment {
            unsafe_ssl: Some("maybe".into()),
            ..dead()
        };
        let (code, _, err) = run_args(&["version"], &env);
        assert_eq!(code, 1);
        assert_eq!(
            err,
            "strconv.ParseBool: parsing \"maybe\": invalid syntax\n"
        );
    }

    #[test]
    fn connection_precedence() {
        let env = Environment {
            url: Some("http://env:1".into()),
            unsafe_ssl: Some("true".into()),
        };
        let c = resolve_connection("", false, &env).unwrap();
        assert_eq!(
            c,
            Connection {
                url: "http://env:1".into(),
                skip_verify: true
            }
        );
        let c = resolve_connection("http://flag:2", false, &Environment::default()).unwrap();
        assert_eq!(
            c,
            Connection {
                url: "http://flag:2".into(),
                skip_verify: false
            }
        );
        let c = resolve_connection("", true, &Environment::default()).unwrap();
        assert_eq!(
            c,
            Connection {
                url: DEFAULT_URL.into(),
                skip_verify: true
            }
        );
        let env = Environment {
            url: Some(String::new()),
            unsafe_ssl: Some(String::new()),
        };
        assert_eq!(
            resolve_connection("", false, &env).unwrap().url,
            DEFAULT_URL
        );
    }

    #[test]
    fn missing_arguments_are_exit_2() {
        for (args, msg) in [
            (&["define"][..], "Must provide a task ID."),
            (
                &["define", "-tick", "x.tick"][..],
                "Must provide a task ID.",
            ),
            (&["define-template"][..], "Must provide a template ID."),
            (
                &["define-topic-handler"][..],
                "Must provide a path to a handler file.",
            ),
            (&["enable"][..], "Must pass at least one task ID"),
            (&["disable"][..], "Must pass at least one task ID"),
            (&["reload"][..], "Must pass at least one task ID"),
            (&["show"][..], "Must specify one task ID"),
            (&["show", "a", "b"][..], "Must specify one task ID"),
            (&["show-template"][..], "Must specify one template ID"),
            (&["show-topic"][..], "Must specify one topic ID"),
            (
                &["show-topic-handler", "t"][..],
                "Must specify both topic and handler IDs",
            ),
            (
                &["list"][..],
                "Must specify 'tasks', 'recordings', 'replays', 'topics', or 'topic-handlers'",
            ),
            (&["delete", "tasks"][..], "Must pass at least one ID"),
            (&["level"][..], "Must pass a log level"),
        ] {
            let (code, out, err) = run_args(args, &dead());
            assert_eq!(code, 2, "{args:?}: {err}");
            assert!(out.is_empty());
            assert!(err.starts_with(&format!("{msg}\n")), "{args:?}: {err}");
        }
    }

    #[test]
    fn bad_subcommand_flag_is_exit_2() {
        let (code, _, err) = run_args(&["define", "cpu", "-bogus", "x"], &dead());
        assert_eq!(code, 2);
        assert!(
            err.starts_with(
                "flag provided but not defined: -bogus\nUsage: kapacitor define <task ID> [options]"
            ),
            "{err}"
        );
        let (code, _, err) = run_args(&["define", "cpu", "-dbrp", "nodot"], &dead());
        assert_eq!(code, 2);
        assert!(
            err.starts_with("invalid value \"nodot\" for flag -dbrp"),
            "{err}"
        );
    }

    #[test]
    fn command_errors_are_exit_3_with_error_prefix() {
        let (code, _, err) = run_args(&["list", "bogus"], &dead());
        assert_eq!(code, 3);
        assert_eq!(
            err,
            "Error: cannot list 'bogus' did you mean 'tasks', 'recordings', 'replays', 'topics', 'topic-handlers' or 'service-tests'?\n"
        );
        let (code, _, err) = run_args(&["delete", "bogus", "x"], &dead());
        assert_eq!(code, 3);
        assert!(err.starts_with("Error: cannot delete 'bogus'"), "{err}");
        let (code, _, err) = run_args(&["stats"], &dead());
        assert_eq!(code, 3);
        assert!(
            err.ends_with("Error: must provide a stats category\n"),
            "{err}"
        );
        let (code, _, err) = run_args(&["backup"], &dead());
        assert_eq!(code, 3);
        assert_eq!(err, "Error: must provide file path for backup.\n");
    }

    #[test]
    fn unreachable_server_is_exit_3() {
        let (code, out, err) = run_args(&["list", "tasks"], &dead());
        assert_eq!(code, 3);
        assert!(out.is_empty());
        assert!(
            err.starts_with("Error: Get \"http://127.0.0.1:1/kapacitor/v1/tasks\": "),
            "{err}"
        );
        let (code, _, err) = run_args(&["show", "cpu"], &dead());
        assert_eq!(code, 3);
        assert!(
            err.starts_with("Error: Get \"http://127.0.0.1:1/kapacitor/v1/tasks/cpu\": "),
            "{err}"
        );
    }

    #[test]
    fn define_reports_unreadable_files_before_creating() {
        let dir = tempfile::tempdir().unwrap();
        let handler = dir.path().join("h.txt");
        std::fs::write(&handler, "topic: t\n").unwrap();
        let (code, _, err) = run_args(
            &["define-topic-handler", handler.to_str().unwrap()],
            &dead(),
        );
        assert_eq!(code, 3);
        assert_eq!(err, "Error: bad file extension. Must be YAML or JSON\n");
    }

    #[test]
    fn help_prints_command_usage() {
        let (code, out, err) = run_args(&["help", "define"], &dead());
        assert_eq!(code, 0);
        assert!(out.is_empty());
        assert!(err.starts_with("Usage: kapacitor define <task ID> [options]\n"));
        assert!(err.contains("  -dbrp value\n    \tA database and retention policy pair"));
        assert!(err.contains("  -no-reload\n    \tDo not reload the task even if it is enabled\n"));
        let (code, _, err) = run_args(&["help"], &dead());
        assert_eq!(code, 1);
        assert!(
            err.starts_with("Usage: kapacitor help [command]\n\n\nUsage: kapacitor [options]"),
            "{err}"
        );
        let (code, _, err) = run_args(&["help", "bogus"], &dead());
        assert_eq!(code, 1);
        assert!(err.starts_with("Unknown command bogus\n"));
    }

    #[test]
    fn dash_h_on_subcommand_prints_usage_and_exits_0() {
        let (code, _, err) = run_args(&["show", "-h"], &dead());
        assert_eq!(code, 0);
        assert!(
            err.starts_with("Usage: kapacitor show [-replay] [task ID]"),
            "{err}"
        );
    }

    #[test]
    fn version_needs_no_server() {
        let (code, out, _) = run_args(&["version"], &dead());
        assert_eq!(code, 0);
        assert!(out.starts_with("Kapacitor "));
    }

    #[test]
    fn record_and_replay_argument_errors() {
        let (code, _, err) = run_args(&["record"], &dead());
        assert_eq!(code, 2);
        assert!(
            err.starts_with("Usage: kapacitor record [batch|stream|query]"),
            "{err}"
        );
        let (code, _, err) = run_args(&["record", "bogus"], &dead());
        assert_eq!(code, 3);
        assert_eq!(
            err,
            "Error: Unknown record type \"bogus\", expected 'stream', 'batch' or 'query'\n"
        );
        let (code, _, err) = run_args(&["record", "stream", "-task", "t"], &dead());
        assert_eq!(code, 3);
        assert!(
            err.ends_with("Error: both task and duration are required\n"),
            "{err}"
        );
        let (code, _, err) = run_args(
            &["record", "stream", "-task", "t", "-duration", "10"],
            &dead(),
        );
        assert_eq!(code, 3);
        assert_eq!(err, "Error: invalid duration \"10\"\n");
        let (code, _, err) = run_args(
            &[
                "record",
                "batch",
                "-task",
                "t",
                "-start",
                "2016-01-01T00:00:00Z",
                "-past",
                "1h",
            ],
            &dead(),
        );
        assert_eq!(code, 3);
        assert!(
            err.ends_with("Error: cannot set both start and past flags.\n"),
            "{err}"
        );
        let (code, _, err) = run_args(&["replay", "-task", "t"], &dead());
        assert_eq!(code, 3);
        assert!(err.ends_with("Error: must pass recording ID\n"), "{err}");
        let (code, _, err) = run_args(&["replay-live", "query", "-task", "t"], &dead());
        assert_eq!(code, 3);
        assert!(
            err.ends_with("Error: both query and task are required\n"),
            "{err}"
        );
        let (code, _, err) = run_args(&["watch"], &dead());
        assert_eq!(code, 3);
        assert_eq!(err, "Error: must provide task ID.\n");
    }
}
