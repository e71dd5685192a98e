//! Subscription sync against a real influxd.

mod common;

use common::Influxd;
use kapacitor_config::{InfluxDbConfig, SubscriptionMode};
use kapacitor_influxdb::{
    Client, ClientConfig, Member, PointSink, SubKey, SubscriptionConfig, Subscriptions,
    run_sync_loop,
};
use kapacitor_models::Point;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

const CID: &str = "11111111-1111-1111-1111-111111111111";
const SID: &str = "22222222-2222-2222-2222-222222222222";

fn member() -> Member {
    Member {
        cluster_id: CID.into(),
        server_id: SID.into(),
        ..Member::default()
    }
}

fn sub_config(mode: SubscriptionMode) -> SubscriptionConfig {
    let c = InfluxDbConfig {
        subscription_mode: mode,
        ..InfluxDbConfig::default()
    };
    SubscriptionConfig::from_config(&c, "kap1.example", 9092).unwrap()
}

/// (db, rp, name, destinations) of every subscription.
type Row = (String, String, String, Vec<String>);

async fn list(c: &Client) -> BTreeSet<Row> {
    try_list(c).await.expect("SHOW SUBSCRIPTIONS")
}

async fn try_list(c: &Client) -> Option<BTreeSet<Row>> {
    let res = c.query("", "SHOW SUBSCRIPTIONS").await.ok()?;
    let mut out = BTreeSet::new();
    for s in &res[0].series {
        for v in &s.values {
            let dests = v[3]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_str().unwrap().to_string())
                .collect();
            out.insert((
                s.name.clone(),
                v[0].as_str().unwrap().to_string(),
                v[1].as_str().unwrap().to_string(),
                dests,
            ));
        }
    }
    Some(out)
}

fn row(db: &str, rp: &str, name: &str, dest: &str) -> Row {
    (db.into(), rp.into(), name.into(), vec![dest.into()])
}

fn key(db: &str, rp: &str, name: &str) -> SubKey {
    SubKey {
        db: db.into(),
        rp: rp.into(),
        name: name.into(),
    }
}

const OURS: &str = "kapacitor-11111111-1111-1111-1111-111111111111";
const DEST: &str = "http://kap1.example:9092";

async fn setup() -> (Influxd, Client) {
    let influx = Influxd::start();
    let c = Client::new(&ClientConfig::for_url(&influx.url())).unwrap();
    for db in ["_kapacitor", "telegraf", "app"] {
        c.create_database(db).await.unwrap();
    }
    c.create_retention_policy("telegraf", "weekly", "7d", 1, false)
        .await
        .unwrap();
    (influx, c)
}

#[tokio::test]
async fn sync_creates_ours_everywhere_but_excluded_and_is_idempotent() {
    let (_influx, c) = setup().await;
    let subs = Subscriptions::new(c.clone(), sub_config(SubscriptionMode::Cluster));
    let r = subs.sync(&member()).await.unwrap();
    assert_eq!(r.name, OURS);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let want: BTreeSet<Row> = [
        row("app", "autogen", OURS, DEST),
        row("telegraf", "autogen", OURS, DEST),
        row("telegraf", "weekly", OURS, DEST),
    ]
    .into();
    assert_eq!(list(&c).await, want);
    assert_eq!(r.created.len(), 3);

    // Nothing to do the second time.
    let r = subs.sync(&member()).await.unwrap();
    assert!(r.created.is_empty() && r.dropped.is_empty(), "{r:?}");
    assert_eq!(r.kept.len(), 3);
    assert_eq!(list(&c).await, want);

    // A new database is picked up at the next sync.
    c.create_database("newdb").await.unwrap();
    let r = subs.sync(&member()).await.unwrap();
    assert_eq!(r.created, [key("newdb", "autogen", OURS)]);
    assert!(
        list(&c)
            .await
            .contains(&row("newdb", "autogen", OURS, DEST))
    );
}

