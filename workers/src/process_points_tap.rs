//! Points frames from apid, decoded on the engine thread instead of the runtime thread.
//!
//! Why: the IPC `Peer` decodes every frame on the runtime thread, so each point of a
//! `Message::Points` was allocated there and freed on the engine thread, which sent every free
//! through mimalloc's cross-thread path and made the runtime thread fault in fresh pages all
//! the time (together ~40% of a busy worker's CPU). The worker's data link therefore reads the
//! socket through a [`PointsTap`]: a pass-through stream that takes each `Points` notification
//! out of the byte stream whole and gives the `Peer` a copy with an empty point list instead
//! (same `db` and `rp`). The worker's loop pairs each such `Points` it receives with the next
//! [`PointsFrame`] of the tap's queue (frames are taken in stream order and every `Points`
//! frame is taken, so the two stay in step) and hands the raw frame to the engine thread, which
//! decodes and frees its points itself.
//!
//! Everything else (hello, requests, replies, garbage, oversized frames) passes through
//! unchanged, so the `Peer` reports bad input exactly as before; a `Points` frame whose point
//! list does not decode is reported by the engine thread (logged, the frame's points dropped).
//! The queue is bounded by the `Peer`'s inbox: the tap only reads when the `Peer` does.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// `Message::Points`'s variant index in the postcard encoding of an `Envelope` (ipc's codec
/// checks the same constant against the derived encoding; `tests::layout_matches_ipc` here).
const POINTS_VARIANT: u8 = 7;
/// Bytes of the frame length prefix (u32, big-endian: `kapacitor_ipc::frame_codec`).
const LEN_PREFIX: usize = 4;
/// Read at least this much at a time.
const READ_CHUNK: usize = 64 * 1024;

/// The raw envelope of one `Message::Points` notification.
#[derive(Debug, Clone)]
pub struct PointsFrame {
    /// The envelope (without the length prefix).
    bytes: Bytes,
    /// Where the encoded `Vec<Point>` starts.
    points_at: usize,
}

impl PointsFrame {
    /// The points of the frame; `Err` says what is wrong with the encoding. `decoder` keeps
    /// the previous frame's keys (one per engine thread).
    pub fn decode(
        &self,
        decoder: &mut kapacitor_models::PointDecoder,
    ) -> Result<Vec<kapacitor_models::Point>, String> {
        let (points, rest) = decoder
            .decode_list(&self.bytes[self.points_at..])
            .map_err(|e| format!("points frame of {} bytes: {e}", self.bytes.len()))?;
        if !rest.is_empty() {
            return Err(format!(
                "points frame of {} bytes: {} bytes after the points",
                self.bytes.len(),
                rest.len()
            ));
        }
        Ok(points)
    }

    /// Size of the envelope in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }
}

/// The frames the tap took out, oldest first; shared between the tap (inside the `Peer`'s
/// reader) and the worker's loop.
#[derive(Debug, Clone, Default)]
pub struct TakenFrames(Arc<Mutex<VecDeque<PointsFrame>>>);

impl TakenFrames {
    /// The frame of the next `Points` message the `Peer` delivers.
    pub fn next(&self) -> Option<PointsFrame> {
        self.lock().pop_front()
    }

