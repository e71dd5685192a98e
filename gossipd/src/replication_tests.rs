//! Cluster alerting between real gossip processes' cores in one test process (real UDP/TCP
//! sockets and RPC): handler replication both ways, a late joiner receiving every handler,
//! notices and forwarded events reaching the owners' apid channel.

use crate::member::Status;
use crate::{Started, ops, rpc, start_full};
use kapacitor_config::Config;
use kapacitor_ipc::Message;
use std::time::Duration;

struct Node {
    s: Started,
    _dir: tempfile::TempDir,
}

async fn node() -> Node {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config {
        hostname: "127.0.0.1".into(),
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    cfg.cluster.bind_address = "127.0.0.1:0".into();
    cfg.rpc.bind_address = "127.0.0.1:0".into();
    let s = start_full(&cfg, rpc::PeerServices::default())
        .await
        .unwrap();
    Node { s, _dir: dir }
}

impl Node {
    async fn rpc_address(&self) -> String {
        self.s.handle.view().await.unwrap().members[0]
            .rpc_address
            .clone()
    }

    async fn id(&self) -> String {
        self.s.handle.view().await.unwrap().local_id.to_string()
    }

    fn handler_ids(&self) -> Vec<String> {
        match self.s.replication.handlers_message() {
            Message::ClusterHandlers { handlers, .. } => handlers
                .into_iter()
                .map(|h| format!("{}/{}", h.topic, h.id))
                .collect(),
            other => panic!("{other:?}"),
        }
    }
}

/// Polls until `pred` holds; fails the test after 20 s (a bound, not a timing assertion).
async fn until(what: &str, mut pred: impl AsyncFnMut() -> bool) {
    for _ in 0..2000 {
        if pred().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never happened: {what}");
}

async fn all_alive(nodes: &[&Node], n: usize) {
    until("all members alive", async || {
        for x in nodes {
            let v = x.s.handle.view().await.unwrap();
            if v.members.len() != n || v.members.iter().any(|m| m.status != Status::Alive) {
                return false;
            }
        }
        true
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_replicate_to_every_member_and_to_late_joiners() {
    let (a, b, c) = (node().await, node().await, node().await);
    for x in [&b, &c] {
        ops::add(&a.s.handle, &x.rpc_address().await).await.unwrap();
    }
    all_alive(&[&a, &b, &c], 3).await;

    let spec = r#"{"id":"h1","topic":"cpu","kind":"post","options":{"url":"http://x"}}"#;
    a.s.replication
        .put(&a.s.handle, "cpu", "h1", spec)
        .await
        .unwrap();
    until("c lists a's handler", async || {
        c.handler_ids() == ["cpu/h1"]
    })
    .await;
    c.s.replication
        .delete(&c.s.handle, "cpu", "h1")
        .await
        .unwrap();
    until("a drops c's delete", async || a.handler_ids().is_empty()).await;
    let e =
        a.s.replication
            .delete(&a.s.handle, "cpu", "h1")
            .await
            .unwrap_err();
    assert_eq!(e.status, 404);
    let e =
        a.s.replication
            .put(&a.s.handle, "cpu", "h", "[1]")
            .await
            .unwrap_err();
    assert_eq!(e.status, 400);

    b.s.replication
        .put(&b.s.handle, "mem", "h2", "{}")
        .await
        .unwrap();
    let d = node().await;
    ops::add(&a.s.handle, &d.rpc_address().await).await.unwrap();
    until("the new member has every handler", async || {
        d.handler_ids() == ["mem/h2"]
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_and_forwarded_events_reach_the_named_members() {
    let (a, b, c) = (node().await, node().await, node().await);
    for x in [&b, &c] {
        ops::add(&a.s.handle, &x.rpc_address().await).await.unwrap();
    }
    all_alive(&[&a, &b, &c], 3).await;
    let mut at_b = b.s.replication.subscribe();
    let mut at_c = c.s.replication.subscribe_forwards();

    let b_id = b.id().await;
    a.s.replication
        .done(&a.s.handle, std::slice::from_ref(&b_id), vec!["n1".into()])
        .await;
    a.s.replication
        .forward(&a.s.handle, &[c.id().await], "{\"id\":\"e\"}".into())
        .await;
    let got_b = tokio::time::timeout(Duration::from_secs(10), at_b.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        got_b,
        Message::ClusterAlertNotices {
            notices_json: vec!["n1".into()]
        }
    );
    let got_c = tokio::time::timeout(Duration::from_secs(10), at_c.recv())
        .await
        .unwrap()
        .expect("a forwarded event");
    assert_eq!(
        got_c,
        Message::ClusterAlertForwarded {
            from: a.id().await,
            event_json: "{\"id\":\"e\"}".into()
        }
    );
    // The same notice again is not news; c learns it from a full exchange.
    assert!(b.s.replication.merge_notices(vec!["n1".into()]).is_empty());
    c.s.replication.merge_sync(a.s.replication.sync_body());
    assert!(c.s.replication.merge_notices(vec!["n1".into()]).is_empty());
}

#[tokio::test]
async fn forwarded_events_are_not_lost_when_apid_lags() {
    let a = node().await;
    let mut rx = a.s.replication.subscribe_forwards();
    // More than the broadcast keeps for a lagging receiver: each one is an alert.
    for i in 0..10_000 {
        a.s.replication.forwarded(Message::ClusterAlertForwarded {
            from: "x".into(),
            event_json: format!("{i}"),
        });
    }
    for i in 0..10_000 {
        match rx.try_recv() {
            Ok(Message::ClusterAlertForwarded { event_json, .. }) => {
                assert_eq!(event_json, format!("{i}"))
            }
            other => panic!("forward {i}: {other:?}"),
        }
    }
}
