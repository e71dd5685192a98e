//! Lists of points in their IPC encoding (postcard, exactly as `serde` derives it for
//! `Vec<Point>`), decoded by hand.
//!
//! Why by hand: a worker decodes every point it receives, and through serde that was a
//! quarter of a busy worker's CPU (visitor dispatch per value, a UTF-8 check of every key).
//! [`PointDecoder`] reads the same bytes directly and remembers the measurement name, tag keys
//! and field keys of the previous point: a key whose bytes equal the remembered one is cloned
//! without checking its UTF-8 again (in a stream of one measurement almost every key repeats).
//! The result is the same value serde would give for every input it accepts (duplicate map
//! keys: the last wins), checked against postcard by the tests; bad input is an error, never a
//! panic.
//!
//! The layout (postcard): unsigned integers and lengths are LEB128 varints, `i64` is a zigzag
//! varint, `f64` 8 bytes little-endian, `bool` one byte 0 or 1, a string its byte length and
//! UTF-8 bytes, a map its entry count and entries, an enum its variant index (varint) and
//! value. `Point` is `name, tags, fields, time`; `FieldValue` is `Float | Int | Str | Bool`.

use crate::point::{FieldValue, Fields, Point, Tags};

/// Why bytes are not a list of points.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("unexpected end of the points")]
    Truncated,
    #[error("invalid varint")]
    BadVarint,
    #[error("a string is not UTF-8")]
    BadUtf8,
    #[error("unknown field value type {0}")]
    BadFieldType(u64),
    #[error("invalid bool byte {0}")]
    BadBool(u8),
}

/// Decodes lists of points, remembering the keys of the last point between calls.
#[derive(Debug, Default)]
pub struct PointDecoder {
    name: String,
    tag_keys: Vec<String>,
    field_keys: Vec<String>,
}

impl PointDecoder {
    pub fn new() -> PointDecoder {
        PointDecoder::default()
    }

    /// Decodes one `Vec<Point>` from the start of `bytes`; returns the points and the bytes
    /// after them.
    pub fn decode_list<'a>(
        &mut self,
        bytes: &'a [u8],
    ) -> Result<(Vec<Point>, &'a [u8]), WireError> {
        let mut r = Reader { b: bytes };
        let n = r.len()?;
        // Every point takes at least 4 bytes, so a huge count in a short input cannot make a
        // huge allocation.
        let mut points = Vec::with_capacity(n.min(r.b.len() / 4));
        for _ in 0..n {
            points.push(self.point(&mut r)?);
        }
        Ok((points, r.b))
    }

    fn point(&mut self, r: &mut Reader) -> Result<Point, WireError> {
        let name = cached(&mut self.name, r.bytes()?)?;
        let n = r.len()?;
        let mut tags = Tags::new();
        for i in 0..n {
            let k = cached_at(&mut self.tag_keys, i, r.bytes()?)?;
            let v = r.string()?;
            tags.insert(k, v);
        }
        let n = r.len()?;
        let mut fields = Fields::new();
        for i in 0..n {
            let k = cached_at(&mut self.field_keys, i, r.bytes()?)?;
            let v = match r.varint()? {
                0 => FieldValue::Float(f64::from_le_bytes(r.array()?)),
                1 => FieldValue::Int(zigzag(r.varint()?)),
                2 => FieldValue::Str(r.string()?),
                3 => match r.byte()? {
                    0 => FieldValue::Bool(false),
                    1 => FieldValue::Bool(true),
                    b => return Err(WireError::BadBool(b)),
                },
                t => return Err(WireError::BadFieldType(t)),
            };
            fields.insert(k, v);
        }
        let time = zigzag(r.varint()?);
        Ok(Point {
            name,
            tags,
            fields,
            time,
        })
    }
}

/// `raw` as a string: a clone of `slot` when the bytes are the same, else checked and
/// remembered in `slot`.
fn cached(slot: &mut String, raw: &[u8]) -> Result<String, WireError> {
    if slot.as_bytes() != raw {
        let s = std::str::from_utf8(raw).map_err(|_| WireError::BadUtf8)?;
        slot.clear();
        slot.push_str(s);
    }
    Ok(slot.clone())
}

fn cached_at(slots: &mut Vec<String>, i: usize, raw: &[u8]) -> Result<String, WireError> {
    if i == slots.len() {
        slots.push(String::new());
    }
    match slots.get_mut(i) {
        Some(slot) => cached(slot, raw),
        // Unreachable: positions are visited in order from 0.
        None => utf8(raw),
    }
}

fn utf8(raw: &[u8]) -> Result<String, WireError> {
    std::str::from_utf8(raw)
        .map(str::to_owned)
        .map_err(|_| WireError::BadUtf8)
}

/// Reads a string (varint byte length, UTF-8 bytes) from the start of `bytes`; returns it and
/// the bytes after it. The batch encoding ([`crate::batch_wire`]) uses it for db and rp.
pub(crate) fn take_str(bytes: &[u8]) -> Result<(&str, &[u8]), WireError> {
    let mut r = Reader { b: bytes };
    let raw = r.bytes()?;
    let s = std::str::from_utf8(raw).map_err(|_| WireError::BadUtf8)?;
    Ok((s, r.b))
}

/// Reads a length (varint) from the start of `bytes`; returns it and the bytes after it.
pub(crate) fn take_len(bytes: &[u8]) -> Result<(usize, &[u8]), WireError> {
    let mut r = Reader { b: bytes };
    let n = r.len()?;
    Ok((n, r.b))
}

