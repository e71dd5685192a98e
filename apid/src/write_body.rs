//! Reading a `/write` body within `[http] max-body-size` and the shared write budget.
//!
//! The body is read into one buffer sized from `Content-Length` (no doubling, no copy: axum's
//! `Bytes` extractor collects the chunks and then copies them, holding the body twice), gzip
//! is decoded into a second buffer in steps whose room is reserved before each step, and the
//! compressed buffer is freed as soon as the text is whole. Every byte of those buffers is
//! reserved in the [`WriteBudget`] before it is held.

use crate::write_budget::{BudgetError, Reservation, WriteBudget};
use axum::body::Body;
use axum::http::{HeaderMap, header};
use http_body_util::BodyExt;
use std::io::Read;
use tokio::time::Instant;

/// Bytes reserved for a body of unknown length before its first chunk.
const FIRST_STEP: usize = 64 * 1024;
/// Decoded gzip is produced in steps of this size.
const GZIP_STEP: usize = 256 * 1024;

#[derive(Debug, Clone, Copy)]
pub struct WriteLimits {
    /// `[http] max-body-size`.
    pub max_body: usize,
    /// `[http] idle-timeout`: a body that makes no progress for this long is abandoned, so a
    /// stalled client does not hold its reservation and its connection forever.
    pub stall_timeout: std::time::Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("request body too large: more than {limit} bytes ([http] max-body-size)")]
    TooLarge { limit: usize },
    #[error("request body too large: more than {limit} bytes after gzip ([http] max-body-size)")]
    TooLargeDecoded { limit: usize },
    #[error(transparent)]
    Budget(#[from] BudgetError),
    #[error("error reading the request body: {0}")]
    Read(String),
    #[error("request body stalled: no data for {0:?} ([http] idle-timeout)")]
    Stalled(std::time::Duration),
    #[error("gzip: {0}")]
    Gzip(String),
    #[error("body is not UTF-8: {0}")]
    NotUtf8(std::str::Utf8Error),
}

/// The body as text, with the reservation that covers it (drop it when the text is gone).
pub async fn read_text(
    headers: &HeaderMap,
    body: Body,
    limits: WriteLimits,
    budget: &WriteBudget,
) -> Result<(String, Reservation), BodyError> {
    let deadline = Instant::now() + crate::write_budget::WAIT;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body as u64) {
        return Err(BodyError::TooLarge {
            limit: limits.max_body,
        });
    }
    let mut reservation = budget.reservation();
    let first = declared.map_or(FIRST_STEP.min(limits.max_body), |n| n as usize);
    reservation.grow_to(first as u64, deadline).await?;
    let raw = read_raw(body, first, limits, &mut reservation, deadline).await?;
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let bytes = if gzip {
        let text = gunzip(
            &raw,
            raw.capacity() as u64,
            limits,
            &mut reservation,
            deadline,
        )
        .await?;
        drop(raw);
        reservation.shrink_to(text.capacity() as u64);
        text
    } else {
        raw
    };
    match String::from_utf8(bytes) {
        Ok(s) => Ok((s, reservation)),
        Err(e) => Err(BodyError::NotUtf8(e.utf8_error())),
    }
}

