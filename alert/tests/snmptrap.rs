//! `snmptrap` against a local UDP socket: the datagram is decoded here (independently of the
//! encoder) and every field of the SNMP v2c trap checked.

mod common;

use common::*;
use kapacitor_alert::{HandlerSpec, Level};
use serde_json::json;
use tokio::net::UdpSocket;

/// One BER TLV: (tag, content), and what follows it.
fn tlv(buf: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = buf[0];
    let (len, header) = if buf[1] & 0x80 == 0 {
        (buf[1] as usize, 2)
    } else {
        let n = (buf[1] & 0x7f) as usize;
        let len = buf[2..2 + n]
            .iter()
            .fold(0usize, |acc, b| acc << 8 | *b as usize);
        (len, 2 + n)
    };
    (tag, &buf[header..header + len], &buf[header + len..])
}

/// Every TLV of a constructed value's content.
fn children(mut content: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    while !content.is_empty() {
        let (tag, c, rest) = tlv(content);
        out.push((tag, c));
        content = rest;
    }
    out
}

fn int(content: &[u8]) -> i64 {
    let first = if content[0] & 0x80 != 0 { -1i64 } else { 0 };
    content
        .iter()
        .fold(first, |acc, b| acc << 8 | i64::from(*b))
}

fn oid(content: &[u8]) -> String {
    let mut arcs = Vec::new();
    let mut v: u64 = 0;
    for b in content {
        v = v << 7 | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (v / 40).min(2);
                arcs.push(first);
                arcs.push(v - first * 40);
            } else {
                arcs.push(v);
            }
            v = 0;
        }
    }
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

#[tokio::test]
async fn snmptrap_sends_a_v2c_trap_with_rendered_data() {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let cfg = config(&format!(
        "[snmptrap]\nenabled = true\naddr = \"{}\"\ncommunity = \"public\"\n",
        sock.local_addr().unwrap()
    ));
    let (svc, _) = service(&cfg);
    let o = json!({
        "trap-oid": "1.3.6.1.4.1.1.1",
        "data-list": [
            {"oid": "1.3.6.1.4.1.1.2", "type": "s", "value": "{{ .Message }} on {{ index .Tags \"host\" }}"},
            {"oid": "1.3.6.1.4.1.1.3", "type": "i", "value": "-5"},
            {"oid": "1.3.6.1.4.1.1.4", "type": "c", "value": "300"},
            {"oid": "1.3.6.1.4.1.1.5", "type": "t", "value": "42"},
            {"oid": "1.3.6.1.4.1.1.6", "type": "n"},
        ],
    });
    svc.register_handler(HandlerSpec::new("cpu", "trap", "snmptrap", opts(o)))
        .unwrap();
    svc.publish(event("cpu", Level::Critical));
    let mut buf = [0u8; 2048];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), sock.recv(&mut buf))
        .await
        .expect("a trap within 10s")
        .unwrap();
    let (tag, msg, rest) = tlv(&buf[..n]);
    assert_eq!(
        (tag, rest.len()),
        (0x30, 0),
        "one SEQUENCE, nothing after it"
    );
    let msg = children(msg);
    assert_eq!(msg.len(), 3);
    assert_eq!((msg[0].0, int(msg[0].1)), (0x02, 1), "version 2c");
    assert_eq!((msg[1].0, msg[1].1), (0x04, &b"public"[..]));
    assert_eq!(msg[2].0, 0xA7, "SNMPv2-Trap-PDU");
    let pdu = children(msg[2].1);
    assert_eq!(pdu.len(), 4);
    assert!(pdu[0].0 == 0x02 && int(pdu[0].1) >= 0, "request-id");
    assert_eq!(
        (int(pdu[1].1), int(pdu[2].1)),
        (0, 0),
        "error status, index"
    );
    assert_eq!(pdu[3].0, 0x30);
    let varbinds: Vec<(String, u8, Vec<u8>)> = children(pdu[3].1)
        .into_iter()
        .map(|(tag, vb)| {
            assert_eq!(tag, 0x30);
            let parts = children(vb);
            assert_eq!(parts[0].0, 0x06);
            (oid(parts[0].1), parts[1].0, parts[1].1.to_vec())
        })
        .collect();
    let trap_oid = vec![0x2b, 6, 1, 4, 1, 1, 1];
    assert_eq!(
        varbinds,
        [
            ("1.3.6.1.2.1.1.3.0".to_string(), 0x43, vec![0x03, 0xe8]),
            ("1.3.6.1.6.3.1.1.4.1.0".to_string(), 0x06, trap_oid),
            (
                "1.3.6.1.4.1.1.2".to_string(),
                0x04,
                b"message on serverA".to_vec()
            ),
            ("1.3.6.1.4.1.1.3".to_string(), 0x02, vec![0xfb]),
            ("1.3.6.1.4.1.1.4".to_string(), 0x46, vec![0x01, 0x2c]),
            ("1.3.6.1.4.1.1.5".to_string(), 0x43, vec![42]),
            ("1.3.6.1.4.1.1.6".to_string(), 0x05, vec![]),
        ]
    );
    wait_until(|| svc.stats().handlers[0].sent == 1).await;
}

#[tokio::test]
async fn snmptrap_refuses_bad_specs_and_values() {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let cfg = config(&format!(
        "[snmptrap]\nenabled = true\naddr = \"{}\"\n",
        sock.local_addr().unwrap()
    ));
    let (svc, _) = service(&cfg);
    for (o, why) in [
        (json!({"trap-oid": "1.3.6"}), ""),
        (json!({}), "invalid trap Oid"),
        (
            json!({"trap-oid": "1.3.6", "data-list": [{"oid": "1.3.6.1", "type": "a", "value": "1.2.3.4"}]}),
            "Snmptrap Datatype 'IP address' not supported",
        ),
        (
            json!({"trap-oid": "1.3.6", "data-list": [{"oid": "x", "type": "s"}]}),
            "invalid data Oid",
        ),
        (json!({"trap-oid": "1.3.6", "oid": "1"}), "unknown field"),
    ] {
        let r = svc.register_handler(HandlerSpec::new("cpu", "bad", "snmptrap", opts(o)));
        if why.is_empty() {
            r.unwrap();
            svc.remove_handler("cpu", "bad");
        } else {
            let e = r.unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        }
    }
    // A value that is not an integer fails the event at once (no retries) and sends nothing.
    let o = json!({"trap-oid": "1.3.6", "data-list": [{"oid": "1.3.6.1", "type": "i", "value": "{{ .Message }}"}]});
    svc.register_handler(HandlerSpec::new("cpu", "int", "snmptrap", opts(o)))
        .unwrap();
    svc.publish(event("cpu", Level::Critical));
    wait_until(|| svc.stats().handlers[0].failed == 1).await;
    assert_eq!(svc.stats().handlers[0].retried, 0);
    let mut buf = [0u8; 64];
    assert!(sock.try_recv(&mut buf).is_err());
}
