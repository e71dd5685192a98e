//! The `kapacitor` (task CLI) and `kapacitorctl` (cluster CLI) clients of kapacitor-rs.
//!
//! * [`client`]: a typed, blocking client for the `/kapacitor/v1` HTTP API, usable against any
//!   URL (tests point it at a daemon on a free port).
//! * [`flags`]: Go `flag`-package argument parsing, because Kapacitor's CLI syntax is Go's.
//! * [`commands`]: one module per command group; rendering is pure and unit-tested.
//! * [`output`]: Go-compatible formatting (RFC822 times, durations, `%v` floats, `%q`, JSON).
//! * [`app`]: global flags, dispatch and exit codes; the binaries only call [`app::run`].

pub mod app;
pub mod client;
pub mod commands;
pub mod ctl;
pub mod flags;
pub mod output;
pub mod usage;
