//! Segment files: the on-disk part of a queue.
//!
//! A segment is named by the sequence number of its first record, zero-padded to 20 digits
//! (`00000000000000000042.seg`), so the lexical order of names is the order of sequence
//! numbers. Layout (integers little-endian):
//!
//! ```text
//! header  = magic "KAPQUEUE" (8 bytes)  version:u32 (= 1)  reserved:u32 (= 0)
//! record  = len:u32  crc:u32  seq:u64  points:u32  payload (len bytes)
//! ```
//!
//! `crc` is CRC-32 (IEEE) of `len`, `seq`, `points` and the payload, so a torn or damaged
//! header is caught as well as a damaged payload. Records of one segment have increasing
//! sequence numbers and the first one carries the number in the file name. Records are only
//! ever appended; a file is deleted as a whole once every record in it is acknowledged.

use crate::QueueError;
use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use tracing::warn;

pub(crate) const MAGIC: [u8; 8] = *b"KAPQUEUE";
pub(crate) const FORMAT_VERSION: u32 = 1;
pub(crate) const HEADER_LEN: u64 = 16;
pub(crate) const RECORD_HEADER_LEN: u64 = 20;
pub(crate) const SUFFIX: &str = ".seg";

pub(crate) fn file_name(first: u64) -> String {
    format!("{first:020}{SUFFIX}")
}

pub(crate) fn path(dir: &Path, first: u64) -> PathBuf {
    dir.join(file_name(first))
}

/// The first sequence number a segment file name stands for.
pub(crate) fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn header_bytes() -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h
}

/// The fixed part of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordHeader {
    pub len: u32,
    pub crc: u32,
    pub seq: u64,
    pub points: u32,
}

impl RecordHeader {
    pub fn new(seq: u64, points: u32, payload: &[u8]) -> RecordHeader {
        // The caller refuses payloads that do not fit a u32 before it gets here.
        let len = payload.len() as u32;
        let mut h = RecordHeader {
            len,
            crc: 0,
            seq,
            points,
        };
        let mut c = h.crc_start();
        c.update(payload);
        h.crc = c.finalize();
        h
    }

    /// The checksum state after the header fields it covers.
    fn crc_start(&self) -> crc32fast::Hasher {
        let mut c = crc32fast::Hasher::new();
        c.update(&self.len.to_le_bytes());
        c.update(&self.seq.to_le_bytes());
        c.update(&self.points.to_le_bytes());
        c
    }

    pub fn to_bytes(self) -> [u8; RECORD_HEADER_LEN as usize] {
        let mut b = [0u8; RECORD_HEADER_LEN as usize];
        b[0..4].copy_from_slice(&self.len.to_le_bytes());
        b[4..8].copy_from_slice(&self.crc.to_le_bytes());
        b[8..16].copy_from_slice(&self.seq.to_le_bytes());
        b[16..20].copy_from_slice(&self.points.to_le_bytes());
        b
    }

    pub fn from_bytes(b: &[u8; RECORD_HEADER_LEN as usize]) -> RecordHeader {
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&b[8..16]);
        RecordHeader {
            len: u32_at(0),
            crc: u32_at(4),
            seq: u64::from_le_bytes(seq),
            points: u32_at(16),
        }
    }

    /// Bytes the record takes in the file.
    pub fn record_len(&self) -> u64 {
        RECORD_HEADER_LEN + u64::from(self.len)
    }

    pub fn checks(&self, payload: &[u8]) -> bool {
        let mut c = self.crc_start();
        c.update(payload);
        c.finalize() == self.crc
    }
}

/// Creates (or truncates: a file of that name can only be the leftover of a failed attempt,
/// since a sequence number that made it to disk is never handed out again) a segment and
/// writes its header. The file position is left at the end, where records are appended.
pub(crate) fn create(dir: &Path, first: u64) -> Result<File, QueueError> {
    let p = path(dir, first);
    let io = |source| QueueError::io("creating segment", &p, source);
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&p)
        .map_err(io)?;
    f.write_all(&header_bytes()).map_err(io)?;
    Ok(f)
}

