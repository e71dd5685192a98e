//! Framing and encoding: postcard values in length-delimited frames (u32 big-endian length).
//!
//! The helpers return `Bytes` on purpose: `LengthDelimitedCodec` implements both
//! `Encoder<Bytes>` and `Encoder<&[u8]>`, so passing a `Vec` or calling `flush()` without a
//! concrete item type fails type inference. Everything here hands the codec `Bytes`.

use crate::error::ProtocolError;
use crate::message::{Envelope, Hello, MESSAGE_VARIANTS, PROTO_VERSION};
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::codec::LengthDelimitedCodec;

/// Default upper bound of one frame. A batch of points larger than this must be split.
pub const MAX_FRAME_LEN: usize = 64 * 1024 * 1024;

/// The frame codec with an explicit size limit (tokio-util's default is 8 MiB).
pub fn frame_codec(max_frame_len: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_type::<u32>()
        .max_frame_length(max_frame_len)
        .new_codec()
}

/// Encodes any value as postcard bytes.
pub fn encode<T: Serialize>(value: &T) -> Result<Bytes, ProtocolError> {
    postcard::to_stdvec(value)
        .map(Bytes::from)
        .map_err(|e| ProtocolError::Encode(e.to_string()))
}

/// `Message::Points`'s variant index in the postcard encoding (checked by a test against the
/// derived encoding).
const POINTS_VARIANT: u32 = 7;

/// A `Message::Points` notification whose points are any values that serialise like
/// `kapacitor_models::Point` (a `PointRef`, or a reference to either).
struct PointsNotification<'a, P> {
    db: &'a str,
    rp: &'a str,
    points: &'a [P],
}

impl<P: Serialize> Serialize for PointsNotification<'_, P> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeStruct, SerializeStructVariant};
        struct Msg<'b, P>(&'b PointsNotification<'b, P>);
        impl<P: Serialize> Serialize for Msg<'_, P> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut v = s.serialize_struct_variant("Message", POINTS_VARIANT, "Points", 3)?;
                v.serialize_field("db", self.0.db)?;
                v.serialize_field("rp", self.0.rp)?;
                v.serialize_field("points", self.0.points)?;
                v.end()
            }
        }
        let mut env = s.serialize_struct("Envelope", 3)?;
        env.serialize_field("id", &0u64)?;
        env.serialize_field("reply_to", &0u64)?;
        env.serialize_field("msg", &Msg(self))?;
        env.end()
    }
}

/// The complete envelope of a `Message::Points` notification, encoded once so the same bytes
/// can go to every worker that takes them ([`crate::Peer::send_frame`]). `points` may be
/// borrowed points (`PointRef`) or references: the bytes equal those of the owned message.
pub fn encode_points<P: Serialize>(
    db: &str,
    rp: &str,
    points: &[P],
) -> Result<Bytes, ProtocolError> {
    encode(&PointsNotification { db, rp, points })
}

/// Decodes postcard bytes into an owned value.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ProtocolError> {
    postcard::from_bytes(bytes).map_err(|e| ProtocolError::Decode(e.to_string()))
}

/// Decodes an envelope. An out-of-range `Message` variant is reported as
/// [`ProtocolError::UnknownMessage`] rather than as generic garbage.
pub fn decode_envelope(bytes: &[u8]) -> Result<Envelope, ProtocolError> {
    postcard::from_bytes(bytes).map_err(|e| {
        // serde reports a bad variant index as a custom error without detail; look at the
        // index ourselves to tell "newer peer" from plain garbage.
        if variant_index(bytes).is_some_and(|i| i >= MESSAGE_VARIANTS) {
            ProtocolError::UnknownMessage
        } else {
            ProtocolError::Decode(e.to_string())
        }
    })
}

/// The `Message` variant index of an encoded envelope (after the `id` and `reply_to` varints).
fn variant_index(bytes: &[u8]) -> Option<u32> {
    let (_id, rest) = postcard::take_from_bytes::<u64>(bytes).ok()?;
    let (_reply_to, rest) = postcard::take_from_bytes::<u64>(rest).ok()?;
    let (index, _) = postcard::take_from_bytes::<u32>(rest).ok()?;
    Some(index)
}

