//! Topic handler specs (`{id, topic, kind, options, match}`) and the errors of registering them.

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as J};
use std::sync::LazyLock;

static VALID_HANDLER_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[-\._\p{L}0-9]+$").expect("static regex"));
static VALID_TOPIC_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[-:\._\p{L}0-9]+$").expect("static regex"));

/// A topic handler as the API creates it and the store keeps it. JSON keys are Kapacitor's:
/// `{"id","topic","kind","options","match"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct HandlerSpec {
    pub id: String,
    #[serde(default)]
    pub topic: String,
    pub kind: String,
    #[serde(default)]
    pub options: Map<String, J>,
    /// A TICKscript lambda body; empty matches every event.
    #[serde(rename = "match", default)]
    pub match_: String,
}

impl HandlerSpec {
    pub fn new(topic: &str, id: &str, kind: &str, options: Map<String, J>) -> HandlerSpec {
        HandlerSpec {
            id: id.to_string(),
            topic: topic.to_string(),
            kind: kind.to_string(),
            options,
            match_: String::new(),
        }
    }

    /// Kapacitor's `HandlerSpec.Validate` (the API answers 400 `invalid handler spec: <this>`).
    pub fn validate(&self) -> Result<(), HandlerError> {
        if !VALID_HANDLER_ID.is_match(&self.id) {
            return Err(HandlerError::Invalid(format!(
                "handler ID must contain only letters, numbers, '-', '.' and '_'. {:?}",
                self.id
            )));
        }
        validate_topic_id(&self.topic).map_err(HandlerError::Invalid)?;
        if self.kind.is_empty() {
            return Err(HandlerError::Invalid(
                "handler Kind must not be empty".to_string(),
            ));
        }
        Ok(())
    }
}

/// Topic ids may contain `:` (anonymous topics `main:<task>:<node>`).
pub fn validate_topic_id(topic: &str) -> Result<(), String> {
    if VALID_TOPIC_ID.is_match(topic) {
        Ok(())
    } else {
        Err(format!(
            "topic must contain only letters, numbers, '-', ':', '.' and '_'. {topic:?}"
        ))
    }
}

/// Why a handler could not be registered, replaced or found. The texts are Kapacitor's where
/// it has one; apid adds its prefixes (`invalid handler spec: `, `failed to create handler: `).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    /// The spec itself is malformed (HTTP 400).
    #[error("{0}")]
    Invalid(String),
    /// Unknown kind, bad options or a bad match expression (HTTP 500 in Kapacitor).
    #[error("{0}")]
    Create(String),
    #[error("cannot register handler, handler with ID {0:?} already exists")]
    Exists(String),
    #[error("unknown handler {id:?} in topic {topic:?}")]
    Unknown { topic: String, id: String },
    #[error("cannot change topic in update")]
    TopicChange,
}
