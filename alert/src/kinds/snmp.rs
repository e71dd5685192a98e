//! `snmptrap`: an SNMP v2c trap over UDP, BER-encoded here (a trap is one datagram of a few
//! TLVs; a client library would bring a whole manager for it). The varbinds are Kapacitor's:
//! `sysUpTime.0` = 1000 ticks, `snmpTrapOID.0` = the handler's trap OID, then each `data-list`
//! entry with its value template rendered against the event.

use super::{DeliveryError, Shared, render, template};
use crate::event::Event;
use serde::Deserialize;
use std::sync::atomic::{AtomicU32, Ordering};

const SYS_UP_TIME: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 3, 0];
const SNMP_TRAP_OID: &[u32] = &[1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0];
/// What Kapacitor sends as `sysUpTime.0` with every trap.
const UP_TIME_TICKS: u32 = 1000;

const TAG_INTEGER: u8 = 0x02;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_NULL: u8 = 0x05;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_TIME_TICKS: u8 = 0x43;
const TAG_COUNTER64: u8 = 0x46;
const TAG_V2_TRAP: u8 = 0xA7;
/// `version-2c(1)` in the message header.
const VERSION_2C: i64 = 1;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct SnmpTrapOptions {
    #[serde(default)]
    pub trap_oid: String,
    #[serde(default)]
    pub data_list: Vec<DataOption>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DataOption {
    pub oid: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub value: String,
}

/// The data types Kapacitor sends (net-snmp's `snmptrap` letters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VarType {
    Counter64,
    Integer,
    Null,
    OctetString,
    TimeTicks,
}

impl VarType {
    fn parse(letter: &str) -> Result<VarType, String> {
        let unsupported = |what: &str| Err(format!("Snmptrap Datatype '{what}' not supported"));
        match letter {
            "c" => Ok(VarType::Counter64),
            "i" => Ok(VarType::Integer),
            "n" => Ok(VarType::Null),
            "s" => Ok(VarType::OctetString),
            "t" => Ok(VarType::TimeTicks),
            "a" => unsupported("IP address"),
            "d" => unsupported("Decimal string"),
            "o" => unsupported("Object ID"),
            "u" => unsupported("Unsigned integer"),
            "x" => unsupported("Hexadecimal string"),
            other => Err(format!("Snmptrap Datatype not known: {other}")),
        }
    }
}

struct Data {
    oid: Vec<u32>,
    kind: VarType,
    value: gotmpl::Template,
}

pub(crate) struct SnmpTrapAction {
    trap_oid: Vec<u32>,
    data: Vec<Data>,
}

