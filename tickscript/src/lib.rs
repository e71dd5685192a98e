//! TICKscript, Kapacitor's task language.
//!
//! The crate is split the way a script is processed:
//! - `ast`: the syntax tree (statements, chains, lambda expressions), with positions.
//! - `pipeline`: the checked, variable-resolved DAG of nodes that a task worker runs.
//!
//! It is its own crate because it is a large, self-contained component used by three processes:
//! apid (validating and formatting scripts), the supervisor (task type and dbrps at define time)
//! and the workers (building the pipeline and evaluating lambdas).

pub mod ast;
pub mod pipeline;
pub mod eval;
