//! Go text/template subset (skeleton).
