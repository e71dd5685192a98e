//! Behaviour of whole queues: order across memory and disk, recovery, persistence, limits,
//! disk errors, concurrency.

use crate::segment::{self, HEADER_LEN, RECORD_HEADER_LEN};
use crate::*;
use bytes::Bytes;
use proptest::prelude::*;
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

fn limits(memory: u64, disk: u64, segment: u64) -> QueueLimits {
    QueueLimits {
        memory_bytes: memory,
        disk_bytes: disk,
        segment_bytes: segment,
    }
}

fn open(root: &Path, l: QueueLimits) -> Queue {
    Queue::open(root, "task.1", l, MemoryBudget::unlimited()).unwrap()
}

fn payload(tag: u64, len: usize) -> Bytes {
    let mut v = tag.to_le_bytes().repeat(len / 8 + 1);
    v.truncate(len);
    Bytes::from(v)
}

/// Every batch the queue hands out now, acknowledged as it goes.
fn drain(q: &Queue) -> Vec<Delivery> {
    let mut out = Vec::new();
    while let Some(d) = q.next().unwrap() {
        q.ack(d.seq).unwrap();
        out.push(d);
    }
    out
}

fn seqs(ds: &[Delivery]) -> Vec<u64> {
    ds.iter().map(|d| d.seq).collect()
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

#[test]
fn memory_then_disk_then_memory_again_in_order() {
    let root = tempfile::tempdir().unwrap();
    // Room for 3 batches of 100 bytes in memory.
    let q = open(root.path(), limits(3 * 164, 1 << 20, 1000));
    let mut tiers = Vec::new();
    for i in 0..8 {
        let r = q.reserve(100).unwrap();
        tiers.push(r.tier());
        assert_eq!(r.commit(payload(i, 100), 1).unwrap(), i + 1);
    }
    use Tier::*;
    assert_eq!(
        tiers,
        [Memory, Memory, Memory, Disk, Disk, Disk, Disk, Disk]
    );
    let s = q.stats();
    assert_eq!((s.memory_batches, s.disk_batches), (3, 5));
    assert_eq!(s.spilled_batches, 5);
    assert_eq!(s.spilled_bytes, 500);
    // 1000-byte segments hold 8 records of 120 bytes minus the header: 5 records, 2 files.
    assert_eq!(s.disk_segments, 1);
    // Memory is freed by acks, but new batches keep going to disk while disk is unread.
    let first = q.next().unwrap().unwrap();
    q.ack(first.seq).unwrap();
    assert_eq!(q.reserve(100).unwrap().tier(), Disk);
    let rest = drain(&q);
    assert_eq!(seqs(&rest), (2..=8).collect::<Vec<_>>());
    for d in &rest {
        assert_eq!(d.payload, payload(d.seq - 1, 100));
        assert_eq!(d.points, 1);
    }
    // Drained: the segment is gone and memory is used again.
    let s = q.stats();
    assert_eq!((s.disk_bytes, s.disk_segments, s.memory_bytes), (0, 0, 0));
    assert!(segment_files(q.dir()).is_empty());
    assert_eq!(s.oldest_seq, None);
    assert_eq!(q.reserve(100).unwrap().tier(), Memory);
}

#[test]
fn write_through_with_no_memory_and_segments_roll() {
    let root = tempfile::tempdir().unwrap();
    let q = open(root.path(), limits(0, 1 << 20, 300));
    for i in 0..10 {
        q.push(payload(i, 100), 7).unwrap();
    }
    // 16-byte header + 2 records of 120 bytes fit in 300.
    assert_eq!(segment_files(q.dir()).len(), 5);
    let s = q.stats();
    assert_eq!((s.memory_batches, s.disk_batches), (0, 10));
    assert_eq!(
        s.disk_bytes,
        5 * (HEADER_LEN + 2 * (RECORD_HEADER_LEN + 100))
    );
    // A batch larger than a segment gets one of its own.
    q.push(payload(10, 1000), 1).unwrap();
    assert_eq!(segment_files(q.dir()).len(), 6);
    let got = drain(&q);
    assert_eq!(seqs(&got), (1..=11).collect::<Vec<_>>());
    assert_eq!(got[10].payload.len(), 1000);
}

#[test]
fn limits_full_and_too_large() {
    let root = tempfile::tempdir().unwrap();
    let q = open(root.path(), limits(200, 400, 400));
    assert!(matches!(
        q.reserve(1000),
        Err(QueueError::TooLarge { bytes: 1000, .. })
    ));
    let a = q.reserve(100).unwrap();
    assert_eq!(a.tier(), Tier::Memory);
    // Memory is held by `a`: this one goes to disk (100 + 20 + 16 bytes charged).
    let b = q.reserve(200).unwrap();
    assert_eq!(b.tier(), Tier::Disk);
    let s = q.stats();
    assert_eq!((s.reserved_memory_bytes, s.reserved_disk_bytes), (164, 236));
    assert!(matches!(
        q.reserve(200),
        Err(QueueError::Full { bytes: 200 })
    ));
    drop(b);
    assert_eq!(q.stats().reserved_disk_bytes, 0);
    assert!(matches!(
        a.commit(payload(0, 101), 1),
        Err(QueueError::OverReservation {
            reserved: 100,
            got: 101
        })
    ));
    let s = q.stats();
    assert_eq!((s.reserved_memory_bytes, s.memory_bytes), (0, 0));
    // A smaller commit gives back the difference.
    q.reserve(100).unwrap().commit(payload(0, 10), 1).unwrap();
    assert_eq!(q.stats().memory_bytes, 10 + BATCH_OVERHEAD);
}

#[test]
fn the_shared_budget_sends_batches_to_disk() {
    let root = tempfile::tempdir().unwrap();
    let budget = MemoryBudget::new(2 * 164);
    let l = limits(1 << 20, 1 << 20, 1 << 20);
    let a = Queue::open(root.path(), "a", l, budget.clone()).unwrap();
    let b = Queue::open(root.path(), "b", l, budget.clone()).unwrap();
    assert_eq!(a.reserve(100).unwrap().tier(), Tier::Memory);
    a.push(payload(0, 100), 1).unwrap();
    b.push(payload(0, 100), 1).unwrap();
    assert_eq!(budget.used(), 2 * 164);
    assert_eq!(b.reserve(100).unwrap().tier(), Tier::Disk);
    let d = b.next().unwrap().unwrap();
    b.ack(d.seq).unwrap();
    assert_eq!(budget.used(), 164);
    a.destroy().unwrap();
    assert_eq!(budget.used(), 0);
}

#[test]
fn rewind_and_acks_after_a_rewind() {
    let root = tempfile::tempdir().unwrap();
    let q = open(root.path(), limits(300, 1 << 20, 400));
    for i in 0..6 {
        q.push(payload(i, 100), 1).unwrap();
    }
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(q.next().unwrap().unwrap());
    }
    assert_eq!(q.stats().in_flight_batches, 4);
    assert_eq!(q.stats().in_flight_bytes, 400);
    q.ack(2).unwrap();
    assert_eq!(q.stats().in_flight_batches, 2);
    q.rewind();
    assert_eq!(q.stats().in_flight_bytes, 0);
    assert_eq!(q.next().unwrap().unwrap().seq, 3);
    // A late acknowledgement from before the rewind moves the cursor past it.
    q.ack(4).unwrap();
    assert_eq!(q.stats().in_flight_batches, 0);
    assert_eq!(q.next().unwrap().unwrap().seq, 5);
    assert!(matches!(
        q.ack(6),
        Err(QueueError::AckAhead {
            seq: 6,
            delivered: 5
        })
    ));
    q.ack(1).unwrap(); // already acknowledged: nothing happens
    assert_eq!(q.next().unwrap().unwrap().seq, 6);
    assert_eq!(q.next().unwrap(), None);
    q.rewind();
    assert_eq!(seqs(&drain(&q)), [5, 6]);
}