#[tokio::test]
async fn changed_destination_is_replaced_and_foreign_ones_are_left_alone() {
    let (_influx, c) = setup().await;
    for q in [
        format!(
            "CREATE SUBSCRIPTION \"{OURS}\" ON \"app\".\"autogen\" DESTINATIONS ANY 'http://oldhost:9092'"
        ),
        "CREATE SUBSCRIPTION \"telegraf-out\" ON \"app\".\"autogen\" DESTINATIONS ALL 'http://elsewhere:1234'".into(),
        "CREATE SUBSCRIPTION \"kapacitor-33333333-3333-3333-3333-333333333333\" ON \"app\".\"autogen\" DESTINATIONS ANY 'http://other-kapacitor:9092'".into(),
    ] {
        c.query("", &q).await.unwrap();
    }
    let subs = Subscriptions::new(c.clone(), sub_config(SubscriptionMode::Cluster));
    let r = subs.sync(&member()).await.unwrap();
    assert!(r.dropped.contains(&key("app", "autogen", OURS)), "{r:?}");
    let now = list(&c).await;
    assert!(now.contains(&row("app", "autogen", OURS, DEST)), "{now:?}");
    assert!(!now.iter().any(|r| r.3 == ["http://oldhost:9092"]));
    assert!(now.contains(&row(
        "app",
        "autogen",
        "telegraf-out",
        "http://elsewhere:1234"
    )));
    assert!(now.contains(&row(
        "app",
        "autogen",
        "kapacitor-33333333-3333-3333-3333-333333333333",
        "http://other-kapacitor:9092"
    )));
}

#[tokio::test]
async fn stale_subscriptions_of_this_member_are_dropped() {
    let (_influx, c) = setup().await;
    // Rule 1: named after an ID this member had before (destination elsewhere, e.g. the
    // member also changed its hostname). Rule 2: another name but exactly our destination
    // (the earlier ID was lost with the data dir).
    for q in [
        "CREATE SUBSCRIPTION \"kapacitor-old-id\" ON \"telegraf\".\"autogen\" DESTINATIONS ANY 'http://previous-host:9092'",
        "CREATE SUBSCRIPTION \"kapacitor-lost-id\" ON \"telegraf\".\"weekly\" DESTINATIONS ANY 'http://kap1.example:9092'",
    ] {
        c.query("", q).await.unwrap();
    }
    let subs = Subscriptions::new(c.clone(), sub_config(SubscriptionMode::Cluster));
    let m = Member {
        stale_ids: vec!["old-id".into()],
        ..member()
    };
    let r = subs.sync(&m).await.unwrap();
    let dropped: BTreeSet<_> = r.dropped.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(dropped, ["kapacitor-lost-id", "kapacitor-old-id"].into());
    assert!(list(&c).await.iter().all(|r| r.2 == OURS));
    assert_eq!(list(&c).await.len(), 3);

    // Leaving the cluster: everything of ours goes.
    let r = subs.remove_all_ours(&m).await.unwrap();
    assert_eq!(r.dropped.len(), 3);
    assert!(list(&c).await.is_empty());
}

#[tokio::test]
async fn server_mode_names_by_server_id_and_legacy_names_are_renamed() {
    let (_influx, c) = setup().await;
    c.query(
        "",
        "CREATE SUBSCRIPTION \"kapacitor\" ON \"app\".\"autogen\" DESTINATIONS ANY 'http://kap1.example:9092'",
    )
    .await
    .unwrap();
    let subs = Subscriptions::new(c.clone(), sub_config(SubscriptionMode::Server));
    let r = subs.sync(&member()).await.unwrap();
    let name = format!("kapacitor-{SID}");
    assert_eq!(r.name, name);
    assert_eq!(r.renamed, [key("app", "autogen", "kapacitor")]);
    let now = list(&c).await;
    assert_eq!(now.len(), 3);
    assert!(now.iter().all(|r| r.2 == name && r.3 == [DEST]), "{now:?}");
}