async fn read_raw(
    mut body: Body,
    first: usize,
    limits: WriteLimits,
    reservation: &mut Reservation,
    deadline: Instant,
) -> Result<Vec<u8>, BodyError> {
    let mut buf: Vec<u8> = Vec::with_capacity(first);
    loop {
        let frame = match tokio::time::timeout(limits.stall_timeout, body.frame()).await {
            Ok(Some(frame)) => frame.map_err(|e| BodyError::Read(e.to_string()))?,
            Ok(None) => break,
            Err(_) => return Err(BodyError::Stalled(limits.stall_timeout)),
        };
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        let need = buf.len() + chunk.len();
        if need > limits.max_body {
            return Err(BodyError::TooLarge {
                limit: limits.max_body,
            });
        }
        if need > buf.capacity() {
            // Longer than declared, or no length: grow by doubling, reserved first, the old
            // buffer included while both exist.
            let cap = need.max(buf.capacity() * 2).min(limits.max_body);
            reservation
                .grow_to((cap + buf.capacity()) as u64, deadline)
                .await?;
            buf.reserve_exact(cap - buf.len());
            reservation.shrink_to(buf.capacity() as u64);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// Decodes `raw` (`held` bytes of `reservation`) into a buffer reserved before it grows.
async fn gunzip(
    raw: &[u8],
    held: u64,
    limits: WriteLimits,
    reservation: &mut Reservation,
    deadline: Instant,
) -> Result<Vec<u8>, BodyError> {
    // gzip's trailer has the decoded size modulo 2^32 (of the last member): the real size is
    // at least that, so more than the limit is refused before decoding, and otherwise it is
    // the buffer's first size (no doubling for an ordinary body).
    // Only for what looks like gzip (magic bytes, at least a header and a trailer), so that
    // garbage gets the decoder's error.
    let isize_hint = match raw {
        [0x1f, 0x8b, ..] if raw.len() >= 18 => {
            let t = &raw[raw.len() - 4..];
            u32::from_le_bytes([t[0], t[1], t[2], t[3]]) as usize
        }
        _ => 0,
    };
    if isize_hint > limits.max_body {
        return Err(BodyError::TooLargeDecoded {
            limit: limits.max_body,
        });
    }
    let first = (isize_hint + 1).max(GZIP_STEP).min(limits.max_body + 1);
    reservation.grow_to(held + first as u64, deadline).await?;
    let mut out: Vec<u8> = Vec::with_capacity(first);
    let mut dec = flate2::read::GzDecoder::new(raw);
    loop {
        if out.len() == out.capacity() {
            // Longer than the trailer said (several members, or a lie): grow by doubling,
            // reserved first, the old buffer included while both exist.
            let cap = (out.capacity() * 2).min(limits.max_body + 1);
            reservation
                .grow_to(held + (cap + out.capacity()) as u64, deadline)
                .await?;
            out.reserve_exact(cap - out.len());
            reservation.shrink_to(held + out.capacity() as u64);
        }
        let start = out.len();
        let room = (out.capacity() - start).min(GZIP_STEP);
        out.resize(start + room, 0);
        let n = match dec.read(&mut out[start..]) {
            Ok(n) => n,
            Err(e) => return Err(BodyError::Gzip(e.to_string())),
        };
        out.truncate(start + n);
        if n == 0 {
            break;
        }
        if out.len() > limits.max_body {
            return Err(BodyError::TooLargeDecoded {
                limit: limits.max_body,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn headers(len: Option<usize>, gzip: bool) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(n) = len {
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        }
        if gzip {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        h
    }

    /// A body of unknown length arriving in many chunks.
    fn chunked(data: Vec<u8>) -> Body {
        let chunks: Vec<Result<axum::body::Bytes, std::io::Error>> = data
            .chunks(1000)
            .map(|c| Ok(axum::body::Bytes::copy_from_slice(c)))
            .collect();
        Body::from_stream(futures::stream::iter(chunks))
    }

    const LIMITS: WriteLimits = WriteLimits {
        max_body: 100_000,
        stall_timeout: std::time::Duration::from_secs(60),
    };

    #[tokio::test]
    async fn plain_chunked_and_gzip_bodies_read_within_the_budget() {
        let budget = WriteBudget::new(1 << 20);
        let text = "cpu v=1 1\n".repeat(5000);
        let (t, r) = read_text(
            &headers(Some(text.len()), false),
            Body::from(text.clone()),
            LIMITS,
            &budget,
        )
        .await
        .unwrap();
        assert_eq!(t, text);
        assert!(r.bytes() >= text.len() as u64 && r.bytes() < text.len() as u64 + 1024);
        drop(r);
        let (t, r) = read_text(
            &headers(None, false),
            chunked(text.clone().into_bytes()),
            LIMITS,
            &budget,
        )
        .await
        .unwrap();
        assert_eq!(t, text);
        assert!(r.bytes() >= t.capacity() as u64);
        drop(r);
        let z = gz(text.as_bytes());
        let (t, r) = read_text(
            &headers(Some(z.len()), true),
            Body::from(z),
            LIMITS,
            &budget,
        )
        .await
        .unwrap();
        assert_eq!(t, text);
        assert!(r.bytes() >= t.capacity() as u64);
        drop(r);
        assert_eq!(budget.available(), 1 << 20);
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_refused() {
        let budget = WriteBudget::new(1 << 20);
        let big = vec![b'a'; 100_001];
        // Declared too long: refused before reading.
        let e = read_text(
            &headers(Some(big.len()), false),
            Body::empty(),
            LIMITS,
            &budget,
        )
        .await;
        assert!(matches!(e, Err(BodyError::TooLarge { limit: 100_000 })));
        // Undeclared and too long.
        let e = read_text(&headers(None, false), chunked(big.clone()), LIMITS, &budget).await;
        assert!(matches!(e, Err(BodyError::TooLarge { .. })));
        // Small compressed, too long decoded.
        let z = gz(&big);
        let e = read_text(
            &headers(Some(z.len()), true),
            Body::from(z),
            LIMITS,
            &budget,
        )
        .await;
        assert!(matches!(e, Err(BodyError::TooLargeDecoded { .. })), "{e:?}");
        // Exactly the limit decoded is fine.
        let z = gz(&big[1..]);
        let (t, _r) = read_text(
            &headers(Some(z.len()), true),
            Body::from(z),
            LIMITS,
            &budget,
        )
        .await
        .unwrap();
        assert_eq!(t.len(), 100_000);
        let e = read_text(&headers(Some(4), true), Body::from("oops"), LIMITS, &budget).await;
        assert!(matches!(e, Err(BodyError::Gzip(_))), "{e:?}");
    }

    #[tokio::test]
    async fn a_full_budget_answers_busy_and_one_larger_than_it_never_fits() {
        let budget = WriteBudget::new(150_000);
        let mut hog = budget.reservation();
        hog.grow_to(100_000, Instant::now()).await.unwrap();
        let text = "x".repeat(60_000);
        tokio::time::pause();
        let e = read_text(
            &headers(Some(text.len()), false),
            Body::from(text.clone()),
            LIMITS,
            &budget,
        )
        .await;
        assert!(
            matches!(e, Err(BodyError::Budget(BudgetError::Busy { .. }))),
            "{e:?}"
        );
        drop(hog);
        // A body that stops arriving is abandoned after the stall timeout.
        let (_tx, rx) =
            futures::channel::mpsc::channel::<Result<axum::body::Bytes, std::io::Error>>(1);
        let e = read_text(
            &headers(Some(10), false),
            Body::from_stream(rx),
            LIMITS,
            &budget,
        )
        .await;
        assert!(matches!(e, Err(BodyError::Stalled(_))), "{e:?}");
        let small = WriteBudget::new(50_000);
        let e = read_text(
            &headers(Some(text.len()), false),
            Body::from(text),
            LIMITS,
            &small,
        )
        .await;
        assert!(
            matches!(e, Err(BodyError::Budget(BudgetError::NeverFits { .. }))),
            "{e:?}"
        );
    }
}
