//! Server-wide CLI commands against a real daemon: `stats general`, `stats ingress`, `vars`,
//! `version`.

use kapacitor_tests::cli::{kapacitor, kapacitor_raw};
use kapacitor_tests::{Daemon, DaemonOpts, EVENTUALLY, eventually};
use serde_json::{Value, json};

fn row(k: &str, v: &str) -> String {
    format!("{k:<30}{v:<30}\n")
}

#[test]
fn stats_general_reports_identity_and_task_counts() {
    let d = Daemon::start(DaemonOpts::default());
    for (id, status) in [("a", "enabled"), ("b", "disabled"), ("c", "enabled")] {
        let r = d.post_json(
            "/kapacitor/v1/tasks",
            &json!({"id": id, "dbrps": [{"db": "db", "rp": "rp"}],
                    "script": "stream\n    |from()\n", "status": status}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let cluster_id = std::fs::read_to_string(d.data_dir().join("cluster.id")).unwrap();
    let server_id = std::fs::read_to_string(d.data_dir().join("server.id")).unwrap();
    let vars = d.get("/kapacitor/v1/debug/vars").json();
    let platform = vars["platform"].as_str().unwrap_or_default().to_string();
    let version = vars["version"].as_str().unwrap_or_default().to_string();
    assert_eq!(version, env!("CARGO_PKG_VERSION"));

    let out = kapacitor(&d.url(), &["stats", "general"]);
    let expected = [
        row("ClusterID:", cluster_id.trim()),
        row("ServerID:", server_id.trim()),
        row("Host:", "localhost"),
        row("Tasks:", "3"),
        row("Enabled Tasks:", "2"),
        row("Subscriptions:", "0"),
        row("Platform:", &platform),
        row("Version:", &version),
    ]
    .concat();
    assert_eq!(out.ok(), expected);
}

#[test]
fn stats_ingress_counts_points_per_database_rp_and_measurement() {
    let d = Daemon::start(DaemonOpts::default());
    d.write("db1", "rp1", "s", "cpu v=1 1\ncpu v=2 2\nmem v=1 1");
    d.write("db2", "autogen", "s", "cpu v=1 1");
    // Column widths are the CLI's business; the rows are (db, rp, measurement, count).
    let rows = eventually(EVENTUALLY, "ingress stats for the writes", || {
        let out = kapacitor(&d.url(), &["stats", "ingress"]);
        let text = out.ok().to_string();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next()?.split_whitespace().collect();
        assert_eq!(
            header,
            [
                "Database",
                "Retention",
                "Policy",
                "Measurement",
                "Points",
                "Received"
            ]
        );
        let rows: Vec<Vec<String>> = lines
            .map(|l| l.split_whitespace().map(str::to_string).collect())
            .collect();
        (rows.len() == 3).then_some(rows)
    });
    assert_eq!(
        rows,
        [
            ["db1", "rp1", "cpu", "2"],
            ["db1", "rp1", "mem", "1"],
            ["db2", "autogen", "cpu", "1"],
        ]
    );
}

#[test]
fn vars_prints_the_debug_vars_body() {
    let d = Daemon::start(DaemonOpts::default());
    let out = kapacitor(&d.url(), &["vars"]);
    let printed: Value = serde_json::from_str(out.ok())
        .unwrap_or_else(|e| panic!("vars output is not JSON ({e}): {}", out.stdout));
    let served = d.get("/kapacitor/v1/debug/vars").json();
    for key in ["cluster_id", "server_id", "host", "version", "product"] {
        assert_eq!(printed[key], served[key], "{key}");
    }
    assert!(
        printed["cluster_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
}

#[test]
fn version_prints_the_cli_version_line() {
    let out = kapacitor_raw(&["version"]);
    let text = out.ok();
    let prefix = format!("Kapacitor OSS {} (git: ", env!("CARGO_PKG_VERSION"));
    assert!(text.starts_with(&prefix), "{text}");
    assert!(text.ends_with(")\n") && text.lines().count() == 1, "{text}");
}
