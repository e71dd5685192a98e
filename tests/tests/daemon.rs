//! Start-up, the HTTP basics, identity, process titles and logging.

use kapacitor_tests::{Daemon, DaemonOpts, argv0};

#[test]
fn ping_answers_204_with_version_header() {
    let d = Daemon::start(DaemonOpts::default());
    let r = d.get("/kapacitor/v1/ping");
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("X-Kapacitor-Version"),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert!(
        r.header("Request-Id").is_some_and(|id| id.len() >= 32),
        "{r:?}"
    );
    assert_eq!(r.body, "");

    let head = d.head("/kapacitor/v1/ping");
    assert_eq!(head.status, 204);

    let preview = d.get("/kapacitor/v1preview/ping");
    assert_eq!(preview.status, 204);
    assert!(preview.header("X-Kapacitor-Version").is_some());
}

#[test]
fn unknown_routes_get_kapacitors_404_body() {
    let d = Daemon::start(DaemonOpts::default());
    for path in ["/nope", "/kapacitor/v1/nope", "/kapacitor/v1preview/nope"] {
        let r = d.get(path);
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(
            r.header("Content-Type"),
            Some("application/json; charset=utf-8")
        );
        assert!(r.header("X-Kapacitor-Version").is_some());
        let body = r.json();
        assert_eq!(body["error"], "Not Found");
        assert_eq!(body["message"], "Not Found");
    }
    // A known path with a method it does not serve is not found either, as in Kapacitor.
    let r = d.post("/kapacitor/v1/ping", "");
    assert_eq!(r.status, 404);
}

#[test]
fn debug_vars_reports_identity_and_task_counts() {
    let d = Daemon::start(DaemonOpts::with_tasks(&["a", "b"]));
    let vars = d.get("/kapacitor/v1/debug/vars");
    assert_eq!(vars.status, 200);
    let v = vars.json();
    let cluster_id = std::fs::read_to_string(d.data_dir().join("cluster.id")).unwrap();
    let server_id = std::fs::read_to_string(d.data_dir().join("server.id")).unwrap();
    assert_eq!(v["cluster_id"], cluster_id.trim());
    assert_eq!(v["server_id"], server_id.trim());
    assert_eq!(v["host"], "localhost");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["num_tasks"], 2);
    assert_eq!(v["num_enabled_tasks"], 2);
    assert!(
        v["uptime"].as_str().is_some_and(|u| u.ends_with('s')),
        "{v}"
    );
    // Same answer under the preview prefix.
    assert_eq!(
        d.get("/kapacitor/v1preview/debug/vars").json()["server_id"],
        v["server_id"]
    );
}

#[test]
fn identity_is_created_once_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let opts = DaemonOpts {
        dir: Some(dir.path().to_path_buf()),
        ..DaemonOpts::default()
    };
    let mut first = Daemon::start(opts.clone());
    let ids = first.get("/kapacitor/v1/debug/vars").json();
    for key in ["cluster_id", "server_id"] {
        let id = ids[key].as_str().unwrap();
        assert_eq!(id.len(), 36, "{key} is a UUID: {id}");
    }
    assert!(first.stop().is_some_and(|s| s.success()));
    let second = Daemon::start(opts);
    let again = second.get("/kapacitor/v1/debug/vars").json();
    assert_eq!(again["cluster_id"], ids["cluster_id"]);
    assert_eq!(again["server_id"], ids["server_id"]);
}

#[test]
fn process_tree_shows_every_child_with_its_role_title() {
    let mut d = Daemon::start(DaemonOpts::with_tasks(&["cpu_alert"]));
    let gossipd = d.running_pid("gossipd");
    let apid = d.running_pid("apid");
    let task = d.running_pid("cpu_alert");
    assert_eq!(argv0(gossipd).as_deref(), Some("kapacitord gossipd"));
    assert_eq!(argv0(apid).as_deref(), Some("kapacitord apid"));
    assert_eq!(argv0(task).as_deref(), Some("kapacitord task cpu_alert"));

    // Each is a separate OS process, a direct child of the supervisor.
    let mut from_proc = d.child_pids();
    from_proc.sort_unstable();
    let mut expected = vec![gossipd, apid, task];
    expected.sort_unstable();
    assert_eq!(from_proc, expected);

    let rows = d.get("/kapacitor/v1/debug/processes").json();
    let sup = &rows[0];
    assert_eq!(sup["role"], "supervisor");
    assert_eq!(sup["pid"], d.pid());
    for row in rows.as_array().unwrap() {
        assert_eq!(row["state"], "running", "{row}");
        assert_eq!(row["restarts"], 0);
        assert!(
            row["started"].as_str().is_some_and(|s| s.ends_with('Z')),
            "{row}"
        );
        assert!(row["uptime"].is_string());
    }
    let task_row = d.child("cpu_alert").unwrap();
    assert_eq!(task_row.role, "task");
    // The worker dials apid's socket; the registry shows the link once it is up.
    kapacitor_tests::eventually(
        kapacitor_tests::EVENTUALLY,
        "worker connected to apid",
        || d.child("cpu_alert").unwrap().connected.filter(|c| *c),
    );
}

#[test]
fn every_log_line_names_its_process() {
    let mut d = Daemon::start(DaemonOpts::with_tasks(&["a"]));
    d.running_pid("a");
    assert!(d.stop().is_some_and(|s| s.success()));
    let log = d.log();
    for proc_name in ["supervisor", "gossipd", "apid", "task:a"] {
        assert!(
            log.lines()
                .any(|l| l.contains(&format!(" proc={proc_name} "))),
            "no line from {proc_name} in:\n{log}"
        );
    }
    for line in log.lines() {
        assert!(line.starts_with("ts="), "{line}");
        assert!(
            line.contains(" lvl=") && line.contains(" proc=") && line.contains(" msg="),
            "{line}"
        );
    }
}

#[test]
fn log_level_is_honoured() {
    let mut d = Daemon::start(DaemonOpts {
        args: vec!["-log-level".into(), "error".into()],
        ..DaemonOpts::default()
    });
    d.get("/kapacitor/v1/ping");
    assert!(d.stop().is_some_and(|s| s.success()));
    let log = d.log();
    assert!(
        log.lines().all(|l| l.contains(" lvl=error ")),
        "only errors expected at level error:\n{log}"
    );
}

#[test]
fn log_file_flag_sends_every_process_there() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.log");
    let mut d = Daemon::start(DaemonOpts {
        test_tasks: vec!["a".into()],
        args: vec!["-log-file".into(), other.display().to_string()],
        ..DaemonOpts::default()
    });
    d.running_pid("a");
    assert!(d.stop().is_some_and(|s| s.success()));
    let log = std::fs::read_to_string(&other).unwrap();
    for proc_name in ["supervisor", "gossipd", "apid", "task:a"] {
        assert!(
            log.contains(&format!(" proc={proc_name} ")),
            "{proc_name} missing:\n{log}"
        );
    }
    assert_eq!(d.log(), "", "the configured file is overridden by the flag");
}

#[test]
fn an_http_port_in_use_is_an_apid_error_and_the_harness_moves_on() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let d = Daemon::start(DaemonOpts {
        http_port: Some(port),
        ..DaemonOpts::default()
    });
    assert_ne!(d.port(), port);
    assert_eq!(d.get("/kapacitor/v1/ping").status, 204);
}
