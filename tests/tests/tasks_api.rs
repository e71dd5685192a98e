//! The task and template API on a live daemon: shapes, codes, error texts, list parameters.

#[path = "support/tasks_helpers.rs"]
mod helpers;

use helpers::*;
use kapacitor_tests::{Daemon, DaemonOpts};
use serde_json::{Value, json};

fn error_of(r: &kapacitor_tests::Response) -> String {
    let v = r.json();
    assert_eq!(v["error"], v["message"], "{}", r.body);
    v["error"].as_str().unwrap_or_default().to_string()
}

#[test]
fn task_lifecycle_with_kapacitors_shapes() {
    let d = Daemon::start(DaemonOpts::default());
    let created = create_task(&d, stream_task("testStreamTask", "disabled"));
    let keys: Vec<&str> = created
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "link",
            "id",
            "template-id",
            "type",
            "dbrps",
            "script",
            "vars",
            "dot",
            "status",
            "executing",
            "error",
            "stats",
            "created",
            "modified",
            "last-enabled"
        ]
    );
    assert_eq!(
        created["link"],
        json!({"rel": "self", "href": "/kapacitor/v1/tasks/testStreamTask"})
    );
    assert_eq!(created["type"], "stream");
    assert_eq!(created["dbrps"], json!([{"db": "mydb", "rp": "myrp"}]));
    assert_eq!(created["script"], STREAM_SCRIPT);
    assert_eq!(created["status"], "disabled");
    assert_eq!(created["executing"], false);
    assert_eq!(created["stats"], json!({}));
    assert_eq!(created["last-enabled"], "0001-01-01T00:00:00Z");
    assert_eq!(
        created["dot"],
        "digraph testStreamTask {\nstream0 -> from1;\nfrom1 -> window2;\nwindow2 -> count3;\ncount3 -> http_out4;\n}"
    );
    // Pretty JSON with 4-space indentation, as Kapacitor writes it.
    let raw = d.get(&format!("{TASKS}/testStreamTask"));
    assert!(
        raw.body.starts_with("{\n    \"link\": {\n        \"rel\""),
        "{}",
        raw.body
    );

    let enabled = patch_json(
        &d,
        &format!("{TASKS}/testStreamTask"),
        &json!({"status": "enabled"}),
    );
    assert_eq!(enabled.status, 200, "{}", enabled.body);
    let t = enabled.json();
    assert_eq!(t["executing"], true, "{t}");
    assert_ne!(t["last-enabled"], "0001-01-01T00:00:00Z");
    let dot = t["dot"].as_str().unwrap();
    assert!(
        dot.contains("graph [throughput=\"0.00 points/s\"];"),
        "{dot}"
    );
    assert!(dot.contains("stream0 -> from1 [processed=\"0\"];"), "{dot}");
    assert_eq!(t["stats"]["node-stats"]["from1"]["collected"], 0);
    assert!(t["stats"]["task-stats"]["throughput"].is_number());
    let labels = d
        .get(&format!("{TASKS}/testStreamTask?dot-view=labels"))
        .json();
    assert!(
        labels["dot"].as_str().unwrap().contains("xlabel="),
        "{labels}"
    );

    let disabled = patch_json(
        &d,
        &format!("{TASKS}/testStreamTask"),
        &json!({"status": "disabled"}),
    );
    assert_eq!(disabled.json()["executing"], false);
    assert_eq!(delete(&d, &format!("{TASKS}/testStreamTask")).status, 204);
    let gone = d.get(&format!("{TASKS}/testStreamTask"));
    assert_eq!(gone.status, 404);
    assert_eq!(error_of(&gone), "no task exists");
    // Deleting what does not exist is still 204, as in Kapacitor.
    assert_eq!(delete(&d, &format!("{TASKS}/testStreamTask")).status, 204);
}

