//! The registry with real queues on disk and real IPC links to fake workers.

use super::*;
use crate::enqueue::WriteError;
use kapacitor_ipc::{Hello, Inbox, PeerOptions, Role, handshake};
use kapacitor_models::decode_batch;
use kapacitor_queue::QueueLimits;
use std::time::Instant;
use tokio::net::UnixStream;

/// apid's end of a worker's data link, the worker's peer and inbox.
async fn pair(task: &str) -> (Peer, Peer, Inbox) {
    let (a, b) = UnixStream::pair().unwrap();
    let worker = Hello::new(Role::Worker {
        task_id: task.into(),
    });
    let (apid_side, worker_side) = tokio::join!(
        handshake(a, Hello::new(Role::Apid), PeerOptions::default()),
        handshake(b, worker, PeerOptions::default()),
    );
    let (peer, apid_inbox) = apid_side.unwrap();
    let (worker_peer, worker_inbox) = worker_side.unwrap();
    // apid's inbox is not read here (acknowledgements go straight to the registry).
    std::mem::forget(apid_inbox);
    (peer, worker_peer, worker_inbox)
}

fn registry(root: &std::path::Path, limits: QueueLimits, timeout: Duration) -> Registry {
    Registry::new(QueueSettings {
        root: root.to_path_buf(),
        limits,
        budget: kapacitor_queue::MemoryBudget::unlimited(),
        write_timeout: timeout,
    })
}

fn dbrp() -> Dbrp {
    Dbrp {
        db: "db".into(),
        rp: "rp".into(),
    }
}

fn sub(measurements: Option<&[&str]>) -> Subscription {
    Subscription {
        dbrps: vec![dbrp()],
        measurements: measurements.map(|m| m.iter().map(|s| s.to_string()).collect()),
    }
}

fn pt(name: &str, time: i64) -> Point {
    Point {
        name: name.into(),
        tags: Default::default(),
        fields: Default::default(),
        time,
    }
}

/// A connected, subscribed fake worker.
async fn connect(reg: &Registry, task: &str, s: Subscription) -> (u64, Peer, Inbox) {
    let (peer, worker, inbox) = pair(task).await;
    let conn = reg.register(task, peer);
    reg.subscribe(task, conn, s).await;
    (conn, worker, inbox)
}

/// The next batch the worker receives: (seq, points).
async fn next_batch(inbox: &mut Inbox) -> (u64, Vec<Point>) {
    let inc = tokio::time::timeout(Duration::from_secs(30), inbox.recv())
        .await
        .expect("a batch in time")
        .expect("the link is up");
    match inc.msg {
        Message::TaskBatch { seq, payload } => (seq, decode_batch(&payload).unwrap().points),
        other => panic!("unexpected {}", other.name()),
    }
}

async fn nothing_more(inbox: &mut Inbox) {
    let got = tokio::time::timeout(Duration::from_millis(200), inbox.recv()).await;
    assert!(
        got.is_err(),
        "unexpected {:?}",
        got.map(|m| m.map(|m| m.msg.name()))
    );
}

async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < until, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_queued_by_dbrp_and_measurement_delivered_and_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path(), QueueLimits::default(), Duration::from_secs(1));
    let (cpu_conn, _w1, mut cpu_in) = connect(&reg, "cpu", sub(Some(&["cpu"]))).await;
    let (_, _w2, mut all_in) = connect(&reg, "all", sub(None)).await;
    // A replay's worker subscribes to nothing: no queue, not a target.
    let (_, _w3, mut replay_in) = connect(
        &reg,
        "replay",
        Subscription {
            dbrps: vec![],
            measurements: None,
        },
    )
    .await;
    reg.route_write("db", "rp", &[pt("cpu", 1), pt("mem", 2), pt("cpu", 3)])
        .await
        .unwrap();
    reg.route_write("other", "rp", &[pt("cpu", 4)])
        .await
        .unwrap();
    let (seq, points) = next_batch(&mut cpu_in).await;
    assert_eq!((seq, points.len()), (1, 2));
    let (_, points) = next_batch(&mut all_in).await;
    assert_eq!(points.len(), 3);
    nothing_more(&mut replay_in).await;
    assert!(!dir.path().join("replay").exists());

    let c = reg.task_count("cpu");
    assert_eq!((c.points_queued, c.points_sent, c.points_acked), (2, 2, 0));
    assert_eq!(c.queue.as_ref().unwrap().in_flight_batches, 1);
    // An acknowledgement from another connection is ignored; the current one's counts.
    reg.ack("cpu", cpu_conn + 100, 1).await;
    assert_eq!(reg.task_count("cpu").points_acked, 0);
    reg.ack("cpu", cpu_conn, 1).await;
    let c = reg.task_count("cpu");
    assert_eq!(c.points_acked, 2);
    let q = c.queue.unwrap();
    assert_eq!((q.in_flight_batches, q.memory_batches), (0, 0));
    // The subscription is kept beside the queue.
    let saved = crate::task_queues::load_subscription(&dir.path().join("cpu")).unwrap();
    assert_eq!(saved, sub(Some(&["cpu"])));
}