/// Decodes a hello, checking the protocol version before the rest of the layout.
pub fn decode_hello(bytes: &[u8]) -> Result<Hello, ProtocolError> {
    let (version, _) = postcard::take_from_bytes::<u32>(bytes)
        .map_err(|e| ProtocolError::Decode(format!("hello: {e}")))?;
    if version != PROTO_VERSION {
        return Err(ProtocolError::VersionMismatch {
            ours: PROTO_VERSION,
            theirs: version,
        });
    }
    decode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Message, Role};

    #[test]
    fn envelope_round_trip() {
        let env = Envelope {
            id: 7,
            reply_to: 0,
            msg: Message::Config {
                toml: "a = 1".into(),
            },
        };
        let bytes = encode(&env).unwrap();
        assert_eq!(decode_envelope(&bytes).unwrap(), env);
    }

    #[test]
    fn out_of_range_variant_is_unknown_message() {
        // id = 1, reply_to = 0, then a variant index far past the last one.
        let bytes = [1u8, 0, 0x7f];
        assert!(matches!(
            decode_envelope(&bytes),
            Err(ProtocolError::UnknownMessage)
        ));
    }

    #[test]
    fn variant_count_matches_the_enum() {
        let last = encode(&Envelope {
            id: 0,
            reply_to: 0,
            msg: Message::TaskBatchAck { seq: 0 },
        })
        .unwrap();
        assert_eq!(
            last[2] as u32,
            MESSAGE_VARIANTS - 1,
            "update MESSAGE_VARIANTS (and keep the last variant in this test)"
        );
    }

    /// The count the decoder trusts, against the enum as written: a variant added without
    /// raising `MESSAGE_VARIANTS` is refused on the wire as unknown (it happened once, and
    /// the cluster's claims silently failed open).
    #[test]
    fn message_variants_counts_the_enum_as_written() {
        let src = include_str!("message.rs");
        let body = src
            .split("pub enum Message {\n")
            .nth(1)
            .and_then(|rest| rest.split("\n}\n").next())
            .expect("the Message enum");
        let variants = body
            .lines()
            .filter(|l| {
                let name = l.strip_prefix("    ").unwrap_or("");
                name.starts_with(|c: char| c.is_ascii_uppercase())
            })
            .count();
        assert_eq!(variants as u32, MESSAGE_VARIANTS);
    }

    /// `Role` is append-only too: the control link's role keeps its index on the wire.
    #[test]
    fn role_variants_keep_their_index() {
        let hello = Hello::new(Role::WorkerControl {
            task_id: "t".into(),
        });
        let bytes = encode(&hello).unwrap();
        // proto_version (one varint byte while it is < 128), then the role's variant index.
        assert_eq!(bytes[1], 4);
        assert_eq!(decode_hello(&bytes).unwrap(), hello);
    }

    #[test]
    fn hello_version_checked_first() {
        let mut hello = Hello::new(Role::Apid);
        hello.proto_version = PROTO_VERSION + 1;
        let bytes = encode(&hello).unwrap();
        assert!(matches!(
            decode_hello(&bytes),
            Err(ProtocolError::VersionMismatch { theirs, .. }) if theirs == PROTO_VERSION + 1
        ));
        // Layout garbage after a good version is a decode error, not a panic.
        let bytes = [PROTO_VERSION as u8, 0xff, 0xff, 0xff];
        assert!(decode_hello(&bytes).is_err());
    }

    #[test]
    fn pre_encoded_points_equal_the_derived_encoding() {
        use kapacitor_models::{FieldValue, Point};
        let point = Point {
            name: "cpu".into(),
            tags: [("host".to_string(), "a".to_string())]
                .into_iter()
                .collect(),
            fields: [("v".to_string(), FieldValue::Float(1.5))]
                .into_iter()
                .collect(),
            time: 42,
        };
        let owned = encode(&Envelope {
            id: 0,
            reply_to: 0,
            msg: Message::Points {
                db: "db".into(),
                rp: "rp".into(),
                points: vec![point.clone(), point.clone()],
            },
        })
        .unwrap();
        let by_ref = encode_points("db", "rp", &[&point, &point]).unwrap();
        assert_eq!(owned, by_ref);
        let parsed: Vec<_> = kapacitor_models::line_protocol::lines(
            "cpu,host=a v=1.5 42\ncpu,host=a v=1.5 42",
            kapacitor_models::Precision::Nanosecond,
            0,
        )
        .collect::<Result<_, _>>()
        .unwrap();
        assert_eq!(encode_points("db", "rp", &parsed).unwrap(), owned);
    }

    /// A queued batch's payload travels as one byte string (length, then the raw bytes), so
    /// the worker takes it with one copy and decodes it on its engine thread.
    #[test]
    fn task_batch_payload_is_one_byte_string() {
        let payload = bytes::Bytes::from_static(&[1, 2, 3, 0xff]);
        let env = Envelope {
            id: 0,
            reply_to: 0,
            msg: Message::TaskBatch {
                seq: 300,
                payload: payload.clone(),
            },
        };
        let bytes = encode(&env).unwrap();
        // id, reply_to, variant 73, seq 300 (varint 0xac 0x02), length 4, the bytes.
        assert_eq!(&bytes[..], &[0, 0, 73, 0xac, 0x02, 4, 1, 2, 3, 0xff]);
        assert_eq!(decode_envelope(&bytes).unwrap(), env);
    }

    #[test]
    fn truncated_envelope_is_an_error() {
        let env = Envelope {
            id: 1,
            reply_to: 0,
            msg: Message::Points {
                db: "db".into(),
                rp: "rp".into(),
                points: vec![],
            },
        };
        let bytes = encode(&env).unwrap();
        assert!(decode_envelope(&bytes[..bytes.len() - 1]).is_err());
    }
}
