//! A throw-away `influxd` (1.x) on free ports in a temp dir, for reference measurements and
//! tests that need a real InfluxDB. Dropping it kills it.

use crate::{free_port, http};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the Debian package installs it.
pub const INFLUXD: &str = "/usr/bin/influxd";

pub struct Influxd {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Influxd {
    /// True when an `influxd` binary is installed.
    pub fn available() -> bool {
        Path::new(INFLUXD).is_file()
    }

    /// Starts `influxd run` with its meta, data and WAL in a temp dir, HTTP and RPC on free
    /// ports, no reporting, no self-monitoring store; waits for `/ping`.
    pub fn start() -> Result<Influxd, String> {
        let dir = tempfile::Builder::new()
            .prefix("influxd-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let (port, rpc) = (free_port(), free_port());
        let p = |s: &str| -> PathBuf { dir.path().join(s) };
        let config = format!(
            "reporting-disabled = true\nbind-address = \"127.0.0.1:{rpc}\"\n\
             [meta]\n  dir = \"{meta}\"\n\
             [data]\n  dir = \"{data}\"\n  wal-dir = \"{wal}\"\n  query-log-enabled = false\n\
             [http]\n  bind-address = \"127.0.0.1:{port}\"\n  log-enabled = false\n\
             [monitor]\n  store-enabled = false\n",
            meta = p("meta").display(),
            data = p("data").display(),
            wal = p("wal").display(),
        );
        std::fs::write(p("influxdb.conf"), config).map_err(|e| e.to_string())?;
        let log = std::fs::File::create(p("influxd.log")).map_err(|e| e.to_string())?;
        let child = Command::new(INFLUXD)
            .arg("run")
            .arg("-config")
            .arg(p("influxdb.conf"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("{INFLUXD}: {e}"))?;
        let mut d = Influxd {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = d.child.try_wait() {
                return Err(format!("influxd exited during start-up ({status})"));
            }
            if http::get_with_timeout(&format!("{}/ping", d.url()), Duration::from_secs(1))
                .is_ok_and(|r| r.status == 204)
            {
                return Ok(d);
            }
            if Instant::now() > deadline {
                let _ = d.child.kill();
                return Err("influxd did not answer /ping in time".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Runs an InfluxQL statement through `POST /query`.
    pub fn query(&self, q: &str) -> Result<String, String> {
        let url = format!("{}/query?q={}", self.url(), http::query_escape(q));
        let r = http::post(&url, "")?;
        if r.status == 200 {
            Ok(r.body)
        } else {
            Err(format!("{q}: {} {}", r.status, r.body))
        }
    }
}

impl Drop for Influxd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