/// Batches of a write to many tasks with the same filter are encoded once: every task's
/// queue holds the same bytes, split at POINTS_PER_FRAME.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn borrowed_points_arrive_as_the_owned_points_in_batches_of_bounded_size() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path(), QueueLimits::default(), Duration::from_secs(1));
    let (_, _wa, mut a_in) = connect(&reg, "a", sub(Some(&["cpu"]))).await;
    let (_, _wb, mut b_in) = connect(&reg, "b", sub(Some(&["cpu"]))).await;
    let n = POINTS_PER_FRAME + 3;
    let body: String = (0..n)
        .map(|i| format!("cpu,host=h{} v={i}i {i}\nmem v=1i {i}\n", i % 7))
        .collect();
    let parsed: Vec<PointRef<'_>> =
        kapacitor_models::line_protocol::lines(&body, Default::default(), 0)
            .collect::<Result<_, _>>()
            .unwrap();
    reg.route_write("db", "rp", &parsed).await.unwrap();
    let want: Vec<Point> = parsed
        .iter()
        .filter(|p| p.name == "cpu")
        .map(PointRef::to_point)
        .collect();
    for inbox in [&mut a_in, &mut b_in] {
        let mut got = Vec::new();
        while got.len() < n {
            let (_, points) = next_batch(inbox).await;
            assert!(points.len() <= POINTS_PER_FRAME);
            got.extend(points);
        }
        assert_eq!(got, want);
    }
    assert_eq!(reg.task_count("a").points_queued, n as u64);
    assert_eq!(reg.task_count("b").points_queued, n as u64);
}

/// A task whose queue is full (memory and disk) makes a write that targets it wait, then
/// fail naming it, applied to no task; a write that does not target it is not held up.
/// Once the slow worker acknowledges, the same write goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_the_whole_write_and_room_lets_it_in() {
    let dir = tempfile::tempdir().unwrap();
    let limits = QueueLimits {
        memory_bytes: 4096,
        disk_bytes: 0,
        segment_bytes: 1 << 20,
    };
    let reg = registry(dir.path(), limits, Duration::from_millis(300));
    let (slow_conn, _ws, mut slow_in) = connect(&reg, "slow", sub(Some(&["m"]))).await;
    let (fast_conn, _wf, fast_in) = connect(&reg, "fast", sub(None)).await;
    let fast_points = auto_ack(reg.clone(), "fast", fast_conn, fast_in);
    let (_, _wo, mut other_in) = connect(&reg, "other", sub(Some(&["x"]))).await;
    let point = |t| Point {
        name: "m".into(),
        tags: [("host".to_string(), "h".repeat(200))]
            .into_iter()
            .collect(),
        fields: Default::default(),
        time: t,
    };
    // Fill the slow task's memory (its worker never acknowledges).
    let mut accepted = 0;
    let refused = loop {
        match reg.route_write("db", "rp", &[point(accepted)]).await {
            Ok(()) => accepted += 1,
            Err(e) => break e,
        }
        assert!(accepted < 100, "a 4 KiB queue never filled");
    };
    match &refused {
        WriteError::Full { tasks, .. } => assert_eq!(tasks, &vec!["slow".to_string()]),
        other => panic!("unexpected {other}"),
    }
    assert_eq!(
        refused.status(),
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    );
    assert!(refused.to_string().contains("task slow"), "{refused}");
    // Applied to no task: the fast one has exactly the accepted points.
    let fast = reg.task_count("fast");
    assert_eq!(fast.points_queued, accepted as u64);
    let slow = reg.task_count("slow");
    assert_eq!(slow.points_queued, accepted as u64);
    assert_eq!((slow.write_waits, slow.writes_refused), (1, 1));
    // A write the slow task does not take is not slowed.
    let t0 = Instant::now();
    reg.route_write("db", "rp", &[pt("x", 1)]).await.unwrap();
    assert!(t0.elapsed() < Duration::from_millis(250));
    let (_, got) = next_batch(&mut other_in).await;
    assert_eq!(got.len(), 1);

    // The slow worker acknowledges what it got: a waiting write goes in.
    let mut highest = 0;
    for _ in 0..accepted {
        highest = next_batch(&mut slow_in).await.0;
    }
    let waiting = {
        let reg = reg.clone();
        tokio::spawn(async move {
            let reg2 = reg.clone();
            let w = tokio::spawn(async move { reg2.route_write("db", "rp", &[point(999)]).await });
            tokio::time::sleep(Duration::from_millis(50)).await;
            reg.ack("slow", slow_conn, highest).await;
            w.await.unwrap()
        })
    };
    waiting.await.unwrap().unwrap();
    let (_, got) = next_batch(&mut slow_in).await;
    assert_eq!(got[0].time, 999);
    // Every accepted write, the "x" point and the one that waited.
    eventually("the fast task got every accepted point", || {
        fast_points.load(Ordering::Relaxed) == accepted as u64 + 2
    })
    .await;
}