#[test]
fn listener_hears_data_and_room() {
    #[derive(Default)]
    struct Counts(AtomicUsize, AtomicUsize);
    impl QueueListener for Counts {
        fn data_ready(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        fn room_freed(&self) {
            self.1.fetch_add(1, Ordering::SeqCst);
        }
    }
    let root = tempfile::tempdir().unwrap();
    let q = open(root.path(), limits(164, 1 << 20, 1 << 20));
    let counts = Arc::new(Counts::default());
    q.set_listener(counts.clone());
    q.push(payload(0, 100), 1).unwrap();
    q.push(payload(1, 100), 1).unwrap();
    assert_eq!(counts.0.load(Ordering::SeqCst), 2);
    drain(&q);
    assert!(counts.1.load(Ordering::SeqCst) >= 2);
}

#[test]
fn reserve_timeout_waits_for_an_ack() {
    let root = tempfile::tempdir().unwrap();
    let q = open(root.path(), limits(164, 0, 1 << 20));
    q.push(payload(0, 100), 1).unwrap();
    let started = std::time::Instant::now();
    assert!(matches!(
        q.reserve_timeout(100, Duration::from_millis(100)),
        Err(QueueError::Full { .. })
    ));
    assert!(started.elapsed() >= Duration::from_millis(100));
    let consumer = q.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        let d = consumer.next().unwrap().unwrap();
        consumer.ack(d.seq).unwrap();
    });
    let r = q.reserve_timeout(100, Duration::from_secs(60)).unwrap();
    assert_eq!(r.tier(), Tier::Memory);
    t.join().unwrap();
}

