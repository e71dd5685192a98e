//! The data that flows through kapacitord: points and batches, as parsed from line protocol
//! by apid, carried over IPC to task workers, and turned into InfluxQL-style results by httpOut
//! and alert handlers.
//!
//! Time is always an `i64` of nanoseconds since the Unix epoch; formatting to RFC 3339 happens
//! only at the edges.

pub mod point;

pub use point::{Batch, FieldValue, Fields, Point, Tags};
