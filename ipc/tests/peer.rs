//! Connection behaviour: request/response, notifications, and what bad input does to the
//! receiver (it closes that connection, logs, and keeps serving the others).

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use kapacitor_ipc::{
    CloseReason, Envelope, Hello, IpcError, Message, PROTO_VERSION, PeerOptions, ProtocolError,
    Role, encode, frame_codec, handshake,
};
use kapacitor_models::{FieldValue, Point};
use std::time::Duration;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_max_level(tracing::Level::DEBUG)
        .try_init();
}

fn small_limit() -> PeerOptions {
    PeerOptions {
        max_frame_len: 4096,
        request_timeout: Duration::from_secs(5),
        handshake_timeout: Duration::from_secs(5),
        ..PeerOptions::default()
    }
}

/// A server that answers `Ping` with `Pong` and reports how each connection ended.
async fn echo_server(
    listener: UnixListener,
    ended: mpsc::UnboundedSender<Result<CloseReason, IpcError>>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let ended = ended.clone();
        tokio::spawn(async move {
            match handshake(stream, Hello::new(Role::Apid), small_limit()).await {
                Err(e) => {
                    let _ = ended.send(Err(e));
                }
                Ok((peer, mut inbox)) => {
                    while let Some(req) = inbox.recv().await {
                        if req.msg == Message::Ping {
                            let _ = req.reply(Message::Pong).await;
                        }
                    }
                    let _ = ended.send(Ok(peer.closed().await));
                }
            }
        });
    }
}

/// A client that speaks frames by hand, so it can send anything.
async fn raw_client(
    path: &std::path::Path,
    hello: &Hello,
) -> Framed<UnixStream, LengthDelimitedCodec> {
    let stream = UnixStream::connect(path).await.unwrap();
    let mut framed = Framed::new(stream, frame_codec(1 << 20));
    framed.send(encode(hello).unwrap()).await.unwrap();
    let server_hello = framed.next().await.unwrap().unwrap();
    assert!(kapacitor_ipc::decode_hello(&server_hello).is_ok());
    framed
}

/// After the bad client, a well-behaved one still gets answers from the same server.
async fn good_client_works(path: &std::path::Path) {
    let stream = UnixStream::connect(path).await.unwrap();
    let (peer, _inbox) = handshake(
        stream,
        Hello::new(Role::Worker {
            task_id: "t".into(),
        }),
        small_limit(),
    )
    .await
    .unwrap();
    assert_eq!(peer.remote().role, Role::Apid);
    assert_eq!(peer.request(Message::Ping).await.unwrap(), Message::Pong);
}

struct Server {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    ended: mpsc::UnboundedReceiver<Result<CloseReason, IpcError>>,
}

fn start_server() -> Server {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(echo_server(listener, tx));
    Server {
        _dir: dir,
        path,
        ended: rx,
    }
}

async fn next_end(server: &mut Server) -> Result<CloseReason, IpcError> {
    tokio::time::timeout(Duration::from_secs(10), server.ended.recv())
        .await
        .expect("server never closed the bad connection")
        .unwrap()
}

async fn expect_eof(framed: &mut Framed<UnixStream, LengthDelimitedCodec>) {
    let next = tokio::time::timeout(Duration::from_secs(10), framed.next())
        .await
        .expect("connection not closed");
    assert!(
        next.is_none() || next.unwrap().is_err(),
        "server kept the connection open"
    );
}

#[tokio::test]
async fn oversize_frame_closes_only_that_connection() {
    let mut server = start_server();
    let mut bad = raw_client(&server.path, &Hello::new(Role::Gossipd)).await;
    // A length prefix far over the server's 4 KiB limit, without the body.
    bad.get_mut()
        .try_write(&(1_000_000u32).to_be_bytes())
        .unwrap();
    assert_eq!(
        next_end(&mut server).await,
        Ok(CloseReason::Protocol(ProtocolError::FrameTooLarge {
            limit: 4096
        }))
    );
    expect_eof(&mut bad).await;
    good_client_works(&server.path).await;
}

#[tokio::test]
async fn garbage_frame_closes_only_that_connection() {
    let mut server = start_server();
    let mut bad = raw_client(&server.path, &Hello::new(Role::Gossipd)).await;
    bad.send(Bytes::from_static(&[0xff; 12])).await.unwrap();
    assert!(matches!(
        next_end(&mut server).await,
        Ok(CloseReason::Protocol(ProtocolError::Decode(_)))
    ));
    expect_eof(&mut bad).await;
    good_client_works(&server.path).await;
}

