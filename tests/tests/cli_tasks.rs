//! Task management through the real `kapacitor` CLI: `define` (create, update, reload of an
//! enabled task, `-no-reload`), `reload`, `enable`/`disable`/`delete`/`list` with globs.

use kapacitor_tests::cli::{CliOutput, kapacitor_in};
use kapacitor_tests::{Daemon, DaemonOpts, EVENTUALLY, eventually};
use serde_json::Value;

struct Fixture {
    d: Daemon,
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            d: Daemon::start(DaemonOpts::default()),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn cli(&self, args: &[&str]) -> CliOutput {
        kapacitor_in(&self.d.url(), Some(self.dir.path()), args)
    }

    fn tick(&self, name: &str, script: &str) {
        std::fs::write(self.dir.path().join(name), script).unwrap();
    }

    /// Defines `id` from a stream script ending in `|httpOut('<endpoint>')` on db.rp.
    fn define_counter(&self, id: &str, endpoint: &str) {
        let file = format!("{id}-{endpoint}.tick");
        self.tick(&file, &counter_script(endpoint));
        self.cli(&["define", id, "-tick", &file, "-dbrp", "db.rp"])
            .ok();
    }

    fn status(&self, id: &str) -> (String, bool) {
        let t = self.d.task(id);
        (
            t["status"].as_str().unwrap_or_default().to_string(),
            t["executing"].as_bool().unwrap_or(false),
        )
    }