#[test]
fn disk_batches_survive_a_crash_memory_ones_do_not() {
    let root = tempfile::tempdir().unwrap();
    let l = limits(2 * 164, 1 << 20, 1 << 20);
    {
        let q = open(root.path(), l);
        for i in 0..5 {
            q.push(payload(i, 100), 1).unwrap();
        }
        // Dropped without persist_memory: a crash for the memory part.
    }
    let q = open(root.path(), l);
    assert_eq!(q.recovery().batches, 3);
    assert!(q.recovery().cuts.is_empty());
    assert_eq!(seqs(&drain(&q)), [3, 4, 5]);
    assert_eq!(q.push(payload(9, 1), 1).unwrap(), 6);
}

#[test]
fn persist_memory_keeps_order_and_skips_acknowledged_after_reopen() {
    let root = tempfile::tempdir().unwrap();
    let l = limits(3 * 164, 1 << 20, 300);
    let mut pushed = BTreeMap::new();
    {
        let q = open(root.path(), l);
        for i in 0..8 {
            let seq = q.push(payload(i, 100), i as u32).unwrap();
            pushed.insert(seq, i);
        }
        // 1-3 in memory, 4-8 on disk. Hand out 1-5, acknowledge 1-4 (seq 4 is in the first
        // segment, which stays because 5 is not acknowledged).
        for _ in 0..5 {
            q.next().unwrap().unwrap();
        }
        q.ack(4).unwrap();
        // Disk fully read would let memory be used again; not yet (6-8 unread).
        assert_eq!(q.persist_memory().unwrap(), 0);
        for _ in 0..3 {
            q.next().unwrap().unwrap();
        }
        // Disk part read: the next batches go to memory, after the disk ones.
        for i in 8..10 {
            let seq = q.push(payload(i, 100), i as u32).unwrap();
            pushed.insert(seq, i);
        }
        assert_eq!(q.stats().memory_batches, 2);
        assert_eq!(q.persist_memory().unwrap(), 2);
        assert_eq!(q.stats().memory_batches, 0);
    }
    let q = open(root.path(), l);
    assert_eq!(q.recovery().acked_floor, 4);
    assert_eq!(q.recovery().batches, 6);
    let got = drain(&q);
    assert_eq!(seqs(&got), [5, 6, 7, 8, 9, 10]);
    for d in &got {
        assert_eq!(d.payload, payload(pushed[&d.seq], 100));
        assert_eq!(u64::from(d.points), pushed[&d.seq]);
    }
    assert_eq!(q.push(payload(0, 1), 1).unwrap(), 11);
}

#[test]
fn persist_memory_before_the_disk_part_is_read_back_first() {
    let root = tempfile::tempdir().unwrap();
    let l = limits(2 * 164, 1 << 20, 1 << 20);
    {
        let q = open(root.path(), l);
        for i in 0..5 {
            q.push(payload(i, 100), 1).unwrap();
        }
        assert_eq!(q.persist_memory().unwrap(), 2);
        // Still usable, same order.
        assert_eq!(q.next().unwrap().unwrap().seq, 1);
        q.rewind();
    }
    let files = segment_files(&queue_dir(root.path(), "task.1"));
    assert_eq!(files.len(), 2);
    assert!(files[0].ends_with("00000000000000000001.seg"));
    let q = open(root.path(), l);
    assert_eq!(seqs(&drain(&q)), [1, 2, 3, 4, 5]);
}

