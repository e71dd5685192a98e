//! apid's HTTP server under a connection flood and slow clients: the connection limit below
//! the descriptor limit, the header-read and idle timeouts, the polite refusal.

use kapacitor_tests::{Daemon, DaemonOpts, EVENTUALLY, eventually, http};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn daemon(nofile: Option<u64>, http_extra: &str) -> Daemon {
    Daemon::start(DaemonOpts {
        nofile,
        // `[http]` keys as environment overrides: the harness writes that table itself.
        env: http_extra
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let (k, v) = l.split_once('=').expect("KEY=value");
                (k.trim().to_string(), v.trim().to_string())
            })
            .collect(),
        ..DaemonOpts::default()
    })
}

/// Reads until EOF or an error; `true` when the server closed the connection.
fn closed_by_server(s: &TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 4096];
    let mut r = s;
    loop {
        match r.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

fn apid_fds(d: &Daemon) -> usize {
    let pid = d.running_pid("apid");
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|r| r.count())
        .unwrap_or(0)
}

#[test]
fn ping_answers_with_1000_idle_connections_under_a_512_fd_limit() {
    // Long timeouts: only the connection limit keeps the API reachable here.
    let d = daemon(
        Some(512),
        "KAPACITOR_HTTP_READ_HEADER_TIMEOUT=10m\nKAPACITOR_HTTP_IDLE_TIMEOUT=10m",
    );
    // The effective limit is logged at start (just after the listener is up).
    eventually(EVENTUALLY, "the connection limit in the log", || {
        let log = d.log();
        (log.contains("max_connections=320") && log.contains("nofile=512")).then_some(())
    });
    let addr = format!("127.0.0.1:{}", d.port());
    let mut idle = Vec::new();
    for _ in 0..1000 {
        // A connect the listen backlog cannot take yet is retried by the kernel; a failure
        // here is the test machine's, not the daemon's.
        if let Ok(s) = TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(10)) {
            idle.push(s);
        }
    }
    assert!(idle.len() >= 900, "only {} connections opened", idle.len());
    let url = format!("{}/kapacitor/v1/ping", d.url());
    let r = eventually(EVENTUALLY, "ping answers during the flood", || {
        http::get_with_timeout(&url, Duration::from_secs(5)).ok()
    });
    assert_eq!(r.status, 204);
    // The flood cost apid no more descriptors than the limit allows.
    let fds = apid_fds(&d);
    assert!(fds < 512, "apid holds {fds} descriptors");
    // Older idle connections were closed to make room; the API still works afterwards.
    let closed = idle
        .iter()
        .take(100)
        .filter(|s| closed_by_server(s, Duration::from_millis(200)))
        .count();
    assert!(closed > 0, "no idle connection was closed to make room");
    assert_eq!(d.get("/kapacitor/v1/ping").status, 204);
    let spins = d.log().matches("HTTP accept failed").count();
    assert!(spins <= 10, "accept errors logged {spins} times");
}

#[test]
fn a_half_sent_request_line_is_closed_after_the_header_read_timeout() {
    let d = daemon(None, "KAPACITOR_HTTP_READ_HEADER_TIMEOUT=1s");
    let mut s = TcpStream::connect(("127.0.0.1", d.port())).unwrap();
    let started = Instant::now();
    s.write_all(b"GET /kapacitor/v1/pi").unwrap();
    assert!(
        closed_by_server(&s, EVENTUALLY),
        "the connection is still open after {EVENTUALLY:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "closed before the timeout: {:?}",
        started.elapsed()
    );
    // A connection that never sends anything is timed the same way.
    let silent = TcpStream::connect(("127.0.0.1", d.port())).unwrap();
    assert!(closed_by_server(&silent, EVENTUALLY));
    // A complete request is served as usual.
    assert_eq!(d.get("/kapacitor/v1/ping").status, 204);
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let d = daemon(
        None,
        "KAPACITOR_HTTP_IDLE_TIMEOUT=2s\nKAPACITOR_HTTP_READ_HEADER_TIMEOUT=1m",
    );
    let mut s = TcpStream::connect(("127.0.0.1", d.port())).unwrap();
    s.write_all(b"GET /kapacitor/v1/ping HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 1024];
    s.set_read_timeout(Some(EVENTUALLY)).unwrap();
    let n = s.read(&mut buf).unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 204"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    let answered = Instant::now();
    assert!(closed_by_server(&s, EVENTUALLY), "still open");
    assert!(answered.elapsed() >= Duration::from_millis(1800));
}

#[test]
fn when_every_connection_is_busy_a_new_one_gets_a_503() {
    let d = daemon(None, "KAPACITOR_HTTP_MAX_CONNECTIONS=2");
    eventually(EVENTUALLY, "the connection limit in the log", || {
        d.log()
            .contains("max_connections=2 automatic=false")
            .then_some(())
    });
    // Two writes whose bodies never finish arriving: requests in progress. The server's
    // `100 Continue` says the handler is reading the body, so the request is in progress.
    let mut busy = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(("127.0.0.1", d.port())).unwrap();
        s.write_all(
            b"POST /write?db=db HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\
              Expect: 100-continue\r\n\r\n",
        )
        .unwrap();
        s.set_read_timeout(Some(EVENTUALLY)).unwrap();
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf).unwrap();
        let head = String::from_utf8_lossy(&buf[..n]);
        assert!(head.starts_with("HTTP/1.1 100 Continue"), "{head}");
        s.write_all(b"cpu v=1").unwrap();
        busy.push(s);
    }
    let r = eventually(EVENTUALLY, "a 503 for the third connection", || {
        let r = http::get_with_timeout(
            &format!("{}/kapacitor/v1/ping", d.url()),
            Duration::from_secs(5),
        )
        .ok()?;
        (r.status == 503).then_some(r)
    });
    assert_eq!(r.header("retry-after"), Some("1"));
    let body = r.json();
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("too many open HTTP connections (limit 2")),
        "{body}"
    );
    assert_eq!(body["error"], body["message"]);
    assert!(d.log().contains("HTTP connection refused with 503"));
    // Once a request ends its connection can make room again.
    drop(busy);
    eventually(EVENTUALLY, "ping answers again", || {
        http::get_with_timeout(
            &format!("{}/kapacitor/v1/ping", d.url()),
            Duration::from_secs(5),
        )
        .ok()
        .filter(|r| r.status == 204)
    });
}

#[test]
fn a_max_connections_beyond_the_descriptor_limit_fails_startup_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("k.conf");
    std::fs::write(
        &conf,
        format!(
            "data_dir = \"{}\"\n[http]\nbind-address = \"127.0.0.1:0\"\nmax-connections = 1000\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let mut cmd = std::process::Command::new(kapacitor_tests::kapacitord_bin());
    cmd.arg("-config").arg(&conf);
    kapacitor_tests::set_nofile_on_exec(&mut cmd, 512);
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("invalid [http] max-connections: 1000")
            && stderr.contains("RLIMIT_NOFILE 512"),
        "{stderr}"
    );
}
