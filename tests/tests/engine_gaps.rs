//! Engine gaps closed after the first engine issue, on a live daemon: node settings the engine
//! cannot run are refused when the task is defined (400 with line and column, nothing stored),
//! httpPost POSTs the task's data to a real endpoint, by URL or by `[[httppost]]` name, and alert
//! templates see the member's cluster and server ids.

#[path = "support/alerting_helpers.rs"]
mod alerting_helpers;
#[path = "support/tasks_helpers.rs"]
mod helpers;

use alerting_helpers::Endpoint;
use helpers::*;
use kapacitor_tests::{Daemon, DaemonOpts, EVENTUALLY, eventually};
use serde_json::json;

/// A local endpoint that answers 200 and records every request: its port and the requests.
fn http_server() -> (u16, Endpoint) {
    let e = Endpoint::start(false);
    let port = e
        .url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("endpoint port");
    (port, e)
}

fn error_of(r: &kapacitor_tests::Response) -> String {
    r.json()["error"].as_str().unwrap_or_default().to_string()
}

#[test]
fn node_settings_the_engine_cannot_run_are_refused_at_define_time() {
    let d = Daemon::start(DaemonOpts::default());
    let cases = [
        (
            "stream\n    |from()\n    |window()\n        .period(10s)\n        .periodCount(5)\n",
            "invalid TICKscript: line 5 char 10: window2: cannot specify both period and periodCount",
        ),
        (
            "stream\n    |from()\n    |barrier()\n",
            "invalid TICKscript: line 3 char 6: barrier2: idle must be greater than zero",
        ),
        (
            "stream\n    |from()\n    |httpPost()\n",
            "invalid TICKscript: line 3 char 6: http_post2: must provide url or endpoint",
        ),
    ];
    for (script, want) in cases {
        let r = post_json(
            &d,
            TASKS,
            &json!({"id": "bad", "type": "stream", "dbrps": [{"db": "mydb", "rp": "myrp"}],
                    "script": script, "status": "enabled"}),
        );
        assert_eq!(r.status, 400, "{script}: {}", r.body);
        assert_eq!(error_of(&r), want);
        assert_eq!(d.get(&format!("{TASKS}/bad")).status, 404);
    }
}