/// A memory reservation taken before the queue spilled and committed after disk batches:
/// it is kept in memory with a later number, and the next disk batch starts a new segment
/// so that ranges never interleave (which `persist_memory` and recovery rely on).
#[test]
fn a_late_memory_commit_between_disk_batches() {
    let root = tempfile::tempdir().unwrap();
    let l = limits(164, 1 << 20, 1 << 20);
    {
        let q = open(root.path(), l);
        let held = q.reserve(100).unwrap();
        assert_eq!(held.tier(), Tier::Memory);
        q.push(payload(1, 100), 1).unwrap(); // disk, seq 1
        held.commit(payload(2, 100), 1).unwrap(); // memory, seq 2
        q.push(payload(3, 100), 1).unwrap(); // disk, seq 3, new segment
        assert_eq!(q.stats().disk_segments, 2);
        assert_eq!(seqs(&drain(&q)), [1, 2, 3]);
        let held = q.reserve(100).unwrap();
        q.push(payload(4, 100), 1).unwrap(); // memory (disk drained)
        assert_eq!(held.tier(), Tier::Memory);
        q.push(payload(5, 100), 1).unwrap(); // disk
        held.commit(payload(6, 100), 1).unwrap(); // memory: memory has 4 and 6
        q.push(payload(7, 100), 1).unwrap(); // disk
        q.persist_memory().unwrap();
    }
    let q = open(root.path(), l);
    let got = drain(&q);
    assert_eq!(seqs(&got), [4, 5, 6, 7]);
    for d in got {
        assert_eq!(d.payload, payload(d.seq, 100));
    }
}

/// Writes 3 batches write-through, returns the queue directory and where the last record
/// starts in the only segment.
fn three_on_disk(root: &Path) -> (PathBuf, PathBuf, u64) {
    let q = open(root, limits(0, 1 << 20, 1 << 20));
    for i in 0..3 {
        q.push(payload(i, 40 + i as usize), 1).unwrap();
    }
    let dir = q.dir().to_path_buf();
    let files = segment_files(&dir);
    assert_eq!(files.len(), 1);
    let last_start = HEADER_LEN + 2 * RECORD_HEADER_LEN + 40 + 41;
    (dir, files[0].clone(), last_start)
}

#[test]
fn recovery_cuts_a_torn_last_record_at_every_offset() {
    let root = tempfile::tempdir().unwrap();
    let (_, file, last_start) = three_on_disk(root.path());
    let whole = std::fs::read(&file).unwrap();
    assert_eq!(whole.len() as u64, last_start + RECORD_HEADER_LEN + 42);
    for cut in last_start..whole.len() as u64 {
        std::fs::write(&file, &whole[..cut as usize]).unwrap();
        let q = open(root.path(), limits(0, 1 << 20, 1 << 20));
        let r = q.recovery();
        assert_eq!(r.batches, 2, "cut at {cut}");
        if cut == last_start {
            assert!(r.cuts.is_empty());
        } else {
            assert_eq!(r.cuts.len(), 1, "cut at {cut}");
            assert_eq!(r.cuts[0].offset, last_start);
            assert_eq!(r.cuts[0].bytes, cut - last_start);
        }
        assert_eq!(std::fs::metadata(&file).unwrap().len(), last_start);
        // Numbers continue after the last good record; new batches are readable after the
        // old ones.
        assert_eq!(q.push(payload(7, 5), 1).unwrap(), 3);
        let got = drain(&q);
        assert_eq!(seqs(&got), [1, 2, 3]);
        assert_eq!(got[2].payload, payload(7, 5));
        drop(q);
        // Everything was acknowledged and deleted.
        assert!(segment_files(file.parent().unwrap()).is_empty());
    }
}

#[test]
fn recovery_of_a_torn_segment_header() {
    let root = tempfile::tempdir().unwrap();
    let (dir, file, _) = three_on_disk(root.path());
    let whole = std::fs::read(&file).unwrap();
    for cut in 0..HEADER_LEN as usize {
        std::fs::write(&file, &whole[..cut]).unwrap();
        let q = open(root.path(), limits(0, 1 << 20, 1 << 20));
        assert_eq!(q.recovery().batches, 0);
        assert!(!file.exists());
        drop(q);
    }
    // A file that is not ours is refused, not deleted.
    std::fs::write(&file, b"hello, this is not a segment").unwrap();
    assert!(matches!(
        Queue::open(
            root.path(),
            "task.1",
            QueueLimits::default(),
            MemoryBudget::unlimited()
        ),
        Err(QueueError::BadSegment { .. })
    ));
    let mut newer = whole.clone();
    newer[8] = 2;
    std::fs::write(&file, &newer).unwrap();
    assert!(matches!(
        Queue::open(
            root.path(),
            "task.1",
            QueueLimits::default(),
            MemoryBudget::unlimited()
        ),
        Err(QueueError::UnsupportedVersion { version: 2, .. })
    ));
    assert!(dir.join(file.file_name().unwrap()).exists());
}

