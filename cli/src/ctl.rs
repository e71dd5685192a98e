//! `kapacitorctl`, the cluster CLI. Cluster commands arrive with the clustering work; until then
//! it prints its usage and fails, so scripts do not mistake it for a working tool.

use std::io::Write;

use crate::app::Environment;

pub const USAGE: &str = "
Usage: kapacitorctl [options] [command] [args]

Commands:

\tmember     Manage the members of the Kapacitor cluster.
\thelp       Prints help for a command.

The cluster commands are not available in this version of kapacitorctl.
";

/// Runs `kapacitorctl`; returns the exit code.
pub fn run(args: &[String], _env: &Environment, _out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let _ = writeln!(err, "{USAGE}");
    match args.first().map(String::as_str) {
        None | Some("help") | Some("-h") | Some("-help") | Some("--help") => 1,
        Some(_) => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_usage_and_fails() {
        let mut out = Vec::new();
        let mut err = Vec::new();
        assert_eq!(
            run(
                &["member".into(), "list".into()],
                &Environment::default(),
                &mut out,
                &mut err
            ),
            3
        );
        assert!(out.is_empty());
        assert!(
            String::from_utf8(err)
                .unwrap()
                .contains("Usage: kapacitorctl")
        );
    }
}
