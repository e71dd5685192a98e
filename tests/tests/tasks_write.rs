//! `/write` ingest on a live daemon: routing to a task's httpOut, gzip, precision, the
//! default retention policy, error bodies, and the ingress counters.

#[path = "support/tasks_helpers.rs"]
mod helpers;

use helpers::*;
use kapacitor_tests::{Daemon, DaemonOpts, EVENTUALLY, eventually};

fn count_body(d: &Daemon, id: &str) -> String {
    d.get(&format!("{TASKS}/{id}/count")).body
}

/// Waits for the httpOut body to be `want` (the worker applies writes asynchronously).
fn wait_body(d: &Daemon, id: &str, want: &str) {
    eventually(EVENTUALLY, &format!("{id}/count = {want}"), || {
        (count_body(d, id) == want).then_some(())
    });
}

#[test]
fn stream_task_answers_like_kapacitors_server_test() {
    let d = Daemon::start(DaemonOpts::default());
    create_task(&d, stream_task("testStreamTask", "enabled"));
    assert_eq!(count_body(&d, "testStreamTask"), r#"{"series":null}"#);
    let r = write(&d, "db=mydb&rp=myrp&precision=s", STREAM_POINTS);
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(r.body.is_empty());
    wait_body(&d, "testStreamTask", STREAM_COUNT_BODY);

    // Points of another dbrp or measurement do not reach the task.
    assert_eq!(
        write(&d, "db=other&rp=myrp&precision=s", "test value=1 20").status,
        204
    );
    assert_eq!(
        write(&d, "db=mydb&rp=myrp&precision=s", "nottest value=1 20").status,
        204
    );
    let vars = d.get("/kapacitor/v1/debug/vars").json();
    let ingress = &vars["kapacitor"]["ingress:mydb:myrp:test"];
    assert_eq!(ingress["name"], "ingress");
    assert_eq!(ingress["tags"]["task_master"], "main");
    assert_eq!(ingress["values"]["points_received"], 17);
    assert_eq!(
        vars["kapacitor"]["ingress:other:myrp:test"]["values"]["points_received"],
        1
    );
    assert_eq!(task_ingress(&d, "testStreamTask"), (17, 0));
    let task = get_task(&d, "testStreamTask");
    assert_eq!(task["stats"]["node-stats"]["from1"]["collected"], 17);
    assert_eq!(task["stats"]["task-stats"]["points_dropped"], 0);
}

#[test]
fn default_rp_gzip_and_precision() {
    let d = Daemon::start(DaemonOpts {
        env: vec![("KAPACITOR_DEFAULT_RETENTION_POLICY".into(), "myrp".into())],
        ..DaemonOpts::default()
    });
    // TestServer_StreamTask_NoRP: no rp in the write; gzip body.
    create_task(&d, stream_task("noRP", "enabled"));
    let gz = gzip_stored(STREAM_POINTS.as_bytes());
    let r = request(
        &d,
        "POST",
        "/kapacitor/v1/write?db=mydb&precision=s",
        Some(&gz),
        &[("Content-Encoding", "gzip")],
    );
    assert_eq!(r.status, 204, "{}", r.body);
    wait_body(&d, "noRP", STREAM_COUNT_BODY);

    // The same points in milliseconds give the same window.
    create_task(&d, stream_task("ms", "enabled"));
    let ms: String = STREAM_POINTS
        .lines()
        .map(|l| {
            let (head, t) = l.rsplit_once(' ').unwrap();
            format!("{head} {}\n", t.parse::<i64>().unwrap() * 1000)
        })
        .collect();
    let r = write(&d, "db=mydb&rp=myrp&precision=ms", &ms);
    assert_eq!(r.status, 204, "{}", r.body);
    wait_body(&d, "ms", STREAM_COUNT_BODY);

    let r = request(
        &d,
        "POST",
        "/write?db=mydb&rp=myrp",
        Some(b"not gzip"),
        &[("Content-Encoding", "gzip")],
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.starts_with("gzip: "), "{}", r.body);
}

#[test]
fn write_errors_are_plain_text_with_line_numbers() {
    let d = Daemon::start(DaemonOpts::default());
    create_task(
        &d,
        serde_json::json!({"id": "all", "dbrps": [{"db": "db", "rp": "rp"}],
            "script": "stream|from()|httpOut('out')", "status": "enabled"}),
    );
    let r = write(&d, "rp=rp", "m value=1");
    assert_eq!((r.status, r.body.as_str()), (400, "database is required\n"));

    // A partly bad body: the good lines are written, the bad ones named with their line.
    let r = write(
        &d,
        "db=db&rp=rp",
        "m value=1 1\nbad line\nm value=2 2\nm value= 3\n",
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        "partial write:\nunable to parse 'bad line': invalid field format (line 2)\n\
         unable to parse 'm value= 3': missing field value (line 4)\n"
    );
    eventually(EVENTUALLY, "two good points routed", || {
        (task_ingress(&d, "all").0 == 2).then_some(())
    });
    // Nothing good at all: the errors alone, nothing written.
    let r = write(&d, "db=db&rp=rp", "bad\n");
    assert_eq!(r.status, 400);
    assert!(r.body.starts_with("unable to parse 'bad': "), "{}", r.body);
    assert!(r.body.ends_with("(line 1)\n"), "{}", r.body);
    let r = write(&d, "db=db&rp=rp&precision=y", "m value=1");
    assert_eq!(r.status, 400);
    assert_eq!(task_ingress(&d, "all").0, 2);
    // Points without a timestamp get now.
    assert_eq!(write(&d, "db=db&rp=rp", "m value=7").status, 204);
    let body = eventually(EVENTUALLY, "the point without time", || {
        let b = d.get(&format!("{TASKS}/all/out")).body;
        b.contains(",7]]").then_some(b)
    });
    assert!(!body.contains("1970-01-01"), "{body}");
}
