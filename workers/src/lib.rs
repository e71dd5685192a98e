//! The task worker process: runs one task's TICKscript pipeline.
//!
//! - `process*`: the process shell (IPC with the supervisor and apid, signals, lifecycle);
//! - `engine`: the pipeline itself, plugged into the shell through [`TaskRunner`].

pub mod engine;
mod process;
mod process_alerts;
mod process_apid;
mod process_batch;
mod process_engine;
mod process_influxdb_out;
mod process_runner;
mod process_task;

pub use process::{EXIT_TASK_INVALID, run_worker};
pub use process_runner::{
    CountingRunner, RunnerFactory, TaskRunner, WorkerContext, counting_runner,
};
pub use process_task::engine_runner;
