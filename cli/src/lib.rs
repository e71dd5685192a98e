//! Shared client code (skeleton).