impl SnmpTrapAction {
    /// OIDs and types are checked here (Kapacitor finds them bad only when an event comes).
    pub fn new(o: SnmpTrapOptions) -> Result<SnmpTrapAction, String> {
        let trap_oid = parse_oid(&o.trap_oid)
            .map_err(|e| format!("invalid trap Oid {:?}: {e}", o.trap_oid))?;
        let data = o
            .data_list
            .iter()
            .map(|d| {
                Ok(Data {
                    oid: parse_oid(&d.oid)
                        .map_err(|e| format!("invalid data Oid {:?}: {e}", d.oid))?,
                    kind: VarType::parse(&d.kind)?,
                    value: template("data", &d.value)?,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(SnmpTrapAction { trap_oid, data })
    }

    /// The trap datagram for `ev` (values rendered and converted).
    fn packet(&self, ev: &Event, community: &str) -> Result<Vec<u8>, DeliveryError> {
        let mut varbinds = Vec::new();
        varbind(
            &mut varbinds,
            SYS_UP_TIME,
            TAG_TIME_TICKS,
            &uint_content(u64::from(UP_TIME_TICKS)),
        );
        varbind(
            &mut varbinds,
            SNMP_TRAP_OID,
            TAG_OID,
            &oid_content(&self.trap_oid),
        );
        for d in &self.data {
            let value = render(&d.value, ev)?;
            let (tag, content) = match d.kind {
                VarType::Counter64 => (TAG_COUNTER64, uint_content(parse_int(&value)? as u64)),
                // Kapacitor truncates to the type's width (Go conversions), as done here.
                VarType::Integer => (
                    TAG_INTEGER,
                    int_content(i64::from(parse_int(&value)? as i32)),
                ),
                VarType::Null => (TAG_NULL, Vec::new()),
                VarType::OctetString => (TAG_OCTET_STRING, value.into_bytes()),
                VarType::TimeTicks => (
                    TAG_TIME_TICKS,
                    uint_content(u64::from(parse_int(&value)? as u32)),
                ),
            };
            varbind(&mut varbinds, &d.oid, tag, &content);
        }
        let mut pdu = Vec::new();
        tlv(&mut pdu, TAG_INTEGER, &int_content(i64::from(request_id())));
        tlv(&mut pdu, TAG_INTEGER, &int_content(0)); // error-status
        tlv(&mut pdu, TAG_INTEGER, &int_content(0)); // error-index
        tlv(&mut pdu, TAG_SEQUENCE, &varbinds);
        let mut msg = Vec::new();
        tlv(&mut msg, TAG_INTEGER, &int_content(VERSION_2C));
        tlv(&mut msg, TAG_OCTET_STRING, community.as_bytes());
        tlv(&mut msg, TAG_V2_TRAP, &pdu);
        let mut out = Vec::with_capacity(msg.len() + 4);
        tlv(&mut out, TAG_SEQUENCE, &msg);
        Ok(out)
    }

    pub async fn deliver(&self, ev: &Event, sh: &Shared) -> Result<(), DeliveryError> {
        let cfg = sh.cfg();
        let c = &cfg.snmptrap;
        if !c.enabled {
            return Err(DeliveryError::permanent("service is not enabled"));
        }
        let packet = self.packet(ev, &c.community)?;
        let failed = |e: std::io::Error| {
            DeliveryError::retryable(format!("failed to send SNMP trap to {}: {e}", c.addr))
        };
        let addr = tokio::net::lookup_host(&c.addr)
            .await
            .map_err(failed)?
            .next()
            .ok_or_else(|| {
                DeliveryError::permanent(format!("invalid SNMP address {:?}", c.addr))
            })?;
        let local = if addr.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let sock = tokio::net::UdpSocket::bind(local).await.map_err(failed)?;
        sock.send_to(&packet, addr).await.map_err(failed)?;
        Ok(())
    }
}

/// Go's `strconv.ParseInt(s, 10, 64)`, with its error text.
fn parse_int(s: &str) -> Result<i64, DeliveryError> {
    s.parse::<i64>().map_err(|e| {
        let why = match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                "value out of range"
            }
            _ => "invalid syntax",
        };
        DeliveryError::permanent(format!("strconv.ParseInt: parsing {s:?}: {why}"))
    })
}

/// A dotted OID (`1.3.6.1`, an optional leading dot) as arcs, with the BER rules on the first
/// two: at least two arcs, the first 0-2, the second below 40 under 0 and 1.
fn parse_oid(s: &str) -> Result<Vec<u32>, String> {
    let arcs = s
        .strip_prefix('.')
        .unwrap_or(s)
        .split('.')
        .map(|a| {
            a.parse::<u32>()
                .map_err(|_| format!("bad sub-identifier {a:?}"))
        })
        .collect::<Result<Vec<u32>, String>>()?;
    match arcs.as_slice() {
        [first, second, ..] if *first <= 2 && (*first == 2 || *second < 40) => {
            if arcs.len() > 128 {
                return Err("more than 128 sub-identifiers".into());
            }
            Ok(arcs)
        }
        [_, _, ..] => Err("the first two sub-identifiers are out of range".into()),
        _ => Err("fewer than 2 sub-identifiers".into()),
    }
}

fn request_id() -> i32 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    ((seed ^ std::process::id().rotate_left(16)).wrapping_add(n) & 0x7fff_ffff) as i32
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
        return;
    }
    let bytes = len.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    out.push(0x80 | (bytes.len() - skip) as u8);
    out.extend_from_slice(&bytes[skip..]);
}