#[test]
fn http_post_sends_the_data_to_a_url_and_to_a_configured_endpoint() {
    let (port, requests) = http_server();
    let d = Daemon::start(DaemonOpts {
        extra_config: format!(
            "\n[[httppost]]\n  endpoint = \"local\"\n  url = \"http://127.0.0.1:{port}/configured\"\n  headers = {{ X-Config = \"yes\" }}\n"
        ),
        ..DaemonOpts::default()
    });
    let script = format!(
        "stream\n    |from()\n        .measurement('cpu')\n    |httpPost('http://127.0.0.1:{port}/direct')\n        .header('X-Node', 'n')\n        .codeField('code')\n    |httpPost()\n        .endpoint('local')\n    |httpOut('out')\n"
    );
    create_task(
        &d,
        json!({"id": "post", "type": "stream", "dbrps": [{"db": "mydb", "rp": "myrp"}],
                "script": script, "status": "enabled"}),
    );
    wait_executing(&d, "post", true);
    let r = write(&d, "db=mydb&rp=myrp&precision=s", "cpu,host=a value=2 10\n");
    assert_eq!(r.status, 204, "{}", r.body);
    let reqs = eventually(EVENTUALLY, "two POSTs", || {
        let r = requests.hits();
        (r.len() >= 2).then_some(r)
    });
    let direct = reqs
        .iter()
        .find(|r| r.path == "/direct")
        .expect("direct POST");
    assert_eq!(
        direct.body,
        "{\"series\":[{\"name\":\"cpu\",\"tags\":{\"host\":\"a\"},\"columns\":[\"time\",\"value\"],\"values\":[[\"1970-01-01T00:00:10Z\",2]]}]}\n"
    );
    assert_eq!(direct.headers["x-node"], "n");
    assert_eq!(direct.headers["content-type"], "application/json");
    // The second node sees the first one's code field.
    let configured = reqs
        .iter()
        .find(|r| r.path == "/configured")
        .expect("endpoint POST");
    assert_eq!(configured.headers["x-config"], "yes");
    assert!(
        configured
            .body
            .contains(r#""columns":["time","code","value"]"#),
        "{}",
        configured.body
    );
    let out = eventually(EVENTUALLY, "httpOut", || {
        let b = d.get(&format!("{TASKS}/post/out")).body;
        b.contains("200").then_some(b)
    });
    assert_eq!(
        out,
        r#"{"series":[{"name":"cpu","tags":{"host":"a"},"columns":["time","code","value"],"values":[["1970-01-01T00:00:10Z",200,2]]}]}"#
    );
}

#[test]
fn alert_templates_see_the_members_cluster_and_server_ids() {
    let (port, requests) = http_server();
    let d = Daemon::start(DaemonOpts::default());
    let script = format!(
        "stream\n    |from()\n        .measurement('cpu')\n    |alert()\n        .crit(lambda: TRUE)\n        .message('{{{{ .ServerInfo.ClusterID }}}} {{{{ .ServerInfo.ServerID }}}}')\n        .post('http://127.0.0.1:{port}/alert')\n"
    );
    create_task(
        &d,
        json!({"id": "ids", "type": "stream", "dbrps": [{"db": "mydb", "rp": "myrp"}],
                "script": script, "status": "enabled"}),
    );
    wait_executing(&d, "ids", true);
    let r = write(&d, "db=mydb&rp=myrp&precision=s", "cpu,host=a value=2 10\n");
    assert_eq!(r.status, 204, "{}", r.body);
    let req = eventually(EVENTUALLY, "the alert POST", || {
        requests.hits().first().cloned()
    });
    let v: serde_json::Value = serde_json::from_str(&req.body).expect("alert JSON");
    let id = |f: &str| {
        std::fs::read_to_string(d.data_dir().join(f))
            .expect("identity file")
            .trim()
            .to_string()
    };
    let want = format!("{} {}", id("cluster.id"), id("server.id"));
    assert_eq!(v["message"], want.as_str());
    assert_eq!(want.len(), 73, "two UUIDs: {want}");
}

#[test]
fn sideload_adds_fields_and_tags_from_files_in_order() {
    let files = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(files.path().join("host")).unwrap();
    std::fs::write(
        files.path().join("host/a.yml"),
        "threshold: 80\nlevel: high\n",
    )
    .unwrap();
    std::fs::write(files.path().join("default.json"), r#"{"threshold": 95}"#).unwrap();
    let d = Daemon::start(DaemonOpts::default());
    let script = format!(
        "stream\n    |from()\n        .measurement('cpu')\n        .groupBy('host')\n    |sideload()\n        .source('file://{}')\n        .order('host/{{{{.host}}}}.yml', 'default.json')\n        .field('threshold', 0.0)\n        .tag('level', 'low')\n    |httpOut('out')\n",
        files.path().display()
    );
    create_task(
        &d,
        json!({"id": "side", "type": "stream", "dbrps": [{"db": "mydb", "rp": "myrp"}],
                "script": script, "status": "enabled"}),
    );
    wait_executing(&d, "side", true);
    let r = write(
        &d,
        "db=mydb&rp=myrp&precision=s",
        "cpu,host=a value=1 10\ncpu,host=b value=2 10\n",
    );
    assert_eq!(r.status, 204, "{}", r.body);
    let out: serde_json::Value = eventually(EVENTUALLY, "both hosts in httpOut", || {
        let v: serde_json::Value =
            serde_json::from_str(&d.get(&format!("{TASKS}/side/out")).body).ok()?;
        (v["series"].as_array()?.len() == 2).then_some(v)
    });
    let series = out["series"].as_array().unwrap();
    let row = |host: &str| {
        series
            .iter()
            .find(|s| s["tags"]["host"] == host)
            .unwrap_or_else(|| panic!("no series for {host}: {out}"))
            .clone()
    };
    // a: its own file first; b: only the default file has the field, nobody has the tag.
    assert_eq!(row("a")["tags"]["level"], "high");
    // Columns are sorted: time, threshold, value.
    assert_eq!(row("a")["values"][0][1].as_f64(), Some(80.0), "{out}");
    assert_eq!(row("b")["tags"]["level"], "low");
    assert_eq!(row("b")["values"][0][1].as_f64(), Some(95.0), "{out}");
    // The files change; POST /sideload/reload makes the running task read them again.
    std::fs::write(
        files.path().join("host/a.yml"),
        "threshold: 70\nlevel: high\n",
    )
    .unwrap();
    let r = post_json(&d, "/kapacitor/v1/sideload/reload", &json!({}));
    assert_eq!(r.status, 204, "{}", r.body);
    let r = write(&d, "db=mydb&rp=myrp&precision=s", "cpu,host=a value=3 20\n");
    assert_eq!(r.status, 204, "{}", r.body);
    eventually(EVENTUALLY, "the reloaded threshold", || {
        let v: serde_json::Value =
            serde_json::from_str(&d.get(&format!("{TASKS}/side/out")).body).ok()?;
        let a = v["series"]
            .as_array()?
            .iter()
            .find(|s| s["tags"]["host"] == "a")?
            .clone();
        (a["values"][0][1].as_f64() == Some(70.0)).then_some(())
    });
    // A relative source is refused when the task is defined or started.
    let bad = script.replace(
        &format!("file://{}", files.path().display()),
        "file://rel/dir",
    );
    let r = post_json(
        &d,
        TASKS,
        &json!({"id": "bad_side", "type": "stream", "dbrps": [{"db": "mydb", "rp": "myrp"}],
                "script": bad, "status": "enabled"}),
    );
    assert!(r.status >= 400, "{}", r.body);
    assert!(r.body.contains("must be absolute"), "{}", r.body);
}

#[test]
fn kapacitor_loopback_writes_into_this_kapacitords_own_stream() {
    let d = Daemon::start(DaemonOpts::default());
    // `twice` reads what `source` loops back under another database and measurement.
    create_task(
        &d,
        json!({"id": "twice", "type": "stream", "dbrps": [{"db": "loop", "rp": "autogen"}],
                "script": "stream\n    |from()\n        .measurement('cpu2')\n    |httpOut('out')\n",
                "status": "enabled"}),
    );
    create_task(
        &d,
        json!({"id": "source", "type": "stream", "dbrps": [{"db": "mydb", "rp": "myrp"}],
                "script": "stream\n    |from()\n        .measurement('cpu')\n    |eval(lambda: \"value\" * 2.0)\n        .as('double')\n    |kapacitorLoopback()\n        .database('loop')\n        .retentionPolicy('autogen')\n        .measurement('cpu2')\n        .tag('via', 'loop')\n",
                "status": "enabled"}),
    );
    wait_executing(&d, "twice", true);
    wait_executing(&d, "source", true);
    let r = write(
        &d,
        "db=mydb&rp=myrp&precision=s",
        "cpu,host=a value=21 10\n",
    );
    assert_eq!(r.status, 204, "{}", r.body);
    let out = eventually(EVENTUALLY, "the looped-back point", || {
        let b = d.get(&format!("{TASKS}/twice/out")).body;
        b.contains("cpu2").then_some(b)
    });
    assert_eq!(
        out,
        r#"{"series":[{"name":"cpu2","tags":{"host":"a","via":"loop"},"columns":["time","double"],"values":[["1970-01-01T00:00:10Z",42]]}]}"#
    );
}