/// A worker that acknowledges every batch at once; counts the points it got.
fn auto_ack(reg: Registry, task: &str, conn: u64, mut inbox: Inbox) -> Arc<AtomicU64> {
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    let task = task.to_string();
    tokio::spawn(async move {
        while let Some(inc) = inbox.recv().await {
            if let Message::TaskBatch { seq, payload } = inc.msg {
                let n = decode_batch(&payload).unwrap().points.len() as u64;
                reg.ack(&task, conn, seq).await;
                c.fetch_add(n, Ordering::Relaxed);
            }
        }
    });
    count
}

/// A worker that reconnects gets every batch the previous connection did not acknowledge,
/// in order, and the old connection's late acknowledgements change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnected_worker_gets_the_unacknowledged_batches_again() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path(), QueueLimits::default(), Duration::from_secs(1));
    let (c1, w1, mut in1) = connect(&reg, "t", sub(None)).await;
    for t in 0..5 {
        reg.route_write("db", "rp", &[pt("m", t)]).await.unwrap();
    }
    for want in 1..=5 {
        assert_eq!(next_batch(&mut in1).await.0, want);
    }
    reg.ack("t", c1, 2).await;
    w1.close();
    drop(in1);
    let (c2, _w2, mut in2) = connect(&reg, "t", sub(None)).await;
    reg.ack("t", c1, 5).await; // late, from the dead connection
    let mut times = Vec::new();
    for want in 3..=5 {
        let (seq, points) = next_batch(&mut in2).await;
        assert_eq!(seq, want);
        times.push(points[0].time);
    }
    assert_eq!(times, vec![2, 3, 4]);
    let c = reg.task_count("t");
    assert_eq!(c.points_acked, 2);
    assert_eq!(c.points_redelivered, 3);
    reg.ack("t", c2, 5).await;
    assert_eq!(reg.task_count("t").points_acked, 5);
    eventually("queue empty", || {
        reg.task_count("t").queue.unwrap().memory_batches == 0
    })
    .await;
}