fn tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    push_len(out, content.len());
    out.extend_from_slice(content);
}

fn varbind(out: &mut Vec<u8>, oid: &[u32], tag: u8, content: &[u8]) {
    let mut vb = Vec::new();
    tlv(&mut vb, TAG_OID, &oid_content(oid));
    tlv(&mut vb, tag, content);
    tlv(out, TAG_SEQUENCE, &vb);
}

/// A two's-complement INTEGER in the fewest bytes.
fn int_content(v: i64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    while start < bytes.len() - 1 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        if (b == 0x00 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    bytes[start..].to_vec()
}

/// An unsigned value (Counter64, TimeTicks): fewest bytes, a leading zero when the top bit
/// would read as a sign.
fn uint_content(v: u64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(7);
    let mut out = Vec::with_capacity(9);
    if bytes[skip] & 0x80 != 0 {
        out.push(0);
    }
    out.extend_from_slice(&bytes[skip..]);
    out
}

fn push_base128(out: &mut Vec<u8>, mut v: u64) {
    let mut groups = [0u8; 10];
    let mut n = 0;
    loop {
        groups[n] = (v & 0x7f) as u8;
        n += 1;
        v >>= 7;
        if v == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        out.push(groups[i] | if i > 0 { 0x80 } else { 0 });
    }
}

/// Arcs as BER: the first two combined as `40 * a + b`, each arc in base 128.
fn oid_content(arcs: &[u32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(arcs.len() + 4);
    if let [a, b, rest @ ..] = arcs {
        push_base128(&mut out, u64::from(*a) * 40 + u64::from(*b));
        for arc in rest {
            push_base128(&mut out, u64::from(*arc));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_use_the_fewest_twos_complement_bytes() {
        assert_eq!(int_content(0), [0x00]);
        assert_eq!(int_content(127), [0x7f]);
        assert_eq!(int_content(128), [0x00, 0x80]);
        assert_eq!(int_content(256), [0x01, 0x00]);
        assert_eq!(int_content(-1), [0xff]);
        assert_eq!(int_content(-128), [0x80]);
        assert_eq!(int_content(-129), [0xff, 0x7f]);
        assert_eq!(uint_content(0), [0x00]);
        assert_eq!(uint_content(1000), [0x03, 0xe8]);
        assert_eq!(uint_content(0x80), [0x00, 0x80]);
        assert_eq!(
            uint_content(u64::MAX),
            [0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
    }

    #[test]
    fn oids_and_lengths_encode_as_x690() {
        // 1.3.6.1.4.1.311: the usual X.690 example.
        assert_eq!(
            oid_content(&parse_oid("1.3.6.1.4.1.311").unwrap()),
            [0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37]
        );
        assert_eq!(oid_content(&[2, 999]), [0x88, 0x37]);
        let mut out = Vec::new();
        push_len(&mut out, 200);
        push_len(&mut out, 0x1234);
        assert_eq!(out, [0x81, 200, 0x82, 0x12, 0x34]);
    }

    #[test]
    fn bad_oids_and_types_are_refused() {
        assert!(parse_oid(".1.3.6").is_ok());
        for bad in ["", "1", "3.1", "1.40", "1.x.2", "1..2"] {
            assert!(parse_oid(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            VarType::parse("a").unwrap_err(),
            "Snmptrap Datatype 'IP address' not supported"
        );
        assert_eq!(
            VarType::parse("z").unwrap_err(),
            "Snmptrap Datatype not known: z"
        );
        assert_eq!(
            parse_int("1x").unwrap_err().message,
            "strconv.ParseInt: parsing \"1x\": invalid syntax"
        );
    }
}
