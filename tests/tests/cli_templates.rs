//! Templates through the real `kapacitor` CLI: `define-template`, `show-template`,
//! `list templates`, `define -template -vars`, and a template update reloading its tasks.

use kapacitor_tests::cli::kapacitor_in;
use kapacitor_tests::{Daemon, DaemonOpts, EVENTUALLY, eventually};
use serde_json::Value;

fn template_script(endpoint: &str) -> String {
    format!(
        "// The measurement to count.\nvar measurement string\nvar field = 'v'\nvar period = 1s\n\nstream\n    |from()\n        .measurement(measurement)\n    |window()\n        .period(period)\n        .every(period)\n    |count(field)\n    |httpOut('{endpoint}')\n"
    )
}

const VARS: &str = r#"{
    "measurement": {"type": "string", "value": "m"},
    "period": {"type": "duration", "value": "2s"}
}"#;

fn row4(a: &str, b: &str, c: &str, d: &str) -> String {
    format!("{a:<30}{b:<10}{c:<40}{d:<40}\n")
}

fn row3(a: &str, b: &str, c: &str) -> String {
    format!("{a:<30}{b:<10}{c:<40}\n")
}

#[test]
fn templates_define_show_list_instantiate_and_update() {
    let d = Daemon::start(DaemonOpts::default());
    let dir = tempfile::tempdir().unwrap();
    let url = d.url();
    let cli = |args: &[&str]| kapacitor_in(&url, Some(dir.path()), args);
    std::fs::write(dir.path().join("tmpl.tick"), template_script("out")).unwrap();
    std::fs::write(dir.path().join("vars.json"), VARS).unwrap();

    let out = cli(&[
        "define-template",
        "tmpl",
        "-tick",
        "tmpl.tick",
        "-type",
        "stream",
    ]);
    assert_eq!(out.ok(), "");

    let show = cli(&["show-template", "tmpl"]);
    let text = show.ok();
    assert!(
        text.starts_with("ID: tmpl\nError: \nType: stream\nCreated: "),
        "{text}"
    );
    assert!(text.contains("\nTICKscript:\n"), "{text}");
    assert!(text.contains(".measurement(measurement)"), "{text}");
    let table = format!(
        "Vars:\n{}{}{}{}DOT:\ndigraph tmpl {{\n",
        row4("Name", "Type", "Default Value", "Description"),
        row4("field", "string", "v", ""),
        // A comment right above a var declaration is its description.
        row4(
            "measurement",
            "string",
            "<required>",
            "The measurement to count."
        ),
        row4("period", "duration", "1s", ""),
    );
    assert!(text.contains(&table), "expected\n{table}in\n{text}");

    assert_eq!(
        cli(&["list", "templates"]).ok(),
        format!(
            "{:<5}{:<10}{:<40}\n{:<5}{:<10}{:<40}\n",
            "ID", "Type", "Vars", "tmpl", "stream", "field,measurement,period"
        )
    );

    // A task from the template, with a vars file (duration given as a string).
    cli(&[
        "define",
        "from_tmpl",
        "-template",
        "tmpl",
        "-vars",
        "vars.json",
        "-dbrp",
        "db.rp",
    ])
    .ok();
    let task = d.task("from_tmpl");
    assert_eq!(task["template-id"], "tmpl");
    assert_eq!(task["type"], "stream");
    assert_eq!(task["vars"]["measurement"]["value"], "m");
    assert_eq!(task["vars"]["period"]["type"], "duration");
    assert_eq!(task["vars"]["period"]["value"], 2_000_000_000i64);

    let show = cli(&["show", "from_tmpl"]);
    let text = show.ok();
    assert!(text.contains("Template: tmpl\n"), "{text}");
    let vars = format!(
        "Vars:\n{}{}{}DOT:\n",
        row3("Name", "Type", "Value"),
        row3("measurement", "string", "m"),
        row3("period", "duration", "2s"),
    );
    assert!(text.contains(&vars), "expected\n{vars}in\n{text}");

    cli(&["enable", "from_tmpl"]).ok();
    eventually(EVENTUALLY, "from_tmpl executing", || {
        (d.task("from_tmpl")["executing"] == Value::Bool(true)).then_some(())
    });
    // 2 s windows over points at 0..5 s: the first window [0s, 2s) holds 2 points.
    let lines: Vec<String> = (0..6)
        .map(|i| format!("m v={i} {}", 31_536_000 + i))
        .collect();
    d.write("db", "rp", "s", &lines.join("\n"));
    let body = eventually(EVENTUALLY, "from_tmpl serves counts", || {
        let r = d.try_get("/kapacitor/v1/tasks/from_tmpl/out")?;
        let v: Value = serde_json::from_str(&r.body).ok()?;
        v["series"].as_array().filter(|s| !s.is_empty())?;
        Some(v)
    });
    assert_eq!(body["series"][0]["name"], "m");
    assert_eq!(
        body["series"][0]["columns"],
        serde_json::json!(["time", "count"])
    );
    assert_eq!(body["series"][0]["values"][0][1], 2);

    // Updating the template updates (and reloads) the task made from it.
    std::fs::write(dir.path().join("tmpl2.tick"), template_script("out2")).unwrap();
    cli(&["define-template", "tmpl", "-tick", "tmpl2.tick"]).ok();
    let task = d.task("from_tmpl");
    assert!(
        task["script"].as_str().unwrap().contains("httpOut('out2')"),
        "{task}"
    );
    assert_eq!(task["status"], "enabled");
    d.write("db", "rp", "s", &lines.join("\n"));
    eventually(EVENTUALLY, "the reloaded task serves out2", || {
        let r = d.try_get("/kapacitor/v1/tasks/from_tmpl/out2")?;
        (r.status == 200).then_some(())
    });

    // Templates are deleted by glob.
    cli(&["delete", "templates", "tm*"]).ok();
    assert_eq!(
        cli(&["list", "templates"]).ok(),
        format!("{:<3}{:<10}{:<40}\n", "ID", "Type", "Vars")
    );
}
