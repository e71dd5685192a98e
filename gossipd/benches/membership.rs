//! Membership benchmarks on loopback, N real gossip nodes in one process (real UDP/TCP
//! sockets, real RPC `member add`): join convergence, failure detection, bytes at rest.
//!
//! `cargo bench -p kapacitor-gossipd --bench membership` (release). Prints one line per
//! cluster size; BENCHMARKS.md records the results.

use kapacitor_config::Config;
use kapacitor_gossipd::member::Status;
use kapacitor_gossipd::node::{Handle, gossip_bytes_sent};
use kapacitor_gossipd::{ops, rpc};
use std::time::{Duration, Instant};

struct Node {
    handle: Handle,
    driver: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

async fn start_node() -> Node {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config {
        hostname: "127.0.0.1".into(),
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    cfg.cluster.bind_address = "127.0.0.1:0".into();
    cfg.rpc.bind_address = "127.0.0.1:0".into();
    let (handle, driver) = kapacitor_gossipd::start(&cfg, rpc::PeerServices::default())
        .await
        .unwrap();
    Node {
        handle,
        driver,
        _dir: dir,
    }
}

async fn rpc_address(n: &Node) -> String {
    let v = n.handle.view().await.unwrap();
    v.members[0].rpc_address.clone()
}

/// Polls every 10 ms until `pred` holds for the views of `nodes`; returns the time it took.
async fn until(
    nodes: &[&Node],
    pred: impl Fn(&[kapacitor_gossipd::membership::View]) -> bool,
) -> Duration {
    let t0 = Instant::now();
    loop {
        let mut views = Vec::new();
        for n in nodes {
            views.push(n.handle.view().await.unwrap());
        }
        if pred(&views) {
            return t0.elapsed();
        }
        if t0.elapsed() > Duration::from_secs(120) {
            panic!("no convergence after 120 s");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn run(n: usize) -> (Duration, Duration, f64) {
    let mut nodes = Vec::new();
    for _ in 0..n {
        nodes.push(start_node().await);
    }
    for i in 1..n {
        let addr = rpc_address(&nodes[i]).await;
        ops::add(&nodes[0].handle, &addr).await.unwrap();
    }
    let all: Vec<&Node> = nodes.iter().collect();
    let join = until(&all, |vs| {
        vs.iter()
            .all(|v| v.members.len() == n && v.members.iter().all(|m| m.status == Status::Alive))
    })
    .await;

    // At rest: bytes over 10 s, per member.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let b0 = gossip_bytes_sent();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let per_member = (gossip_bytes_sent() - b0) as f64 / 10.0 / n as f64;

    // Failure: the last node stops answering (its driver and sockets go away).
    let victim = nodes.pop().unwrap();
    let victim_id = victim.handle.view().await.unwrap().local_id;
    victim.driver.abort();
    drop(victim);
    let survivors: Vec<&Node> = nodes.iter().collect();
    let detect = until(&survivors, |vs| {
        vs.iter().all(|v| {
            v.members
                .iter()
                .any(|m| m.id == victim_id && m.status == Status::Dead)
        })
    })
    .await;
    for n in nodes {
        n.driver.abort();
    }
    (join, detect, per_member)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![3, 5, 10]
    } else {
        sizes
    };
    println!(
        "members  join convergence  failure detection (all survivors)  gossip B/s per member at rest"
    );
    for n in sizes {
        let (join, detect, bps) = rt.block_on(run(n));
        println!(
            "{n:>7}  {:>16.3}s  {:>33.2}s  {bps:>29.0}",
            join.as_secs_f64(),
            detect.as_secs_f64()
        );
    }
}
