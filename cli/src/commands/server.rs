//! Server-wide commands: `level`, `stats`, `vars`, `version`, `backup`, `service-tests`.

use std::fmt::Write as _;
use std::io::Write as _;

use serde_json::Value;

use super::{CmdResult, Ctx, Failure, fail};
use crate::client::DebugVars;
use crate::output::{pad, pad_left};
use crate::usage;

/// `kapacitor level <debug|info|error>`.
pub fn level(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    let Some(level) = args.first() else {
        return Err(ctx.usage_exit("Must pass a log level", usage::LEVEL));
    };
    ctx.client.log_level(level)?;
    Ok(())
}

/// `kapacitor stats general|ingress`.
pub fn stats(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    if args.len() != 1 {
        ctx.eprintln(usage::STATS);
        return fail("must provide a stats category");
    }
    let render = match args[0].as_str() {
        "general" => render_general,
        "ingress" => render_ingress,
        other => {
            ctx.eprintln(usage::STATS);
            return fail(format!(
                "unknown stats category {other:?}, expected 'general' or 'ingress'"
            ));
        }
    };
    let vars = ctx.client.debug_vars()?;
    ctx.print(&render(&vars));
    Ok(())
}

/// `stats general`.
pub fn render_general(v: &DebugVars) -> String {
    let mut s = String::new();
    let mut row = |k: &str, v: &str| {
        let _ = writeln!(s, "{}{}", pad(k, 30), pad(v, 30));
    };
    row("ClusterID:", &v.cluster_id);
    row("ServerID:", &v.server_id);
    row("Host:", &v.host);
    row("Tasks:", &v.num_tasks.to_string());
    row("Enabled Tasks:", &v.num_enabled_tasks.to_string());
    row("Subscriptions:", &v.num_subscriptions.to_string());
    row("Platform:", &v.platform);
    row("Version:", &v.version);
    s
}

/// `stats ingress`: points received per database, retention policy and measurement, for the
/// main task master only (replays run in their own task masters).
pub fn render_ingress(v: &DebugVars) -> String {
    let mut rows: Vec<(&str, &str, &str, i64)> = v
        .stats
        .values()
        .filter(|s| {
            s.name == "ingress" && s.tags.get("task_master").map(String::as_str) == Some("main")
        })
        .map(|s| {
            let tag = |k: &str| s.tags.get(k).map(String::as_str).unwrap_or("");
            let points = s
                .values
                .get("points_received")
                .and_then(Value::as_f64)
                .unwrap_or(0.0);
            (
                tag("database"),
                tag("retention_policy"),
                tag("measurement"),
                points as i64,
            )
        })
        .collect();
    rows.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
    let wdb = rows.iter().map(|r| r.0.len()).fold(8, usize::max) + 1;
    let wrp = rows.iter().map(|r| r.1.len()).fold(16, usize::max) + 1;
    let wm = rows.iter().map(|r| r.2.len()).fold(11, usize::max) + 1;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}{}{}Points Received",
        pad("Database", wdb),
        pad("Retention Policy", wrp),
        pad("Measurement", wm)
    );
    for (db, rp, m, points) in rows {
        let _ = writeln!(
            s,
            "{}{}{}{}",
            pad(db, wdb),
            pad(rp, wrp),
            pad(m, wm),
            pad_left(&points.to_string(), 15)
        );
    }
    s
}

/// `kapacitor vars`: the raw `/debug/vars` body.
pub fn vars(ctx: &mut Ctx<'_>, _args: &[String]) -> CmdResult {
    let body = ctx.client.debug_vars_raw()?;
    ctx.print(&body);
    Ok(())
}

