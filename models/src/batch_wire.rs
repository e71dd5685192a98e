//! "kapacitor batch v1": the binary encoding of one batch of points written to one database
//! and retention policy. It is stored on disk (apid's task queue segments, `kapacitor-queue`)
//! and carried as opaque bytes from apid to a task worker, which decodes it on its engine
//! thread. Being stored, it is a format of our own, defined here and versioned; it must keep
//! decoding after any change to the IPC encoding.
//!
//! # Layout of version 1
//!
//! Integers are unsigned LEB128 varints (7 bits a byte, least significant group first, high
//! bit set on every byte but the last; at most 10 bytes for a `u64`), signed integers are
//! zigzag-mapped (`(v << 1) ^ (v >> 63)`) then written as varints, a *string* is its byte
//! length (varint) followed by its UTF-8 bytes.
//!
//! ```text
//! batch   = version:u8 (= 1)  db:string  rp:string  count:varint  point{count}
//! point   = name:string  ntags:varint  (key:string value:string){ntags}
//!           nfields:varint  (key:string field){nfields}  time:zigzag-varint (ns since epoch)
//! field   = 0x00 f64 (8 bytes, IEEE 754 little-endian)
//!         | 0x01 i64 (zigzag varint)
//!         | 0x02 string
//!         | 0x03 bool (one byte, 0x00 or 0x01)
//! ```
//!
//! The encoder writes tags and fields sorted by key with unique keys (as [`Point`] and
//! [`PointRef`] hold them); the decoder also accepts other orders, a repeated key keeping its
//! last value. Nothing may follow the last point. The point list is the layout that
//! [`PointDecoder`](crate::PointDecoder) reads (it happens to be postcard's layout of
//! `Vec<Point>`, which the tests use as an oracle), so decoding reuses its key caching; the
//! encoder here is written by hand and depends on no serde derive.
//!
//! A new version gets a new first byte; a decoder refuses a version it does not know
//! ([`BatchWireError::UnsupportedVersion`]) rather than guessing.

use crate::line_protocol::PointRef;
use crate::point::{FieldValue, Point};
use crate::point_wire::{PointDecoder, WireError, take_len, take_str};

/// The first byte of a version 1 batch.
pub const BATCH_WIRE_V1: u8 = 1;

/// Why bytes are not a version 1 batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchWireError {
    #[error("empty batch")]
    Empty,
    #[error("unsupported batch encoding version {0} (this build reads version {BATCH_WIRE_V1})")]
    UnsupportedVersion(u8),
    #[error("invalid batch: {0}")]
    Invalid(#[from] WireError),
    #[error("invalid batch: {0} bytes after the last point")]
    TrailingBytes(usize),
}

/// A point the encoder can write without an owned [`Point`]: [`Point`] and the borrowed
/// [`PointRef`] of the line protocol parser. `tags` and `fields` must yield keys in ascending
/// order without repeats (both types hold them so).
pub trait EncodePoint {
    fn name(&self) -> &str;
    fn tags(&self) -> impl ExactSizeIterator<Item = (&str, &str)>;
    fn fields(&self) -> impl ExactSizeIterator<Item = (&str, &FieldValue)>;
    /// Nanoseconds since the Unix epoch.
    fn time(&self) -> i64;
}

impl EncodePoint for Point {
    fn name(&self) -> &str {
        &self.name
    }
    fn tags(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
    fn fields(&self) -> impl ExactSizeIterator<Item = (&str, &FieldValue)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v))
    }
    fn time(&self) -> i64 {
        self.time
    }
}

impl EncodePoint for PointRef<'_> {
    fn name(&self) -> &str {
        &self.name
    }
    fn tags(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.tags.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))
    }
    fn fields(&self) -> impl ExactSizeIterator<Item = (&str, &FieldValue)> {
        self.fields.iter().map(|(k, v)| (k.as_ref(), v))
    }
    fn time(&self) -> i64 {
        self.time
    }
}

impl<P: EncodePoint + ?Sized> EncodePoint for &P {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn tags(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        (**self).tags()
    }
    fn fields(&self) -> impl ExactSizeIterator<Item = (&str, &FieldValue)> {
        (**self).fields()
    }
    fn time(&self) -> i64 {
        (**self).time()
    }
}

/// `points` of `db`.`rp` as a version 1 batch.
pub fn encode_batch<P: EncodePoint>(db: &str, rp: &str, points: &[P]) -> Vec<u8> {
    // A typical point (2 tags, 2 fields) takes 60-100 bytes; one growth at most in the
    // common case, and never a reallocation per point.
    let mut out = Vec::with_capacity(16 + db.len() + rp.len() + points.len() * 64);
    encode_batch_into(&mut out, db, rp, points);
    out
}

/// Appends `points` of `db`.`rp` as a version 1 batch to `out`.
pub fn encode_batch_into<P: EncodePoint>(out: &mut Vec<u8>, db: &str, rp: &str, points: &[P]) {
    out.push(BATCH_WIRE_V1);
    put_str(out, db);
    put_str(out, rp);
    put_varint(out, points.len() as u64);
    for p in points {
        put_point(out, p);
    }
}