#[tokio::test]
async fn unknown_message_variant_closes_only_that_connection() {
    let mut server = start_server();
    let mut bad = raw_client(&server.path, &Hello::new(Role::Gossipd)).await;
    // Envelope { id: 1, reply_to: 0, msg: <variant 127> }
    bad.send(Bytes::from_static(&[1, 0, 0x7f])).await.unwrap();
    assert_eq!(
        next_end(&mut server).await,
        Ok(CloseReason::Protocol(ProtocolError::UnknownMessage))
    );
    expect_eof(&mut bad).await;
    good_client_works(&server.path).await;
}

#[tokio::test]
async fn version_mismatch_is_refused() {
    let mut server = start_server();
    let mut hello = Hello::new(Role::Gossipd);
    hello.proto_version = PROTO_VERSION + 1;
    let stream = UnixStream::connect(&server.path).await.unwrap();
    let mut bad = Framed::new(stream, frame_codec(1 << 20));
    bad.send(encode(&hello).unwrap()).await.unwrap();
    assert!(matches!(
        next_end(&mut server).await,
        Err(IpcError::Protocol(ProtocolError::VersionMismatch { theirs, .. })) if theirs == PROTO_VERSION + 1
    ));
    // The server's own hello may arrive first; then the stream ends.
    loop {
        let next = tokio::time::timeout(Duration::from_secs(10), bad.next())
            .await
            .expect("connection not closed");
        match next {
            Some(Ok(frame)) => assert!(kapacitor_ipc::decode_hello(&frame).is_ok()),
            _ => break,
        }
    }
    good_client_works(&server.path).await;
}

#[tokio::test]
async fn garbage_instead_of_hello_is_refused() {
    let mut server = start_server();
    let stream = UnixStream::connect(&server.path).await.unwrap();
    let mut bad = Framed::new(stream, frame_codec(1 << 20));
    bad.send(Bytes::from_static(b"GET / HTTP/1.1"))
        .await
        .unwrap();
    assert!(next_end(&mut server).await.is_err());
    good_client_works(&server.path).await;
}

fn point(i: i64) -> Point {
    Point {
        name: "cpu".into(),
        tags: [("host".to_string(), format!("h{i}"))]
            .into_iter()
            .collect(),
        fields: [("value".to_string(), FieldValue::Float(i as f64))]
            .into_iter()
            .collect(),
        time: i,
    }
}