/// The CLI's own version line: `Kapacitor <platform> <version> (git: <branch> <commit>)`.
pub fn version_line() -> String {
    let platform = option_env!("KAPACITOR_PLATFORM").unwrap_or("OSS");
    let branch = option_env!("KAPACITOR_GIT_BRANCH").unwrap_or("unknown");
    let commit = option_env!("KAPACITOR_GIT_COMMIT").unwrap_or("unknown");
    format!(
        "Kapacitor {platform} {} (git: {branch} {commit})\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// `kapacitor version`.
pub fn version(ctx: &mut Ctx<'_>, _args: &[String]) -> CmdResult {
    ctx.print(&version_line());
    Ok(())
}

/// `kapacitor backup <file>`.
pub fn backup(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    if args.len() != 1 {
        return fail("must provide file path for backup.");
    }
    let path = &args[0];
    let mut file = std::fs::File::create(path)
        .map_err(|e| Failure::Error(format!("failed to create backup file: {e}")))?;
    let (written, size) = ctx.client.backup(&mut file).map_err(|e| match e {
        crate::client::ClientError::Io(msg) => {
            Failure::Error(format!("failed to save backup: {msg}"))
        }
        other => Failure::Error(format!("failed to perform backup: {other}")),
    })?;
    file.flush()
        .map_err(|e| Failure::Error(format!("failed to save backup: {e}")))?;
    if let Some(size) = size
        && written != size
    {
        return fail(format!(
            "failed to download entire backup, only wrote {written} bytes out of a total {size} bytes."
        ));
    }
    Ok(())
}

/// `kapacitor service-tests <name|glob>...`: runs each matching test with default options.
pub fn service_tests(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    if args.is_empty() {
        return fail("must provide at least one service name or pattern.");
    }
    let mut services = Vec::new();
    for pattern in args {
        services.extend(ctx.client.list_service_tests(pattern)?);
    }
    let mut results = Vec::with_capacity(services.len());
    for s in &services {
        results.push(ctx.client.run_service_test(&s.name)?);
    }
    let mut out = String::new();
    let _ = writeln!(out, "{}{}Message", pad("Service", 20), pad("Success", 10));
    for (s, r) in services.iter().zip(&results) {
        let _ = writeln!(
            out,
            "{}{}{}",
            pad(&s.name, 20),
            pad(&r.success.to_string(), 10),
            r.message
        );
    }
    ctx.print(&out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const VARS: &str = r#"{
        "cluster_id": "c1", "server_id": "s1", "host": "kap1", "product": "kapacitor",
        "version": "1.5.0", "platform": "OSS", "num_tasks": 3, "num_enabled_tasks": 2,
        "num_subscriptions": 1, "cmdline": ["kapacitord"],
        "kapacitor": {
            "a": {"name": "ingress", "tags": {"database": "telegraf", "retention_policy": "autogen", "measurement": "mem", "task_master": "main"}, "values": {"points_received": 7}},
            "b": {"name": "ingress", "tags": {"database": "telegraf", "retention_policy": "autogen", "measurement": "cpu", "task_master": "main"}, "values": {"points_received": 1234567}},
            "c": {"name": "ingress", "tags": {"database": "telegraf", "retention_policy": "autogen", "measurement": "cpu", "task_master": "replay-1"}, "values": {"points_received": 99}},
            "d": {"name": "edges", "tags": {"task": "t"}, "values": {"collected": 5}}
        }
    }"#;

    #[test]
    fn general_stats_layout() {
        let v: DebugVars = serde_json::from_str(VARS).unwrap();
        let got = render_general(&v);
        let mut expected = String::new();
        for (k, val) in [
            ("ClusterID:", "c1"),
            ("ServerID:", "s1"),
            ("Host:", "kap1"),
            ("Tasks:", "3"),
            ("Enabled Tasks:", "2"),
            ("Subscriptions:", "1"),
            ("Platform:", "OSS"),
            ("Version:", "1.5.0"),
        ] {
            expected += &format!("{}{}\n", pad(k, 30), pad(val, 30));
        }
        assert_eq!(got, expected);
    }

    #[test]
    fn ingress_stats_only_main_task_master_sorted() {
        let v: DebugVars = serde_json::from_str(VARS).unwrap();
        let expected = "\
Database Retention Policy Measurement Points Received
telegraf autogen          cpu                 1234567
telegraf autogen          mem                       7
";
        assert_eq!(render_ingress(&v), expected);
    }

    #[test]
    fn version_line_shape() {
        let v = version_line();
        assert!(v.starts_with("Kapacitor "), "{v}");
        assert!(v.contains(" (git: ") && v.ends_with(")\n"), "{v}");
    }
}