#[test]
fn a_corrupted_byte_in_the_middle_cuts_that_segment_only() {
    let root = tempfile::tempdir().unwrap();
    let l = limits(0, 1 << 20, HEADER_LEN + 4 * (RECORD_HEADER_LEN + 50));
    let dir = {
        let q = open(root.path(), l);
        for i in 0..8 {
            q.push(payload(i, 50), 1).unwrap();
        }
        q.dir().to_path_buf()
    };
    let files = segment_files(&dir);
    assert_eq!(files.len(), 2);
    // A byte of record 2's payload, in the first segment.
    let record = RECORD_HEADER_LEN + 50;
    let at = (HEADER_LEN + record + RECORD_HEADER_LEN + 10) as usize;
    let mut bytes = std::fs::read(&files[0]).unwrap();
    bytes[at] ^= 0x40;
    std::fs::write(&files[0], &bytes).unwrap();
    let q = open(root.path(), l);
    let r = q.recovery();
    assert_eq!(r.cuts.len(), 1);
    assert_eq!(r.cuts[0].offset, HEADER_LEN + record);
    assert!(
        r.cuts[0].reason.contains("checksum"),
        "{}",
        r.cuts[0].reason
    );
    assert_eq!(seqs(&drain(&q)), [1, 5, 6, 7, 8]);
}

#[test]
fn a_corrupted_record_header_is_caught_too() {
    let root = tempfile::tempdir().unwrap();
    let (_, file, last_start) = three_on_disk(root.path());
    let mut bytes = std::fs::read(&file).unwrap();
    // The seq field of the last record.
    bytes[last_start as usize + 8] ^= 1;
    std::fs::write(&file, &bytes).unwrap();
    let q = open(root.path(), limits(0, 1 << 20, 1 << 20));
    assert_eq!(q.recovery().cuts.len(), 1);
    assert_eq!(seqs(&drain(&q)), [1, 2]);
}

#[test]
fn destroy_removes_everything() {
    let root = tempfile::tempdir().unwrap();
    let budget = MemoryBudget::unlimited();
    let q = Queue::open(
        root.path(),
        "..",
        limits(164, 1 << 20, 1 << 20),
        budget.clone(),
    )
    .unwrap();
    q.push(payload(0, 100), 1).unwrap();
    q.push(payload(1, 100), 1).unwrap();
    let held = q.reserve(10).unwrap();
    assert_eq!(list_task_ids(root.path()).unwrap(), [".."]);
    let other = q.clone();
    q.destroy().unwrap();
    assert!(!root.path().join("%2E%2E").exists());
    assert!(root.path().exists());
    assert!(matches!(
        other.push(payload(0, 1), 1),
        Err(QueueError::Destroyed)
    ));
    assert!(matches!(other.next(), Err(QueueError::Destroyed)));
    assert!(matches!(
        held.commit(payload(0, 1), 1),
        Err(QueueError::Destroyed)
    ));
    assert_eq!(budget.used(), 0);
    assert!(list_task_ids(root.path()).unwrap().is_empty());
    q.destroy().unwrap();
}

/// Disk full, simulated with a file size limit (`RLIMIT_FSIZE`, so writes past it fail with
/// EFBIG) in a child process: the limit is process-wide and would hit other tests.
#[test]
fn a_disk_error_on_spill_is_returned_and_the_queue_heals() {
    const CHILD: &str = "KAPACITOR_QUEUE_FSIZE_CHILD";
    if std::env::var_os(CHILD).is_none() {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "tests::a_disk_error_on_spill_is_returned_and_the_queue_heals",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "child failed:\n{text}");
        assert!(text.contains("child checked the disk error"), "{text}");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let q = open(root.path(), limits(0, 1 << 30, 1 << 30));
    let limit = 64 * 1024;
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let mut old = std::mem::zeroed::<libc::rlimit>();
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut old), 0);
        let tight = libc::rlimit {
            rlim_cur: limit,
            rlim_max: old.rlim_max,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &tight), 0);
    }
    let mut ok = 0;
    let err = loop {
        match q.push(payload(ok, 10_000), 1) {
            Ok(_) => ok += 1,
            Err(e) => break e,
        }
    };
    assert!(err.is_no_space(), "{err}");
    assert_eq!(ok, 6);
    let s = q.stats();
    assert_eq!(s.disk_batches, ok);
    assert_eq!(s.reserved_disk_bytes, 0);
    // The partial record was cut back: the file holds exactly the committed ones.
    let files = segment_files(q.dir());
    let expected = HEADER_LEN + ok * (RECORD_HEADER_LEN + 10_000);
    assert_eq!(std::fs::metadata(&files[0]).unwrap().len(), expected);
    assert!(q.push(payload(99, 10_000), 1).unwrap_err().is_no_space());
    unsafe {
        let mut old = std::mem::zeroed::<libc::rlimit>();
        libc::getrlimit(libc::RLIMIT_FSIZE, &mut old);
        let wide = libc::rlimit {
            rlim_cur: old.rlim_max,
            rlim_max: old.rlim_max,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &wide), 0);
    }
    // Space is back: pushes work, numbers have no gap, nothing committed was lost.
    assert_eq!(q.push(payload(ok, 10_000), 1).unwrap(), ok + 1);
    let got = drain(&q);
    assert_eq!(seqs(&got), (1..=ok + 1).collect::<Vec<_>>());
    for d in &got {
        assert_eq!(d.payload, payload(d.seq - 1, 10_000));
    }
    println!("child checked the disk error");
}