/// What sits in the window is bounded: a worker that never acknowledges gets at most
/// WINDOW_BYTES (plus one batch) while the rest waits in the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_bytes_stay_within_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let limits = QueueLimits {
        memory_bytes: 64 << 20,
        disk_bytes: 0,
        segment_bytes: 1 << 20,
    };
    let reg = registry(dir.path(), limits, Duration::from_secs(1));
    let (_, _w, mut inbox) = connect(&reg, "t", sub(None)).await;
    let big: Vec<Point> = (0..1000)
        .map(|i| Point {
            name: "m".into(),
            tags: [("k".to_string(), "v".repeat(1000))].into_iter().collect(),
            fields: Default::default(),
            time: i,
        })
        .collect();
    // ~1 MB a batch, 30 of them.
    for _ in 0..30 {
        reg.route_write("db", "rp", &big).await.unwrap();
    }
    let mut received = 0u64;
    while let Ok(Some(inc)) = tokio::time::timeout(Duration::from_millis(500), inbox.recv()).await {
        if let Message::TaskBatch { payload, .. } = inc.msg {
            received += payload.len() as u64;
        }
    }
    let q = reg.task_count("t").queue.unwrap();
    assert!(received > 0);
    assert!(
        q.in_flight_bytes <= crate::delivery::WINDOW_BYTES + (2 << 20),
        "{q:?}"
    );
    assert!(q.memory_batches == 30 && q.in_flight_batches < 30, "{q:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_destroys_the_queue_and_restore_brings_back_a_subscription() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path(), QueueLimits::default(), Duration::from_secs(1));
    let (_, w, inbox) = connect(&reg, "gone", sub(None)).await;
    assert!(dir.path().join("gone").join("subscription.json").is_file());
    reg.forget("gone");
    assert!(!dir.path().join("gone").exists());
    reg.route_write("db", "rp", &[pt("m", 1)]).await.unwrap();
    assert_eq!(reg.task_count("gone").points_queued, 0);
    drop((w, inbox));

    // A queue left by a previous apid, with its subscription: written to before any worker.
    let (_, w, inbox) = connect(&reg, "kept", sub(Some(&["m"]))).await;
    drop((w, inbox));
    let settings = reg.queue_settings().clone();
    reg.persist_queues();
    drop(reg);
    let reg = Registry::new(settings.clone());
    let q = settings.open("kept").unwrap();
    let s = crate::task_queues::load_subscription(q.dir());
    reg.restore("kept", s, q);
    reg.route_write("db", "rp", &[pt("m", 2), pt("n", 3)])
        .await
        .unwrap();
    assert_eq!(reg.task_count("kept").points_queued, 1);
    assert!(!reg.is_subscribed("kept"));
}

/// Requests go over the control link: a data link stuffed with batches the worker does not
/// read delays nothing, and a worker that stops answering is left out of lists until a
/// probe hears from it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_use_the_control_link_and_silence_is_remembered() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path(), QueueLimits::default(), Duration::from_secs(1));
    let (_, _w, _stalled_data) = connect(&reg, "t", sub(None)).await;
    let short = Duration::from_millis(200);
    assert!(matches!(
        reg.request("t", Message::StatsRequest, short).await,
        Err(RequestError::NotConnected(_))
    ));
    let big: Vec<Point> = (0..1000).map(|_| pt(&"m".repeat(100), 1)).collect();
    for _ in 0..50 {
        reg.route_write("db", "rp", &big).await.unwrap();
    }
    let (control, _wc, mut worker) = pair("t").await;
    reg.register_control("t", control);
    assert!(reg.has_control("t"));
    let (answering_tx, mut answering) = tokio::sync::watch::channel(true);
    let served = tokio::spawn(async move {
        while let Some(inc) = worker.recv().await {
            if *answering.borrow_and_update() {
                inc.reply(Message::Stats { json: "{}".into() })
                    .await
                    .unwrap();
            }
        }
    });
    let asked = Instant::now();
    let answer = reg.request("t", Message::StatsRequest, Duration::from_secs(10));
    assert!(matches!(answer.await, Ok(Message::Stats { .. })));
    assert!(asked.elapsed() < Duration::from_secs(5));
    assert!(reg.answers("t"));

    answering_tx.send(false).unwrap();
    let err = reg
        .request("t", Message::StatsRequest, short)
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(!reg.answers("t"));
    answering_tx.send(true).unwrap();
    eventually("the probe clears the silence", || reg.answers("t")).await;
    served.abort();
}

#[tokio::test]
async fn stale_connection_does_not_unregister_its_successor() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path(), QueueLimits::default(), Duration::from_secs(1));
    let (p1, _w1, _i1) = pair("t").await;
    let (p2, _w2, _i2) = pair("t").await;
    let c1 = reg.register("t", p1);
    let c2 = reg.register("t", p2);
    reg.unregister("t", c1);
    assert!(reg.is_connected("t"));
    reg.unregister("t", c2);
    assert!(!reg.is_connected("t"));
}
