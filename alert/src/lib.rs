//! The alert service (skeleton).