fn zigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, WireError> {
        let (&first, rest) = self.b.split_first().ok_or(WireError::Truncated)?;
        self.b = rest;
        Ok(first)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let (head, rest) = self
            .b
            .split_first_chunk::<N>()
            .ok_or(WireError::Truncated)?;
        self.b = rest;
        Ok(*head)
    }

    /// A LEB128 u64 of at most 10 bytes whose last byte fits (as postcard requires).
    fn varint(&mut self) -> Result<u64, WireError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let byte = self.byte()?;
            if i == 9 && byte > 1 {
                return Err(WireError::BadVarint);
            }
            v |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(WireError::BadVarint)
    }

    fn len(&mut self) -> Result<usize, WireError> {
        usize::try_from(self.varint()?).map_err(|_| WireError::BadVarint)
    }

    fn bytes(&mut self) -> Result<&'a [u8], WireError> {
        let n = self.len()?;
        if n > self.b.len() {
            return Err(WireError::Truncated);
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(head)
    }

    fn string(&mut self) -> Result<String, WireError> {
        let raw = self.bytes()?;
        utf8(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The same layout as `Vec<Point>`, with maps as lists of pairs: unsorted and duplicate
    /// keys can be written.
    type LoosePoint = (
        String,
        Vec<(String, String)>,
        Vec<(String, FieldValue)>,
        i64,
    );

    fn postcard_points(bytes: &[u8]) -> Result<(Vec<Point>, &[u8]), postcard::Error> {
        postcard::take_from_bytes(bytes)
    }

    fn field_value() -> impl Strategy<Value = FieldValue> {
        prop_oneof![
            any::<f64>().prop_map(FieldValue::Float),
            any::<i64>().prop_map(FieldValue::Int),
            ".{0,12}".prop_map(FieldValue::Str),
            any::<bool>().prop_map(FieldValue::Bool),
        ]
    }

    fn loose_point() -> impl Strategy<Value = LoosePoint> {
        (
            prop_oneof!["cpu", "mem", ".{0,8}"],
            prop::collection::vec((prop_oneof!["host", "region", ".{0,6}"], ".{0,10}"), 0..4),
            prop::collection::vec((prop_oneof!["v", "usage", ".{0,6}"], field_value()), 0..4),
            any::<i64>(),
        )
    }

    /// Debug text, so that NaN fields compare equal to themselves.
    fn same(a: &[Point], b: &[Point]) -> bool {
        format!("{a:?}") == format!("{b:?}")
    }

    proptest! {
        #[test]
        fn decodes_what_postcard_decodes(
            lists in prop::collection::vec(prop::collection::vec(loose_point(), 0..6), 1..4),
            tail in prop::collection::vec(any::<u8>(), 0..3),
        ) {
            // One decoder over several lists: remembered keys must never leak between points.
            let mut d = PointDecoder::new();
            for list in &lists {
                let mut bytes = postcard::to_stdvec(list).unwrap();
                bytes.extend_from_slice(&tail);
                let (expected, expected_rest) = postcard_points(&bytes).unwrap();
                let (got, rest) = d.decode_list(&bytes).unwrap();
                prop_assert!(same(&got, &expected), "{got:?} != {expected:?}");
                prop_assert_eq!(rest, expected_rest);
            }
        }

        #[test]
        fn garbage_is_refused_where_postcard_refuses_it(
            bytes in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            let ours = PointDecoder::new().decode_list(&bytes);
            match (ours, postcard_points(&bytes)) {
                (Ok((got, rest)), Ok((expected, expected_rest))) => {
                    prop_assert!(same(&got, &expected));
                    prop_assert_eq!(rest, expected_rest);
                }
                (Err(_), Err(_)) => {}
                (ours, theirs) => prop_assert!(false, "ours {ours:?}, postcard {theirs:?}"),
            }
        }

        #[test]
        fn truncation_is_an_error(list in prop::collection::vec(loose_point(), 1..4), cut in 1usize..8) {
            let bytes = postcard::to_stdvec(&list).unwrap();
            let cut = bytes.len().saturating_sub(cut);
            prop_assert!(PointDecoder::new().decode_list(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn a_changed_key_is_checked_again() {
        let mut d = PointDecoder::new();
        let first: Vec<LoosePoint> = vec![(
            "cpu".into(),
            vec![("host".into(), "a".into())],
            vec![("v".into(), FieldValue::Int(1))],
            1,
        )];
        assert_eq!(
            d.decode_list(&postcard::to_stdvec(&first).unwrap())
                .unwrap()
                .0[0]
                .tags["host"],
            "a"
        );
        // Same length as the remembered key, invalid UTF-8: refused, not cloned.
        let mut bad = postcard::to_stdvec(&first).unwrap();
        let at = bad.windows(4).position(|w| w == b"host").unwrap();
        bad[at] = 0xff;
        assert_eq!(d.decode_list(&bad).unwrap_err(), WireError::BadUtf8);
        let ok = d
            .decode_list(&postcard::to_stdvec(&first).unwrap())
            .unwrap()
            .0;
        assert_eq!(ok[0].tags.keys().collect::<Vec<_>>(), ["host"]);
    }

    #[test]
    fn a_huge_count_in_a_short_input_is_an_error() {
        let bytes = [0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2];
        assert_eq!(
            PointDecoder::new().decode_list(&bytes).unwrap_err(),
            WireError::Truncated
        );
    }
}