fn put_point<P: EncodePoint>(out: &mut Vec<u8>, p: &P) {
    put_str(out, p.name());
    let tags = p.tags();
    put_varint(out, tags.len() as u64);
    for (k, v) in tags {
        put_str(out, k);
        put_str(out, v);
    }
    let fields = p.fields();
    put_varint(out, fields.len() as u64);
    for (k, v) in fields {
        put_str(out, k);
        match v {
            FieldValue::Float(f) => {
                out.push(0);
                out.extend_from_slice(&f.to_le_bytes());
            }
            FieldValue::Int(i) => {
                out.push(1);
                put_varint(out, zigzag(*i));
            }
            FieldValue::Str(s) => {
                out.push(2);
                put_str(out, s);
            }
            FieldValue::Bool(b) => {
                out.push(3);
                out.push(u8::from(*b));
            }
        }
    }
    put_varint(out, zigzag(p.time()));
}

#[inline]
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[inline]
fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// A decoded batch.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedBatch {
    pub db: String,
    pub rp: String,
    pub points: Vec<Point>,
}

/// The start of a batch, read without decoding its points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader<'a> {
    pub db: &'a str,
    pub rp: &'a str,
    /// The point count the batch declares (not checked against its bytes).
    pub points: usize,
}

/// Reads the version, db, rp and point count of a batch.
pub fn read_batch_header(bytes: &[u8]) -> Result<BatchHeader<'_>, BatchWireError> {
    let (header, _) = header(bytes)?;
    Ok(header)
}

fn header(bytes: &[u8]) -> Result<(BatchHeader<'_>, &[u8]), BatchWireError> {
    let (&version, rest) = bytes.split_first().ok_or(BatchWireError::Empty)?;
    if version != BATCH_WIRE_V1 {
        return Err(BatchWireError::UnsupportedVersion(version));
    }
    let (db, rest) = take_str(rest)?;
    let (rp, rest) = take_str(rest)?;
    let (points, _) = take_len(rest)?;
    // `rest` still starts at the count: the point list decoder reads it again.
    Ok((BatchHeader { db, rp, points }, rest))
}

/// Decodes batches, remembering measurement and keys between points and between batches
/// (keep one per consumer, e.g. per engine thread).
#[derive(Debug, Default)]
pub struct BatchDecoder {
    points: PointDecoder,
}

impl BatchDecoder {
    pub fn new() -> BatchDecoder {
        BatchDecoder::default()
    }

    /// Decodes one whole batch; bytes after the last point are an error.
    pub fn decode(&mut self, bytes: &[u8]) -> Result<DecodedBatch, BatchWireError> {
        let (h, list) = header(bytes)?;
        let (points, rest) = self.points.decode_list(list)?;
        if !rest.is_empty() {
            return Err(BatchWireError::TrailingBytes(rest.len()));
        }
        Ok(DecodedBatch {
            db: h.db.to_owned(),
            rp: h.rp.to_owned(),
            points,
        })
    }
}