#[test]
fn producers_and_a_consumer_on_threads() {
    let root = tempfile::tempdir().unwrap();
    // Small memory so batches go back and forth between memory and disk.
    let q = open(root.path(), limits(4 * 1024, 256 * 1024, 16 * 1024));
    const PRODUCERS: u64 = 4;
    const EACH: u64 = 400;
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let q = q.clone();
            std::thread::spawn(move || {
                for i in 0..EACH {
                    let len = 16 + ((p * 131 + i * 17) % 1500) as usize;
                    let mut v = vec![0u8; len];
                    v[..8].copy_from_slice(&p.to_le_bytes());
                    v[8..16].copy_from_slice(&i.to_le_bytes());
                    let r = q.reserve_timeout(len, Duration::from_secs(60)).unwrap();
                    r.commit(Bytes::from(v), 1).unwrap();
                }
            })
        })
        .collect();
    let consumer = {
        let q = q.clone();
        std::thread::spawn(move || {
            let mut last_seq = 0;
            let mut next_i = [0u64; PRODUCERS as usize];
            let mut n = 0;
            let mut since_rewind = Vec::new();
            while n < PRODUCERS * EACH {
                let Some(d) = q.next().unwrap() else {
                    std::thread::yield_now();
                    continue;
                };
                assert!(d.seq > last_seq, "{} after {last_seq}", d.seq);
                last_seq = d.seq;
                let p = u64::from_le_bytes(d.payload[..8].try_into().unwrap()) as usize;
                let i = u64::from_le_bytes(d.payload[8..16].try_into().unwrap());
                assert_eq!(i, next_i[p], "producer {p}");
                next_i[p] += 1;
                n += 1;
                since_rewind.push(d.seq);
                // Acknowledge in steps, and now and then "reconnect".
                if since_rewind.len() == 7 {
                    q.ack(since_rewind[4]).unwrap();
                    q.rewind();
                    // Redelivery starts right after the acknowledged one.
                    let again = q.next().unwrap().unwrap();
                    assert_eq!(again.seq, since_rewind[5]);
                    q.ack(since_rewind[6]).unwrap();
                    last_seq = since_rewind[6];
                    since_rewind.clear();
                }
            }
            q.ack(last_seq).unwrap();
        })
    };
    for p in producers {
        p.join().unwrap();
    }
    consumer.join().unwrap();
    let s = q.stats();
    assert_eq!(s.next_seq, PRODUCERS * EACH + 1);
    assert_eq!(
        (s.memory_batches, s.disk_batches, s.in_flight_batches),
        (0, 0, 0)
    );
    assert_eq!((s.reserved_memory_bytes, s.reserved_disk_bytes), (0, 0));
    assert!(s.spilled_batches > 0, "{s:?}");
}

// ---- model-based property test ----

#[derive(Debug, Clone)]
enum Op {
    Push(usize),
    Reserve(usize),
    CommitHeld(usize, usize),
    DropHeld(usize),
    Next,
    Ack(usize),
    Rewind,
    Persist,
    Reopen { persist: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..300).prop_map(Op::Push),
        2 => (0usize..300).prop_map(Op::Reserve),
        2 => (any::<usize>(), 0usize..300).prop_map(|(i, shrink)| Op::CommitHeld(i, shrink)),
        1 => any::<usize>().prop_map(Op::DropHeld),
        6 => Just(Op::Next),
        3 => any::<usize>().prop_map(Op::Ack),
        1 => Just(Op::Rewind),
        1 => Just(Op::Persist),
        1 => any::<bool>().prop_map(|persist| Op::Reopen { persist }),
    ]
}

struct Model {
    /// Unacknowledged batches, by sequence number, and whether each is only in memory.
    queued: VecDeque<(u64, bool)>,
    /// How many of `queued` were handed out since the last rewind.
    cursor: usize,
    highest_delivered: u64,
    last_acked: u64,
    /// Everything ever committed.
    payloads: BTreeMap<u64, Bytes>,
}

