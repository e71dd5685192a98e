//! Feeding a replay's worker: reading `.srpl` files, rebasing timestamps, pacing by the
//! clock, and sending frames over the worker's data link (each send waits while the link's
//! queue is full, so a fast replay goes exactly as fast as the worker takes it).
//!
//! Points go as `TaskBatch { seq: 0, payload }` ("kapacitor batch v1", decoded on the
//! worker's engine thread like a live task's queued batches): the replay worker's data
//! never passes through a durable queue (the recording is the durable copy, and a replay
//! whose worker dies fails), so sequence number 0 tells the worker there is nothing to
//! acknowledge.

use crate::replays::Pace;
use kapacitor_ipc::{Dbrp, Message, Peer};
use kapacitor_models::{Batch, Point, Precision};
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Points per `TaskBatch` frame.
const FRAME_POINTS: usize = 1_000;
/// Records read from a file per chunk handed to the async side.
const READ_CHUNK: usize = 1_000;

pub struct Feeder {
    peer: Peer,
    pace: Pace,
    /// The replay's start: "now" of rebased timestamps and zero of the real clock.
    start_ns: i64,
    start: Instant,
}

/// Points waiting to be sent in one frame.
#[derive(Default)]
struct Pending {
    dbrp: Option<Dbrp>,
    points: Vec<Point>,
    /// Time of the first record of the source (before rebasing).
    first: Option<i64>,
}

impl Feeder {
    pub fn new(peer: Peer, pace: Pace) -> Feeder {
        Feeder {
            peer,
            pace,
            start_ns: crate::api_json::now_ns(),
            start: Instant::now(),
        }
    }

    async fn send(&self, msg: Message) -> Result<(), String> {
        self.peer
            .send(msg)
            .await
            .map_err(|e| format!("the replay worker went away: {e}"))
    }

    async fn flush(&self, p: &mut Pending) -> Result<(), String> {
        if p.points.is_empty() {
            return Ok(());
        }
        let Some(dbrp) = p.dbrp.clone() else {
            return Ok(());
        };
        let payload = kapacitor_models::encode_batch(&dbrp.db, &dbrp.rp, &p.points);
        p.points.clear();
        self.send(Message::TaskBatch {
            seq: 0,
            payload: payload.into(),
        })
        .await
    }

    /// Where the real clock delivers something recorded `offset` ns after the first record.
    fn due(&self, offset: i64) -> Instant {
        self.start + Duration::from_nanos(offset.max(0) as u64)
    }

    async fn push(&self, p: &mut Pending, dbrp: Dbrp, mut point: Point) -> Result<(), String> {
        let first = *p.first.get_or_insert(point.time);
        let offset = point.time.saturating_sub(first);
        if !self.pace.recording_time {
            point.time = self.start_ns.saturating_add(offset);
        }
        if self.pace.real_clock {
            let due = self.due(offset);
            if due > Instant::now() {
                self.flush(p).await?;
                tokio::time::sleep_until(due).await;
            }
        }
        if p.dbrp.as_ref() != Some(&dbrp) || p.points.len() >= FRAME_POINTS {
            self.flush(p).await?;
            p.dbrp = Some(dbrp);
        }
        p.points.push(point);
        Ok(())
    }

    /// Replays a `.srpl` file (gzip as Kapacitor writes it, or plain text), read on a
    /// blocking thread a chunk at a time.
    pub async fn stream_file(&self, path: PathBuf) -> Result<(), String> {
        let (tx, mut rx) = mpsc::channel(4);
        let reader = tokio::task::spawn_blocking(move || read_srpl(&path, &tx));
        let mut pending = Pending::default();
        while let Some(chunk) = rx.recv().await {
            for (dbrp, point) in chunk {
                self.push(&mut pending, dbrp, point).await?;
            }
        }
        reader
            .await
            .map_err(|e| format!("reading the recording: {e}"))??;
        self.flush(&mut pending).await
    }

    /// Replays points held in memory, in order.
    pub async fn points(&self, points: Vec<(Dbrp, Point)>) -> Result<(), String> {
        let mut pending = Pending::default();
        for (dbrp, point) in points {
            self.push(&mut pending, dbrp, point).await?;
        }
        self.flush(&mut pending).await
    }

