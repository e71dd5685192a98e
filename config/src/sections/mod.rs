//! The typed sections of the configuration file, grouped by what they configure.

pub mod cluster;
pub mod discovery;
pub mod handlers;
pub mod influxdb;
pub mod queue;
pub mod server;
