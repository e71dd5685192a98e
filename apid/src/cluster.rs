//! The membership routes of the HTTP API (Kapacitor Enterprise's `kapacitorctl member ...`):
//!
//! * `GET    /kapacitor/v1/cluster/members`: state, cluster id, local member id, members;
//! * `POST   /kapacitor/v1/cluster/members` with `{"rpc_address": "host:9091"}`: add a member;
//! * `DELETE /kapacitor/v1/cluster/members/<member id>`: remove a member (this one or another).
//!
//! gossipd owns membership; each request dials its socket `<data_dir>/run/gossipd.sock`
//! (a fresh connection per request, so a restarted gossipd is picked up without any state
//! here).

use crate::http::{error_response, json_response};
use axum::Router;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use kapacitor_ipc::{ClusterView, Hello, Message, PeerOptions, Role, handshake};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::net::UnixStream;

/// Listing is quick; adding may wait for a starting member (gossipd retries for seconds).
const LIST_TIMEOUT: Duration = Duration::from_secs(5);
const CHANGE_TIMEOUT: Duration = Duration::from_secs(30);

static GOSSIPD_SOCKET: OnceLock<PathBuf> = OnceLock::new();

/// Tells the routes where gossipd's socket is; called once at start-up.
pub fn init(data_dir: &std::path::Path) {
    let _ = GOSSIPD_SOCKET.set(data_dir.join("run").join("gossipd.sock"));
}

/// The routes, to be merged under `/kapacitor/v1`.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/cluster/members", get(list).post(add))
        .route("/cluster/members/{id}", delete(remove))
}

/// The JSON body of a membership answer.
pub fn view_json(v: &ClusterView) -> Value {
    json!({
        "state": v.state,
        "cluster_id": v.cluster_id,
        "local_member_id": v.local_member_id,
        "members": v.members.iter().map(|m| json!({
            "id": m.id,
            "gossip_address": m.gossip_address,
            "rpc_address": m.rpc_address,
            "api_address": m.api_address,
            "roles": m.roles,
            "status": m.status,
        })).collect::<Vec<_>>(),
    })
}

async fn ask(msg: Message, limit: Duration) -> Result<ClusterView, Response> {
    let unavailable = |e: String| {
        error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("gossip process unavailable: {e}"),
        )
    };
    let path = GOSSIPD_SOCKET
        .get()
        .ok_or_else(|| unavailable("socket path not set".into()))?;
    let stream = UnixStream::connect(path)
        .await
        .map_err(|e| unavailable(format!("{}: {e}", path.display())))?;
    let (peer, _inbox) = handshake(stream, Hello::new(Role::Apid), PeerOptions::default())
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    let answer = peer.request_timeout(msg, limit).await;
    peer.close();
    match answer.map_err(|e| unavailable(e.to_string()))? {
        Message::ClusterMembers(v) => Ok(v),
        Message::ClusterError { status, message } => Err(error_response(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            &message,
        )),
        other => Err(error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!(
                "unexpected answer from the gossip process: {}",
                other.name()
            ),
        )),
    }
}

async fn list() -> Response {
    match ask(Message::ClusterMembersRequest, LIST_TIMEOUT).await {
        Ok(v) => json_response(StatusCode::OK, &view_json(&v)),
        Err(resp) => resp,
    }
}

async fn add(body: Bytes) -> Response {
    let rpc_address = match serde_json::from_slice::<Value>(&body) {
        Ok(v) => match v.get("rpc_address").and_then(Value::as_str) {
            Some(a) if !a.trim().is_empty() => a.trim().to_string(),
            _ => {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    "must provide the new member's \"rpc_address\" (host:port)",
                );
            }
        },
        Err(e) => {
            return error_response(StatusCode::BAD_REQUEST, &format!("invalid JSON body: {e}"));
        }
    };
    match ask(Message::ClusterAddMember { rpc_address }, CHANGE_TIMEOUT).await {
        Ok(v) => json_response(StatusCode::OK, &view_json(&v)),
        Err(resp) => resp,
    }
}

async fn remove(Path(id): Path<String>) -> Response {
    match ask(
        Message::ClusterRemoveMember { member_id: id },
        CHANGE_TIMEOUT,
    )
    .await
    {
        Ok(_) => Response::builder()
            .status(StatusCode::NO_CONTENT)
            .body(axum::body::Body::empty())
            .unwrap_or_else(|_| StatusCode::NO_CONTENT.into_response()),
        Err(resp) => resp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kapacitor_ipc::ClusterMember;

    #[test]
    fn view_json_has_the_documented_fields() {
        let v = ClusterView {
            state: "initialized".into(),
            cluster_id: "c".into(),
            local_member_id: "m".into(),
            members: vec![ClusterMember {
                id: "m".into(),
                gossip_address: "a:9090".into(),
                rpc_address: "a:9091".into(),
                api_address: "a:9092".into(),
                roles: vec!["worker".into()],
                status: "alive".into(),
            }],
        };
        let j = view_json(&v);
        assert_eq!(j["state"], "initialized");
        assert_eq!(j["local_member_id"], "m");
        assert_eq!(j["members"][0]["rpc_address"], "a:9091");
        assert_eq!(j["members"][0]["roles"][0], "worker");
        assert_eq!(j["members"][0]["status"], "alive");
    }
}
