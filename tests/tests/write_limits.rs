//! `/write` within bounded memory: `[http] max-body-size` (413), the shared
//! `[http] max-concurrent-write-bytes` budget (503 with `Retry-After`), apid's memory for one
//! large write (at most ~3x the body, given back afterwards), and chunked parsing that writes
//! exactly what a whole-body parse would.

#[path = "support/tasks_helpers.rs"]
mod helpers;

use helpers::*;
use kapacitor_tests::procfs::rss_kib;
use kapacitor_tests::{Daemon, DaemonOpts, EVENTUALLY, eventually, wait_until};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn daemon(env: &[(&str, &str)]) -> Daemon {
    Daemon::start(DaemonOpts {
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..DaemonOpts::default()
    })
}

fn all_task(d: &Daemon, id: &str) {
    create_task(
        d,
        serde_json::json!({"id": id, "dbrps": [{"db": "db", "rp": "rp"}],
            "script": "stream|from()|httpOut('out')", "status": "enabled"}),
    );
    wait_executing(d, id, true);
}

/// `VmHWM` (peak RSS) of a process in KiB.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_body_over_max_body_size_gets_a_413_and_writes_nothing() {
    let d = daemon(&[("KAPACITOR_HTTP_MAX_BODY_SIZE", "1000")]);
    all_task(&d, "all");
    let big = "m v=1 1\n".repeat(200); // 1,600 bytes
    let r = write(&d, "db=db&rp=rp", &big);
    assert_eq!(r.status, 413, "{}", r.body);
    let e = r.json();
    assert_eq!(
        e["error"],
        "request body too large: more than 1000 bytes ([http] max-body-size)"
    );
    assert_eq!(e["error"], e["message"]);
    // The same through gzip (stored blocks: compressed is as long as the text).
    let r = request(
        &d,
        "POST",
        "/write?db=db&rp=rp",
        Some(&gzip_stored(big.as_bytes())),
        &[("Content-Encoding", "gzip")],
    );
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(write(&d, "db=db&rp=rp", "m v=1 1\n").status, 204);
    eventually(EVENTUALLY, "the small write routed", || {
        (task_ingress(&d, "all").0 == 1).then_some(())
    });
    assert_eq!(task_ingress(&d, "all").0, 1, "nothing of the large bodies");
}

#[test]
fn a_full_write_budget_answers_503_with_retry_after() {
    let d = daemon(&[
        ("KAPACITOR_HTTP_MAX_BODY_SIZE", "100000"),
        ("KAPACITOR_HTTP_MAX_CONCURRENT_WRITE_BYTES", "150000"),
    ]);
    // A write of 100,000 declared bytes that has not finished arriving holds its room (the
    // server's `100 Continue` says its handler reserved it and is reading).
    let mut slow = TcpStream::connect(("127.0.0.1", d.port())).unwrap();
    slow.write_all(
        b"POST /write?db=db&rp=rp HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\
          Expect: 100-continue\r\n\r\n",
    )
    .unwrap();
    slow.set_read_timeout(Some(EVENTUALLY)).unwrap();
    let mut buf = [0u8; 512];
    let n = slow.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 100 Continue"));
    // 60,000 more do not fit: answered 503 after a short wait.
    let body = "m v=1 1\n".repeat(7_500);
    let r = write(&d, "db=db&rp=rp", &body);
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.header("retry-after"), Some("1"));
    let e = r.json();
    assert!(
        e["error"]
            .as_str()
            .is_some_and(|m| m.contains("too many concurrent writes")
                && m.contains("[http] max-concurrent-write-bytes")),
        "{e}"
    );
    // Once the slow write completes, there is room again.
    let rest = "m v=1 1\n".repeat(12_500);
    slow.write_all(rest.as_bytes()).unwrap();
    let n = slow.read(&mut buf).unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 204"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    assert_eq!(write(&d, "db=db&rp=rp", &body).status, 204);
}

#[test]
fn chunked_parsing_writes_the_same_lines_and_answers_the_same() {
    let d = daemon(&[]);
    all_task(&d, "all");
    // 25,000 lines over three parse chunks, bad lines on both sides of chunk boundaries.
    let bad = [5usize, 10_000, 10_001, 20_001, 25_000];
    let mut body = String::new();
    for i in 1..=25_000usize {
        if bad.contains(&i) {
            body.push_str(&format!("bad line {i}\n"));
        } else {
            body.push_str(&format!("m v={i} {i}\n"));
        }
    }
    let r = write(&d, "db=db&rp=rp", &body);
    assert_eq!(r.status, 400);
    let want: String =
        std::iter::once("partial write:\n".to_string())
            .chain(bad.iter().map(|i| {
                format!("unable to parse 'bad line {i}': invalid field format (line {i})\n")
            }))
            .collect();
    assert_eq!(r.body, want);
    eventually(EVENTUALLY, "the good lines routed", || {
        (task_ingress(&d, "all") == (24_995, 0)).then_some(())
    });
    let vars = d.get("/kapacitor/v1/debug/vars").json();
    assert_eq!(
        vars["kapacitor"]["ingress:db:rp:m"]["values"]["points_received"],
        24_995
    );
}

#[test]
fn one_large_write_costs_apid_at_most_3x_the_body_and_is_given_back() {
    let d = daemon(&[]);
    all_task(&d, "all");
    let apid = d.running_pid("apid");
    let mut body = String::with_capacity(33 << 20);
    let mut n = 0u64;
    while body.len() < 32 << 20 {
        body.push_str(&format!(
            "cpu,host=h{},cpu=cpu{} usage_idle={}.5,usage_user={}i {}\n",
            n % 1000,
            n % 8,
            n % 100,
            n % 7,
            1_600_000_000_000_000_000u64 + n
        ));
        n += 1;
    }
    let body_kib = body.len() as u64 / 1024;
    // Settled before: the start-up's own allocations are done.
    std::thread::sleep(Duration::from_secs(1));
    let before = rss_kib(apid).unwrap();
    std::fs::write(format!("/proc/{apid}/clear_refs"), "5").expect("reset VmHWM");
    let r = request(&d, "POST", "/write?db=db&rp=rp", Some(body.as_bytes()), &[]);
    assert_eq!(r.status, 204, "{}", r.body);
    let peak = peak_kib(apid);
    let grew = peak.saturating_sub(before);
    eprintln!(
        "apid RSS before {before} KiB, peak {peak} KiB: +{grew} KiB for a {body_kib} KiB body"
    );
    assert!(
        grew <= 3 * body_kib,
        "apid grew by {grew} KiB for a {body_kib} KiB write"
    );
    eventually(EVENTUALLY, "every point routed", || {
        (task_ingress(&d, "all").0 == n).then_some(())
    });
    // Given back once the worker acknowledged the batches (the queue drained).
    let settled = wait_until(EVENTUALLY, || {
        rss_kib(apid).is_some_and(|r| r <= before + body_kib / 4)
    });
    assert!(
        settled,
        "apid kept {} KiB after the write (before: {before} KiB)",
        rss_kib(apid).unwrap_or(0)
    );
}
