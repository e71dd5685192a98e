//! The `kapacitor` CLI's error paths against a real daemon: exit codes (1 usage, 2 missing
//! arguments, 3 command error) and messages (the server's own, TICKscript line and char).

use kapacitor_tests::cli::{kapacitor, kapacitor_in, kapacitor_raw};
use kapacitor_tests::{Daemon, DaemonOpts, free_port};
use serde_json::json;

fn daemon() -> Daemon {
    Daemon::start(DaemonOpts::default())
}

/// The `error` field of an API error body at `path`, with its status.
fn api_error(d: &Daemon, path: &str) -> (u16, String) {
    let r = d.get(path);
    let msg = r.json()["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message in {}", r.body))
        .to_string();
    (r.status, msg)
}

#[test]
fn unknown_task_and_template_are_exit_3_with_the_servers_message() {
    let d = daemon();
    let url = d.url();

    let (status, msg) = api_error(&d, "/kapacitor/v1/tasks/nosuch");
    assert_eq!(status, 404);
    let out = kapacitor(&url, &["show", "nosuch"]);
    assert_eq!(out.code, 3, "{out:?}");
    assert_eq!(out.stderr, format!("Error: {msg}\n"));
    assert_eq!(out.stdout, "");

    let (status, msg) = api_error(&d, "/kapacitor/v1/templates/nosuch");
    assert_eq!(status, 404);
    let out = kapacitor(&url, &["show-template", "nosuch"]);
    assert_eq!(out.code, 3, "{out:?}");
    assert_eq!(out.stderr, format!("Error: {msg}\n"));

    // A task from a template that does not exist: the create request's error, verbatim.
    let vars = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(vars.path(), "{}").unwrap();
    let r = d.post_json(
        "/kapacitor/v1/tasks",
        &json!({"id": "t", "template-id": "nosuch", "dbrps": [{"db": "db", "rp": "rp"}]}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let msg = r.json()["error"].as_str().unwrap().to_string();
    let out = kapacitor(
        &url,
        &["define", "t", "-template", "nosuch", "-dbrp", "db.rp"],
    );
    assert_eq!(out.code, 3, "{out:?}");
    assert_eq!(out.stderr, format!("Error: {msg}\n"));
    assert_eq!(d.get("/kapacitor/v1/tasks/t").status, 404);
}

#[test]
fn bad_tickscript_is_exit_3_with_line_and_char() {
    let d = daemon();
    let dir = tempfile::tempdir().unwrap();
    // Line 5: the comparison has no right-hand side; the `)` is the unexpected token.
    let script = "stream\n    |from()\n        .measurement('cpu')\n    |alert()\n        .crit(lambda: \"usage_idle\" < )\n";
    std::fs::write(dir.path().join("bad.tick"), script).unwrap();

    let r = d.post_json(
        "/kapacitor/v1/tasks",
        &json!({"id": "bad", "type": "stream", "dbrps": [{"db": "db", "rp": "rp"}], "script": script}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let msg = r.json()["error"].as_str().unwrap().to_string();
    // Kapacitor answers a syntax error with the parser's message as is (the
    // "invalid TICKscript: " prefix is for errors found after parsing).
    assert!(
        msg.starts_with("parser: unexpected ) line 5 char 38 in "),
        "{msg}"
    );

    let out = kapacitor_in(
        &d.url(),
        Some(dir.path()),
        &["define", "bad", "-tick", "bad.tick", "-dbrp", "db.rp"],
    );
    assert_eq!(out.code, 3, "{out:?}");
    assert_eq!(out.stderr, format!("Error: {msg}\n"));
    assert_eq!(
        d.get("/kapacitor/v1/tasks/bad").status,
        404,
        "nothing stored"
    );

    // A semantic error (unknown property) also names its position.
    std::fs::write(
        dir.path().join("prop.tick"),
        "stream\n    |from()\n        .measurment('cpu')\n",
    )
    .unwrap();
    let out = kapacitor_in(
        &d.url(),
        Some(dir.path()),
        &["define", "prop", "-tick", "prop.tick", "-dbrp", "db.rp"],
    );
    assert_eq!(out.code, 3, "{out:?}");
    assert!(
        out.stderr.starts_with("Error: invalid TICKscript: ") && out.stderr.contains("line 3 char"),
        "{out:?}"
    );
}

#[test]
fn server_side_validation_errors_are_exit_3() {
    let d = daemon();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ok.tick"), "stream\n    |from()\n").unwrap();
    let url = d.url();
    let run = |args: &[&str]| kapacitor_in(&url, Some(dir.path()), args);

    let out = run(&["define", "nodbrp", "-tick", "ok.tick"]);
    assert_eq!(out.code, 3, "{out:?}");
    assert_eq!(out.stderr, "Error: must specify dbrp\n");

    let out = run(&["define", "bad id", "-tick", "ok.tick", "-dbrp", "db.rp"]);
    assert_eq!(out.code, 3, "{out:?}");
    assert_eq!(
        out.stderr,
        "Error: task ID must contain only letters, numbers, '-', '.' and '_'. \"bad id\"\n"
    );

    let out = run(&[
        "define",
        "nofile",
        "-tick",
        "missing.tick",
        "-dbrp",
        "db.rp",
    ]);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.starts_with("Error: "), "{out:?}");
    assert!(out.stderr.contains("missing.tick"), "{out:?}");

    std::fs::write(dir.path().join("vars.json"), "{not json").unwrap();
    let out = run(&[
        "define",
        "v",
        "-tick",
        "ok.tick",
        "-dbrp",
        "db.rp",
        "-vars",
        "vars.json",
    ]);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.starts_with("Error: "), "{out:?}");
    assert!(out.stderr.contains("vars.json"), "{out:?}");

    for id in ["nodbrp", "bad id", "nofile", "v"] {
        let listed = d.get("/kapacitor/v1/tasks").json();
        assert!(
            listed["tasks"]
                .as_array()
                .is_none_or(|ts| ts.iter().all(|t| t["id"] != id)),
            "{id} was stored: {listed}"
        );
    }
}

#[test]
fn missing_arguments_are_exit_2_and_unknown_commands_exit_1() {
    let d = daemon();
    let url = d.url();
    for (args, msg) in [
        (&["define"][..], "Must provide a task ID."),
        (&["define-template"][..], "Must provide a template ID."),
        (&["enable"][..], "Must pass at least one task ID"),
        (&["disable"][..], "Must pass at least one task ID"),
        (&["reload"][..], "Must pass at least one task ID"),
        (&["show"][..], "Must specify one task ID"),
        (&["show-template"][..], "Must specify one template ID"),
        (&["delete", "tasks"][..], "Must pass at least one ID"),
    ] {
        let out = kapacitor(&url, args);
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(
            out.stderr.starts_with(&format!("{msg}\n")),
            "{args:?}: {out:?}"
        );
        assert_eq!(out.stdout, "");
    }
    let out = kapacitor(&url, &["frobnicate"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.starts_with("Unknown command frobnicate\n"),
        "{out:?}"
    );
    let out = kapacitor(&url, &["define", "t", "-bogus", "x"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr
            .starts_with("flag provided but not defined: -bogus\n"),
        "{out:?}"
    );
}

#[test]
fn unreachable_server_is_exit_3() {
    // A port that was free a moment ago: nothing answers there.
    let url = format!("http://127.0.0.1:{}", free_port());
    let out = kapacitor_raw(&["-url", &url, "list", "tasks"]);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(
        out.stderr
            .starts_with(&format!("Error: Get \"{url}/kapacitor/v1/tasks\": ")),
        "{out:?}"
    );
}
