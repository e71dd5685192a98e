//! Cluster alerting across a real network partition: three members, each in its own network
//! namespace on a bridge; the first owner of the topic is cut off while events keep coming.
//! Nothing is lost on either side (each side delivers what it has: duplicates are the price),
//! and handlers defined on both sides during the split are everywhere after the heal.
//!
//! Every namespace has its own loopback, so one capture endpoint per namespace on the same
//! port makes the one replicated handler URL reach a local endpoint on every member.
//! Needs root and `ip netns`; without them the test says why and passes vacuously.

#[path = "support/alerting_helpers.rs"]
mod alerting_helpers;
#[path = "support/cluster_helpers.rs"]
mod cluster_helpers;
#[path = "../../alert/src/cluster/ownership.rs"]
#[allow(dead_code)]
mod ownership;

use alerting_helpers::{TOPICS, enable_task, topic_events};
use cluster_helpers::{Listing, Member, ctl, try_listing};
use kapacitor_tests::{DaemonOpts, EVENTUALLY, eventually, free_port};
use nix::libc;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ALERT: &str = "\n[alert]\nredundancy = 2\ndelay-per-member = \"2s\"\n";
const SCRIPT: &str = "stream\n|from().measurement('cpu')\n|alert()\n.id('{{ index .Tags \"n\" }}')\n.crit(lambda: \"value\" > 0)\n.topic('cpu')\n";

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The namespaces of one run, as in `cluster_partition.rs` (another subnet, so both tests
/// can run at once); dropping it deletes them.
struct Net {
    hub: String,
    members: Vec<String>,
}

impl Net {
    fn member_ip(i: usize) -> String {
        format!("10.198.{}.{}", std::process::id() % 250, i + 1)
    }

    fn create(n: usize) -> Result<Net, String> {
        let tag = std::process::id();
        let net = Net {
            hub: format!("ka{tag}hub"),
            members: (0..n).map(|i| format!("ka{tag}m{i}")).collect(),
        };
        ip(&["netns", "add", &net.hub])?;
        let hub = net.hub.clone();
        ip(&["-n", &hub, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &hub, "link", "set", "br0", "up"])?;
        for (i, ns) in net.members.iter().enumerate() {
            ip(&["netns", "add", ns])?;
            let (h, m) = (format!("h{i}"), format!("m{i}"));
            ip(&[
                "-n", &hub, "link", "add", &h, "type", "veth", "peer", "name", &m, "netns", ns,
            ])?;
            ip(&["-n", &hub, "link", "set", &h, "master", "br0", "up"])?;
            let addr = format!("{}/24", Net::member_ip(i));
            ip(&["-n", ns, "addr", "add", &addr, "dev", &m])?;
            ip(&["-n", ns, "link", "set", &m, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(net)
    }

    fn set_link(&self, i: usize, up: bool) {
        let state = if up { "up" } else { "down" };
        ip(&["-n", &self.hub, "link", "set", &format!("h{i}"), state]).expect("switching a link");
    }

    /// Runs `f` with this thread inside member `i`'s namespace (sockets and processes made
    /// by `f` stay there).
    fn within<T>(&self, i: usize, f: impl FnOnce() -> T) -> T {
        let home = File::open("/proc/thread-self/ns/net").expect("own netns");
        let target = File::open(format!("/var/run/netns/{}", self.members[i])).expect("netns");
        // SAFETY: setns on this thread with valid namespace fds; switched back below.
        assert_eq!(
            unsafe { libc::setns(target.as_raw_fd(), libc::CLONE_NEWNET) },
            0
        );
        let out = f();
        assert_eq!(
            unsafe { libc::setns(home.as_raw_fd(), libc::CLONE_NEWNET) },
            0
        );
        out
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in self.members.iter().chain([&self.hub]) {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

/// A capture endpoint on `127.0.0.1:<port>` of the namespace it is started in: records the
/// bodies posted to it, answers 200.
struct Capture {
    url: String,
    bodies: Arc<Mutex<Vec<String>>>,
}

impl Capture {
    fn start(port: u16) -> Capture {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the endpoint");
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let recorded = bodies.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let recorded = recorded.clone();
                std::thread::spawn(move || {
                    let Ok(mut w) = stream.try_clone() else {
                        return;
                    };
                    let mut r = BufReader::new(stream);
                    // Keep-alive: one connection may carry many requests.
                    loop {
                        let mut len = 0usize;
                        let mut l = String::new();
                        if r.read_line(&mut l).unwrap_or(0) == 0 {
                            return;
                        }
                        loop {
                            l.clear();
                            if r.read_line(&mut l).unwrap_or(0) == 0 {
                                return;
                            }
                            let t = l.trim_end();
                            if t.is_empty() {
                                break;
                            }
                            if let Some((k, v)) = t.split_once(':')
                                && k.eq_ignore_ascii_case("content-length")
                            {
                                len = v.trim().parse().unwrap_or(0);
                            }
                        }
                        let mut body = vec![0; len];
                        if r.read_exact(&mut body).is_err() {
                            return;
                        }
                        recorded
                            .lock()
                            .unwrap()
                            .push(String::from_utf8_lossy(&body).into_owned());
                        let ok = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                        if w.write_all(ok.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Capture {
            url: format!("http://127.0.0.1:{port}"),
            bodies,
        }
    }

    fn bodies(&self) -> Vec<String> {
        self.bodies.lock().unwrap().clone()
    }
}

fn status(l: &Listing, id: &str) -> Option<String> {
    l.rows.iter().find(|r| r.id == id).map(|r| r.status.clone())
}

fn line(i: usize) -> String {
    let base = 1_600_000_000_000_000_000i64;
    format!("cpu,n=e{i} value=1 {}", base + i as i64 * 1_000_000_000)
}

#[test]
fn partitioned_owner_loses_nothing_and_handlers_converge_after_the_heal() {
    let net = match Net::create(3) {
        Ok(n) => n,
        Err(e) => {
            println!("SKIPPED: cannot create network namespaces ({e}); needs root and iproute2");
            return;
        }
    };
    let ms: Vec<Member> = (0..3)
        .map(|i| {
            let opts = DaemonOpts {
                extra_config: ALERT.into(),
                ..DaemonOpts::default()
            };
            net.within(i, || Member::start_at(&Net::member_ip(i), opts, ""))
        })
        .collect();
    let port = free_port();
    let endpoints: Vec<Capture> = (0..3)
        .map(|i| net.within(i, || Capture::start(port)))
        .collect();
    let ids: Vec<String> = (0..3)
        .map(|i| net.within(i, || try_listing(&ms[i]).expect("member list").local_id))
        .collect();
    for m in &ms[1..] {
        let rpc = m.rpc_address();
        let out = net.within(0, || ctl(&ms[0], &["member", "add", &rpc]));
        assert!(out.status.success(), "{out:?}");
    }
    let on = |i: usize, path: &str| net.within(i, || ms[i].daemon.try_get(path));
    let alert_members = |i: usize| -> Option<u64> {
        let r = on(i, "/kapacitor/v1/debug/vars")?;
        let v: Value = serde_json::from_str(&r.body).ok()?;
        v["kapacitor"]["alert"]["values"]["members"].as_u64()
    };
    for i in 0..3 {
        eventually(EVENTUALLY, "cluster alerting sees three members", || {
            (alert_members(i) == Some(3)).then_some(())
        });
    }
    let hook = json!({"id": "hook", "kind": "post", "options": {"url": endpoints[0].url}});
    let r = net.within(0, || {
        ms[0]
            .daemon
            .post_json(&format!("{TOPICS}/cpu/handlers"), &hook)
    });
    assert_eq!(r.status, 200, "{}", r.body);
    let has = |i: usize, id: &str| {
        on(i, &format!("{TOPICS}/cpu/handlers/{id}")).is_some_and(|r| r.status == 200)
    };
    for (i, m) in ms.iter().enumerate() {
        eventually(EVENTUALLY, "hook on every member", || {
            has(i, "hook").then_some(())
        });
        net.within(i, || enable_task(&m.daemon, "cpu_alert", SCRIPT, "db"));
    }
    let write = |range: std::ops::Range<usize>, to: &[usize]| {
        let body: Vec<String> = range.map(line).collect();
        for i in to {
            net.within(*i, || {
                ms[*i].daemon.write("db", "autogen", "ns", &body.join("\n"))
            });
        }
    };
    write(0..50, &[0, 1, 2]);
    // Settled before the split: every owner's wait over, so any duplicate of these would be
    // a dedup failure and not an event in flight at the cut.
    eventually(EVENTUALLY, "the first events delivered", || {
        let n: usize = endpoints.iter().map(|e| e.bodies().len()).sum();
        (n >= 50).then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));

    // Cut off the first owner of `cpu`; both sides see the split.
    let primary = ids
        .iter()
        .position(|m| *m == ownership::owners("cpu", &ids, 2)[0])
        .unwrap();
    let rest: Vec<usize> = (0..3).filter(|i| *i != primary).collect();
    net.set_link(primary, false);
    eventually(EVENTUALLY, "the split seen on both sides", || {
        let l = net.within(primary, || try_listing(&ms[primary]))?;
        let r = net.within(rest[0], || try_listing(&ms[rest[0]]))?;
        (status(&l, &ids[rest[0]]).as_deref() == Some("dead")
            && status(&r, &ids[primary]).as_deref() == Some("dead"))
        .then_some(())
    });
    // Events keep coming to every member, and each side defines a handler.
    write(50..100, &[0, 1, 2]);
    let log = |id: &str| json!({"id": id, "kind": "log", "options": {"path": "/dev/null"}});
    for (i, id) in [(primary, "cut-off"), (rest[0], "majority")] {
        let r = net.within(i, || {
            ms[i]
                .daemon
                .post_json(&format!("{TOPICS}/cpu/handlers"), &log(id))
        });
        assert_eq!(r.status, 200, "{}", r.body);
    }

    net.set_link(primary, true);
    for i in 0..3 {
        eventually(
            EVENTUALLY,
            "both handlers on every member after the heal",
            || (has(i, "hook") && has(i, "cut-off") && has(i, "majority")).then_some(()),
        );
    }
    let delivered = || {
        let mut per_id: HashMap<String, usize> = HashMap::new();
        for e in &endpoints {
            for b in e.bodies() {
                let v: Value = serde_json::from_str(&b).expect("alert JSON");
                *per_id
                    .entry(v["id"].as_str().unwrap_or_default().into())
                    .or_default() += 1;
            }
        }
        per_id
    };
    eventually(EVENTUALLY, "every event delivered", || {
        let d = delivered();
        (0..100)
            .all(|i| d.contains_key(&format!("e{i}")))
            .then_some(())
    });
    // Every owner's wait is over: before the split nothing was delivered twice.
    std::thread::sleep(Duration::from_secs(3));
    let got = delivered();
    assert!(
        got.keys().all(|k| (0..100).any(|i| *k == format!("e{i}"))),
        "{got:?}"
    );
    let before: Vec<_> = (0..50)
        .filter(|i| got.get(&format!("e{i}")).is_some_and(|n| *n > 1))
        .collect();
    assert!(before.is_empty(), "duplicated before the split: {before:?}");
    // Topic states converge: what each side delivered during the split reaches the other
    // (the full exchange with a member that became alive again carries the notices).
    let want: Vec<String> = {
        let mut v: Vec<String> = (0..100).map(|i| format!("e{i}")).collect();
        v.sort();
        v
    };
    for (i, m) in ms.iter().enumerate() {
        eventually(EVENTUALLY, "the same topic events on every member", || {
            let ev = net.within(i, || topic_events(&m.daemon, "cpu"))?;
            let ids: Vec<String> = ev.into_iter().map(|(id, _)| id).collect();
            (ids == want).then_some(())
        });
    }
    drop(ms);
}
