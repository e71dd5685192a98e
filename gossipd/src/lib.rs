//! The gossip process (skeleton).
