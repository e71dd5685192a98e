//! The engine thread: owns the task's runner and executes commands from the async side.
//!
//! Two bounded queues feed it. The data queue (points, batches, ticks, and the replay's
//! in-order stats barrier) runs in order and gives backpressure all the way to apid's
//! per-worker queue. The control queue (httpOut, stats and DOT reads, sideload reload, the
//! watchdog's heartbeat) is served first: before each data command and whenever the thread
//! is idle, so a read waits for at most the one data command in progress, never for the
//! queue behind it. Both are tokio channels; the thread waits on both at once by polling
//! them with a waker that unparks it ([`Queues::next`]).

use crate::engine::QueryNodeSpec;
use crate::process_runner::{RunnerFactory, WorkerContext};
use kapacitor_ipc::TaskSpec;
use kapacitor_models::{Batch, Point};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use tokio::sync::{Notify, mpsc, oneshot};
use tracing::{error, warn};

/// Data commands buffered before senders wait.
const ENGINE_QUEUE: usize = 64;
/// Control commands buffered before senders wait (the control link bounds its own
/// concurrency below this).
const CONTROL_QUEUE: usize = 32;

enum Cmd {
    Points {
        db: String,
        rp: String,
        points: Vec<Point>,
    },
    /// A batch of the task's queue in apid ("kapacitor batch v1"), decoded here so that its
    /// points are allocated and freed on this thread (mimalloc's cross-thread free path was a
    /// fifth of a worker's time). `seq` 0: not from a queue, nothing to acknowledge.
    Batch {
        link: u64,
        seq: u64,
        payload: bytes::Bytes,
    },
    Tick(i64),
    HttpOut {
        endpoint: String,
        reply: oneshot::Sender<Option<String>>,
    },
    Stats {
        reply: oneshot::Sender<String>,
    },
    Dot {
        labels: bool,
        reply: oneshot::Sender<Option<String>>,
    },
    /// The answer of one run of query node `node`.
    Batches {
        node: usize,
        batches: Vec<Batch>,
    },
    QueryFailed {
        node: usize,
    },
    AlertTopics {
        reply: oneshot::Sender<Vec<String>>,
    },
    RestoreAlerts(Vec<kapacitor_ipc::TopicEventState>),
    SideloadReload {
        reply: oneshot::Sender<Vec<String>>,
    },
    /// The watchdog's probe: answering it shows the thread is taking commands.
    Heartbeat {
        reply: oneshot::Sender<()>,
    },
}

/// How far the engine thread got in the queued batches apid sent over a data link: the link's
/// number (the worker's data link counts its connections) and the highest sequence number
/// processed on it. The data link reads it to acknowledge batches; a batch of an older link
/// (apid restarted meanwhile, its numbers may be reused) is never acknowledged on a new one.
#[derive(Default)]
pub struct Progress {
    processed: Mutex<(u64, u64)>,
    changed: Notify,
}

impl Progress {
    fn record(&self, link: u64, seq: u64) {
        *self.processed.lock().unwrap_or_else(|p| p.into_inner()) = (link, seq);
        self.changed.notify_one();
    }

    /// (link, highest sequence number processed on it).
    pub fn get(&self) -> (u64, u64) {
        *self.processed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Resolves after a batch was processed (a permit is kept if none was waiting).
    pub async fn changed(&self) {
        self.changed.notified().await
    }
}

/// Wakes the engine thread when a command arrives on either queue.
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// The engine thread's two queues.
struct Queues {
    control: mpsc::Receiver<Cmd>,
    data: mpsc::Receiver<Cmd>,
    control_open: bool,
    data_open: bool,
    waker: Waker,
}

impl Queues {
    /// Must be created on the thread that calls [`Queues::next`].
    fn new(control: mpsc::Receiver<Cmd>, data: mpsc::Receiver<Cmd>) -> Queues {
        Queues {
            control,
            data,
            control_open: true,
            data_open: true,
            waker: Waker::from(Arc::new(Unpark(std::thread::current()))),
        }
    }

