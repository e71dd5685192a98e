//! The task worker process: runs one task's TICKscript pipeline.

pub mod engine;
