//! Helpers shared by the `cluster_*` black-box tests (included with `#[path = "support/..."]`): a member is a
//! daemon whose gossip and RPC ports are picked by the OS on 127.0.0.1 (port 0) and read back
//! from its own member list; `kapacitorctl` runs against it; `member list` output is parsed.
#![allow(dead_code)]

use kapacitor_tests::{Daemon, DaemonOpts, EVENTUALLY, binary, eventually};
use std::process::{Command, Output};

pub struct Member {
    pub daemon: Daemon,
    rpc: String,
}

/// The `[cluster]`/`[rpc]` sections of a member on loopback; `cluster_extra` is appended to
/// `[cluster]` (e.g. `encryption-key = "..."`).
pub fn cluster_config(ip: &str, cluster_extra: &str) -> String {
    format!(
        "\n[cluster]\nbind-address = \"{ip}:0\"\ngossip-sync-interval = \"2s\"\n{cluster_extra}\n\
         \n[rpc]\nbind-address = \"{ip}:0\"\n"
    )
}

impl Member {
    pub fn start(cluster_extra: &str) -> Member {
        Member::start_with(DaemonOpts::default(), cluster_extra)
    }

    pub fn start_with(opts: DaemonOpts, cluster_extra: &str) -> Member {
        Member::start_at("127.0.0.1", opts, cluster_extra)
    }

    /// A member whose gossip and RPC listen on `ip` (an address of a test network namespace).
    pub fn start_at(ip: &str, mut opts: DaemonOpts, cluster_extra: &str) -> Member {
        opts.extra_config
            .push_str(&cluster_config(ip, cluster_extra));
        let daemon = Daemon::start(opts);
        let rpc = Member::wait_rpc(&daemon);
        Member { daemon, rpc }
    }

    /// Waits for gossipd to answer and returns this member's RPC address.
    fn wait_rpc(d: &Daemon) -> String {
        eventually(EVENTUALLY, "gossipd serving the member list", || {
            let r = d.try_get("/kapacitor/v1/cluster/members")?;
            if r.status != 200 {
                return None;
            }
            let j = r.json();
            let local = j["local_member_id"].as_str()?.to_string();
            j["members"]
                .as_array()?
                .iter()
                .find(|m| m["id"] == local.as_str())
                .and_then(|m| m["rpc_address"].as_str().map(str::to_string))
        })
    }

    pub fn rpc_address(&self) -> String {
        self.rpc.clone()
    }

    pub fn url(&self) -> String {
        self.daemon.url()
    }
}

/// Runs `kapacitorctl -url <member> args...`.
pub fn ctl(m: &Member, args: &[&str]) -> Output {
    Command::new(binary("kapacitorctl"))
        .arg("-url")
        .arg(m.url())
        .args(args)
        .env_remove("KAPACITOR_URL")
        .output()
        .expect("running kapacitorctl")
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub id: String,
    pub gossip: String,
    pub rpc: String,
    pub api: String,
    pub roles: String,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    pub state: String,
    pub cluster_id: String,
    pub local_id: String,
    pub rows: Vec<Row>,
}

/// Parses `kapacitorctl member list` output; panics (with the text) on another layout.
pub fn parse_listing(text: &str) -> Listing {
    let mut lines = text.lines();
    let mut field = |name: &str| {
        let l = lines.next().unwrap_or_default();
        l.strip_prefix(name)
            .unwrap_or_else(|| panic!("expected {name:?} in:\n{text}"))
            .trim()
            .to_string()
    };
    let state = field("State:");
    let cluster_id = field("Cluster ID:");
    let local_id = field("Local Member ID:");
    let header = lines.next().unwrap_or_default();
    assert!(
        header.starts_with("Member ID") && header.ends_with("Roles  Status"),
        "header in:\n{text}"
    );
    let rows = lines
        .map(|l| {
            let c: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(c.len(), 6, "row {l:?} in:\n{text}");
            Row {
                id: c[0].into(),
                gossip: c[1].into(),
                rpc: c[2].into(),
                api: c[3].into(),
                roles: c[4].into(),
                status: c[5].into(),
            }
        })
        .collect();
    Listing {
        state,
        cluster_id,
        local_id,
        rows,
    }
}

/// `kapacitorctl member list` on `m`, parsed.
pub fn listing(m: &Member) -> Listing {
    let out = ctl(m, &["member", "list"]);
    assert!(out.status.success(), "member list failed: {out:?}");
    parse_listing(&String::from_utf8_lossy(&out.stdout))
}

/// The member list through the API, without kapacitorctl (for tight polling loops).
pub fn try_listing(m: &Member) -> Option<Listing> {
    let r = m.daemon.try_get("/kapacitor/v1/cluster/members")?;
    if r.status != 200 {
        return None;
    }
    let j = r.json();
    let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    Some(Listing {
        state: s(&j["state"]),
        cluster_id: s(&j["cluster_id"]),
        local_id: s(&j["local_member_id"]),
        rows: j["members"]
            .as_array()?
            .iter()
            .map(|m| Row {
                id: s(&m["id"]),
                gossip: s(&m["gossip_address"]),
                rpc: s(&m["rpc_address"]),
                api: s(&m["api_address"]),
                roles: m["roles"]
                    .as_array()
                    .map(|r| r.iter().map(s).collect::<Vec<_>>().join(","))
                    .unwrap_or_default(),
                status: s(&m["status"]),
            })
            .collect(),
    })
}

/// Status of member `id` as `on` sees it (`None`: not listed).
pub fn status_on(on: &Member, id: &str) -> Option<String> {
    try_listing(on)?
        .rows
        .into_iter()
        .find(|r| r.id == id)
        .map(|r| r.status)
}

/// Waits until every member lists exactly these members, all alive, one cluster id,
/// state initialized.
pub fn wait_converged(members: &[&Member]) {
    let ids: Vec<String> = members
        .iter()
        .map(|m| try_listing(m).expect("member list").local_id)
        .collect();
    eventually(EVENTUALLY, "every member lists every other, alive", || {
        let mut cluster = None;
        for m in members {
            let l = try_listing(m)?;
            if l.state != "initialized" || l.rows.len() != ids.len() {
                return None;
            }
            if !ids
                .iter()
                .all(|id| l.rows.iter().any(|r| &r.id == id && r.status == "alive"))
            {
                return None;
            }
            if *cluster.get_or_insert(l.cluster_id.clone()) != l.cluster_id {
                return None;
            }
        }
        Some(())
    });
}