    /// The next command, a control one first; parks the thread while both queues are empty.
    /// `None` once both are closed (every handle dropped) and drained.
    fn next(&mut self) -> Option<Cmd> {
        // The busy path: a command is waiting, take it without registering a waker.
        if self.control_open
            && let Ok(cmd) = self.control.try_recv()
        {
            return Some(cmd);
        }
        if self.data_open
            && let Ok(cmd) = self.data.try_recv()
        {
            return Some(cmd);
        }
        let waker = self.waker.clone();
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(cmd) = self.poll(&mut cx) {
                return cmd;
            }
            // A spurious unpark only costs another poll.
            std::thread::park();
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Option<Cmd>> {
        if self.control_open {
            match self.control.poll_recv(cx) {
                Poll::Ready(Some(cmd)) => return Poll::Ready(Some(cmd)),
                Poll::Ready(None) => self.control_open = false,
                Poll::Pending => {}
            }
        }
        if self.data_open {
            match self.data.poll_recv(cx) {
                Poll::Ready(Some(cmd)) => return Poll::Ready(Some(cmd)),
                Poll::Ready(None) => self.data_open = false,
                Poll::Pending => {}
            }
        }
        if self.control_open || self.data_open {
            Poll::Pending
        } else {
            Poll::Ready(None)
        }
    }
}

/// Handle on the engine thread; cheap to clone.
#[derive(Clone)]
pub struct EngineHandle {
    tx: mpsc::Sender<Cmd>,
    control: mpsc::Sender<Cmd>,
    progress: Arc<Progress>,
}

/// Owns the thread; [`Engine::finish`] flushes the runner and joins it.
pub struct Engine {
    handle: EngineHandle,
    thread: std::thread::JoinHandle<()>,
    /// The runner's routing filter, read once when it was built.
    measurements: Option<Vec<String>>,
    /// The runner's query nodes (batch tasks), read once when it was built.
    queries: Vec<QueryNodeSpec>,
}

/// What the engine thread reports once the runner is built.
type Built = Result<(Option<Vec<String>>, Vec<QueryNodeSpec>), String>;

impl Engine {
    /// Builds the runner on a new thread. Returns the factory's error if the task cannot run.
    pub fn start(
        spec: TaskSpec,
        ctx: WorkerContext,
        factory: RunnerFactory,
    ) -> Result<Engine, String> {
        let (tx, rx) = mpsc::channel::<Cmd>(ENGINE_QUEUE);
        let (control, control_rx) = mpsc::channel::<Cmd>(CONTROL_QUEUE);
        let (built_tx, built_rx) = std::sync::mpsc::channel::<Built>();
        let progress = Arc::new(Progress::default());
        let processed = progress.clone();
        let thread = std::thread::Builder::new()
            .name("engine".into())
            .spawn(move || {
                let mut runner = match factory(&spec, &ctx) {
                    Ok(r) => {
                        let _ = built_tx.send(Ok((r.measurements(), r.queries())));
                        r
                    }
                    Err(e) => {
                        let _ = built_tx.send(Err(e));
                        return;
                    }
                };
                let mut memory = ctx.memory.checker();
                let body = std::panic::AssertUnwindSafe(|| {
                    let mut decoder = kapacitor_models::BatchDecoder::new();
                    let mut queues = Queues::new(control_rx, rx);
                    while let Some(cmd) = queues.next() {
                        match cmd {
                            Cmd::Points { db, rp, points } => runner.push_points(&db, &rp, points),
                            Cmd::Batch { link, seq, payload } => {
                                match decoder.decode(&payload) {
                                    Ok(b) => runner.push_points(&b.db, &b.rp, b.points),
                                    // Acknowledged all the same: sent again, it would fail again.
                                    Err(e) => warn!(
                                        seq,
                                        bytes = payload.len(),
                                        error = %e,
                                        "a batch from apid does not decode; its points are dropped"
                                    ),
                                }
                                drop(payload);
                                if seq != 0 {
                                    processed.record(link, seq);
                                }
                            }
                            Cmd::Tick(now) => runner.tick(now),
                            Cmd::HttpOut { endpoint, reply } => {
                                let _ = reply.send(runner.http_out(&endpoint));
                            }
                            Cmd::Stats { reply } => {
                                let _ = reply.send(runner.stats_json());
                            }
                            Cmd::Dot { labels, reply } => {
                                let _ = reply.send(runner.dot(labels));
                            }
                            Cmd::Batches { node, batches } => {
                                for b in batches {
                                    runner.push_batch(node, b);
                                }
                            }
                            Cmd::QueryFailed { node } => runner.query_failed(node),
                            Cmd::AlertTopics { reply } => {
                                let _ = reply.send(runner.alert_topics());
                            }
                            Cmd::RestoreAlerts(states) => runner.restore_alert_states(states),
                            Cmd::SideloadReload { reply } => {
                                let _ = reply.send(runner.reload_sideload());
                            }
                            Cmd::Heartbeat { reply } => {
                                let _ = reply.send(());
                            }
                        }
                        // Over budget: stop here, no flush; the shell reports it and exits.
                        if let Err(e) = memory.check() {
                            error!(error = %e, "stopping the task");
                            return;
                        }
                    }
                    runner.flush();
                });
                if std::panic::catch_unwind(body).is_err() {
                    // The task's state is unknown now; a fresh process is the only safe state.
                    error!("the task engine panicked; exiting so the supervisor restarts the task");
                    std::process::exit(101);
                }
            })
            .map_err(|e| format!("cannot start the engine thread: {e}"))?;
        match built_rx.recv() {
            Ok(Ok((measurements, queries))) => Ok(Engine {
                handle: EngineHandle {
                    tx,
                    control,
                    progress,
                },
                thread,
                measurements,
                queries,
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => Err("the engine thread ended while building the task".into()),
        }
    }

    pub fn handle(&self) -> EngineHandle {
        self.handle.clone()
    }

    /// The measurements the task reads (`None`: all of its dbrps).
    pub fn measurements(&self) -> Option<Vec<String>> {
        self.measurements.clone()
    }

    /// The task's query nodes (empty for stream tasks).
    pub fn queries(&self) -> Vec<QueryNodeSpec> {
        self.queries.clone()
    }

    /// Lets queued commands run, flushes the runner and waits for the thread.
    pub async fn finish(self) {
        let Engine { handle, thread, .. } = self;
        drop(handle);
        // Other handle clones (the apid link) must be gone too for the queue to close; the
        // caller stops them first.
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
}

impl EngineHandle {
    /// Queues a batch, waiting while the engine is behind.
    pub async fn push_points(&self, db: String, rp: String, points: Vec<Point>) -> bool {
        self.tx.send(Cmd::Points { db, rp, points }).await.is_ok()
    }

    /// Queues an encoded batch received on data link `link`, waiting while the engine is
    /// behind; its processing is recorded in [`EngineHandle::progress`] (unless `seq` is 0).
    pub async fn push_batch_wire(&self, link: u64, seq: u64, payload: bytes::Bytes) -> bool {
        self.tx
            .send(Cmd::Batch { link, seq, payload })
            .await
            .is_ok()
    }

    /// What the engine processed of the queued batches (see [`Progress`]).
    pub fn progress(&self) -> &Arc<Progress> {
        &self.progress
    }

    pub async fn tick(&self, now_ns: i64) {
        let _ = self.tx.send(Cmd::Tick(now_ns)).await;
    }

    /// The body of an httpOut endpoint (control: ahead of queued data).
    pub async fn http_out(&self, endpoint: String) -> Option<String> {
        let (reply, rx) = oneshot::channel();
        self.control
            .send(Cmd::HttpOut { endpoint, reply })
            .await
            .ok()?;
        rx.await.ok().flatten()
    }

    /// The task's DOT with its stats (control: ahead of queued data).
    pub async fn dot(&self, labels: bool) -> Option<String> {
        let (reply, rx) = oneshot::channel();
        self.control.send(Cmd::Dot { labels, reply }).await.ok()?;
        rx.await.ok().flatten()
    }

    /// Queues the batches of one query run, waiting while the engine is behind.
    pub async fn push_batches(&self, node: usize, batches: Vec<Batch>) -> bool {
        self.tx.send(Cmd::Batches { node, batches }).await.is_ok()
    }

    pub async fn query_failed(&self, node: usize) {
        let _ = self.tx.send(Cmd::QueryFailed { node }).await;
    }

    /// The topics the task's alert nodes continue from (see [`TaskRunner::alert_topics`]).
    pub async fn alert_topics(&self) -> Vec<String> {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Cmd::AlertTopics { reply }).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// `POST /sideload/reload` (see [`TaskRunner::reload_sideload`]); the errors (control:
    /// ahead of queued data).
    pub async fn reload_sideload(&self) -> Vec<String> {
        let (reply, rx) = oneshot::channel();
        if self
            .control
            .send(Cmd::SideloadReload { reply })
            .await
            .is_err()
        {
            return vec!["the task engine is gone".into()];
        }
        rx.await.unwrap_or_default()
    }

    pub async fn restore_alert_states(&self, states: Vec<kapacitor_ipc::TopicEventState>) {
        let _ = self.tx.send(Cmd::RestoreAlerts(states)).await;
    }

    /// Node statistics now (control: ahead of queued data).
    pub async fn stats_json(&self) -> Option<String> {
        let (reply, rx) = oneshot::channel();
        self.control.send(Cmd::Stats { reply }).await.ok()?;
        rx.await.ok()
    }

    /// Node statistics once every data command queued before this one has run: a replay's
    /// drain barrier.
    pub async fn stats_json_in_order(&self) -> Option<String> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Cmd::Stats { reply }).await.ok()?;
        rx.await.ok()
    }

    /// Resolves once the engine thread took the heartbeat off its control queue; `false`
    /// when the engine is gone. Waits as long as the thread is busy: the caller bounds it.
    pub async fn heartbeat(&self) -> bool {
        let (reply, rx) = oneshot::channel();
        if self.control.send(Cmd::Heartbeat { reply }).await.is_err() {
            return false;
        }
        rx.await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process_runner::{TaskRunner, counting_runner};

    fn spec() -> TaskSpec {
        TaskSpec {
            id: "t".into(),
            task_type: "stream".into(),
            dbrps: vec![],
            script: String::new(),
            vars_json: "{}".into(),
        }
    }

    fn point(time: i64) -> Point {
        Point {
            name: "cpu".into(),
            tags: Default::default(),
            fields: Default::default(),
            time,
        }
    }

    #[tokio::test]
    async fn commands_reach_the_runner_in_order() {
        let engine = Engine::start(spec(), WorkerContext::default(), counting_runner).unwrap();
        let h = engine.handle();
        assert!(
            h.push_points("db".into(), "rp".into(), vec![point(1), point(2)])
                .await
        );
        assert!(
            h.push_points("db".into(), "rp".into(), vec![point(3)])
                .await
        );
        h.tick(10).await;
        let stats: serde_json::Value =
            serde_json::from_str(&h.stats_json_in_order().await.unwrap()).unwrap();
        assert_eq!(stats["points_received"], 3);
        assert_eq!(stats["batches_received"], 2);
        assert_eq!(h.http_out("nope".into()).await, None);
        drop(h);
        engine.finish().await;
    }

    /// Takes 100 ms per batch of points, like a heavy pipeline.
    struct Slow(u64);
    impl TaskRunner for Slow {
        fn push_points(&mut self, _: &str, _: &str, points: Vec<Point>) {
            std::thread::sleep(std::time::Duration::from_millis(100));
            self.0 += points.len() as u64;
        }
        fn tick(&mut self, _: i64) {}
        fn http_out(&self, _: &str) -> Option<String> {
            Some(self.0.to_string())
        }
        fn stats_json(&self) -> String {
            serde_json::json!({ "points_received": self.0 }).to_string()
        }
    }

    fn slow_factory(_: &TaskSpec, _: &WorkerContext) -> Result<Box<dyn TaskRunner>, String> {
        Ok(Box::new(Slow(0)))
    }

    /// With the data queue full of slow commands (minutes of work in FIFO order), reads and
    /// the heartbeat are served after the command in progress, and the data still runs in
    /// order afterwards.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn control_commands_overtake_a_full_data_queue() {
        use std::time::{Duration, Instant};
        let engine = Engine::start(spec(), WorkerContext::default(), slow_factory).unwrap();
        let h = engine.handle();
        let feeder = h.clone();
        // More than the queue holds: the feeder waits on backpressure.
        let total = ENGINE_QUEUE as u64 + 16;
        let feed = tokio::spawn(async move {
            for i in 0..total {
                assert!(
                    feeder
                        .push_points("db".into(), "rp".into(), vec![point(i as i64)])
                        .await
                );
            }
        });
        // Wait until the queue is full (the feeder is blocked on it).
        let until = Instant::now() + Duration::from_secs(30);
        while h.tx.capacity() > 0 {
            assert!(Instant::now() < until, "the data queue never filled");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for _ in 0..3 {
            let asked = Instant::now();
            let stats = tokio::time::timeout(Duration::from_secs(5), h.stats_json())
                .await
                .expect("stats waited behind the data queue")
                .unwrap();
            let waited = asked.elapsed();
            let done: serde_json::Value = serde_json::from_str(&stats).unwrap();
            let done = done["points_received"].as_u64().unwrap();
            // FIFO would have answered after the whole queue (> 6 s of work).
            assert!(done < total / 2, "answered only after {done} batches");
            assert!(waited < Duration::from_secs(5), "waited {waited:?}");
            assert!(
                tokio::time::timeout(Duration::from_secs(5), h.heartbeat())
                    .await
                    .expect("the heartbeat waited behind the data queue")
            );
            assert!(h.http_out("x".into()).await.is_some());
        }
        feed.await.unwrap();
        let all: serde_json::Value =
            serde_json::from_str(&h.stats_json_in_order().await.unwrap()).unwrap();
        assert_eq!(all["points_received"], total);
        drop(h);
        engine.finish().await;
    }

    /// What a data command costs to queue and take with the control queue beside it, against
    /// one queue alone (the engine before it had two). Run with
    /// `cargo test --release -p kapacitor-workers engine_queue_cost -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement; run it on a quiet machine"]
    fn engine_queue_cost() {
        const N: usize = 2_000_000;
        fn feed(tx: mpsc::Sender<Cmd>) -> std::thread::JoinHandle<()> {
            std::thread::spawn(move || {
                for i in 0..N {
                    if tx.blocking_send(Cmd::Tick(i as i64)).is_err() {
                        return;
                    }
                }
            })
        }
        // One queue, `blocking_recv`: the previous engine loop.
        let (tx, mut rx) = mpsc::channel::<Cmd>(ENGINE_QUEUE);
        let started = std::time::Instant::now();
        let f = feed(tx);
        let mut n = 0;
        while let Some(cmd) = rx.blocking_recv() {
            if let Cmd::Tick(_) = cmd {
                n += 1;
            }
        }
        f.join().unwrap();
        let one = started.elapsed();
        assert_eq!(n, N);
        // Both queues, control checked before every data command.
        let (tx, rx) = mpsc::channel::<Cmd>(ENGINE_QUEUE);
        let (control, control_rx) = mpsc::channel::<Cmd>(CONTROL_QUEUE);
        let started = std::time::Instant::now();
        let f = feed(tx);
        // The control queue stays open and empty, as it is while data flows.
        let mut queues = Queues::new(control_rx, rx);
        let mut n = 0;
        while n < N {
            if let Some(Cmd::Tick(_)) = queues.next() {
                n += 1;
            }
        }
        f.join().unwrap();
        let two = started.elapsed();
        drop(control);
        println!(
            "per data command: one queue {:.0} ns, two queues {:.0} ns",
            one.as_nanos() as f64 / N as f64,
            two.as_nanos() as f64 / N as f64
        );
    }

    struct Refuses;
    impl TaskRunner for Refuses {
        fn push_points(&mut self, _: &str, _: &str, _: Vec<Point>) {}
        fn tick(&mut self, _: i64) {}
        fn http_out(&self, _: &str) -> Option<String> {
            None
        }
        fn stats_json(&self) -> String {
            "{}".into()
        }
    }

    fn refusing_factory(spec: &TaskSpec, _: &WorkerContext) -> Result<Box<dyn TaskRunner>, String> {
        if spec.script.is_empty() {
            Err("empty script".into())
        } else {
            Ok(Box::new(Refuses))
        }
    }

    #[test]
    fn a_factory_error_is_returned_not_panicked() {
        match Engine::start(spec(), WorkerContext::default(), refusing_factory) {
            Err(e) => assert_eq!(e, "empty script"),
            Ok(_) => panic!("the factory refused the task"),
        }
    }

    /// Records what it was asked, so the test can see that `finish` flushes.
    struct Flushes(std::sync::Arc<std::sync::atomic::AtomicBool>);
    impl TaskRunner for Flushes {
        fn push_points(&mut self, _: &str, _: &str, _: Vec<Point>) {}
        fn tick(&mut self, _: i64) {}
        fn http_out(&self, endpoint: &str) -> Option<String> {
            Some(format!("{{\"endpoint\":\"{endpoint}\"}}"))
        }
        fn stats_json(&self) -> String {
            "{}".into()
        }
        fn flush(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    static FLUSHED: std::sync::OnceLock<std::sync::Arc<std::sync::atomic::AtomicBool>> =
        std::sync::OnceLock::new();

    fn flushing_factory(_: &TaskSpec, _: &WorkerContext) -> Result<Box<dyn TaskRunner>, String> {
        Ok(Box::new(Flushes(
            FLUSHED.get_or_init(Default::default).clone(),
        )))
    }

    #[tokio::test]
    async fn finish_flushes_the_runner() {
        let flag = FLUSHED.get_or_init(Default::default).clone();
        let engine = Engine::start(spec(), WorkerContext::default(), flushing_factory).unwrap();
        let h = engine.handle();
        assert_eq!(
            h.http_out("out".into()).await.as_deref(),
            Some("{\"endpoint\":\"out\"}")
        );
        drop(h);
        assert!(!flag.load(std::sync::atomic::Ordering::SeqCst));
        engine.finish().await;
        assert!(flag.load(std::sync::atomic::Ordering::SeqCst));
    }
}
