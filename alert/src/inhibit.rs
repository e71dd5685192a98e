//! Inhibition (`.inhibit(category, tags...)` and `.category(c)` on alert nodes): while an
//! event of an inhibiting node is not OK, events of category `c` whose `tags` have the same
//! values as that event are suppressed (not stored, not sent), as Kapacitor does. The
//! canonical use: a deadman on a host inhibits that host's other alerts.
//!
//! Inhibitors cross tasks, so they live in the alert service, keyed by the inhibiting event
//! (task, event id) and category; an OK event of the same id clears it.

use crate::Level;
use crate::event::Event;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// One `.inhibit(category, tags...)` of an alert node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InhibitorSpec {
    pub category: String,
    /// Tags whose values must be equal for an event to be inhibited; none: every event of
    /// the category.
    pub equal_tags: Vec<String>,
}

/// The tag values an active inhibitor matches on.
#[derive(Debug, Clone)]
struct Active {
    equal: BTreeMap<String, Option<String>>,
}

/// The active inhibitors.
#[derive(Debug, Default)]
pub struct Inhibitors {
    active: HashMap<(String, String, String), Active>,
}

impl Inhibitors {
    /// Sets (non-OK event) or clears (OK event) the inhibitors `ev` carries.
    pub fn update(&mut self, ev: &Event) {
        for spec in &ev.inhibitors {
            let key = (ev.task_name.clone(), ev.id.clone(), spec.category.clone());
            if ev.level == Level::Ok {
                self.active.remove(&key);
            } else {
                let equal = spec
                    .equal_tags
                    .iter()
                    .map(|t| (t.clone(), ev.tags.get(t).cloned()))
                    .collect();
                self.active.insert(key, Active { equal });
            }
        }
    }

    /// Whether an active inhibitor suppresses `ev`.
    pub fn inhibits(&self, ev: &Event) -> bool {
        if ev.category.is_empty() {
            return false;
        }
        self.active.iter().any(|((_, _, category), a)| {
            *category == ev.category && a.equal.iter().all(|(t, v)| ev.tags.get(t) == v.as_ref())
        })
    }

    pub fn len(&self) -> usize {
        self.active.len()
    }

    pub fn is_empty(&self) -> bool {
        self.active.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(task: &str, id: &str, level: Level, host: &str) -> Event {
        Event {
            task_name: task.into(),
            id: id.into(),
            level,
            tags: BTreeMap::from([("host".to_string(), host.to_string())]),
            ..Event::default()
        }
    }

    #[test]
    fn a_non_ok_inhibitor_suppresses_its_category_on_equal_tags_until_it_recovers() {
        let mut inh = Inhibitors::default();
        let mut dead = ev("deadman", "h0", Level::Critical, "h0");
        dead.inhibitors = vec![InhibitorSpec {
            category: "system".into(),
            equal_tags: vec!["host".into()],
        }];
        inh.update(&dead);
        let mut cpu = ev("cpu", "cpu:h0", Level::Warning, "h0");
        cpu.category = "system".into();
        assert!(inh.inhibits(&cpu));
        let mut other_host = cpu.clone();
        other_host.tags.insert("host".into(), "h1".into());
        assert!(!inh.inhibits(&other_host), "another host");
        let mut other_category = cpu.clone();
        other_category.category = "disk".into();
        assert!(!inh.inhibits(&other_category));
        let mut uncategorised = cpu.clone();
        uncategorised.category.clear();
        assert!(!inh.inhibits(&uncategorised));
        dead.level = Level::Ok;
        inh.update(&dead);
        assert!(!inh.inhibits(&cpu), "recovered");
        assert!(inh.is_empty());
    }

    #[test]
    fn no_equal_tags_inhibits_the_whole_category() {
        let mut inh = Inhibitors::default();
        let mut maint = ev("maintenance", "window", Level::Info, "x");
        maint.inhibitors = vec![InhibitorSpec {
            category: "system".into(),
            equal_tags: vec![],
        }];
        inh.update(&maint);
        let mut cpu = ev("cpu", "cpu:h9", Level::Critical, "h9");
        cpu.category = "system".into();
        assert!(inh.inhibits(&cpu));
    }
}
