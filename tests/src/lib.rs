//! The black-box test harness: start the real `kapacitord` on free ports in a temp dir, talk
//! to it over HTTP, signal it, inspect its process tree, and always clean up.
//!
//! ```no_run
//! use kapacitor_tests::{Daemon, DaemonOpts};
//! let d = Daemon::start(DaemonOpts::default());
//! assert_eq!(d.get("/kapacitor/v1/ping").status, 204);
//! ```
//!
//! Tests run under cargo-nextest, one process per test, so daemons of different tests never
//! share signal state. Build the binaries first (`cargo build --workspace --bins`).

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde_json::Value;
use std::collections::HashMap;
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub mod cli;
pub mod conformance;
pub mod influxd;
pub mod procfs;

/// How long `Daemon::start` waits for the first successful ping.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
const PORT_TAKEN: &str = "the HTTP port was taken before kapacitord could bind it";

/// Generous bound for "eventually" conditions; a liveness guard, not a performance claim.
pub const EVENTUALLY: Duration = Duration::from_secs(30);

/// Path of a workspace binary (`kapacitord`, `kapacitor`, `kapacitorctl`), found next to the
/// test executable (`target/<profile>/deps/<test>` → `target/<profile>/<name>`).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe
        .parent()
        .expect("test binary has a directory")
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the binaries first with `cargo build --workspace --bins`",
        path.display()
    );
    path
}

pub fn kapacitord_bin() -> PathBuf {
    binary("kapacitord")
}

/// A TCP port that was free a moment ago (bound to port 0, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0")
}

/// Polls `f` every 50 ms until it returns `Some`, or panics with `what` after `timeout`.
pub fn eventually<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls `f` every 50 ms until it is true (returns true) or `timeout` passes (returns false):
/// for things that may legitimately never happen.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// True when `pid` exists and is not a zombie.
pub fn pid_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => proc_stat(&stat).is_some_and(|(state, _)| state != 'Z' && state != 'X'),
        Err(_) => false,
    }
}

/// (state, ppid) from the text of `/proc/<pid>/stat`; comm may contain spaces and parens.
fn proc_stat(stat: &str) -> Option<(char, u32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut it = rest.split_whitespace();
    let state = it.next()?.chars().next()?;
    let ppid = it.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Live (non-zombie) descendants of `pid`, from /proc.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut parent_of = HashMap::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Ok(stat) = fs::read_to_string(format!("/proc/{p}/stat"))
                && let Some((state, ppid)) = proc_stat(&stat)
                && state != 'Z'
            {
                parent_of.insert(p, ppid);
            }
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for (&child, &ppid) in &parent_of {
            if ppid == parent && !out.contains(&child) {
                out.push(child);
                frontier.push(child);
            }
        }
    }
    out.sort_unstable();
    out
}

/// argv[0] of a process (the role title of kapacitord's children).
pub fn argv0(pid: u32) -> Option<String> {
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let first = cmdline.split(|&b| b == 0).next()?;
    Some(String::from_utf8_lossy(first).into_owned())
}

/// An HTTP response, fully read.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The body as JSON; panics with the body when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }
}

/// Blocking HTTP helpers; any status is a response, not an error.
pub mod http {
    use super::Response;
    use std::time::Duration;

    fn agent() -> ureq::Agent {
        agent_with_timeout(Duration::from_secs(10))
    }