fn check_stats(q: &Queue, m: &Model, l: QueueLimits, held: &[Reservation], over_ok: bool) {
    let s = q.stats();
    assert_eq!(
        s.memory_batches + s.disk_batches,
        m.queued.len() as u64,
        "{s:?}"
    );
    assert_eq!(s.in_flight_batches, m.cursor as u64, "{s:?}");
    let in_flight: u64 = m
        .queued
        .iter()
        .take(m.cursor)
        .map(|(seq, _)| m.payloads[seq].len() as u64)
        .sum();
    assert_eq!(s.in_flight_bytes, in_flight);
    assert!(
        s.memory_bytes + s.reserved_memory_bytes <= l.memory_bytes,
        "{s:?}"
    );
    if !over_ok {
        assert!(
            s.disk_bytes + s.reserved_disk_bytes <= l.disk_bytes,
            "{s:?}"
        );
    }
    let (mut rm, mut rd) = (0, 0);
    for r in held {
        let cost = match r.tier() {
            Tier::Memory => r.bytes() + BATCH_OVERHEAD,
            Tier::Disk => r.bytes() + RECORD_HEADER_LEN + HEADER_LEN,
        };
        match r.tier() {
            Tier::Memory => rm += cost,
            Tier::Disk => rd += cost,
        }
    }
    assert_eq!((s.reserved_memory_bytes, s.reserved_disk_bytes), (rm, rd));
    let files: u64 = segment_files(q.dir())
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert_eq!(files, s.disk_bytes);
    assert_eq!(s.oldest_seq.is_some(), !m.queued.is_empty());
}

