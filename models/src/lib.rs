//! The data that flows through kapacitord: points and batches, as parsed from line protocol
//! by apid, carried over IPC to task workers, and turned into InfluxQL-style results by httpOut
//! and alert handlers.
//!
//! Time is always an `i64` of nanoseconds since the Unix epoch; formatting to RFC 3339 happens
//! only at the edges ([`time_fmt`]). Text that clients compare with Kapacitor's byte for byte
//! is written by [`go_json`] and [`result`], which follow Go's `encoding/json`.

pub mod batch_wire;
pub mod go_json;
pub mod line_protocol;
pub mod point;
pub mod point_wire;
pub mod precision;
pub mod result;
pub mod result_match;
pub mod srpl;
pub mod time_fmt;

pub use batch_wire::{
    BatchDecoder, BatchWireError, DecodedBatch, EncodePoint, decode_batch, encode_batch,
};
pub use line_protocol::{ParseError, PointRef};
pub use point::{Batch, FieldValue, Fields, Point, Tags};
pub use point_wire::{PointDecoder, WireError};
pub use precision::Precision;
pub use result::{Result, Row};