    fn agent_with_timeout(timeout: Duration) -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .into()
    }

    pub fn get_with_timeout(url: &str, timeout: Duration) -> Result<Response, String> {
        finish(agent_with_timeout(timeout).get(url).call())
    }

    fn finish(
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Response, String> {
        let mut r = r.map_err(|e| e.to_string())?;
        let headers = r
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    v.to_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let status = r.status().as_u16();
        let body = r.body_mut().read_to_string().map_err(|e| e.to_string())?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    pub fn get(url: &str) -> Result<Response, String> {
        finish(agent().get(url).call())
    }

    pub fn head(url: &str) -> Result<Response, String> {
        finish(agent().head(url).call())
    }

    pub fn post(url: &str, body: &str) -> Result<Response, String> {
        finish(agent().post(url).send(body))
    }

    pub fn delete(url: &str) -> Result<Response, String> {
        finish(agent().delete(url).call())
    }

    /// POST with `Content-Type: application/json`, as Kapacitor's own client sends.
    pub fn post_json(url: &str, body: &str) -> Result<Response, String> {
        finish(
            agent()
                .post(url)
                .header("Content-Type", "application/json")
                .send(body),
        )
    }

    /// PATCH with `Content-Type: application/json`.
    pub fn patch_json(url: &str, body: &str) -> Result<Response, String> {
        finish(
            agent()
                .patch(url)
                .header("Content-Type", "application/json")
                .send(body),
        )
    }

    /// Percent-encodes a query-string value (everything but unreserved characters).
    pub fn query_escape(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }
}

/// How to start a daemon.
#[derive(Debug, Clone, Default)]
pub struct DaemonOpts {
    /// Task ids started through the supervisor's test hook (`KAPACITORD_TEST_TASKS`).
    pub test_tasks: Vec<String>,
    /// TOML appended to the generated configuration.
    pub extra_config: String,
    /// `[http] shutdown-timeout` (default "5s").
    pub shutdown_timeout: Option<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Extra command-line arguments.
    pub args: Vec<String>,
    /// Reuse this directory (config, data, log) instead of a fresh temp dir.
    pub dir: Option<PathBuf>,
    /// Name the config file through `KAPACITOR_CONFIG_PATH` instead of `-config`.
    pub config_via_env: bool,
    /// HTTP port of the first attempt (default: a free port).
    pub http_port: Option<u16>,
    /// `RLIMIT_NOFILE` (soft and hard) of the daemon and so of all its processes.
    pub nofile: Option<u64>,
}

impl DaemonOpts {
    pub fn with_tasks(tasks: &[&str]) -> DaemonOpts {
        DaemonOpts {
            test_tasks: tasks.iter().map(|s| s.to_string()).collect(),
            ..DaemonOpts::default()
        }
    }
}

/// One row of `/kapacitor/v1/debug/processes`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcRow {
    pub role: String,
    pub task: Option<String>,
    pub pid: Option<u32>,
    pub state: String,
    pub restarts: u64,
    pub error: Option<String>,
    pub connected: Option<bool>,
}

impl ProcRow {
    fn from_json(v: &Value) -> ProcRow {
        ProcRow {
            role: v["role"].as_str().unwrap_or_default().to_string(),
            task: v["task"].as_str().map(str::to_string),
            pid: v["pid"].as_u64().map(|p| p as u32),
            state: v["state"].as_str().unwrap_or_default().to_string(),
            restarts: v["restarts"].as_u64().unwrap_or(0),
            error: v["error"].as_str().map(str::to_string),
            connected: v["connected"].as_bool(),
        }
    }
}

/// A running `kapacitord`. Dropping it stops it (SIGTERM, then SIGKILL) and kills anything
/// left of its process tree; if the test is panicking, the daemon's log is printed.
pub struct Daemon {
    child: Option<Child>,
    _tmp: Option<tempfile::TempDir>,
    dir: PathBuf,
    port: u16,
    known_children: Vec<u32>,
}

