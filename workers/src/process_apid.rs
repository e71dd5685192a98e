//! The worker's data link: dial apid's socket, say hello with the task id, feed the engine
//! with the batches apid sends and answer its reads. Redial with backoff whenever apid
//! restarts.

use crate::process_engine::EngineHandle;
use kapacitor_ipc::{Hello, Message, PeerOptions, Role, handshake};
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::UnixStream;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

const REDIAL_START: Duration = Duration::from_millis(50);
const REDIAL_CAP: Duration = Duration::from_secs(2);

pub async fn run(path: PathBuf, task_id: String, engine: EngineHandle, cancel: CancellationToken) {
    let mut delay = REDIAL_START;
    let mut announced_wait = false;
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
        info!("connected to apid");
        delay = REDIAL_START;
        announced_wait = false;
        loop {
            let inc = tokio::select! {
                _ = cancel.cancelled() => {
                    peer.close();
                    return;
                }
                inc = inbox.recv() => inc,
            };
            let Some(inc) = inc else {
                info!("apid link lost; redialling");
                break;
            };
            match inc.msg {
                Message::Points { db, rp, points } => {
                    if !engine.push_points(db, rp, points).await {
                        return;
                    }
                }
                Message::HttpOutRequest { ref endpoint } => {
                    let body = engine.http_out(endpoint.clone()).await;
                    let _ = inc.reply(Message::HttpOutResponse { body }).await;
                }
                Message::StatsRequest => {
                    let reply = match engine.stats_json().await {
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
                ref other => debug!(msg = other.name(), "ignored message from apid"),
            }
        }
    }
}
