//! The alert service: topics, event state, topic handlers and every handler kind.
//!
//! Alert events come from the alert nodes of the workers (over IPC, as [`Event`] JSON) and
//! from `publish`/`aggregate` handlers. [`AlertService::publish`] records each event's state
//! in its topic (highest level, `collected`, persistence through [`TopicStatePersistence`]) and
//! queues it to the topic's handlers. Each handler has a bounded queue
//! (`[alert] topic-buffer-length`) and its own task, so a slow endpoint only delays itself;
//! a full queue drops the event (counted, logged); retryable failures are retried with backoff.
//!
//! Layout:
//! - `event`, `level`: the event, its persisted state and its exact JSON (§5.4).
//! - `spec`, `options`, `matcher`: handler specs, strict option decoding, `match` lambdas.
//! - `service`, `delivery`, `persist`: topics, handler tasks, retries, counters, persistence.
//! - `kinds`: one module per family of handler kinds (web hooks, TCP, exec, SMTP, MQTT, ...).
//! - `property`: `|alert()` handler properties of a TICKscript as handler specs.
//! - `api`: JSON bodies of the alert HTTP routes.

pub mod api;
pub mod capped_body;
pub mod cluster;
mod delivery;
mod event;
mod glob;
mod inhibit;
mod kinds;
mod level;
mod matcher;
mod options;
mod persist;
mod property;
mod script;
mod service;
mod spec;

pub use delivery::RetryPolicy;
pub use event::{Event, EventState};
pub use glob::{matches as pattern_matches, validate as validate_pattern};
pub use inhibit::{InhibitorSpec, Inhibitors};
pub use kinds::KINDS;
pub use level::{Level, ParseLevelError};
pub use matcher::Matcher;
pub use persist::{MemoryPersistence, NoPersistence, TopicStatePersistence};
pub use property::{
    GlobalHandler, PropertyError, PropertyHandler, global_handlers, handler_from_alert_property,
};
pub use script::{
    TASK_MASTER, anonymous_topic, anonymous_topic_prefix, check_spec, is_handler_property,
    script_handler_specs,
};
pub use service::{
    AlertService, AlertStats, HandlerStats, ServiceError, ServiceOptions, TopicStatus,
};
pub use spec::{HandlerError, HandlerSpec, validate_topic_id};
