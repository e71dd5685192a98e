//! The stream/batch pipeline engine (skeleton).
