//! The supervisor: `kapacitord`'s own process. It owns desired state (which tasks run),
//! starts the gossip, API and task worker processes by re-executing its own binary, restarts
//! them with backoff, and stops them in order. It runs no task, HTTP or gossip code itself.
//!
//! The same executable also runs every child: [`spawn::parse_role_args`] recognises the
//! hidden role argument and [`roles::run_role`] runs it.

pub mod alert_store;
pub mod backoff;
pub mod cli;
pub mod config_overrides;
pub mod daemon;
pub mod desired;
pub mod keeper;
pub mod load;
pub mod logging;
pub mod notify;
pub mod roles;
pub mod spawn;
pub mod store_thread;
pub mod table;
pub mod task_service;
pub mod tasks;
