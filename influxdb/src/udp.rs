//! The UDP listener of `subscription-protocol = "udp"`: InfluxDB sends each write of a
//! (db, rp) as line-protocol datagrams to the port of that (db, rp)'s listener.

use crate::error::{Error, Result};
use kapacitor_models::{Point, Precision, line_protocol};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Receives the points of one (db, rp): `(db, rp, points)`. Called from the listener's own
/// task; it must not block for long (hand the points on to a channel).
pub type PointSink = Arc<dyn Fn(&str, &str, Vec<Point>) + Send + Sync>;

/// Largest datagram InfluxDB's UDP subscriber sends (its UDP payload limit).
const MAX_DATAGRAM: usize = 64 * 1024;

/// A running UDP listener; stops when dropped.
pub struct UdpListener {
    addr: SocketAddr,
    tasks: [JoinHandle<()>; 2],
    stats: Arc<UdpStats>,
}

#[derive(Default)]
struct UdpStats {
    points: AtomicU64,
    parse_errors: AtomicU64,
    dropped_datagrams: AtomicU64,
}

impl UdpListener {
    /// Binds `bind` (`host:port`, port 0 for a free one) and starts reading. `buffer` is the
    /// number of datagrams queued between the socket and `sink` (`udp-buffer`; a full queue
    /// drops datagrams rather than blocking the socket), `read_buffer` the socket's receive
    /// buffer in bytes (`udp-read-buffer`, 0 = system default).
    pub async fn start(
        bind: &str,
        db: &str,
        rp: &str,
        buffer: usize,
        read_buffer: usize,
        sink: PointSink,
    ) -> Result<UdpListener> {
        let sock = UdpSocket::bind(bind)
            .await
            .map_err(|e| Error::Config(format!("UDP listener for {db}.{rp} on {bind}: {e}")))?;
        if read_buffer > 0 {
            nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::RcvBuf, &read_buffer)
                .map_err(|e| Error::Config(format!("udp-read-buffer {read_buffer}: {e}")))?;
        }
        let addr = sock
            .local_addr()
            .map_err(|e| Error::Config(format!("UDP listener address: {e}")))?;
        let stats = Arc::new(UdpStats::default());
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(buffer.max(1));
        let reader_stats = stats.clone();
        let reader = tokio::spawn(async move {
            let mut buf = vec![0u8; MAX_DATAGRAM];
            loop {
                match sock.recv_from(&mut buf).await {
                    Ok((n, _)) => {
                        if tx.try_send(buf[..n].to_vec()).is_err() {
                            reader_stats
                                .dropped_datagrams
                                .fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "UDP subscription read failed"),
                }
            }
        });
        let (db, rp) = (db.to_string(), rp.to_string());
        let parser_stats = stats.clone();
        let parser = tokio::spawn(async move {
            while let Some(datagram) = rx.recv().await {
                let text = String::from_utf8_lossy(&datagram);
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_nanos() as i64)
                    .unwrap_or(0);
                let (points, errors) =
                    line_protocol::parse_partial(&text, Precision::Nanosecond, now);
                if !errors.is_empty() {
                    parser_stats
                        .parse_errors
                        .fetch_add(errors.len() as u64, Ordering::Relaxed);
                    tracing::warn!(db = %db, rp = %rp, error = %line_protocol::join_errors(&errors), "bad line protocol on UDP subscription");
                }
                if !points.is_empty() {
                    parser_stats
                        .points
                        .fetch_add(points.len() as u64, Ordering::Relaxed);
                    sink(&db, &rp, points);
                }
            }
        });
        Ok(UdpListener {
            addr,
            tasks: [reader, parser],
            stats,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Points handed to the sink so far.
    pub fn points_received(&self) -> u64 {
        self.stats.points.load(Ordering::Relaxed)
    }

    /// Lines that were not valid line protocol.
    pub fn parse_errors(&self) -> u64 {
        self.stats.parse_errors.load(Ordering::Relaxed)
    }

    /// Datagrams dropped because the sink fell `udp-buffer` datagrams behind.
    pub fn dropped_datagrams(&self) -> u64 {
        self.stats.dropped_datagrams.load(Ordering::Relaxed)
    }
}

impl Drop for UdpListener {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn parses_datagrams_and_hands_points_to_sink() {
        let got: Arc<Mutex<Vec<(String, String, Point)>>> = Arc::default();
        let g = got.clone();
        let sink: PointSink = Arc::new(move |db, rp, pts| {
            let mut g = g.lock().unwrap();
            for p in pts {
                g.push((db.to_string(), rp.to_string(), p));
            }
        });
        let l = UdpListener::start("127.0.0.1:0", "db", "rp", 10, 0, sink)
            .await
            .unwrap();
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.send_to(
            b"cpu,host=a value=1 10\nbad line\ncpu value=2i 20\n",
            l.local_addr(),
        )
        .unwrap();
        for _ in 0..200 {
            if got.lock().unwrap().len() >= 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let got = got.lock().unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].0.as_str(), got[0].1.as_str()), ("db", "rp"));
        assert_eq!(got[0].2.tags["host"], "a");
        assert_eq!(got[1].2.time, 20);
        assert_eq!(l.parse_errors(), 1);
    }
}