#[tokio::test]
async fn subscriptions_and_exclusions_filter_what_is_wanted() {
    let (_influx, c) = setup().await;
    let mut cfg = sub_config(SubscriptionMode::Cluster);
    cfg.subscriptions = [(
        "telegraf".to_string(),
        vec!["autogen".to_string(), "weekly".to_string()],
    )]
    .into();
    cfg.excluded
        .insert("telegraf".into(), vec!["weekly".into()]);
    let subs = Subscriptions::new(c.clone(), cfg);
    subs.sync(&member()).await.unwrap();
    assert_eq!(
        list(&c).await,
        [row("telegraf", "autogen", OURS, DEST)].into()
    );
    // Ours on an (db, rp) that is no longer wanted is dropped.
    let all = Subscriptions::new(c.clone(), sub_config(SubscriptionMode::Cluster));
    all.sync(&member()).await.unwrap();
    assert_eq!(list(&c).await.len(), 3);
    let r = subs.sync(&member()).await.unwrap();
    assert_eq!(r.dropped.len(), 2);
    assert_eq!(list(&c).await.len(), 1);
}

#[tokio::test]
async fn cluster_mode_sends_to_every_member() {
    let (_influx, c) = setup().await;
    let subs = Subscriptions::new(c.clone(), sub_config(SubscriptionMode::Cluster));
    let m = Member {
        peer_destinations: vec!["http://kap2.example:9092".into()],
        ..member()
    };
    subs.sync(&m).await.unwrap();
    let now = list(&c).await;
    assert!(
        now.iter()
            .all(|r| r.3 == ["http://kap1.example:9092", "http://kap2.example:9092"])
    );
    // The peer left: the subscription is recreated without it.
    let r = subs.sync(&member()).await.unwrap();
    assert_eq!(r.created.len(), 3);
    assert!(list(&c).await.iter().all(|r| r.3 == [DEST]));
}

#[tokio::test]
async fn udp_subscriptions_deliver_points_to_the_sink() {
    let (_influx, c) = setup().await;
    let mut cfg = sub_config(SubscriptionMode::Cluster);
    cfg.protocol = kapacitor_influxdb::Protocol::Udp;
    cfg.hostname = "127.0.0.1".into();
    cfg.udp_bind = "127.0.0.1".into();
    let got: Arc<Mutex<Vec<(String, String, Point)>>> = Arc::default();
    let g = got.clone();
    let sink: PointSink = Arc::new(move |db, rp, pts| {
        g.lock()
            .unwrap()
            .extend(pts.into_iter().map(|p| (db.to_string(), rp.to_string(), p)));
    });
    let subs = Subscriptions::new(c.clone(), cfg).with_udp_sink(sink);
    subs.sync(&member()).await.unwrap();
    assert_eq!(subs.udp_listener_count().await, 3);
    let port = subs.udp_port("app", "autogen").await.unwrap();
    assert!(list(&c).await.contains(&row(
        "app",
        "autogen",
        OURS,
        &format!("udp://127.0.0.1:{port}")
    )));
    // Idempotent: the same listeners, nothing recreated.
    let r = subs.sync(&member()).await.unwrap();
    assert!(r.created.is_empty(), "{r:?}");
    assert_eq!(subs.udp_port("app", "autogen").await, Some(port));

    c.write_lines(
        "app",
        "",
        kapacitor_models::Precision::Nanosecond,
        "",
        b"cpu,host=a value=42 1000000000\n".to_vec(),
    )
    .await
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while got.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = got.lock().unwrap();
    assert_eq!(got.len(), 1, "InfluxDB did not deliver over UDP");
    assert_eq!((got[0].0.as_str(), got[0].1.as_str()), ("app", "autogen"));
    assert_eq!(got[0].2.name, "cpu");
    assert_eq!(got[0].2.time, 1_000_000_000);
}