fn run_model(ops: Vec<Op>) {
    let root = tempfile::tempdir().unwrap();
    let l = limits(1000, 3000, 700);
    let budget = MemoryBudget::unlimited();
    let reopen =
        |budget: &Arc<MemoryBudget>| Queue::open(root.path(), "model", l, budget.clone()).unwrap();
    let mut q = reopen(&budget);
    let mut m = Model {
        queued: VecDeque::new(),
        cursor: 0,
        highest_delivered: 0,
        last_acked: 0,
        payloads: BTreeMap::new(),
    };
    let mut held: Vec<Reservation> = Vec::new();
    let mut over_disk_limit_allowed = false;
    for (n, op) in ops.into_iter().enumerate() {
        let make = |len: usize| payload(n as u64, len);
        match op {
            Op::Push(len) | Op::Reserve(len) => {
                let before = q.stats();
                match q.reserve(len) {
                    Ok(r) => {
                        if matches!(op, Op::Reserve(_)) {
                            held.push(r);
                        } else {
                            let tier = r.tier();
                            let seq = r.commit(make(len), n as u32).unwrap();
                            m.queued.push_back((seq, tier == Tier::Memory));
                            m.payloads.insert(seq, make(len));
                        }
                    }
                    Err(QueueError::Full { .. }) => {
                        // Only when neither part has room.
                        let len = len as u64;
                        assert!(
                            before.memory_bytes
                                + before.reserved_memory_bytes
                                + len
                                + BATCH_OVERHEAD
                                > l.memory_bytes
                        );
                        assert!(
                            before.disk_bytes
                                + before.reserved_disk_bytes
                                + len
                                + RECORD_HEADER_LEN
                                + HEADER_LEN
                                > l.disk_bytes
                        );
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            Op::CommitHeld(i, shrink) => {
                if !held.is_empty() {
                    let r = held.remove(i % held.len());
                    let tier = r.tier();
                    let len = (r.bytes() as usize).saturating_sub(shrink);
                    let seq = r.commit(make(len), 1).unwrap();
                    m.queued.push_back((seq, tier == Tier::Memory));
                    m.payloads.insert(seq, make(len));
                }
            }
            Op::DropHeld(i) => {
                if !held.is_empty() {
                    drop(held.remove(i % held.len()));
                }
            }
            Op::Next => match q.next().unwrap() {
                Some(d) => {
                    let (seq, _) = m.queued[m.cursor];
                    assert_eq!(d.seq, seq);
                    assert_eq!(d.payload, m.payloads[&seq]);
                    m.cursor += 1;
                    m.highest_delivered = m.highest_delivered.max(seq);
                }
                None => assert_eq!(m.cursor, m.queued.len()),
            },
            Op::Ack(i) => {
                let ackable = m
                    .queued
                    .iter()
                    .take_while(|(s, _)| *s <= m.highest_delivered)
                    .count();
                if ackable == 0 {
                    let ahead = m.highest_delivered.max(m.last_acked) + 1;
                    assert!(matches!(q.ack(ahead), Err(QueueError::AckAhead { .. })));
                } else {
                    let k = i % ackable;
                    m.last_acked = m.queued[k].0;
                    q.ack(m.last_acked).unwrap();
                    m.queued.drain(..=k);
                    m.cursor = m.cursor.saturating_sub(k + 1);
                }
            }
            Op::Rewind => {
                q.rewind();
                m.cursor = 0;
            }
            Op::Persist => {
                q.persist_memory().unwrap();
                for e in m.queued.iter_mut() {
                    e.1 = false;
                }
                over_disk_limit_allowed = true;
            }
            Op::Reopen { persist } => {
                held.clear();
                if persist {
                    q.persist_memory().unwrap();
                }
                drop(q);
                q = reopen(&budget);
                if persist {
                    // Exactly the unacknowledged batches, in order.
                    let got: Vec<u64> = std::iter::from_fn(|| q.next().unwrap())
                        .map(|d| {
                            assert_eq!(d.payload, m.payloads[&d.seq]);
                            d.seq
                        })
                        .collect();
                    let want: Vec<u64> = m.queued.iter().map(|(s, _)| *s).collect();
                    assert_eq!(got, want);
                    for e in m.queued.iter_mut() {
                        e.1 = false;
                    }
                } else {
                    // A crash: what was only in memory is gone; acknowledged batches may come
                    // back (their segment was not deleted yet); the rest is all there, in
                    // order.
                    let got: Vec<u64> = std::iter::from_fn(|| q.next().unwrap())
                        .map(|d| {
                            assert_eq!(d.payload, m.payloads[&d.seq]);
                            d.seq
                        })
                        .collect();
                    assert!(got.windows(2).all(|w| w[0] < w[1]));
                    for (seq, in_memory) in &m.queued {
                        assert_eq!(got.contains(seq), !in_memory, "seq {seq}: {got:?}");
                    }
                    m.queued = got.iter().map(|s| (*s, false)).collect();
                }
                q.rewind();
                m.cursor = 0;
                m.highest_delivered = m.queued.back().map_or(0, |(s, _)| *s);
                over_disk_limit_allowed |= persist;
            }
        }
        check_stats(&q, &m, l, &held, over_disk_limit_allowed);
        // persist_memory may pass the disk limit; from the moment the disk part is back
        // under it, it must stay under.
        let s = q.stats();
        if s.disk_bytes + s.reserved_disk_bytes <= l.disk_bytes {
            over_disk_limit_allowed = false;
        }
    }
    drop(held);
    assert_eq!(budget.used(), q.stats().memory_bytes);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]
    #[test]
    fn behaves_like_a_fifo_model(ops in prop::collection::vec(op(), 1..120)) {
        run_model(ops);
    }
}

#[test]
fn segment_names_sort_like_numbers() {
    assert_eq!(segment::file_name(42), "00000000000000000042.seg");
    assert_eq!(segment::parse_name("00000000000000000042.seg"), Some(42));
    assert_eq!(
        segment::parse_name(&segment::file_name(u64::MAX)),
        Some(u64::MAX)
    );
    assert_eq!(segment::parse_name("42.seg"), None);
    assert_eq!(segment::parse_name("0000000000000000004x.seg"), None);
}

/// The owner's `*.json` files beside the segments survive a reopen untouched and go with
/// `destroy`; the cheap counters agree with the snapshot.
#[test]
fn owner_files_are_left_alone_and_counters_match_stats() {
    let root = tempfile::tempdir().unwrap();
    let q = open(root.path(), limits(1 << 20, 1 << 20, 64 << 10));
    std::fs::write(q.dir().join("subscription.json"), "{}").unwrap();
    q.push(payload(1, 100), 1).unwrap();
    let d = q.next().unwrap().unwrap();
    assert_eq!(q.in_flight_bytes(), q.stats().in_flight_bytes);
    assert_eq!(q.memory_bytes(), q.stats().memory_bytes);
    q.ack(d.seq).unwrap();
    assert_eq!((q.in_flight_bytes(), q.memory_bytes()), (0, 0));
    q.persist_memory().unwrap();
    drop(q);
    let q = open(root.path(), limits(1 << 20, 1 << 20, 64 << 10));
    assert_eq!(
        std::fs::read_to_string(q.dir().join("subscription.json")).unwrap(),
        "{}"
    );
    let dir = q.dir().to_path_buf();
    q.destroy().unwrap();
    assert!(!dir.exists());
}
