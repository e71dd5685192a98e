//! A real `influxd` for tests: its own temp dir and free ports, killed on drop.
//!
//! Reusable from other crates' black-box tests (`#[path = "…/influxdb/tests/common/mod.rs"]
//! mod influxd;`). Set `INFLUXD` to use another binary than `influxd` on the PATH or
//! `/usr/bin/influxd`.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Influxd {
    dir: tempfile::TempDir,
    binary: PathBuf,
    pub http_port: u16,
    pub rpc_port: u16,
    child: Option<Child>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free local port")
}

/// The influxd binary, or a panic that says how to get one.
pub fn influxd_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("INFLUXD") {
        return PathBuf::from(p);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("influxd"))
            .find(|p| p.is_file())
    });
    match on_path.or_else(|| Some(PathBuf::from("/usr/bin/influxd")).filter(|p| p.is_file())) {
        Some(p) => p,
        None => panic!(
            "no influxd binary found (PATH, /usr/bin/influxd or $INFLUXD): run `apt-get install influxdb` (InfluxDB 1.x)"
        ),
    }
}

impl Influxd {
    /// Starts influxd and waits until `/ping` answers 204.
    pub fn start() -> Influxd {
        let mut d = Influxd {
            dir: tempfile::tempdir().expect("temp dir"),
            binary: influxd_binary(),
            http_port: free_port(),
            rpc_port: free_port(),
            child: None,
        };
        d.write_config();
        d.spawn();
        d
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn write_config(&self) {
        let dir = self.dir.path();
        let cfg = format!(
            r#"reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"

[meta]
  dir = "{dir}/meta"
  logging-enabled = false

[data]
  dir = "{dir}/data"
  wal-dir = "{dir}/wal"
  query-log-enabled = false

[http]
  bind-address = "127.0.0.1:{http}"
  log-enabled = false

[subscriber]
  enabled = true

[monitor]
  store-enabled = false

[continuous_queries]
  enabled = false
"#,
            rpc = self.rpc_port,
            http = self.http_port,
            dir = dir.display()
        );
        std::fs::write(dir.join("influxdb.conf"), cfg).expect("write influxdb.conf");
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("influxd.log"))
            .expect("influxd.log");
        let child = Command::new(&self.binary)
            .arg("-config")
            .arg(self.dir.path().join("influxdb.conf"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.binary.display()));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.ping() {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("influxd exited early ({status}):\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("influxd did not answer /ping within 60s:\n{}", self.log());
    }

    /// influxd's own output, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("influxd.log")).unwrap_or_default()
    }

    /// `GET /ping` answered 204.
    pub fn ping(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.http_port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        if s.write_all(b"GET /ping HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .is_err()
        {
            return false;
        }
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap_or(0);
        buf[..n].starts_with(b"HTTP/1.0 204") || buf[..n].starts_with(b"HTTP/1.1 204")
    }

    /// Kills influxd (data stays in the temp dir).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts influxd again on the same ports and data.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for Influxd {
    fn drop(&mut self) {
        self.stop();
    }
}