#[tokio::test]
async fn requests_from_many_tasks_get_their_own_replies() {
    let (a, b) = UnixStream::pair().unwrap();
    let server = tokio::spawn(async move {
        let (_peer, mut inbox) = handshake(
            b,
            Hello::new(Role::Worker {
                task_id: "t".into(),
            }),
            PeerOptions::default(),
        )
        .await
        .unwrap();
        let mut notes = 0;
        while let Some(req) = inbox.recv().await {
            match &req.msg {
                Message::HttpOutRequest { endpoint } => {
                    let body = Some(format!("body of {endpoint}"));
                    req.reply(Message::HttpOutResponse { body }).await.unwrap();
                }
                Message::Points { points, .. } => {
                    assert!(!req.is_request());
                    assert!(req.reply(Message::Pong).await.is_err());
                    notes += points.len();
                }
                Message::Shutdown => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        notes
    });
    let (peer, _inbox) = handshake(a, Hello::new(Role::Apid), PeerOptions::default())
        .await
        .unwrap();
    assert_eq!(
        peer.remote().role,
        Role::Worker {
            task_id: "t".into()
        }
    );
    let mut tasks = Vec::new();
    for i in 0..20 {
        let peer = peer.clone();
        tasks.push(tokio::spawn(async move {
            peer.send(Message::Points {
                db: "db".into(),
                rp: "autogen".into(),
                points: (0..10).map(point).collect(),
            })
            .await
            .unwrap();
            let reply = peer
                .request(Message::HttpOutRequest {
                    endpoint: format!("e{i}"),
                })
                .await
                .unwrap();
            assert_eq!(
                reply,
                Message::HttpOutResponse {
                    body: Some(format!("body of e{i}"))
                }
            );
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    peer.send(Message::Shutdown).await.unwrap();
    assert_eq!(server.await.unwrap(), 200);
}

#[tokio::test]
async fn pending_request_fails_when_peer_goes_away() {
    let (a, b) = UnixStream::pair().unwrap();
    let other = tokio::spawn(async move {
        let (peer, mut inbox) = handshake(b, Hello::new(Role::Supervisor), PeerOptions::default())
            .await
            .unwrap();
        // Take the request, then drop the connection without answering.
        let req = inbox.recv().await.unwrap();
        assert!(req.is_request());
        peer.close();
    });
    let (peer, _inbox) = handshake(a, Hello::new(Role::Apid), PeerOptions::default())
        .await
        .unwrap();
    let err = peer.request(Message::ProcessTreeRequest).await.unwrap_err();
    assert!(matches!(err, IpcError::Closed(_)), "{err:?}");
    other.await.unwrap();
    assert!(matches!(
        peer.closed().await,
        CloseReason::Eof | CloseReason::Io(_)
    ));
}

#[tokio::test]
async fn request_times_out_without_reply() {
    let (a, b) = UnixStream::pair().unwrap();
    let (theirs, ours) = tokio::join!(
        handshake(b, Hello::new(Role::Supervisor), PeerOptions::default()),
        handshake(a, Hello::new(Role::Apid), PeerOptions::default()),
    );
    // The other side's inbox is never read, so the request stays unanswered.
    let (_keep, _inbox_b) = theirs.unwrap();
    let (peer, _inbox) = ours.unwrap();
    let err = peer
        .request_timeout(Message::StatusRequest, Duration::from_millis(50))
        .await
        .unwrap_err();
    assert_eq!(err, IpcError::Timeout(Duration::from_millis(50)));
}

/// The timeout covers the wait for room in the outbox too: a request queued behind frames
/// the other side never reads fails in time (it used to wait for the queue first).
#[tokio::test]
async fn request_timeout_covers_a_full_outbox() {
    let (a, b) = UnixStream::pair().unwrap();
    // The other side says hello, then never reads again.
    let mut stalled = Framed::new(b, frame_codec(1 << 20));
    let opts = PeerOptions {
        outbox_capacity: 4,
        ..PeerOptions::default()
    };
    let (ours, theirs_hello) = tokio::join!(handshake(a, Hello::new(Role::Apid), opts), async {
        stalled
            .send(encode(&Hello::new(Role::Supervisor)).unwrap())
            .await
            .unwrap();
        stalled.next().await.unwrap().unwrap()
    },);
    assert!(kapacitor_ipc::decode_hello(&theirs_hello).is_ok());
    let (peer, _inbox) = ours.unwrap();
    let filler = Message::Config {
        toml: "x".repeat(64 * 1024),
    };
    // Fill the socket buffers and the outbox until a send waits.
    let mut accepted = 0;
    while let Ok(sent) =
        tokio::time::timeout(Duration::from_millis(200), peer.send(filler.clone())).await
    {
        sent.unwrap();
        accepted += 1;
        assert!(accepted < 10_000, "the outbox never filled");
    }
    let queued = peer.queued_bytes();
    let started = std::time::Instant::now();
    let err = peer
        .request_timeout(Message::StatusRequest, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(err, IpcError::Timeout(Duration::from_millis(300)));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the request waited {:?} behind the queue",
        started.elapsed()
    );
    // The request that gave up left nothing in the queue's byte count.
    assert_eq!(peer.queued_bytes(), queued);
    drop(stalled);
}

#[tokio::test]
async fn oversize_send_is_refused_locally_and_connection_survives() {
    let (a, b) = UnixStream::pair().unwrap();
    let server = tokio::spawn(async move {
        let (_p, mut inbox) = handshake(b, Hello::new(Role::Supervisor), small_limit())
            .await
            .unwrap();
        let req = inbox.recv().await.unwrap();
        req.reply(Message::Pong).await.unwrap();
    });
    let (peer, _inbox) = handshake(a, Hello::new(Role::Apid), small_limit())
        .await
        .unwrap();
    let big = Message::Config {
        toml: "x".repeat(10_000),
    };
    assert!(matches!(
        peer.send(big).await,
        Err(IpcError::Protocol(ProtocolError::FrameTooLarge {
            limit: 4096
        }))
    ));
    assert_eq!(peer.request(Message::Ping).await.unwrap(), Message::Pong);
    server.await.unwrap();
}

#[test]
fn envelope_layout_is_what_the_raw_tests_assume() {
    // The hand-crafted frames above rely on id and reply_to being single-byte varints.
    let bytes = encode(&Envelope {
        id: 1,
        reply_to: 0,
        msg: Message::Ping,
    })
    .unwrap();
    assert_eq!(&bytes[..], &[1, 0, 0]);
}