    fn push(&self, f: PointsFrame) {
        self.lock().push_back(f);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<PointsFrame>> {
        // Nothing can panic while the lock is held; a poisoned queue is still a valid queue.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A stream that passes everything through except the point lists of `Points` frames.
pub struct PointsTap<S> {
    inner: S,
    /// Bytes read from `inner` not yet split into frames.
    input: BytesMut,
    /// Bytes ready for the reader (whole frames, or raw bytes once passing through).
    output: Bytes,
    taken: TakenFrames,
    /// The first frame is the hello and always passes.
    hello_seen: bool,
    /// Larger frames are passed through for the `Peer` to refuse.
    max_frame_len: usize,
    /// Set after EOF or an oversized frame: everything passes through as is.
    pass_through: bool,
    eof: bool,
}

impl<S> PointsTap<S> {
    pub fn new(inner: S, max_frame_len: usize) -> (PointsTap<S>, TakenFrames) {
        let taken = TakenFrames::default();
        let tap = PointsTap {
            inner,
            input: BytesMut::new(),
            output: Bytes::new(),
            taken: taken.clone(),
            hello_seen: false,
            max_frame_len,
            pass_through: false,
            eof: false,
        };
        (tap, taken)
    }

    /// Moves the next complete frame (or, passing through, everything) from `input` to
    /// `output`. Returns false when `input` holds no complete frame.
    fn next_frame(&mut self) -> bool {
        if self.pass_through {
            if self.input.is_empty() {
                return false;
            }
            self.output = self.input.split().freeze();
            return true;
        }
        if self.input.len() < LEN_PREFIX {
            return false;
        }
        let len = u32::from_be_bytes([self.input[0], self.input[1], self.input[2], self.input[3]])
            as usize;
        if len > self.max_frame_len {
            self.pass_through = true;
            return self.next_frame();
        }
        if self.input.len() < LEN_PREFIX + len {
            self.input.reserve(LEN_PREFIX + len - self.input.len());
            return false;
        }
        let frame = self.input.split_to(LEN_PREFIX + len).freeze();
        if !self.hello_seen {
            self.hello_seen = true;
            self.output = frame;
            return true;
        }
        let envelope = frame.slice(LEN_PREFIX..);
        match points_at(&envelope) {
            Some(at) => {
                // The same message with no points: varint 0 for the list's length.
                let mut stub = BytesMut::with_capacity(LEN_PREFIX + at + 1);
                stub.put_u32(at as u32 + 1);
                stub.put_slice(&envelope[..at]);
                stub.put_u8(0);
                self.taken.push(PointsFrame {
                    bytes: envelope,
                    points_at: at,
                });
                self.output = stub.freeze();
            }
            None => self.output = frame,
        }
        true
    }
}

/// Where the point list starts if `envelope` is a `Points` notification (`id` 0, `reply_to`
/// 0, the `Points` variant, then `db` and `rp` as length-prefixed strings).
fn points_at(envelope: &[u8]) -> Option<usize> {
    if envelope.len() < 3 || envelope[..3] != [0, 0, POINTS_VARIANT] {
        return None;
    }
    let mut at = 3;
    for _ in 0..2 {
        let (len, n) = varint(&envelope[at..])?;
        at = at.checked_add(n)?.checked_add(len)?;
        if at > envelope.len() {
            return None;
        }
    }
    (at < envelope.len()).then_some(at)
}

/// A postcard (LEB128) varint that fits in a usize: `(value, bytes used)`.
fn varint(b: &[u8]) -> Option<(usize, usize)> {
    let mut v: u64 = 0;
    for (i, &byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f).checked_shl(7 * i as u32)?;
        if byte & 0x80 == 0 {
            return Some((usize::try_from(v).ok()?, i + 1));
        }
    }
    None
}

impl<S: AsyncRead + Unpin> AsyncRead for PointsTap<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if !this.output.is_empty() {
                let n = this.output.len().min(buf.remaining());
                buf.put_slice(&this.output[..n]);
                this.output.advance(n);
                return Poll::Ready(Ok(()));
            }
            if this.next_frame() {
                continue;
            }
            if this.eof {
                // A partial frame left at EOF goes to the reader, which reports it.
                this.pass_through = true;
                if this.next_frame() {
                    continue;
                }
                return Poll::Ready(Ok(()));
            }
            if this.input.capacity() - this.input.len() < READ_CHUNK {
                this.input.reserve(READ_CHUNK);
            }
            match tokio_util::io::poll_read_buf(Pin::new(&mut this.inner), cx, &mut this.input) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(0)) => this.eof = true,
                Poll::Ready(Ok(_)) => {}
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for PointsTap<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use kapacitor_ipc::{Envelope, Hello, Message, Role, decode_envelope, encode, frame_codec};
    use kapacitor_models::{FieldValue, Point, PointDecoder};
    use tokio::io::AsyncWriteExt;
    use tokio_util::codec::FramedRead;

    fn point(i: i64) -> Point {
        Point {
            name: "cpu".into(),
            tags: [("host".to_string(), format!("h{i}"))]
                .into_iter()
                .collect(),
            fields: [("v".to_string(), FieldValue::Float(i as f64))]
                .into_iter()
                .collect(),
            time: i,
        }
    }

    fn points_msg(db: &str, points: Vec<Point>) -> Message {
        Message::Points {
            db: db.into(),
            rp: "autogen".into(),
            points,
        }
    }

    fn envelope(id: u64, msg: Message) -> Bytes {
        encode(&Envelope {
            id,
            reply_to: 0,
            msg,
        })
        .unwrap()
    }

