//! The worker's data link: dial apid's socket, say hello with the task id, feed the engine
//! with the batches of the task's queue that apid sends (`TaskBatch`), acknowledge them once
//! the engine has processed them (`TaskBatchAck`), and send apid what the task produces
//! (alert events, loopback writes). Redial with backoff whenever apid restarts. apid's reads
//! come over the control link (`process_control`); only a replay's drain barrier
//! (`StatsRequest`, then `Ping`) comes here, because it must follow the data.
//!
//! Acknowledgements are coalesced: at most one every [`ACK_EVERY`], always sent within that
//! time of the last processed batch (so an idle task acknowledges everything). They name
//! the highest sequence number the engine processed *from this connection*: each
//! connection has a number, recorded with every batch the engine takes, so a batch that was
//! still queued in the engine from a previous apid is never acknowledged to a new one.
//!
//! Loopback writes are requests, one at a time, on their own task: apid answers once every
//! target queue took them (it may wait for room, which is backpressure on this worker's
//! bounded loopback outbox), and acknowledgements keep flowing meanwhile, so a task that
//! loops back into itself cannot deadlock on its own full queue.

use crate::process_engine::EngineHandle;
use kapacitor_ipc::{Dbrp, Hello, Message, Peer, PeerOptions, Role, handshake};
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::UnixStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// Acknowledgements are sent at most this often (and at least this soon after a batch).
pub const ACK_EVERY: Duration = Duration::from_millis(5);
/// How long a loopback write waits for apid's answer (apid waits up to `[queue]
/// write-timeout` for room before it answers an error).
const LOOPBACK_TIMEOUT: Duration = Duration::from_secs(120);
/// Pause before a loopback write apid could not take is tried again.
const LOOPBACK_RETRY: Duration = Duration::from_millis(500);

const REDIAL_START: Duration = Duration::from_millis(50);
const REDIAL_CAP: Duration = Duration::from_secs(2);
/// How long a starting task waits for its alert states from apid.
const RESTORE_TIMEOUT: Duration = Duration::from_secs(5);

/// What this worker asks apid to route to it (sent first on every connection).
#[derive(Debug, Clone, Default)]
pub struct Subscription {
    pub dbrps: Vec<Dbrp>,
    /// `None`: every measurement of the dbrps.
    pub measurements: Option<Vec<String>>,
}

/// Asks apid for the event states of the task's alert topics and hands them to the engine.
/// Without an answer the task starts from OK, as a new task would: data must not wait.
async fn restore_alert_states(peer: &kapacitor_ipc::Peer, engine: &EngineHandle) {
    let topics = engine.alert_topics().await;
    if topics.is_empty() {
        return;
    }
    match peer
        .request_timeout(Message::AlertStatesRequest { topics }, RESTORE_TIMEOUT)
        .await
    {
        Ok(Message::AlertStates { states }) => engine.restore_alert_states(states).await,
        Ok(other) => warn!(answer = other.name(), "alert states not restored"),
        Err(e) => warn!(error = %e, "alert states not restored"),
    }
}

