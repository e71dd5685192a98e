//! Reading an HTTP response body an outside server controls with a bound: only its first
//! bytes are kept (an error body shown to the operator), the rest is not read.

/// Bytes of an error response body kept for a message.
pub const ERROR_BODY_CAP: usize = 64 * 1024;

/// At most `cap` bytes of `resp`'s body as text (invalid UTF-8 replaced), with a marker when
/// there was more; reading stops there and the connection is dropped.
pub async fn read_capped(
    mut resp: reqwest::Response,
    cap: usize,
) -> Result<String, reqwest::Error> {
    let mut buf: Vec<u8> = Vec::new();
    let mut cut = false;
    while let Some(chunk) = resp.chunk().await? {
        let room = cap - buf.len();
        if chunk.len() > room {
            buf.extend_from_slice(&chunk[..room]);
            cut = true;
            break;
        }
        buf.extend_from_slice(&chunk);
    }
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    if cut {
        text.push_str(&format!(" …[cut at {cap} bytes]"));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server answering every connection with `body` (chunked, never ending when `endless`).
    async fn server(endless: bool) -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut req = [0u8; 4096];
                    let _ = s.read(&mut req).await;
                    let _ = s
                        .write_all(b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n")
                        .await;
                    let chunk = format!("{:x}\r\n{}\r\n", 8192, "e".repeat(8192));
                    for _ in 0..if endless { usize::MAX } else { 2 } {
                        if s.write_all(chunk.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                    let _ = s.write_all(b"0\r\n\r\n").await;
                });
            }
        });
        format!("http://{addr}/")
    }

    #[tokio::test]
    async fn an_endless_body_is_read_up_to_the_cap() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let url = server(true).await;
        let resp = reqwest::get(&url).await.unwrap();
        let text = super::read_capped(resp, 10_000).await.unwrap();
        assert!(text.starts_with("eeee"));
        assert!(
            text.ends_with(" …[cut at 10000 bytes]"),
            "{}",
            &text[9_990..]
        );
        assert_eq!(text.len(), 10_000 + " …[cut at 10000 bytes]".len());
        let resp = reqwest::get(&server(false).await).await.unwrap();
        assert_eq!(
            super::read_capped(resp, 100_000).await.unwrap().len(),
            16_384
        );
    }
}