/// Decodes one batch with a fresh [`BatchDecoder`].
pub fn decode_batch(bytes: &[u8]) -> Result<DecodedBatch, BatchWireError> {
    BatchDecoder::new().decode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Precision;
    use proptest::prelude::*;

    fn field_value() -> impl Strategy<Value = FieldValue> {
        prop_oneof![
            any::<f64>().prop_map(FieldValue::Float),
            any::<i64>().prop_map(FieldValue::Int),
            ".{0,12}".prop_map(FieldValue::Str),
            any::<bool>().prop_map(FieldValue::Bool),
        ]
    }

    fn point() -> impl Strategy<Value = Point> {
        (
            prop_oneof!["cpu", "mem", ".{0,8}"],
            prop::collection::btree_map(prop_oneof!["host", "region", ".{0,6}"], ".{0,10}", 0..4),
            prop::collection::btree_map(prop_oneof!["v", "usage", ".{0,6}"], field_value(), 0..4),
            any::<i64>(),
        )
            .prop_map(|(name, tags, fields, time)| Point {
                name,
                tags,
                fields,
                time,
            })
    }

    /// Debug text, so that NaN fields compare equal to themselves.
    fn same(a: &[Point], b: &[Point]) -> bool {
        format!("{a:?}") == format!("{b:?}")
    }

    proptest! {
        #[test]
        fn round_trips(
            db in ".{0,10}",
            rp in ".{0,10}",
            batches in prop::collection::vec(prop::collection::vec(point(), 0..6), 1..4),
        ) {
            // One decoder over several batches: cached keys must never leak between them.
            let mut d = BatchDecoder::new();
            for points in &batches {
                let bytes = encode_batch(&db, &rp, points);
                let got = d.decode(&bytes).unwrap();
                prop_assert_eq!(&got.db, &db);
                prop_assert_eq!(&got.rp, &rp);
                prop_assert!(same(&got.points, points), "{:?} != {:?}", got.points, points);
                let h = read_batch_header(&bytes).unwrap();
                prop_assert_eq!((h.db, h.rp, h.points), (db.as_str(), rp.as_str(), points.len()));
            }
        }

        #[test]
        fn points_are_what_point_decoder_and_postcard_read(
            points in prop::collection::vec(point(), 0..6),
        ) {
            let bytes = encode_batch("db", "rp", &points);
            // The point list is exactly the layout PointDecoder reads...
            let (h, list) = header(&bytes).unwrap();
            prop_assert_eq!(h.points, points.len());
            let (decoded, rest) = PointDecoder::new().decode_list(list).unwrap();
            prop_assert!(rest.is_empty());
            prop_assert!(same(&decoded, &points));
            // ...and byte for byte what serde + postcard write for the same values.
            let oracle = postcard::to_stdvec(&(BATCH_WIRE_V1, "db", "rp", &points)).unwrap();
            prop_assert_eq!(bytes, oracle);
        }

        #[test]
        fn truncation_is_an_error(points in prop::collection::vec(point(), 0..4)) {
            let bytes = encode_batch("db", "autogen", &points);
            for cut in 0..bytes.len() {
                prop_assert!(decode_batch(&bytes[..cut]).is_err(), "cut at {cut}");
            }
        }

        #[test]
        fn garbage_is_an_error_never_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..96)) {
            let _ = decode_batch(&bytes);
            let _ = read_batch_header(&bytes);
            let mut with_version = vec![BATCH_WIRE_V1];
            with_version.extend_from_slice(&bytes);
            let _ = decode_batch(&with_version);
        }
    }

    #[test]
    fn point_refs_encode_like_their_points() {
        let body = "cpu,host=a,region=west usage=1.5,n=3i,s=\"x\",ok=true 10\n\
                    cpu,host=b\\ c usage=2,n=-4i 20\n\
                    mem v=1 30\n";
        let refs: Vec<PointRef<'_>> = crate::line_protocol::lines(body, Precision::Nanosecond, 0)
            .collect::<Result<_, _>>()
            .unwrap();
        let owned: Vec<Point> = refs.iter().map(PointRef::to_point).collect();
        let by_ref = encode_batch("telegraf", "autogen", &refs);
        assert_eq!(by_ref, encode_batch("telegraf", "autogen", &owned));
        let selected: Vec<&PointRef<'_>> = refs.iter().filter(|p| p.name == "cpu").collect();
        let got = decode_batch(&encode_batch("telegraf", "autogen", &selected)).unwrap();
        assert_eq!(got.points, owned[..2]);
    }

    /// Version 1 is stored on disk: these bytes must decode the same in every later build.
    #[test]
    fn version_1_golden_bytes() {
        let bytes: &[u8] = &[
            1, // version
            2, b'd', b'b', // db
            7, b'a', b'u', b't', b'o', b'g', b'e', b'n', // rp
            1,    // one point
            3, b'c', b'p', b'u', // name
            1, 4, b'h', b'o', b's', b't', 1, b'a', // host=a
            4,    // four fields, sorted by key
            1, b'b', 3, 1, // b=true
            1, b'f', 0, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, // f=1.5
            1, b'i', 1, 3, // i=-2
            1, b's', 2, 2, b'h', b'i', // s="hi"
            0xa0, 0x1f, // time 2000 (zigzag 4000)
        ];
        let got = decode_batch(bytes).unwrap();
        assert_eq!((got.db.as_str(), got.rp.as_str()), ("db", "autogen"));
        let p = &got.points[0];
        assert_eq!(p.name, "cpu");
        assert_eq!(p.tags["host"], "a");
        assert_eq!(p.fields["b"], FieldValue::Bool(true));
        assert_eq!(p.fields["f"], FieldValue::Float(1.5));
        assert_eq!(p.fields["i"], FieldValue::Int(-2));
        assert_eq!(p.fields["s"], FieldValue::Str("hi".into()));
        assert_eq!(p.time, 2000);
        assert_eq!(encode_batch("db", "autogen", &got.points), bytes);
    }

    #[test]
    fn typed_errors() {
        assert_eq!(decode_batch(&[]), Err(BatchWireError::Empty));
        assert_eq!(
            decode_batch(&[2, 0, 0, 0]),
            Err(BatchWireError::UnsupportedVersion(2))
        );
        let mut bytes = encode_batch::<Point>("db", "rp", &[]);
        bytes.push(0);
        assert_eq!(decode_batch(&bytes), Err(BatchWireError::TrailingBytes(1)));
        assert_eq!(
            decode_batch(&[1, 1, 0xff, 0, 0]),
            Err(BatchWireError::Invalid(WireError::BadUtf8))
        );
        assert_eq!(
            decode_batch(&[1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f]),
            Err(BatchWireError::Invalid(WireError::Truncated))
        );
    }
}