pub async fn run(
    path: PathBuf,
    task_id: String,
    subscription: Subscription,
    engine: EngineHandle,
    cancel: CancellationToken,
) {
    let mut delay = REDIAL_START;
    let mut announced_wait = false;
    let mut restored = false;
    let mut link_no = 0u64;
    loop {
        if cancel.is_cancelled() {
            return;
        }
        let stream = tokio::select! {
            _ = cancel.cancelled() => return,
            s = UnixStream::connect(&path) => s,
        };
        let link = match stream {
            Ok(s) => {
                let hello = Hello::new(Role::Worker {
                    task_id: task_id.clone(),
                });
                handshake(s, hello, PeerOptions::default()).await.ok()
            }
            Err(e) => {
                if !announced_wait {
                    debug!(path = %path.display(), error = %e, "apid not reachable yet; retrying");
                    announced_wait = true;
                }
                None
            }
        };
        let Some((peer, mut inbox)) = link else {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(REDIAL_CAP);
            continue;
        };
        // Once per process, before any data: the alert nodes continue from the levels their
        // events had before this worker (re)started.
        if !restored {
            restore_alert_states(&peer, &engine).await;
            restored = true;
        }
        let subscribe = Message::Subscribe {
            dbrps: subscription.dbrps.clone(),
            measurements: subscription.measurements.clone(),
        };
        if peer.send(subscribe).await.is_err() {
            continue;
        }
        // Handlers before events: apid registers them in the order it reads.
        let outbox = crate::process_alerts::outbox();
        let handlers = Message::AlertScriptHandlers {
            specs_json: outbox.script_handlers(),
        };
        if peer.send(handlers).await.is_err() {
            continue;
        }
        info!(
            alert_events_dropped = outbox.dropped(),
            loopback_points_dropped = crate::process_loopback::outbox().dropped(),
            "connected to apid"
        );
        delay = REDIAL_START;
        announced_wait = false;
        link_no += 1;
        let loopback = tokio::spawn(send_loopback(peer.clone()));
        let progress = engine.progress().clone();
        let mut acked = 0u64;
        let mut last_ack = Instant::now();
        let mut ack_due: Option<Instant> = None;
        loop {
            let events = outbox.take(crate::process_alerts::BATCH);
            if !events.is_empty() {
                let json = crate::process_alerts::events_array(&events);
                if peer.send(Message::AlertEvents { json }).await.is_err() {
                    outbox.unshift(events);
                    info!("apid link lost; redialling");
                    break;
                }
                continue;
            }
            let ack_timer = async {
                match ack_due {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let inc = tokio::select! {
                _ = cancel.cancelled() => {
                    loopback.abort();
                    peer.close();
                    return;
                }
                _ = outbox.ready() => continue,
                _ = progress.changed() => {
                    if ack_due.is_none() {
                        ack_due = Some(last_ack.max(Instant::now() - ACK_EVERY) + ACK_EVERY);
                    }
                    continue;
                }
                _ = ack_timer => {
                    ack_due = None;
                    let (link, seq) = progress.get();
                    if link == link_no && seq > acked {
                        if peer.send(Message::TaskBatchAck { seq }).await.is_err() {
                            info!("apid link lost; redialling");
                            break;
                        }
                        acked = seq;
                        last_ack = Instant::now();
                    }
                    continue;
                }
                inc = inbox.recv() => inc,
            };
            let Some(inc) = inc else {
                info!("apid link lost; redialling");
                break;
            };
            match inc.msg {
                Message::TaskBatch { seq, payload } => {
                    if !engine.push_batch_wire(link_no, seq, payload).await {
                        loopback.abort();
                        return;
                    }
                }
                Message::Points { db, rp, points } => {
                    if !engine.push_points(db, rp, points).await {
                        loopback.abort();
                        return;
                    }
                }
                Message::ReplayBatches { node, batches } => {
                    if !engine.push_batches(node as usize, batches).await {
                        loopback.abort();
                        return;
                    }
                }
                Message::StatsRequest => {
                    // A replay's drain barrier: answered once the data before it has run.
                    let reply = match engine.stats_json_in_order().await {
                        Some(json) => Message::Stats { json },
                        None => Message::Error {
                            message: "the task engine is gone".into(),
                        },
                    };
                    let _ = inc.reply(reply).await;
                }
                Message::Ping => {
                    let _ = inc.reply(Message::Pong).await;
                }
                ref other if inc.is_request() => {
                    let message = format!("{} goes over the control link", other.name());
                    let _ = inc.reply(Message::Error { message }).await;
                }
                ref other => debug!(msg = other.name(), "ignored message from apid"),
            }
        }
        // The loopback write in flight, if any, went back to the outbox.
        loopback.abort();
        peer.close();
    }
}

/// Sends the loopback outbox to apid, one request at a time, until the link closes. A write
/// apid could not take (its targets stayed full) is put back and tried again; one it refused
/// for good (too large for a queue) is dropped, counted and logged.
async fn send_loopback(peer: Peer) {
    let outbox = crate::process_loopback::outbox();
    loop {
        let Some(write) = outbox.pop() else {
            tokio::select! {
                _ = outbox.ready() => continue,
                _ = peer.closed() => return,
            }
        };
        let (db, rp, points) = (write.0.clone(), write.1.clone(), write.2.clone());
        let n = points.len();
        // Held by a guard: an abort while waiting must not lose it.
        let mut guard = PutBack(Some(write));
        let answer = peer
            .request_timeout(Message::LoopbackWrite { db, rp, points }, LOOPBACK_TIMEOUT)
            .await;
        match answer {
            Ok(Message::Done) => {
                guard.0 = None;
            }
            Ok(Message::Rejected { message }) => {
                guard.0 = None;
                outbox.count_dropped(n);
                warn!(points = n, error = %message, "apid refused loopback points; dropped");
            }
            Ok(Message::Error { message }) => {
                debug!(points = n, error = %message, "apid could not take loopback points yet");
                drop(guard);
                tokio::time::sleep(LOOPBACK_RETRY).await;
            }
            Ok(other) => {
                guard.0 = None;
                debug!(
                    answer = other.name(),
                    "unexpected answer to a loopback write"
                );
            }
            Err(_) => {
                drop(guard);
                if peer.is_closed() {
                    return;
                }
                tokio::time::sleep(LOOPBACK_RETRY).await;
            }
        }
    }
}

/// Gives a loopback write back to the outbox when dropped holding it (not delivered, or the
/// sending task aborted).
struct PutBack(Option<crate::engine::LoopbackWrite>);

impl Drop for PutBack {
    fn drop(&mut self) {
        if let Some(w) = self.0.take() {
            crate::process_loopback::outbox().unshift(w);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process_engine::Engine;
    use crate::process_runner::{WorkerContext, counting_runner};
    use kapacitor_ipc::{Peer, TaskSpec};
    use kapacitor_models::Point;
    use tokio::net::UnixListener;

    fn spec() -> TaskSpec {
        TaskSpec {
            id: "t".into(),
            task_type: "stream".into(),
            dbrps: vec![],
            script: String::new(),
            vars_json: "{}".into(),
        }
    }

    /// Accepts one worker connection the way apid does; returns the peer and its inbox.
    async fn accept(listener: &UnixListener) -> (Peer, kapacitor_ipc::Inbox) {
        let (stream, _) = listener.accept().await.unwrap();
        let (peer, mut inbox) = handshake(stream, Hello::new(Role::Apid), PeerOptions::default())
            .await
            .unwrap();
        let first = inbox.recv().await.unwrap();
        assert!(matches!(first.msg, Message::Subscribe { .. }), "{first:?}");
        assert_eq!(
            peer.remote().role,
            Role::Worker {
                task_id: "t".into()
            }
        );
        (peer, inbox)
    }

    fn batch(seq: u64, points: &[Point]) -> Message {
        Message::TaskBatch {
            seq,
            payload: kapacitor_models::encode_batch("db", "rp", points).into(),
        }
    }

    /// The next acknowledgement (alert handlers and other messages skipped).
    async fn next_ack(inbox: &mut kapacitor_ipc::Inbox) -> u64 {
        loop {
            let inc = tokio::time::timeout(Duration::from_secs(30), inbox.recv())
                .await
                .expect("an acknowledgement")
                .expect("the link is up");
            if let Message::TaskBatchAck { seq } = inc.msg {
                return seq;
            }
        }
    }

    async fn points_received(peer: &Peer) -> u64 {
        match peer.request(Message::StatsRequest).await.unwrap() {
            Message::Stats { json } => {
                let v: serde_json::Value = serde_json::from_str(&json).unwrap();
                v["points_received"].as_u64().unwrap()
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn feeds_the_engine_answers_reads_and_redials() {
        let path = std::env::temp_dir().join(format!("kapd-apid-link-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let engine = Engine::start(spec(), WorkerContext::default(), counting_runner).unwrap();
        let cancel = CancellationToken::new();
        let link = tokio::spawn(run(
            path.clone(),
            "t".into(),
            Subscription::default(),
            engine.handle(),
            cancel.clone(),
        ));

        let (apid, mut inbox) = accept(&listener).await;
        let point = Point {
            name: "cpu".into(),
            tags: Default::default(),
            fields: Default::default(),
            time: 1,
        };
        // Queued batches are processed and acknowledged, coalesced up to the highest one.
        apid.send(batch(1, &[point.clone(), point.clone()]))
            .await
            .unwrap();
        apid.send(batch(2, std::slice::from_ref(&point)))
            .await
            .unwrap();
        assert_eq!(points_received(&apid).await, 3);
        let mut acked = next_ack(&mut inbox).await;
        while acked < 2 {
            acked = next_ack(&mut inbox).await;
        }
        assert_eq!(acked, 2);
        // A replay's batch (sequence number 0) is processed and never acknowledged; a batch
        // that does not decode is dropped (logged) but acknowledged.
        apid.send(batch(0, std::slice::from_ref(&point)))
            .await
            .unwrap();
        apid.send(Message::TaskBatch {
            seq: 3,
            payload: vec![9u8, 9, 9].into(),
        })
        .await
        .unwrap();
        assert_eq!(points_received(&apid).await, 4);
        assert_eq!(next_ack(&mut inbox).await, 3);
        // Reads go over the control link; the data link says so rather than leave them.
        let reply = apid
            .request(Message::HttpOutRequest {
                endpoint: "nope".into(),
            })
            .await
            .unwrap();
        assert!(matches!(reply, Message::Error { .. }), "{reply:?}");

        // apid goes away; the worker dials again and the task's state is intact. The new
        // apid's numbering starts over: acknowledged on the new link from its own batches.
        apid.close();
        drop(apid);
        drop(inbox);
        let (apid, mut inbox) = accept(&listener).await;
        apid.send(batch(1, &[point])).await.unwrap();
        assert_eq!(points_received(&apid).await, 5);
        assert_eq!(next_ack(&mut inbox).await, 1);

        cancel.cancel();
        link.await.unwrap();
        engine.finish().await;
        let _ = std::fs::remove_file(&path);
    }
}
