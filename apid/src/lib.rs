//! The API process (skeleton).
