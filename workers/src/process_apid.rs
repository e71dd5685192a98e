//! The worker's data link: dial apid's socket, say hello with the task id, feed the engine
//! with the batches apid sends, and send apid what the task produces (alert events,
//! loopback writes). Redial with backoff whenever apid restarts. apid's reads come over the
//! control link (`process_control`); only a replay's drain barrier (`StatsRequest`, then
//! `Ping`) comes here, because it must follow the data.

use crate::process_engine::EngineHandle;
use crate::process_points_tap::PointsTap;
use kapacitor_ipc::{Dbrp, Hello, Message, PeerOptions, Role, handshake};
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::UnixStream;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

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
                let opts = PeerOptions::default();
                let (tap, taken) = PointsTap::new(s, opts.max_frame_len);
                handshake(tap, hello, opts)
                    .await
                    .ok()
                    .map(|(peer, inbox)| (peer, inbox, taken))
            }
            Err(e) => {
                if !announced_wait {
                    debug!(path = %path.display(), error = %e, "apid not reachable yet; retrying");
                    announced_wait = true;
                }
                None
            }
        };
        let Some((peer, mut inbox, taken)) = link else {
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
        let loopback = crate::process_loopback::outbox();
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
            if let Some((db, rp, points)) = loopback.pop() {
                let n = points.len();
                if let Err(e) = peer.send(Message::LoopbackWrite { db, rp, points }).await {
                    // The write in flight goes with the link (as a /write would); what is
                    // still queued waits for the next one.
                    warn!(error = %e, points = n, "apid link lost; loopback points lost");
                    break;
                }
                continue;
            }
            let inc = tokio::select! {
                _ = cancel.cancelled() => {
                    peer.close();
                    return;
                }
                _ = outbox.ready() => continue,
                _ = loopback.ready() => continue,
                inc = inbox.recv() => inc,
            };
            let Some(inc) = inc else {
                info!("apid link lost; redialling");
                break;
            };
            match inc.msg {
                Message::Points { db, rp, points } => {
                    // The tap took every Points frame's points out, in order: this is the next.
                    let queued = match taken.next() {
                        Some(frame) => engine.push_frame(db, rp, frame).await,
                        None => engine.push_points(db, rp, points).await,
                    };
                    if !queued {
                        return;
                    }
                }
                Message::ReplayBatches { node, batches } => {
                    if !engine.push_batches(node as usize, batches).await {
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

    /// Accepts one worker connection the way apid does; returns the peer.
    async fn accept(listener: &UnixListener) -> Peer {
        let (stream, _) = listener.accept().await.unwrap();
        let (peer, mut inbox) = handshake(stream, Hello::new(Role::Apid), PeerOptions::default())
            .await
            .unwrap();
        let first = inbox.recv().await.unwrap();
        assert!(matches!(first.msg, Message::Subscribe { .. }), "{first:?}");
        std::mem::forget(inbox);
        assert_eq!(
            peer.remote().role,
            Role::Worker {
                task_id: "t".into()
            }
        );
        peer
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

        let apid = accept(&listener).await;
        let point = Point {
            name: "cpu".into(),
            tags: Default::default(),
            fields: Default::default(),
            time: 1,
        };
        apid.send(Message::Points {
            db: "db".into(),
            rp: "rp".into(),
            points: vec![point.clone(); 3],
        })
        .await
        .unwrap();
        assert_eq!(points_received(&apid).await, 3);
        // Reads go over the control link; the data link says so rather than leave them.
        let reply = apid
            .request(Message::HttpOutRequest {
                endpoint: "nope".into(),
            })
            .await
            .unwrap();
        assert!(matches!(reply, Message::Error { .. }), "{reply:?}");

        // apid goes away; the worker dials again and the task's state is intact.
        apid.close();
        drop(apid);
        let apid = accept(&listener).await;
        apid.send(Message::Points {
            db: "db".into(),
            rp: "rp".into(),
            points: vec![point],
        })
        .await
        .unwrap();
        assert_eq!(points_received(&apid).await, 4);

        cancel.cancel();
        link.await.unwrap();
        engine.finish().await;
        let _ = std::fs::remove_file(&path);
    }
}
