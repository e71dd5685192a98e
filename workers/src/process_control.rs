//! The worker's control link: a second connection to apid's socket (`Role::WorkerControl`)
//! that carries apid's requests (httpOut, stats and DOT reads, sideload reload, ping). They
//! reach the engine through its control queue, so neither the data link's queued frames nor
//! the engine's data queue hold them up. Redial with backoff whenever apid restarts, like the
//! data link.

use crate::process_engine::EngineHandle;
use kapacitor_ipc::{Hello, Incoming, Message, PeerOptions, Role, handshake};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UnixStream;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

const REDIAL_START: Duration = Duration::from_millis(50);
const REDIAL_CAP: Duration = Duration::from_secs(2);
/// Requests served at once; more wait in the connection's inbox (and then in apid, whose
/// request timeout covers that wait).
const IN_FLIGHT: usize = 16;

pub async fn run(path: PathBuf, task_id: String, engine: EngineHandle, cancel: CancellationToken) {
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut delay = REDIAL_START;
    loop {
        let stream = tokio::select! {
            _ = cancel.cancelled() => return,
            s = UnixStream::connect(&path) => s,
        };
        let link = match stream {
            Ok(s) => {
                let hello = Hello::new(Role::WorkerControl {
                    task_id: task_id.clone(),
                });
                handshake(s, hello, PeerOptions::default()).await.ok()
            }
            Err(e) => {
                debug!(path = %path.display(), error = %e, "apid not reachable yet for control; retrying");
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
        debug!("control link to apid up");
        delay = REDIAL_START;
        loop {
            let inc = tokio::select! {
                _ = cancel.cancelled() => {
                    peer.close();
                    return;
                }
                inc = inbox.recv() => inc,
            };
            let Some(inc) = inc else {
                info!("apid control link lost; redialling");
                break;
            };
            if !inc.is_request() {
                debug!(
                    msg = inc.msg.name(),
                    "ignored notification on the control link"
                );
                continue;
            }
            // A slow answer (a sideload reload reading files) must not hold the others.
            let permit = tokio::select! {
                _ = cancel.cancelled() => return,
                p = in_flight.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => return,
                },
            };
            let engine = engine.clone();
            tokio::spawn(async move {
                serve(&engine, inc).await;
                drop(permit);
            });
        }
    }
}

async fn serve(engine: &EngineHandle, inc: Incoming) {
    let reply = match &inc.msg {
        Message::Ping => Message::Pong,
        Message::HttpOutRequest { endpoint } => Message::HttpOutResponse {
            body: engine.http_out(endpoint.clone()).await,
        },
        Message::StatsRequest => match engine.stats_json().await {
            Some(json) => Message::Stats { json },
            None => Message::Error {
                message: "the task engine is gone".into(),
            },
        },
        Message::DotRequest { labels } => match engine.dot(*labels).await {
            Some(dot) => Message::Dot { dot },
            None => Message::Error {
                message: "the task has no DOT view".into(),
            },
        },
        Message::SideloadReload => {
            let errors = engine.reload_sideload().await;
            if errors.is_empty() {
                Message::Done
            } else {
                Message::Error {
                    message: errors.join("; "),
                }
            }
        }
        other => Message::Error {
            message: format!("the control link does not serve {}", other.name()),
        },
    };
    let _ = inc.reply(reply).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process_engine::Engine;
    use crate::process_runner::{WorkerContext, counting_runner};
    use kapacitor_ipc::{Peer, TaskSpec};
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

    async fn accept(listener: &UnixListener) -> (Peer, kapacitor_ipc::Inbox) {
        let (stream, _) = listener.accept().await.unwrap();
        let (peer, inbox) = handshake(stream, Hello::new(Role::Apid), PeerOptions::default())
            .await
            .unwrap();
        assert_eq!(
            peer.remote().role,
            Role::WorkerControl {
                task_id: "t".into()
            }
        );
        (peer, inbox)
    }

    #[tokio::test]
    async fn serves_reads_and_redials() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("apid.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let engine = Engine::start(spec(), WorkerContext::default(), counting_runner).unwrap();
        let cancel = CancellationToken::new();
        let link = tokio::spawn(run(
            path.clone(),
            "t".into(),
            engine.handle(),
            cancel.clone(),
        ));
        for _ in 0..2 {
            let (apid, _inbox) = accept(&listener).await;
            assert_eq!(apid.request(Message::Ping).await.unwrap(), Message::Pong);
            match apid.request(Message::StatsRequest).await.unwrap() {
                Message::Stats { json } => assert!(json.contains("points_received"), "{json}"),
                other => panic!("unexpected {other:?}"),
            }
            let reply = apid
                .request(Message::HttpOutRequest {
                    endpoint: "nope".into(),
                })
                .await
                .unwrap();
            assert_eq!(reply, Message::HttpOutResponse { body: None });
            assert_eq!(
                apid.request(Message::SideloadReload).await.unwrap(),
                Message::Done
            );
            // apid goes away: the worker dials again.
            apid.close();
        }
        cancel.cancel();
        link.await.unwrap();
        engine.finish().await;
    }
}
