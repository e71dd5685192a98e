//! Malformed IPC on a live daemon: garbage, oversized frames, unknown messages and a wrong
//! protocol version sent to apid's worker socket. apid logs and drops each bad connection
//! and keeps serving: same pid, HTTP still answers, real workers stay connected.

use kapacitor_ipc::{Hello, PROTO_VERSION, Role, encode};
use kapacitor_tests::{Daemon, DaemonOpts, EVENTUALLY, eventually};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(payload);
    f
}

/// Sends `bytes` on a fresh connection and returns once apid has closed it.
fn send_and_expect_close(sock: &std::path::Path, bytes: &[u8]) {
    let mut s = UnixStream::connect(sock).expect("connect to apid.sock");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(bytes).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return,   // closed by apid
            Ok(_) => continue, // apid's own hello
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
            Err(e) => panic!("apid did not close the bad connection: {e}"),
        }
    }
}

#[test]
fn malformed_frames_do_not_crash_apid() {
    let d = Daemon::start(DaemonOpts::with_tasks(&["w"]));
    let apid = d.running_pid("apid");
    eventually(EVENTUALLY, "worker connected", || {
        d.child("w").unwrap().connected.filter(|c| *c)
    });
    let sock = d.data_dir().join("run").join("apid.sock");
    let good_hello = frame(&encode(&Hello::new(Role::Gossipd)).unwrap());

    // Garbage instead of a hello.
    send_and_expect_close(&sock, b"\x00\x00\x00\x05hello world, this is not postcard");
    // A length prefix far over the 64 MiB limit.
    send_and_expect_close(&sock, &u32::MAX.to_be_bytes());
    // A wrong protocol version.
    let mut old = Hello::new(Role::Worker {
        task_id: "x".into(),
    });
    old.proto_version = PROTO_VERSION + 7;
    send_and_expect_close(&sock, &frame(&encode(&old).unwrap()));
    // A valid worker hello, then an envelope with an unknown message variant.
    let intruder = Hello::new(Role::Worker {
        task_id: "intruder".into(),
    });
    let mut bytes = frame(&encode(&intruder).unwrap());
    bytes.extend(frame(&[1, 0, 0x7f]));
    send_and_expect_close(&sock, &bytes);
    // A valid worker hello, then undecodable bytes.
    let mut bytes = frame(&encode(&intruder).unwrap());
    bytes.extend(frame(&[0xff; 16]));
    send_and_expect_close(&sock, &bytes);
    // A hello from a role that may not use this socket.
    send_and_expect_close(&sock, &good_hello);

    assert_eq!(
        d.child("apid").unwrap().pid,
        Some(apid),
        "apid was restarted"
    );
    assert_eq!(d.get("/kapacitor/v1/ping").status, 204);
    assert_eq!(d.child("w").unwrap().connected, Some(true));
    let log = d.log();
    assert!(log.contains("protocol version mismatch"), "{log}");
    assert!(log.contains("unknown message variant"), "{log}");
    assert!(log.contains("frame larger than the limit"), "{log}");
    assert!(log.contains("undecodable frame"), "{log}");
    assert!(
        log.contains("only task workers may use the worker socket"),
        "{log}"
    );
    assert_eq!(
        d.child("intruder"),
        None,
        "no such task appears in the tree"
    );
}
