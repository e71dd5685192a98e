//! The engine thread: owns the task's runner and executes commands from the async side in
//! order. A bounded command queue gives backpressure all the way to apid's per-worker queue.

use crate::engine::QueryNodeSpec;
use crate::process_points_tap::PointsFrame;
use crate::process_runner::{RunnerFactory, WorkerContext};
use kapacitor_ipc::TaskSpec;
use kapacitor_models::{Batch, Point};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, warn};

/// Commands buffered before senders wait.
const ENGINE_QUEUE: usize = 64;

enum Cmd {
    Points {
        db: String,
        rp: String,
        points: Vec<Point>,
    },
    /// A `Points` message still encoded: decoded here so that its points are allocated and
    /// freed on this thread (see `process_points_tap`).
    Frame {
        db: String,
        rp: String,
        frame: PointsFrame,
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
}

/// Handle on the engine thread; cheap to clone.
#[derive(Clone)]
pub struct EngineHandle {
    tx: mpsc::Sender<Cmd>,
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
        let (tx, mut rx) = mpsc::channel::<Cmd>(ENGINE_QUEUE);
        let (built_tx, built_rx) = std::sync::mpsc::channel::<Built>();
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
                let body = std::panic::AssertUnwindSafe(|| {
                    let mut decoder = kapacitor_models::PointDecoder::new();
                    while let Some(cmd) = rx.blocking_recv() {
                        match cmd {
                            Cmd::Points { db, rp, points } => runner.push_points(&db, &rp, points),
                            Cmd::Frame { db, rp, frame } => match frame.decode(&mut decoder) {
                                Ok(points) => runner.push_points(&db, &rp, points),
                                Err(e) => {
                                    warn!(error = %e, "points from apid dropped: frame does not decode")
                                }
                            },
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
                handle: EngineHandle { tx },
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

    /// Queues an encoded `Points` message, waiting while the engine is behind.
    pub async fn push_frame(&self, db: String, rp: String, frame: PointsFrame) -> bool {
        self.tx.send(Cmd::Frame { db, rp, frame }).await.is_ok()
    }

    pub async fn tick(&self, now_ns: i64) {
        let _ = self.tx.send(Cmd::Tick(now_ns)).await;
    }

    pub async fn http_out(&self, endpoint: String) -> Option<String> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Cmd::HttpOut { endpoint, reply }).await.ok()?;
        rx.await.ok().flatten()
    }

    pub async fn dot(&self, labels: bool) -> Option<String> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Cmd::Dot { labels, reply }).await.ok()?;
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

    /// `POST /sideload/reload` (see [`TaskRunner::reload_sideload`]); the errors.
    pub async fn reload_sideload(&self) -> Vec<String> {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Cmd::SideloadReload { reply }).await.is_err() {
            return vec!["the task engine is gone".into()];
        }
        rx.await.unwrap_or_default()
    }

    pub async fn restore_alert_states(&self, states: Vec<kapacitor_ipc::TopicEventState>) {
        let _ = self.tx.send(Cmd::RestoreAlerts(states)).await;
    }

    pub async fn stats_json(&self) -> Option<String> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Cmd::Stats { reply }).await.ok()?;
        rx.await.ok()
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
            serde_json::from_str(&h.stats_json().await.unwrap()).unwrap();
        assert_eq!(stats["points_received"], 3);
        assert_eq!(stats["batches_received"], 2);
        assert_eq!(h.http_out("nope".into()).await, None);
        drop(h);
        engine.finish().await;
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
