//! The record/replay workflow through the real `kapacitor` CLI against the real daemon:
//! `record stream` (waiting and `-no-wait`), `replay`, `list recordings|replays`,
//! `delete recordings|replays`, and the errors a user sees.

use kapacitor_tests::cli::{CliOutput, kapacitor_in};
use kapacitor_tests::{Daemon, DaemonOpts, EVENTUALLY, eventually};
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

struct Fixture {
    d: Daemon,
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let d = Daemon::start(DaemonOpts {
            extra_config: format!(
                "[replay]\ndir = \"{}\"\n",
                dir.path().join("replay").display()
            ),
            ..DaemonOpts::default()
        });
        Fixture { d, dir }
    }

    fn cli(&self, args: &[&str]) -> CliOutput {
        kapacitor_in(&self.d.url(), Some(self.dir.path()), args)
    }
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The row of `id` in a `list` table, split on whitespace (dates have spaces; they come last).
fn row<'a>(table: &'a str, id: &str) -> Option<Vec<&'a str>> {
    table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(id))
        .map(|l| l.split_whitespace().collect())
}

#[test]
fn record_replay_list_and_delete_through_the_cli() {
    let f = Fixture::new();
    std::fs::write(
        f.dir.path().join("out.tick"),
        "stream\n    |from()\n        .measurement('cpu')\n    |httpOut('out')\n",
    )
    .unwrap();
    f.cli(&[
        "define",
        "cpu_out",
        "-tick",
        "out.tick",
        "-dbrp",
        "telegraf.autogen",
    ])
    .ok();

    // -no-wait prints the id of the running recording at once.
    let out = f.cli(&[
        "record",
        "stream",
        "-task",
        "cpu_out",
        "-duration",
        "10s",
        "-recording-id",
        "r1",
        "-no-wait",
    ]);
    assert_eq!(out.ok(), "r1\n");
    let table = f.cli(&["list", "recordings"]);
    assert!(table.ok().starts_with("ID"), "{}", table.stdout);
    assert_eq!(
        row(&table.stdout, "r1").unwrap()[1..3],
        ["stream", "running"]
    );

    // Points now, then one past the stop: the recording finishes.
    f.d.write(
        "telegraf",
        "autogen",
        "s",
        "cpu,host=a value=1\ncpu,host=b value=2",
    );
    f.d.write(
        "telegraf",
        "autogen",
        "s",
        &format!("cpu value=3 {}", now_s() + 3600),
    );
    eventually(EVENTUALLY, "r1 finished", || {
        let t = f.cli(&["list", "recordings"]).stdout;
        (row(&t, "r1")?[2] == "finished").then_some(())
    });

    // Without -no-wait the CLI waits for the recording to finish.
    let writer = {
        let url = f.d.url();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1500));
            let body = format!("cpu value=4 {}", now_s() + 3600);
            kapacitor_tests::http::post(
                &format!("{url}/kapacitor/v1/write?db=telegraf&rp=autogen&precision=s"),
                &body,
            )
            .unwrap()
        })
    };
    let out = f.cli(&[
        "record",
        "stream",
        "-task",
        "cpu_out",
        "-duration",
        "1s",
        "-recording-id",
        "r2",
    ]);
    assert_eq!(out.ok(), "r2\n");
    assert_eq!(writer.join().unwrap().status, 204);
    let r2 = f.d.get("/kapacitor/v1/recordings/r2").json();
    assert_eq!(r2["status"], "finished", "{r2}");

    // Replay r1 (waits, prints the replay id).
    let out = f.cli(&[
        "replay",
        "-task",
        "cpu_out",
        "-recording",
        "r1",
        "-replay-id",
        "p1",
        "-rec-time",
    ]);
    assert_eq!(out.ok(), "p1\n");
    let p1: Value = f.d.get("/kapacitor/v1/replays/p1").json();
    assert_eq!(
        (&p1["status"], &p1["recording-time"], &p1["clock"]),
        (
            &Value::from("finished"),
            &Value::from(true),
            &Value::from("fast")
        )
    );
    assert_eq!(p1["stats"]["node-stats"]["from1"]["emitted"], 2, "{p1}");
    let table = f.cli(&["list", "replays"]);
    assert!(table.ok().starts_with("ID"), "{}", table.stdout);
    assert_eq!(
        row(&table.stdout, "p1").unwrap()[..5],
        ["p1", "cpu_out", "r1", "finished", "fast"]
    );

    // A replay -no-wait, with the real clock.
    let out = f.cli(&[
        "replay",
        "-task",
        "cpu_out",
        "-recording",
        "r2",
        "-replay-id",
        "p2",
        "-real-clock",
        "-no-wait",
    ]);
    assert_eq!(out.ok(), "p2\n");
    eventually(EVENTUALLY, "p2 finished", || {
        let v = f.d.get("/kapacitor/v1/replays/p2").json();
        (v["status"] == "finished").then_some(())
    });
    assert_eq!(f.d.get("/kapacitor/v1/replays/p2").json()["clock"], "real");

    // Errors a user sees.
    let out = f.cli(&["replay", "-task", "nope", "-recording", "r1"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("task load: no task exists"),
        "{}",
        out.stderr
    );
    let out = f.cli(&["record", "stream", "-task", "nope", "-duration", "1s"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("no task exists"), "{}", out.stderr);

    // Delete by glob.
    f.cli(&["delete", "replays", "p*"]).ok();
    f.cli(&["delete", "recordings", "r1", "r2"]).ok();
    assert_eq!(f.cli(&["list", "replays"]).ok().lines().count(), 1);
    assert_eq!(f.cli(&["list", "recordings"]).ok().lines().count(), 1);
    assert!(!f.dir.path().join("replay").join("r1.srpl").exists());
}
