//! Internal kinds that feed events back into the service: `publish` (re-emit into other
//! topics) and `aggregate` (one combined event per interval).

use super::{DeliveryError, Shared, template};
use crate::event::Event;
use crate::options::{AggregateOptions, PublishOptions};
use crate::spec::validate_topic_id;
use gotmpl::Struct;
use std::sync::Arc;
use std::time::Duration;

pub(crate) struct PublishAction {
    topics: Vec<String>,
}

impl PublishAction {
    pub fn new(o: PublishOptions) -> Result<PublishAction, String> {
        for t in &o.topics {
            validate_topic_id(t)?;
        }
        Ok(PublishAction { topics: o.topics })
    }

    pub fn deliver(&self, ev: &Event, sh: &Shared) -> Result<(), DeliveryError> {
        let Some(svc) = sh.service.upgrade() else {
            return Err(DeliveryError::permanent("alert service is shut down"));
        };
        for t in &self.topics {
            // Re-publishing into the same topic would loop forever.
            if *t == ev.topic {
                continue;
            }
            let mut e = ev.clone();
            e.topic = t.clone();
            svc.publish(e);
        }
        Ok(())
    }
}

pub(crate) struct AggregateAction {
    pub id: String,
    pub topic: String,
    pub interval: Duration,
    message: gotmpl::Template,
}

fn message_data(count: usize, interval: Duration) -> gotmpl::Value {
    Struct::new("alert.aggregateMessageData")
        .with("Count", count as i64)
        .with(
            "Interval",
            gotmpl::Value::Duration(interval.as_nanos() as i64),
        )
        .into()
}

impl AggregateAction {
    pub fn new(o: AggregateOptions) -> Result<AggregateAction, String> {
        if o.interval <= 0 {
            return Err("aggregate interval must be positive".to_string());
        }
        validate_topic_id(&o.topic)?;
        let message = template("message", &o.message)?;
        let interval = Duration::from_nanos(o.interval as u64);
        message.execute(&message_data(0, interval)).map_err(|e| {
            format!("failed to evaluate message template with aggregate message data: {e}")
        })?;
        Ok(AggregateAction {
            id: o.id,
            topic: o.topic,
            interval,
            message,
        })
    }

    /// The combined event of Kapacitor's aggregate handler: highest level, latest time,
    /// longest duration, messages as details, all series.
    pub fn combine(&self, events: &[Arc<Event>]) -> Event {
        let mut agg = Event {
            topic: self.topic.clone(),
            id: self.id.clone(),
            message: self
                .message
                .execute(&message_data(events.len(), self.interval))
                .unwrap_or_default(),
            ..Event::default()
        };
        let mut external = false;
        let mut details = Vec::with_capacity(events.len());
        let mut series = Vec::new();
        for e in events {
            agg.level = agg.level.max(e.level);
            agg.time = agg.time.max(e.time);
            agg.duration = agg.duration.max(e.duration);
            external |= !e.no_external;
            details.push(e.message.as_str());
            series.extend(e.data.series.iter().flatten().cloned());
        }
        agg.details = details.join("\n");
        agg.data.series = (!series.is_empty()).then_some(series);
        agg.no_external = !external;
        agg
    }
}