    /// Replays batch sources, source `i` into query node `nodes[i]`. Each source is rebased
    /// on its own first point; the batches of all sources go in the order of their (last
    /// point) times, so joins see them interleaved as they were recorded.
    pub async fn batches(&self, sources: Vec<Vec<Batch>>, nodes: &[u32]) -> Result<(), String> {
        if sources.len() > nodes.len() {
            return Err(format!(
                "the recording has {} batch sources but the task has {} query nodes",
                sources.len(),
                nodes.len()
            ));
        }
        let mut all: Vec<(i64, i64, u32, Batch)> = Vec::new();
        for (i, batches) in sources.into_iter().enumerate() {
            let first = batches
                .iter()
                .find_map(|b| b.points.first().map(|p| p.time))
                .or_else(|| batches.first().map(|b| b.time));
            let Some(first) = first else { continue };
            let shift = if self.pace.recording_time {
                0
            } else {
                self.start_ns.saturating_sub(first)
            };
            for mut b in batches {
                let last_orig = b.points.last().map_or(b.time, |p| p.time);
                for p in &mut b.points {
                    p.time = p.time.saturating_add(shift);
                }
                b.time = b.time.saturating_add(shift);
                // Kapacitor's rule: tmax is never before the batch's last point.
                if let Some(last) = b.points.last() {
                    b.time = b.time.max(last.time);
                }
                all.push((
                    last_orig.saturating_add(shift),
                    last_orig - first,
                    nodes[i],
                    b,
                ));
            }
        }
        all.sort_by_key(|(t, ..)| *t);
        for (_, offset, node, batch) in all {
            if self.pace.real_clock {
                tokio::time::sleep_until(self.due(offset)).await;
            }
            self.send(Message::ReplayBatches {
                node,
                batches: vec![batch],
            })
            .await?;
        }
        Ok(())
    }
}

type Chunk = Vec<(Dbrp, Point)>;

/// Reads the records of a `.srpl` file into `tx` in chunks; an unreadable record is an error
/// naming its line.
fn read_srpl(path: &std::path::Path, tx: &mpsc::Sender<Chunk>) -> Result<(), String> {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("opening recording {}: {e}", path.display()))?;
    let mut buf = BufReader::new(file);
    let gzip = buf
        .fill_buf()
        .map(|b| b.starts_with(&[0x1f, 0x8b]))
        .unwrap_or(false);
    let reader: Box<dyn Read> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(buf))
    } else {
        Box::new(buf)
    };
    let mut lines = BufReader::new(reader).lines();
    let mut chunk = Vec::with_capacity(READ_CHUNK);
    let mut line_no = 0usize;
    let now = crate::api_json::now_ns();
    let mut next = |line_no: &mut usize| -> Result<Option<String>, String> {
        *line_no += 1;
        match lines.next() {
            None => Ok(None),
            Some(Ok(l)) => Ok(Some(l)),
            Some(Err(e)) => Err(format!("reading the recording: {e}")),
        }
    };
    while let Some(db) = next(&mut line_no)? {
        let start = line_no;
        if db.is_empty() {
            // Tolerate a trailing blank line only.
            if next(&mut line_no)?.is_none() {
                break;
            }
            return Err(format!("recording line {start}: empty database"));
        }
        let (Some(rp), Some(line)) = (next(&mut line_no)?, next(&mut line_no)?) else {
            return Err(format!("recording line {start}: incomplete record"));
        };
        let point = kapacitor_models::line_protocol::parse(&line, Precision::Nanosecond, now)
            .map_err(|e| format!("recording line {}: {e}", start + 2))?
            .into_iter()
            .next()
            .ok_or_else(|| format!("recording line {}: no point", start + 2))?;
        chunk.push((Dbrp { db, rp }, point));
        if chunk.len() >= READ_CHUNK && tx.blocking_send(std::mem::take(&mut chunk)).is_err() {
            return Ok(()); // the replay stopped reading
        }
    }
    if !chunk.is_empty() {
        let _ = tx.blocking_send(chunk);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn reads_gzip_and_plain_srpl_and_names_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let text = "db\nrp\ncpu v=1 10\ndb\nautogen\nmem v=2i 20\n";
        let plain = dir.path().join("p.srpl");
        std::fs::write(&plain, text).unwrap();
        let gz = dir.path().join("g.srpl");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(text.as_bytes()).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        for path in [&plain, &gz] {
            let (tx, mut rx) = mpsc::channel(4);
            read_srpl(path, &tx).unwrap();
            drop(tx);
            let chunk = rx.blocking_recv().unwrap();
            assert_eq!(chunk.len(), 2);
            assert_eq!(chunk[1].0.rp, "autogen");
            assert_eq!((chunk[0].1.name.as_str(), chunk[0].1.time), ("cpu", 10));
        }
        let bad = dir.path().join("b.srpl");
        std::fs::write(&bad, "db\nrp\ncpu v=1 10\ndb\nrp\nnot a point\n").unwrap();
        let (tx, _rx) = mpsc::channel(4);
        let err = read_srpl(&bad, &tx).unwrap_err();
        assert!(err.starts_with("recording line 6:"), "{err}");
        std::fs::write(&bad, "db\nrp\n").unwrap();
        let err = read_srpl(&bad, &tx).unwrap_err();
        assert_eq!(err, "recording line 1: incomplete record");
    }
}
