//! The polite refusal of a connection beyond the limit: a 503 with Kapacitor's JSON error
//! body and `Connection: close`, written without reading the request.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Refusals being written at once; beyond that a connection is closed without an answer, so
/// a flood cannot hold descriptors in refusals either.
pub(super) const MAX_IN_FLIGHT: usize = 64;

/// How long one refusal may take (write, then a short drain so the close does not reset the
/// connection before the client read the answer).
const REFUSE_WITHIN: Duration = Duration::from_secs(1);

/// The whole response.
pub(super) fn response(limit: u64) -> String {
    let msg = format!(
        "too many open HTTP connections (limit {limit}, every one has a request in progress); \
         retry later"
    );
    let body = format!(r#"{{"error":"{msg}","message":"{msg}"}}"#);
    format!(
        "HTTP/1.1 503 Service Unavailable\r\n\
         Content-Type: application/json; charset=utf-8\r\n\
         Content-Length: {}\r\n\
         Retry-After: 1\r\n\
         X-Kapacitor-Version: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len(),
        kapacitor_ipc::VERSION
    )
}

pub(super) async fn refuse(mut tcp: TcpStream, limit: u64) {
    let _ = tokio::time::timeout(REFUSE_WITHIN, async {
        tcp.write_all(response(limit).as_bytes()).await?;
        tcp.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut drained = 0;
        while drained < 64 * 1024 {
            match tcp.read(&mut sink).await? {
                0 => break,
                n => drained += n,
            }
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_refusal_is_a_complete_response_with_kapacitors_error_body() {
        let r = super::response(300);
        let (head, body) = r.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"], v["message"]);
        assert!(v["error"].as_str().unwrap().contains("limit 300"));
    }
}
