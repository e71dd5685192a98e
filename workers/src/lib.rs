//! The task worker process: runs one task's TICKscript pipeline.
//!
//! - `process*`: the process shell (IPC with the supervisor and apid, signals, lifecycle);
//! - `engine`: the pipeline itself, plugged into the shell through [`TaskRunner`].

pub mod engine;
mod process;
mod process_alerts;
mod process_apid;
mod process_batch;
mod process_control;
mod process_engine;
mod process_heartbeat;
mod process_influxdb_out;
mod process_loopback;
mod process_memory;
mod process_runner;
mod process_task;

pub use process::{EXIT_TASK_INVALID, run_worker};
pub use process_runner::{
    CountingRunner, RunnerFactory, TaskRunner, WorkerContext, counting_runner,
};
pub use process_task::engine_runner;

/// The worker's data link and engine thread, for benchmarks that drive a worker in-process
/// (`benches/worker_ipc.rs`); the worker process itself uses them through [`run_worker`].
#[doc(hidden)]
pub mod bench_support {
    pub use crate::process_apid::{Subscription, run as run_data_link};
    pub use crate::process_engine::{Engine, EngineHandle};
}