    fn last_enabled(&self, id: &str) -> String {
        self.d.task(id)["last-enabled"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// Nanoseconds since the epoch of an RFC 3339 time (strings do not compare as instants when
/// their fractional parts differ in length).
fn instant(t: &str) -> i64 {
    kapacitor_models::time_fmt::parse_rfc3339(t).unwrap_or_else(|e| panic!("{t}: {e}"))
}

/// Counts points per 1 s window: any write makes the endpoint non-empty once a window closes.
fn counter_script(endpoint: &str) -> String {
    format!(
        "stream\n    |from()\n        .measurement('m')\n    |window()\n        .period(1s)\n        .every(1s)\n    |count('v')\n    |httpOut('{endpoint}')\n"
    )
}

/// Writes points 0..=4 s (so at least one window closes) and waits for `endpoint` to serve a
/// series.
fn feed_and_read(f: &Fixture, id: &str, endpoint: &str) -> Value {
    let lines: Vec<String> = (0..5)
        .map(|i| format!("m v={i} {}", 31_536_000 + i))
        .collect();
    f.d.write("db", "rp", "s", &lines.join("\n"));
    let path = format!("/kapacitor/v1/tasks/{id}/{endpoint}");
    eventually(EVENTUALLY, &format!("{path} serves data"), || {
        let r = f.d.try_get(&path)?;
        let v: Value = serde_json::from_str(&r.body).ok()?;
        (r.status == 200 && v["series"].as_array().is_some_and(|s| !s.is_empty())).then_some(v)
    })
}

#[test]
fn define_creates_disabled_then_updates_and_reloads_an_enabled_task() {
    let f = Fixture::new();
    f.define_counter("t1", "first");
    assert_eq!(f.status("t1"), ("disabled".to_string(), false));
    assert_eq!(f.last_enabled("t1"), "0001-01-01T00:00:00Z");

    f.cli(&["enable", "t1"]).ok();
    eventually(EVENTUALLY, "t1 executing", || {
        (f.status("t1") == ("enabled".to_string(), true)).then_some(())
    });
    let first_enabled = f.last_enabled("t1");
    let first_pid = f.d.running_pid("t1");
    feed_and_read(&f, "t1", "first");

    // Redefining an enabled task reloads it: disable + enable, so a new worker runs the new
    // script, and last-enabled moves on.
    std::thread::sleep(std::time::Duration::from_millis(20));
    f.define_counter("t1", "second");
    let t = f.d.task("t1");
    assert_eq!(t["status"], "enabled");
    assert!(
        t["script"].as_str().unwrap().contains("httpOut('second')"),
        "{t}"
    );
    assert!(
        instant(t["last-enabled"].as_str().unwrap()) > instant(&first_enabled),
        "last-enabled {} not after {first_enabled}",
        t["last-enabled"]
    );
    let new_pid = eventually(EVENTUALLY, "a new t1 worker", || {
        let pid = f.d.running_pid("t1");
        (pid != first_pid).then_some(pid)
    });
    assert_ne!(new_pid, first_pid);
    feed_and_read(&f, "t1", "second");
    assert_eq!(
        f.d.get("/kapacitor/v1/tasks/t1/first").status,
        404,
        "the old pipeline's endpoint is gone"
    );

    // -no-reload stores the script without restarting the task.
    let before = f.last_enabled("t1");
    f.tick("third.tick", &counter_script("third"));
    f.cli(&["define", "t1", "-tick", "third.tick", "-no-reload"])
        .ok();
    let t = f.d.task("t1");
    assert!(t["script"].as_str().unwrap().contains("httpOut('third')"));
    assert_eq!(t["status"], "enabled");
    assert_eq!(f.last_enabled("t1"), before);
    // The dbrps were kept although -dbrp was not given again.
    assert_eq!(t["dbrps"], serde_json::json!([{"db": "db", "rp": "rp"}]));
}

#[test]
fn reload_restarts_the_worker() {
    let f = Fixture::new();
    f.define_counter("r1", "out");
    f.cli(&["enable", "r1"]).ok();
    let pid = f.d.running_pid("r1");
    let before = f.last_enabled("r1");
    std::thread::sleep(std::time::Duration::from_millis(20));
    f.cli(&["reload", "r1"]).ok();
    assert_eq!(f.d.task("r1")["status"], "enabled");
    assert!(instant(&f.last_enabled("r1")) > instant(&before));
    eventually(EVENTUALLY, "a new r1 worker", || {
        (f.d.running_pid("r1") != pid).then_some(())
    });
    feed_and_read(&f, "r1", "out");
}

#[test]
fn enable_disable_delete_and_list_take_globs() {
    let f = Fixture::new();
    for id in ["cpu_a", "cpu_b", "mem_a", "disk"] {
        f.define_counter(id, "out");
    }
    let all_disabled = "ID    Type      Status    Executing Databases and Retention Policies\n\
                        cpu_a stream    disabled  false     [\"db\".\"rp\"]\n\
                        cpu_b stream    disabled  false     [\"db\".\"rp\"]\n\
                        disk  stream    disabled  false     [\"db\".\"rp\"]\n\
                        mem_a stream    disabled  false     [\"db\".\"rp\"]\n";
    assert_eq!(f.cli(&["list", "tasks"]).ok(), all_disabled);

    f.cli(&["enable", "cpu*"]).ok();
    assert_eq!(f.status("cpu_a").0, "enabled");
    assert_eq!(f.status("cpu_b").0, "enabled");
    assert_eq!(f.status("mem_a").0, "disabled");
    assert_eq!(f.status("disk").0, "disabled");
    for id in ["cpu_a", "cpu_b"] {
        f.d.running_pid(id);
    }

    // Several patterns, and a pattern that matches nothing is not an error.
    f.cli(&["enable", "mem_?", "nothing*"]).ok();
    assert_eq!(f.status("mem_a").0, "enabled");

    f.cli(&["disable", "*_a"]).ok();
    assert_eq!(f.status("cpu_a").0, "disabled");
    assert_eq!(f.status("mem_a").0, "disabled");
    assert_eq!(f.status("cpu_b").0, "enabled");

    eventually(EVENTUALLY, "cpu_b executing", || {
        f.status("cpu_b").1.then_some(())
    });
    assert_eq!(
        f.cli(&["list", "tasks", "cpu*"]).ok(),
        "ID    Type      Status    Executing Databases and Retention Policies\n\
         cpu_a stream    disabled  false     [\"db\".\"rp\"]\n\
         cpu_b stream    enabled   true      [\"db\".\"rp\"]\n"
    );

    f.cli(&["delete", "tasks", "cpu*"]).ok();
    assert_eq!(
        f.cli(&["list", "tasks"]).ok(),
        "ID    Type      Status    Executing Databases and Retention Policies\n\
         disk  stream    disabled  false     [\"db\".\"rp\"]\n\
         mem_a stream    disabled  false     [\"db\".\"rp\"]\n"
    );
    // The deleted enabled task's worker is gone too.
    eventually(EVENTUALLY, "cpu_b worker stopped", || {
        f.d.child("cpu_b")
            .is_none_or(|r| r.state != "running")
            .then_some(())
    });
}