/// Appends one record (one `writev` in the common case).
pub(crate) fn append(f: &mut File, header: RecordHeader, payload: &[u8]) -> io::Result<()> {
    let head = header.to_bytes();
    let mut bufs = [IoSlice::new(&head), IoSlice::new(payload)];
    let mut bufs = &mut bufs[..];
    while !bufs.is_empty() {
        match f.write_vectored(bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Drops whatever a failed append left after `len` and puts the file position back there.
pub(crate) fn cut_back(f: &mut File, len: u64) -> io::Result<()> {
    f.set_len(len)?;
    f.seek(SeekFrom::Start(len))?;
    Ok(())
}

pub(crate) fn read_header_at(f: &File, offset: u64) -> io::Result<RecordHeader> {
    let mut b = [0u8; RECORD_HEADER_LEN as usize];
    f.read_exact_at(&mut b, offset)?;
    Ok(RecordHeader::from_bytes(&b))
}

pub(crate) fn read_payload_at(f: &File, offset: u64, h: &RecordHeader) -> io::Result<Vec<u8>> {
    let mut payload = vec![0u8; h.len as usize];
    f.read_exact_at(&mut payload, offset + RECORD_HEADER_LEN)?;
    Ok(payload)
}

/// What recovery found in one segment file.
#[derive(Debug, Clone)]
pub(crate) struct Scanned {
    pub first: u64,
    pub last: u64,
    pub records: u64,
    /// Records with a sequence number at or below the acknowledged floor.
    pub acked_records: u64,
    /// Length of the file after any cut.
    pub len: u64,
}

/// A cut made by recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    pub path: PathBuf,
    /// Where the file was cut (its new length).
    pub offset: u64,
    /// Bytes removed.
    pub bytes: u64,
    pub reason: String,
}

/// Checks every record of the segment at `p`, cuts the file at the first record that is
/// torn or damaged (or out of order: `seq` must exceed `after` and increase), and returns what
/// remains, or `None` when nothing usable remains (the file is then removed).
pub(crate) fn recover(
    p: &Path,
    first: u64,
    after: u64,
    acked_floor: u64,
    cuts: &mut Vec<Cut>,
) -> Result<Option<Scanned>, QueueError> {
    let io = |op, source| QueueError::io(op, p, source);
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(p)
        .map_err(|e| io("opening segment", e))?;
    let size = f.metadata().map_err(|e| io("reading segment", e))?.len();
    let mut head = [0u8; HEADER_LEN as usize];
    let got = read_up_to(&f, &mut head, 0).map_err(|e| io("reading segment", e))?;
    let expected = header_bytes();
    if got < HEADER_LEN as usize {
        // Torn at creation (only a prefix of our header made it): nothing to keep.
        if head[..got] == expected[..got] {
            cuts.push(Cut {
                path: p.to_path_buf(),
                offset: 0,
                bytes: size,
                reason: "segment header incomplete".into(),
            });
            drop(f);
            remove(p)?;
            return Ok(None);
        }
        return Err(QueueError::BadSegment {
            path: p.to_path_buf(),
            reason: "not a queue segment (short file with a foreign header)".into(),
        });
    }
    if head[..8] != MAGIC {
        return Err(QueueError::BadSegment {
            path: p.to_path_buf(),
            reason: "not a queue segment (bad magic)".into(),
        });
    }
    let version = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
    if version != FORMAT_VERSION {
        return Err(QueueError::UnsupportedVersion {
            path: p.to_path_buf(),
            version,
        });
    }

    let mut offset = HEADER_LEN;
    let mut prev = after;
    let mut records = 0;
    let mut acked_records = 0;
    let mut last = 0;
    let mut chunk = Vec::new();
    let bad = loop {
        if offset == size {
            break None;
        }
        if size - offset < RECORD_HEADER_LEN {
            break Some("torn record header".to_string());
        }
        let h = read_header_at(&f, offset).map_err(|e| io("reading segment", e))?;
        if h.record_len() > size - offset {
            break Some(format!(
                "torn record: {} payload bytes announced, {} present",
                h.len,
                size - offset - RECORD_HEADER_LEN
            ));
        }
        if !payload_checks(&f, offset, &h, &mut chunk).map_err(|e| io("reading segment", e))? {
            break Some(format!(
                "checksum mismatch in the record at offset {offset}"
            ));
        }
        let expected_first = records == 0 && h.seq != first;
        if expected_first || h.seq <= prev {
            break Some(format!(
                "sequence number {} out of order (after {prev}, segment {first})",
                h.seq
            ));
        }
        prev = h.seq;
        last = h.seq;
        records += 1;
        if h.seq <= acked_floor {
            acked_records += 1;
        }
        offset += h.record_len();
    };
    if let Some(reason) = bad {
        f.set_len(offset)
            .map_err(|e| io("cutting a torn segment", e))?;
        warn!(
            segment = %p.display(),
            offset,
            bytes = size - offset,
            %reason,
            "queue recovery cut a segment"
        );
        cuts.push(Cut {
            path: p.to_path_buf(),
            offset,
            bytes: size - offset,
            reason,
        });
    }
    if records == 0 || records == acked_records {
        drop(f);
        remove(p)?;
        return Ok(None);
    }
    Ok(Some(Scanned {
        first,
        last,
        records,
        acked_records,
        len: offset,
    }))
}

/// Checks a payload's checksum reading it in bounded chunks (a record may be large).
fn payload_checks(
    f: &File,
    offset: u64,
    h: &RecordHeader,
    chunk: &mut Vec<u8>,
) -> io::Result<bool> {
    const CHUNK: usize = 1 << 20;
    let mut c = h.crc_start();
    let mut left = h.len as usize;
    let mut at = offset + RECORD_HEADER_LEN;
    while left > 0 {
        let n = left.min(CHUNK);
        chunk.resize(n, 0);
        f.read_exact_at(&mut chunk[..n], at)?;
        c.update(&chunk[..n]);
        left -= n;
        at += n as u64;
    }
    Ok(c.finalize() == h.crc)
}

fn read_up_to(f: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match f.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

pub(crate) fn remove(p: &Path) -> Result<(), QueueError> {
    match std::fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(QueueError::io("removing segment", p, e)),
    }
}

/// The acknowledged floor a clean shutdown leaves (`acked`): every batch with a sequence
/// number at or below it was acknowledged. Format: magic "KAPQACK1", seq:u64, crc:u32 (of the
/// 8 seq bytes), little-endian. Only ever a lower bound of what was acknowledged, so a stale
/// file costs duplicates, never loss.
pub(crate) mod ack_file {
    use super::*;

    pub const NAME: &str = "acked";
    const MAGIC: [u8; 8] = *b"KAPQACK1";

    pub fn read(dir: &Path) -> Option<u64> {
        let p = dir.join(NAME);
        let mut b = Vec::new();
        File::open(&p).ok()?.read_to_end(&mut b).ok()?;
        let parsed = (b.len() == 20 && b[..8] == MAGIC)
            .then(|| {
                let mut seq = [0u8; 8];
                seq.copy_from_slice(&b[8..16]);
                let crc = u32::from_le_bytes([b[16], b[17], b[18], b[19]]);
                (crc32fast::hash(&seq) == crc).then(|| u64::from_le_bytes(seq))
            })
            .flatten();
        if parsed.is_none() {
            warn!(file = %p.display(), "queue acknowledgement file unreadable, ignored");
        }
        parsed
    }

    /// Writes the file durably (temporary file, fsync, rename, fsync of the directory).
    pub fn write(dir: &Path, acked: u64) -> Result<(), QueueError> {
        let tmp = dir.join(format!("{NAME}.tmp"));
        let io = |source| QueueError::io("writing the acknowledgement file", &tmp, source);
        let mut b = Vec::with_capacity(20);
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&acked.to_le_bytes());
        b.extend_from_slice(&crc32fast::hash(&acked.to_le_bytes()).to_le_bytes());
        let mut f = File::create(&tmp).map_err(io)?;
        f.write_all(&b).map_err(io)?;
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, dir.join(NAME)).map_err(io)?;
        sync_dir(dir)
    }
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), QueueError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| QueueError::io("syncing the queue directory", dir, e))
}