impl Daemon {
    /// Writes a configuration with a free HTTP port into a temp dir, starts `kapacitord`
    /// with it (in its own process group), and waits until ping answers. If another process
    /// grabbed the port in between, it starts over on a new port (up to three times).
    pub fn start(opts: DaemonOpts) -> Daemon {
        let (tmp, dir) = match &opts.dir {
            Some(d) => (None, d.clone()),
            None => {
                let t = tempfile::Builder::new()
                    .prefix("kapacitord-test-")
                    .tempdir()
                    .expect("temp dir");
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        let mut tmp = tmp;
        for attempt in 1..=3 {
            let port = match opts.http_port {
                Some(p) if attempt == 1 => p,
                _ => free_port(),
            };
            let mut d = Daemon::spawn(&opts, port, dir.clone(), tmp.take());
            match d.wait_ready() {
                Ok(()) => return d,
                Err(e) if attempt < 3 && e == PORT_TAKEN => {
                    tmp = d._tmp.take();
                    d.cleanup();
                    let _ = fs::remove_file(dir.join("kapacitord.log"));
                }
                Err(e) => panic!("{e}\n{}", d.diagnostics()),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    fn spawn(opts: &DaemonOpts, port: u16, dir: PathBuf, tmp: Option<tempfile::TempDir>) -> Daemon {
        // Gossip and RPC default to the fixed ports 9090/9091, which concurrent daemons would
        // fight over: listen on ephemeral loopback ports unless the test configures them.
        let mut listeners = String::new();
        for section in ["cluster", "rpc"] {
            if !opts.extra_config.contains(&format!("[{section}]")) {
                listeners.push_str(&format!("\n[{section}]\nbind-address = \"127.0.0.1:0\"\n"));
            }
        }
        let config = format!(
            "hostname = \"localhost\"\n\
             data_dir = \"{data}\"\n\
             \n[http]\n\
             bind-address = \"127.0.0.1:{port}\"\n\
             shutdown-timeout = \"{timeout}\"\n\
             \n[logging]\n\
             file = \"{log}\"\n\
             level = \"DEBUG\"\n\
             {listeners}\
             {extra}\n",
            data = dir.join("data").display(),
            log = dir.join("kapacitord.log").display(),
            timeout = opts.shutdown_timeout.as_deref().unwrap_or("5s"),
            extra = opts.extra_config,
        );
        let config_path = dir.join("kapacitor.conf");
        fs::write(&config_path, config).expect("writing the config");
        let mut cmd = Command::new(kapacitord_bin());
        cmd.env_remove("KAPACITORD_TEST_TASKS")
            .env_remove("KAPACITOR_CONFIG_PATH");
        if opts.config_via_env {
            cmd.env("KAPACITOR_CONFIG_PATH", &config_path);
        } else {
            cmd.arg("-config").arg(&config_path);
        }
        cmd.args(&opts.args)
            .stdin(Stdio::null())
            .stdout(log_file(&dir.join("stdout.log")))
            .stderr(log_file(&dir.join("stderr.log")));
        if !opts.test_tasks.is_empty() {
            cmd.env("KAPACITORD_TEST_TASKS", opts.test_tasks.join(","));
        }
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        if let Some(n) = opts.nofile {
            set_nofile_on_exec(&mut cmd, n);
        }
        let child = cmd.spawn().expect("spawning kapacitord");
        Daemon {
            child: Some(child),
            _tmp: tmp,
            dir,
            port,
            known_children: Vec::new(),
        }
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.try_exit_status() {
                return Err(format!("kapacitord exited during start-up ({status})"));
            }
            if self.log().contains("cannot listen for HTTP") {
                return Err(PORT_TAKEN.into());
            }
            // Short timeout: whoever holds a taken port may accept and never answer.
            let ping = format!("{}/kapacitor/v1/ping", self.url());
            if http::get_with_timeout(&ping, Duration::from_secs(1)).is_ok_and(|r| r.status == 204)
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("kapacitord did not answer ping in time".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The supervisor's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// The temp dir holding the config, `data/` and the log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("kapacitor.conf")
    }

    /// Everything the daemon logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("kapacitord.log")).unwrap_or_default()
    }

    pub fn try_get(&self, path: &str) -> Option<Response> {
        http::get(&format!("{}{path}", self.url())).ok()
    }

    /// GET `path` (e.g. `/kapacitor/v1/ping`); panics if the request fails.
    pub fn get(&self, path: &str) -> Response {
        http::get(&format!("{}{path}", self.url()))
            .unwrap_or_else(|e| panic!("GET {path}: {e}\n{}", self.diagnostics()))
    }

    pub fn head(&self, path: &str) -> Response {
        http::head(&format!("{}{path}", self.url()))
            .unwrap_or_else(|e| panic!("HEAD {path}: {e}\n{}", self.diagnostics()))
    }

    pub fn post(&self, path: &str, body: &str) -> Response {
        http::post(&format!("{}{path}", self.url()), body)
            .unwrap_or_else(|e| panic!("POST {path}: {e}\n{}", self.diagnostics()))
    }

    pub fn delete(&self, path: &str) -> Response {
        http::delete(&format!("{}{path}", self.url()))
            .unwrap_or_else(|e| panic!("DELETE {path}: {e}\n{}", self.diagnostics()))
    }

    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> Response {
        http::post_json(&format!("{}{path}", self.url()), &body.to_string())
            .unwrap_or_else(|e| panic!("POST {path}: {e}\n{}", self.diagnostics()))
    }

    pub fn patch_json(&self, path: &str, body: &serde_json::Value) -> Response {
        http::patch_json(&format!("{}{path}", self.url()), &body.to_string())
            .unwrap_or_else(|e| panic!("PATCH {path}: {e}\n{}", self.diagnostics()))
    }

    /// POSTs line protocol to `/kapacitor/v1/write`; panics unless the answer is 204.
    pub fn write(&self, db: &str, rp: &str, precision: &str, lines: &str) {
        let path = format!(
            "/kapacitor/v1/write?db={}&rp={}&precision={}",
            http::query_escape(db),
            http::query_escape(rp),
            http::query_escape(precision)
        );
        let r = self.post(&path, lines);
        assert_eq!(r.status, 204, "write: {}", r.body);
    }

    /// The task object (`GET /kapacitor/v1/tasks/<id>`); panics unless the answer is 200.
    pub fn task(&self, id: &str) -> Value {
        let r = self.get(&format!("/kapacitor/v1/tasks/{id}"));
        assert_eq!(r.status, 200, "GET task {id}: {}", r.body);
        r.json()
    }

    /// The process tree as the supervisor reports it, children only.
    pub fn children(&self) -> Vec<ProcRow> {
        let resp = self.get("/kapacitor/v1/debug/processes");
        assert_eq!(resp.status, 200, "debug/processes: {}", resp.body);
        resp.json()
            .as_array()
            .expect("debug/processes is a JSON list")
            .iter()
            .map(ProcRow::from_json)
            .filter(|r| r.role != "supervisor")
            .collect()
    }

    /// The row of a role (`gossipd`, `apid`) or task id; `None` also while apid is down.
    pub fn child(&self, role_or_task: &str) -> Option<ProcRow> {
        self.try_child(role_or_task)
    }

    /// Pid of a running child, waiting until it is running.
    pub fn running_pid(&self, role_or_task: &str) -> u32 {
        eventually(EVENTUALLY, &format!("{role_or_task} running"), || {
            let row = self.try_child(role_or_task)?;
            (row.state == "running").then_some(row.pid).flatten()
        })
    }

    fn try_child(&self, role_or_task: &str) -> Option<ProcRow> {
        let resp = self.try_get("/kapacitor/v1/debug/processes")?;
        if resp.status != 200 {
            return None;
        }
        let rows: Value = serde_json::from_str(&resp.body).ok()?;
        rows.as_array()?.iter().map(ProcRow::from_json).find(|r| {
            r.task.as_deref() == Some(role_or_task) || (r.task.is_none() && r.role == role_or_task)
        })
    }

    /// Live descendants of the supervisor, from /proc (remembered for cleanup).
    pub fn child_pids(&mut self) -> Vec<u32> {
        let pids = descendants(self.pid());
        for p in &pids {
            if !self.known_children.contains(p) {
                self.known_children.push(*p);
            }
        }
        pids
    }

    pub fn signal(&self, sig: Signal) {
        let _ = kill(Pid::from_raw(self.pid() as i32), sig);
    }

    fn try_exit_status(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Waits for the supervisor to exit; `None` if it is still running after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_exit_status() {
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Log, stdout and stderr, for failure messages.
    pub fn diagnostics(&self) -> String {
        let read = |n: &str| fs::read_to_string(self.dir.join(n)).unwrap_or_default();
        format!(
            "--- kapacitord.log ---\n{}\n--- stderr ---\n{}\n--- stdout ---\n{}",
            read("kapacitord.log"),
            read("stderr.log"),
            read("stdout.log")
        )
    }

    /// Stops the daemon like an operator would (SIGTERM) and returns its exit status.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        self.child_pids();
        self.signal(Signal::SIGTERM);
        let status = self.wait_exit(EVENTUALLY);
        self.cleanup();
        status
    }

    fn cleanup(&mut self) {
        let mut pids = self.known_children.clone();
        if let Some(mut child) = self.child.take() {
            pids.extend(descendants(child.id()));
            if child.try_wait().ok().flatten().is_none() {
                let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
                let deadline = Instant::now() + Duration::from_secs(15);
                while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
                let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            }
            let _ = child.wait();
        }
        for pid in pids {
            if pid_alive(pid) {
                let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.child_pids();
        }
        self.cleanup();
        if std::thread::panicking() {
            eprintln!("{}", self.diagnostics());
        }
    }
}

/// Gives the process `cmd` starts an `RLIMIT_NOFILE` of `n` (soft and hard).
pub fn set_nofile_on_exec(cmd: &mut Command, n: u64) {
    let lim = libc::rlimit {
        rlim_cur: n,
        rlim_max: n,
    };
    // SAFETY: setrlimit is async-signal-safe and only reads the struct copied into the closure.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(cmd, move || {
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn log_file(path: &Path) -> Stdio {
    fs::File::create(path)
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null())
}

/// Runs `kapacitord` with `args` to completion (for `config`, `version`, bad flags).
pub fn run_kapacitord(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(kapacitord_bin());
    cmd.args(args)
        .env_remove("KAPACITOR_CONFIG_PATH")
        .env_remove("KAPACITORD_TEST_TASKS")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("running kapacitord")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat_with_odd_comm() {
        let stat = "42 (kapd-task:a) b) S 7 42 42 0 -1";
        assert_eq!(proc_stat(stat), Some(('S', 7)));
    }

    #[test]
    fn own_process_is_alive_and_has_no_kapacitord_children() {
        assert!(pid_alive(std::process::id()));
        assert!(descendants(std::process::id()).is_empty());
    }
}
