//! IPC between kapacitord processes (skeleton).
