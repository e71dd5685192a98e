//! `kapacitord [run|config|version] [flags]`, with Go-style flags: Kapacitor's users type
//! `-config FILE` (one dash, long name), which clap would read as short options. A small shim
//! rewrites the known long flags to `--name` before clap sees them.

use clap::{Args, Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;

/// Long flags that may be written with one dash.
const GO_FLAGS: &[&str] = &[
    "config",
    "pidfile",
    "hostname",
    "log-file",
    "log-level",
    "cpuprofile",
    "memprofile",
    "blacklist-cidrs",
    "disable-handlers",
    "help",
];

#[derive(Debug, Parser)]
#[command(
    name = "kapacitord",
    about = "Runs the Kapacitor server (a supervisor of the gossip, API and task worker processes).",
    args_conflicts_with_subcommands = true,
    disable_version_flag = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Run(RunArgs),
    /// Print the effective configuration as TOML.
    Config(ConfigArgs),
    /// Print the version.
    Version,
}

#[derive(Debug, Clone, Default, Args)]
pub struct RunArgs {
    /// Configuration file (default: $KAPACITOR_CONFIG_PATH, ~/.kapacitor/kapacitor.conf,
    /// /etc/kapacitor/kapacitor.conf, else a built-in demo configuration).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Write the process id to this file.
    #[arg(long, value_name = "PATH")]
    pub pidfile: Option<PathBuf>,
    /// Override the configured hostname.
    #[arg(long)]
    pub hostname: Option<String>,
    /// Override `[logging] file` (a path, STDERR or STDOUT).
    #[arg(long = "log-file", value_name = "PATH")]
    pub log_file: Option<String>,
    /// Override `[logging] level` (debug, info, error).
    #[arg(long = "log-level", value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Accepted for compatibility with Kapacitor; profiling is not implemented.
    #[arg(long, hide = true, value_name = "PATH")]
    pub cpuprofile: Option<PathBuf>,
    /// Accepted for compatibility with Kapacitor; profiling is not implemented.
    #[arg(long, hide = true, value_name = "PATH")]
    pub memprofile: Option<PathBuf>,
    /// Comma-separated CIDRs that outgoing HTTP requests may not reach.
    #[arg(long = "blacklist-cidrs", value_name = "CIDRS")]
    pub blacklist_cidrs: Option<String>,
    /// Comma-separated alert handler kinds to disable (e.g. exec).
    #[arg(long = "disable-handlers", value_name = "KINDS")]
    pub disable_handlers: Option<String>,
}

#[derive(Debug, Clone, Default, Args)]
pub struct ConfigArgs {
    /// Configuration file to merge over the defaults.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

impl Cli {
    /// Parses `argv` (including argv[0]) after rewriting Go-style flags.
    pub fn parse_go_style<I: IntoIterator<Item = OsString>>(argv: I) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(rewrite_go_flags(argv))
    }

    /// The run arguments, whether given with or without the `run` subcommand.
    pub fn into_command(self) -> Command {
        self.command.unwrap_or(Command::Run(self.run))
    }
}

/// `-config x` → `--config x`, `-log-level=info` → `--log-level=info`; everything else,
/// including short flags like `-h` and values after a flag, is left alone.
pub fn rewrite_go_flags<I: IntoIterator<Item = OsString>>(argv: I) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut after_double_dash = false;
    for (i, arg) in argv.into_iter().enumerate() {
        let Some(s) = arg.to_str() else {
            out.push(arg);
            continue;
        };
        if i == 0 || after_double_dash {
            out.push(arg);
            continue;
        }
        if s == "--" {
            after_double_dash = true;
            out.push(arg);
            continue;
        }
        if let Some(rest) = s.strip_prefix('-').filter(|r| !r.starts_with('-')) {
            let name = rest.split('=').next().unwrap_or(rest);
            if GO_FLAGS.contains(&name) {
                out.push(OsString::from(format!("--{rest}")));
                continue;
            }
        }
        out.push(arg);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Command {
        let argv = std::iter::once("kapacitord")
            .chain(args.iter().copied())
            .map(OsString::from);
        Cli::parse_go_style(argv).unwrap().into_command()
    }

    #[test]
    fn go_style_single_dash_flags() {
        let Command::Run(run) =
            parse(&["-config", "/x.conf", "-log-level=error", "-hostname", "h1"])
        else {
            panic!("expected run")
        };
        assert_eq!(run.config, Some(PathBuf::from("/x.conf")));
        assert_eq!(run.log_level.as_deref(), Some("error"));
        assert_eq!(run.hostname.as_deref(), Some("h1"));
    }

    #[test]
    fn double_dash_and_run_subcommand() {
        let Command::Run(run) = parse(&["run", "--config", "/y.conf", "-pidfile", "/p"]) else {
            panic!("expected run")
        };
        assert_eq!(run.config, Some(PathBuf::from("/y.conf")));
        assert_eq!(run.pidfile, Some(PathBuf::from("/p")));
    }

    #[test]
    fn config_and_version_subcommands() {
        let Command::Config(c) = parse(&["config", "-config", "/z.conf"]) else {
            panic!("expected config")
        };
        assert_eq!(c.config, Some(PathBuf::from("/z.conf")));
        assert!(matches!(parse(&["version"]), Command::Version));
    }

    #[test]
    fn unknown_flag_is_an_error_naming_it() {
        let argv = ["kapacitord", "-bogus"].map(OsString::from);
        let err = Cli::parse_go_style(argv).unwrap_err().to_string();
        assert!(err.contains("-b"), "{err}");
    }

    #[test]
    fn values_are_not_rewritten() {
        let argv = ["kapacitord", "-hostname", "-config"].map(OsString::from);
        // The value of -hostname happens to look like a flag: the shim rewrites it, and clap
        // then reports a missing value rather than silently taking a flag as a hostname.
        assert!(Cli::parse_go_style(argv).is_err());
    }
}