/// Polls the subscriptions until `pred` holds (true) or 10 s passed (false).
async fn wait_for(c: &Client, pred: impl Fn(&BTreeSet<Row>) -> bool) -> bool {
    for _ in 0..200 {
        if try_list(c).await.is_some_and(|s| pred(&s)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn sync_loop_survives_a_down_influxdb_and_picks_up_new_databases() {
    let (mut influx, c) = setup().await;
    let mut cfg = sub_config(SubscriptionMode::Cluster);
    cfg.sync_interval = Duration::from_millis(200);
    cfg.startup_timeout = Duration::from_secs(30);
    let subs = Arc::new(Subscriptions::new(c.clone(), cfg));
    let (member_tx, member_rx) = watch::channel(member());
    // A member that never changes: the loop must keep syncing on its interval.
    drop(member_tx);
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(run_sync_loop(subs.clone(), member_rx, stop_rx));

    assert!(wait_for(&c, |s| s.len() == 3).await);

    influx.stop();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        !task.is_finished(),
        "the loop must survive InfluxDB going away"
    );
    influx.restart();
    c.create_database("later").await.unwrap();
    assert!(wait_for(&c, |s| s.contains(&row("later", "autogen", OURS, DEST))).await);

    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("loop stops on shutdown")
        .unwrap();
}

/// Accepts one HTTP request and returns its request line and body.
async fn one_request(l: tokio::net::TcpListener) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut s, _) = l.accept().await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await.unwrap();
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len || n == 0 {
                let _ = s
                    .write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                    .await;
                let line = text.lines().next().unwrap_or_default().to_string();
                return (line, text[end + 4..].to_string());
            }
        }
        if n == 0 {
            panic!("connection closed before a full request: {text:?}");
        }
    }
}

#[tokio::test]
async fn influxdb_posts_writes_to_the_http_destination() {
    let (_influx, c) = setup().await;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut cfg = sub_config(SubscriptionMode::Server);
    cfg.hostname = "127.0.0.1".into();
    cfg.http_port = l.local_addr().unwrap().port();
    cfg.path = "/kapacitor/v1".into();
    cfg.subscriptions = [("app".to_string(), vec!["autogen".to_string()])].into();
    let subs = Subscriptions::new(c.clone(), cfg);
    subs.sync(&member()).await.unwrap();
    let got = tokio::spawn(one_request(l));
    c.write_lines(
        "app",
        "",
        kapacitor_models::Precision::Nanosecond,
        "",
        b"cpu value=7 5\n".to_vec(),
    )
    .await
    .unwrap();
    let (line, body) = tokio::time::timeout(Duration::from_secs(10), got)
        .await
        .expect("InfluxDB did not post to the subscription")
        .unwrap();
    assert!(
        line.starts_with("POST /kapacitor/v1/write?"),
        "request line {line:?}"
    );
    assert!(
        line.contains("db=app") && line.contains("rp=autogen"),
        "{line}"
    );
    assert_eq!(body.trim(), "cpu value=7 5");
}

#[tokio::test]
async fn new_cluster_id_replaces_the_old_subscriptions_without_leaking() {
    let (_influx, c) = setup().await;
    let mut cfg = sub_config(SubscriptionMode::Cluster);
    cfg.sync_interval = Duration::ZERO;
    let subs = Arc::new(Subscriptions::new(c.clone(), cfg));
    let (member_tx, member_rx) = watch::channel(member());
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(run_sync_loop(subs, member_rx, stop_rx));
    assert!(wait_for(&c, |s| s.len() == 3 && s.iter().all(|r| r.2 == OURS)).await);
    // The member restarts with a fresh cluster ID and no memory of the old one (a
    // stateless container): Kapacitor would now have 6 subscriptions.
    let fresh = "kapacitor-44444444-4444-4444-4444-444444444444";
    member_tx
        .send(Member {
            cluster_id: "44444444-4444-4444-4444-444444444444".into(),
            ..member()
        })
        .unwrap();
    assert!(
        wait_for(&c, |s| s.len() == 3 && s.iter().all(|r| r.2 == fresh)).await,
        "{:?}",
        list(&c).await
    );
    stop_tx.send(true).unwrap();
    task.await.unwrap();
}