#[test]
fn every_error_path_has_kapacitors_code_and_text() {
    let d = Daemon::start(DaemonOpts::default());
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"id": "a b", "script": "stream|from()", "dbrps": [{"db": "d", "rp": "r"}]}),
            "task ID must contain only letters, numbers, '-', '.' and '_'. \"a b\"",
        ),
        (json!({"id": "t"}), "must provide TICKscript"),
        (
            json!({"id": "t", "script": "stream|from()"}),
            "must specify dbrp",
        ),
        (
            json!({"id": "t", "script": "dbrp \"d\".\"r\"\nstream|from()", "dbrps": [{"db": "d", "rp": "r"}]}),
            "cannot specify dbrp in both implicitly and explicitly",
        ),
    ];
    for (body, want) in cases {
        let r = post_json(&d, TASKS, &body);
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(error_of(&r), want, "{body}");
    }
    // A script that does not build: the error names line and column.
    let r = post_json(
        &d,
        TASKS,
        &json!({"id": "t", "dbrps": [{"db": "d", "rp": "r"}], "script": "stream\n    |from()\n    |nope()"}),
    );
    assert_eq!(r.status, 400);
    let e = error_of(&r);
    assert!(e.starts_with("invalid TICKscript: line 3 char 6: "), "{e}");
    // A script that does not parse: the parser's own message, with its position.
    let r = post_json(
        &d,
        TASKS,
        &json!({"id": "t", "dbrps": [{"db": "d", "rp": "r"}], "script": "stream\n|from(\n"}),
    );
    assert_eq!(r.status, 400);
    let e = error_of(&r);
    assert!(
        e.starts_with("parser: ") && e.contains("line 3 char 1"),
        "{e}"
    );
    let r = request(&d, "POST", TASKS, Some(b"{not json"), &[]);
    assert_eq!((r.status, error_of(&r)), (400, "invalid JSON".to_string()));
    let r = post_json(
        &d,
        TASKS,
        &json!({"id": "t", "dbrps": [{"db": "d", "rp": "r"}], "script": "stream|from()",
                "vars": {"x": {"type": "nope", "value": 1}}}),
    );
    assert_eq!(r.status, 400);
    assert!(error_of(&r).starts_with("invalid var x: "), "{}", r.body);

    create_task(
        &d,
        json!({"id": "t", "dbrps": [{"db": "d", "rp": "r"}], "script": "stream|from()"}),
    );
    let r = post_json(
        &d,
        TASKS,
        &json!({"id": "t", "dbrps": [{"db": "d", "rp": "r"}], "script": "stream|from()"}),
    );
    assert_eq!(
        (r.status, error_of(&r)),
        (400, "task t already exists".to_string())
    );
    let r = patch_json(&d, &format!("{TASKS}/nope"), &json!({"status": "enabled"}));
    assert_eq!(
        (r.status, error_of(&r)),
        (404, "task does not exist, cannot update".to_string())
    );
    let r = d.get(&format!("{TASKS}?fields=nope"));
    assert_eq!(
        (r.status, error_of(&r)),
        (400, "unsupported field \"nope\"".to_string())
    );
    let r = d.get(&format!("{TASKS}/t?script-format=pretty"));
    assert_eq!(
        (r.status, error_of(&r)),
        (
            400,
            "invalid script-format parameter \"pretty\"".to_string()
        )
    );
    let r = d.get(&format!("{TASKS}?limit=x"));
    assert_eq!(r.status, 400);
    // A failed update changes nothing.
    let r = patch_json(
        &d,
        &format!("{TASKS}/t"),
        &json!({"script": "stream|from()|nope()"}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(get_task(&d, "t")["script"], "stream\n    |from()\n");
    // An unknown httpOut endpoint or task is a 404.
    assert_eq!(d.get(&format!("{TASKS}/t/nothing")).status, 404);
    assert_eq!(d.get(&format!("{TASKS}/nope/nothing")).status, 404);
}

#[test]
fn list_parameters_and_raw_scripts() {
    let d = Daemon::start(DaemonOpts::default());
    for id in ["cpu_a", "cpu_b", "mem", "cpu_c"] {
        create_task(
            &d,
            json!({"id": id, "dbrps": [{"db": "d", "rp": "r"}], "script": "stream|from().measurement('m')"}),
        );
    }
    let ids = |path: &str| -> Vec<String> {
        d.get(path).json()["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(TASKS), ["cpu_a", "cpu_b", "cpu_c", "mem"]);
    assert_eq!(
        ids(&format!("{TASKS}?pattern=cpu*")),
        ["cpu_a", "cpu_b", "cpu_c"]
    );
    assert_eq!(
        ids(&format!("{TASKS}?offset=1&limit=2")),
        ["cpu_b", "cpu_c"]
    );
    let r = d.get(&format!("{TASKS}?pattern=cpu_a&fields=status"));
    let item = &r.json()["tasks"][0];
    let keys: Vec<&str> = item
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    // Go prints a map: keys sorted; id and link always added.
    assert_eq!(keys, ["id", "link", "status"]);
    // The default list has every field but template-id, sorted.
    let full = d.get(&format!("{TASKS}?pattern=mem")).json();
    let keys: Vec<&str> = full["tasks"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "created",
            "dbrps",
            "dot",
            "error",
            "executing",
            "id",
            "last-enabled",
            "link",
            "modified",
            "script",
            "stats",
            "status",
            "type",
            "vars"
        ]
    );
    let raw = d.get(&format!("{TASKS}/mem?script-format=raw")).json();
    assert_eq!(raw["script"], "stream|from().measurement('m')");
    let formatted = get_task(&d, "mem");
    assert_eq!(
        formatted["script"],
        "stream\n    |from()\n        .measurement('m')\n"
    );
}

#[test]
fn rename_vars_and_templates() {
    let d = Daemon::start(DaemonOpts::default());
    // Rename through PATCH id; the old id is gone.
    create_task(
        &d,
        json!({"id": "old", "dbrps": [{"db": "d", "rp": "r"}], "script": "stream|from()", "status": "enabled"}),
    );
    let r = patch_json(&d, &format!("{TASKS}/old"), &json!({"id": "new"}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["id"], "new");
    assert_eq!(r.json()["executing"], true);
    assert_eq!(d.get(&format!("{TASKS}/old")).status, 404);

    let script = "var measurement string\nvar period = 10s\nstream|from().measurement(measurement)|window().period(period).every(period)|count('value')|httpOut('count')";
    let r = post_json(&d, TEMPLATES, &json!({"id": "tpl", "script": script}));
    assert_eq!(r.status, 200, "{}", r.body);
    let t = r.json();
    assert_eq!(t["type"], "stream");
    assert_eq!(
        t["vars"]["measurement"],
        json!({"type": "string", "value": null, "description": ""})
    );
    assert_eq!(t["vars"]["period"]["value"], 10_000_000_000i64);
    let r = post_json(&d, TEMPLATES, &json!({"id": "tpl", "script": script}));
    assert_eq!(r.status, 400);
    assert_eq!(error_of(&r), "template tpl already exists");

    let task = create_task(
        &d,
        json!({"id": "from_tpl", "template-id": "tpl", "dbrps": [{"db": "mydb", "rp": "myrp"}],
               "vars": {"measurement": {"type": "string", "value": "test"}}, "status": "enabled"}),
    );
    assert_eq!(task["template-id"], "tpl");
    assert_eq!(task["executing"], true, "{task}");
    assert_eq!(task["vars"]["measurement"]["value"], "test");
    let r = post_json(
        &d,
        TASKS,
        &json!({"id": "x", "template-id": "none", "dbrps": [{"db": "d", "rp": "r"}]}),
    );
    assert_eq!(
        error_of(&r),
        "unknown template none: err: no template exists"
    );

    // Updating the template reloads its task with the new script.
    let new_script = script.replace("count('value')", "sum('value')");
    let r = patch_json(
        &d,
        &format!("{TEMPLATES}/tpl"),
        &json!({"script": new_script}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let reloaded = wait_executing(&d, "from_tpl", true);
    assert!(
        reloaded["script"]
            .as_str()
            .unwrap()
            .contains("|sum('value')"),
        "{reloaded}"
    );
    // A template update that one of its tasks cannot take is refused whole.
    let r = patch_json(
        &d,
        &format!("{TEMPLATES}/tpl"),
        &json!({"script": "var measurement string\nvar other int\nstream|from().measurement(measurement)|httpOut('x')"}),
    );
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(
        error_of(&r).starts_with("error reloading associated task from_tpl"),
        "{}",
        r.body
    );
    assert!(
        get_task(&d, "from_tpl")["script"]
            .as_str()
            .unwrap()
            .contains("|sum('value')")
    );
    let list = d.get(TEMPLATES).json();
    assert_eq!(list["templates"].as_array().unwrap().len(), 1);
    assert_eq!(delete(&d, &format!("{TEMPLATES}/tpl")).status, 204);
    let r = d.get(&format!("{TEMPLATES}/tpl"));
    assert_eq!(
        (r.status, error_of(&r)),
        (404, "no template exists".to_string())
    );
}