    fn framed(bytes: &[u8]) -> Vec<u8> {
        let mut v = (bytes.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(bytes);
        v
    }

    #[test]
    fn layout_matches_ipc() {
        // A db name longer than 127 bytes takes a two-byte varint.
        for db in ["db", &"d".repeat(300)] {
            let pts = vec![point(1), point(2)];
            let env = envelope(0, points_msg(db, pts.clone()));
            let at = points_at(&env).expect("a Points notification");
            let f = PointsFrame {
                bytes: env,
                points_at: at,
            };
            assert_eq!(f.decode(&mut PointDecoder::new()).unwrap(), pts);
        }
        // A request that happens to carry points, and other messages, are not taken.
        assert_eq!(
            points_at(&envelope(5, points_msg("db", vec![point(1)]))),
            None
        );
        assert_eq!(points_at(&envelope(0, Message::Ping)), None);
        assert_eq!(points_at(&[0, 0, POINTS_VARIANT, 0xff]), None);
    }

    /// Feeds `stream` through a tap one `chunk` bytes at a time; returns the frames the reader
    /// got and what the tap took.
    async fn through_tap(
        stream: Vec<u8>,
        chunk: usize,
    ) -> (Vec<io::Result<BytesMut>>, TakenFrames) {
        let (mut w, r) = tokio::io::duplex(64);
        let (tap, taken) = PointsTap::new(r, 1024 * 1024);
        let writer = tokio::spawn(async move {
            for c in stream.chunks(chunk) {
                w.write_all(c).await.unwrap();
            }
        });
        let mut reader = FramedRead::new(tap, frame_codec(1024 * 1024));
        let mut got = Vec::new();
        while let Some(f) = reader.next().await {
            let stop = f.is_err();
            got.push(f);
            if stop {
                break;
            }
        }
        writer.await.unwrap();
        (got, taken)
    }

    #[tokio::test]
    async fn points_frames_are_taken_in_order_and_the_rest_passes() {
        let hello = encode(&Hello::new(Role::Apid)).unwrap();
        let first: Vec<Point> = (0..100).map(point).collect();
        let second: Vec<Point> = (100..103).map(point).collect();
        let mut stream = framed(&hello);
        stream.extend(framed(&envelope(0, points_msg("db", first.clone()))));
        stream.extend(framed(&envelope(9, Message::StatsRequest)));
        stream.extend(framed(&envelope(0, points_msg("other", second.clone()))));
        stream.extend(framed(&envelope(0, points_msg("db", vec![]))));
        for chunk in [1, 7, 4096] {
            let (got, taken) = through_tap(stream.clone(), chunk).await;
            let got: Vec<BytesMut> = got.into_iter().map(|f| f.unwrap()).collect();
            assert_eq!(got.len(), 5, "chunk {chunk}");
            assert_eq!(&got[0][..], &hello[..]);
            let msgs: Vec<Envelope> = got[1..]
                .iter()
                .map(|f| decode_envelope(f).unwrap())
                .collect();
            assert_eq!(msgs[0].msg, points_msg("db", vec![]));
            assert_eq!(msgs[1].id, 9);
            assert_eq!(msgs[1].msg, Message::StatsRequest);
            assert_eq!(msgs[2].msg, points_msg("other", vec![]));
            assert_eq!(msgs[3].msg, points_msg("db", vec![]));
            assert_eq!(
                taken
                    .next()
                    .unwrap()
                    .decode(&mut PointDecoder::new())
                    .unwrap(),
                first
            );
            assert_eq!(
                taken
                    .next()
                    .unwrap()
                    .decode(&mut PointDecoder::new())
                    .unwrap(),
                second
            );
            assert_eq!(
                taken
                    .next()
                    .unwrap()
                    .decode(&mut PointDecoder::new())
                    .unwrap(),
                vec![]
            );
            assert!(taken.next().is_none());
        }
    }

    #[tokio::test]
    async fn bad_input_reaches_the_reader_as_before() {
        let hello = encode(&Hello::new(Role::Apid)).unwrap();
        // Garbage after a valid Points header: the stub passes, the frame fails to decode.
        let mut garbage = envelope(0, points_msg("db", vec![]));
        garbage.truncate(garbage.len() - 1);
        let mut garbage = garbage.to_vec();
        garbage.extend_from_slice(&[3, 0xff, 0xff]);
        let mut stream = framed(&hello);
        stream.extend(framed(&garbage));
        let (got, taken) = through_tap(stream.clone(), 5).await;
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|f| f.is_ok()));
        assert!(
            taken
                .next()
                .unwrap()
                .decode(&mut PointDecoder::new())
                .is_err()
        );

        // A frame cut short by EOF is an error for the reader.
        let whole = framed(&envelope(0, points_msg("db", vec![point(1)])));
        let mut cut = framed(&hello);
        cut.extend_from_slice(&whole[..whole.len() - 2]);
        let (got, taken) = through_tap(cut, 3).await;
        assert!(got.last().unwrap().is_err(), "{got:?}");
        assert!(taken.next().is_none());

        // An oversized frame is refused by the reader's codec.
        let mut big = framed(&hello);
        big.extend_from_slice(&(2 * 1024 * 1024u32).to_be_bytes());
        big.extend_from_slice(&[0, 0, POINTS_VARIANT]);
        let (got, _) = through_tap(big, 64).await;
        assert!(got.last().unwrap().is_err(), "{got:?}");
    }
}
