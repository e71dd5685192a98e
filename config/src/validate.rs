//! Checks that the TOML types cannot express, with Kapacitor's rules. Every message names the
//! section and key so an operator can find the line to fix.

use crate::{Config, GoDuration, parse_bind_address};
use std::collections::HashSet;

type Result = std::result::Result<(), String>;

fn invalid(section: &str, key: &str, why: impl std::fmt::Display) -> String {
    format!("invalid {section} {key}: {why}")
}

fn positive(section: &str, key: &str, d: GoDuration) -> Result {
    if d.is_zero() {
        return Err(invalid(
            section,
            key,
            format!("must be greater than 0, got {d}"),
        ));
    }
    Ok(())
}

fn one_of(section: &str, key: &str, value: &str, allowed: &[&str]) -> Result {
    if !allowed.contains(&value) {
        let list: Vec<String> = allowed.iter().map(|a| format!("{a:?}")).collect();
        return Err(invalid(
            section,
            key,
            format!("must be one of {}, got {value:?}", list.join(", ")),
        ));
    }
    Ok(())
}

fn required_when_enabled(enabled: bool, section: &str, key: &str, value: &str) -> Result {
    if enabled && value.is_empty() {
        return Err(invalid(
            section,
            key,
            "must be set when the section is enabled",
        ));
    }
    Ok(())
}

/// The `[http]` keys that bound connections and write memory.
fn validate_http_limits(c: &Config) -> Result {
    let h = &c.http;
    positive("[http]", "read-header-timeout", h.read_header_timeout)?;
    positive("[http]", "idle-timeout", h.idle_timeout)?;
    if h.max_body_size.0 == 0 {
        return Err(invalid(
            "[http]",
            "max-body-size",
            "must be greater than 0 (a number of bytes; there is no unlimited size)",
        ));
    }
    if h.max_concurrent_write_bytes < h.max_body_size {
        return Err(invalid(
            "[http]",
            "max-concurrent-write-bytes",
            format!(
                "must be at least max-body-size ({}), got {}",
                h.max_body_size.0, h.max_concurrent_write_bytes.0
            ),
        ));
    }
    Ok(())
}

pub(crate) fn validate(c: &Config) -> Result {
    if c.hostname.is_empty() {
        return Err(invalid("top-level", "hostname", "must not be empty"));
    }
    if c.data_dir.as_os_str().is_empty() {
        return Err(invalid("top-level", "data_dir", "must be specified"));
    }

    parse_bind_address(&c.http.bind_address).map_err(|e| invalid("[http]", "bind-address", e))?;
    if c.http.https_enabled && c.http.https_certificate.is_empty() {
        return Err(invalid(
            "[http]",
            "https-certificate",
            "must be set when https-enabled",
        ));
    }

    validate_http_limits(c)?;

    let level = c.logging.level.to_ascii_uppercase();
    if !["DEBUG", "INFO", "ERROR"].contains(&level.as_str()) {
        return Err(invalid(
            "[logging]",
            "level",
            format!("must be DEBUG, INFO or ERROR, got {:?}", c.logging.level),
        ));
    }
    if c.logging.file.is_empty() {
        return Err(invalid(
            "[logging]",
            "file",
            "must be a path, STDERR or STDOUT",
        ));
    }

    if c.load.enabled && !c.load.dir.is_absolute() {
        return Err(invalid(
            "[load]",
            "dir",
            format!(
                "must be an absolute path when enabled, got {:?}",
                c.load.dir
            ),
        ));
    }
    if c.storage.boltdb.as_os_str().is_empty() {
        return Err(invalid("[storage]", "boltdb", "must be specified"));
    }
    if c.replay.dir.as_os_str().is_empty() {
        return Err(invalid("[replay]", "dir", "must be specified"));
    }
    let watchdog = c.task.watchdog_timeout;
    if !watchdog.is_zero() && watchdog.as_duration() < std::time::Duration::from_secs(1) {
        // Heartbeats go every second: a shorter limit would restart healthy tasks.
        return Err(invalid(
            "[task]",
            "watchdog-timeout",
            format!("must be 0 (disabled) or at least 1s, got {watchdog}"),
        ));
    }
    if c.auth.enabled && !(4..=31).contains(&c.auth.bcrypt_cost) {
        return Err(invalid("[auth]", "bcrypt-cost", "must be between 4 and 31"));
    }

    validate_queue(c)?;
    validate_cluster(c)?;
    validate_influxdb(c)?;

    if c.deadman.global {
        positive("[deadman]", "interval", c.deadman.interval)?;
    }
    if c.stats.enabled {
        positive("[stats]", "stats-interval", c.stats.stats_interval)?;
    }
    if !(0.0..=1.0).contains(&c.stats.timing_sample_rate) {
        return Err(invalid(
            "[stats]",
            "timing-sample-rate",
            "must be between 0 and 1",
        ));
    }
    for (name, f) in &c.udf.functions {
        let section = format!("[udf.functions.{name}]");
        if f.prog.is_empty() == f.socket.is_empty() {
            return Err(invalid(
                &section,
                "prog",
                "exactly one of prog and socket must be set",
            ));
        }
    }
    for (i, u) in c.udp.iter().enumerate() {
        if u.enabled {
            let section = format!("[[udp]] #{i}");
            parse_bind_address(&u.bind_address)
                .map_err(|e| invalid(&section, "bind-address", e))?;
            required_when_enabled(true, &section, "database", &u.database)?;
        }
    }
    validate_handlers(c)
}

fn validate_cluster(c: &Config) -> Result {
    parse_bind_address(&c.cluster.bind_address)
        .map_err(|e| invalid("[cluster]", "bind-address", e))?;
    if !c.cluster.advertise_address.is_empty() && !c.cluster.advertise_address.contains(':') {
        return Err(invalid(
            "[cluster]",
            "advertise-address",
            "must be host:port",
        ));
    }
    if c.cluster.roles != ["worker"] {
        return Err(invalid(
            "[cluster]",
            "roles",
            format!("must be [\"worker\"], got {:?}", c.cluster.roles),
        ));
    }
    c.cluster
        .encryption_key_bytes()
        .map_err(|e| format!("invalid [cluster] {e}"))?;

    parse_bind_address(&c.rpc.bind_address).map_err(|e| invalid("[rpc]", "bind-address", e))?;
    if !c.rpc.advertise_address.is_empty() && !c.rpc.advertise_address.contains(':') {
        return Err(invalid("[rpc]", "advertise-address", "must be host:port"));
    }

    if c.alert.topic_buffer_length < 1000 {
        return Err(invalid(
            "[alert]",
            "topic-buffer-length",
            "must be at least 1000",
        ));
    }
    positive("[alert]", "delay-per-member", c.alert.delay_per_member)?;
    positive("[alert]", "full-sync-interval", c.alert.full_sync_interval)?;
    Ok(())
}

fn validate_influxdb(c: &Config) -> Result {
    let mut names = HashSet::new();
    let mut default: Option<&str> = None;
    let mut enabled = 0;
    for (i, db) in c.influxdb.iter().enumerate() {
        if !db.enabled {
            continue;
        }
        enabled += 1;
        let section = format!("[[influxdb]] #{i} ({:?})", db.name);
        if db.name.is_empty() {
            return Err(invalid(&section, "name", "must not be empty"));
        }
        if !names.insert(db.name.as_str()) {
            return Err(format!("[[influxdb]] duplicate name {:?}", db.name));
        }
        if db.default {
            if let Some(other) = default {
                return Err(format!(
                    "[[influxdb]] more than one default: {other:?} and {:?}",
                    db.name
                ));
            }
            default = Some(&db.name);
        }
        if db.urls.is_empty() {
            return Err(invalid(&section, "urls", "must list at least one URL"));
        }
        for url in &db.urls {
            if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 8 {
                return Err(invalid(
                    &section,
                    "urls",
                    format!("{url:?} is not an http(s) URL"),
                ));
            }
        }
        one_of(
            &section,
            "subscription-protocol",
            &db.subscription_protocol,
            &["http", "https", "udp"],
        )?;
        one_of(&section, "compression", &db.compression, &["gzip", "none"])?;
        if db.subscription_protocol == "udp" && db.udp_buffer <= 0 {
            return Err(invalid(&section, "udp-buffer", "must be greater than 0"));
        }
    }
    if enabled > 1 && default.is_none() {
        return Err(
            "[[influxdb]] one of the enabled InfluxDB clusters must be marked default".into(),
        );
    }
    Ok(())
}

/// Rules for configs that come as a list with one default (`[[slack]]`, `[[discord]]`).
fn validate_defaults<'a>(
    section: &str,
    items: impl Iterator<Item = (bool, bool, &'a str)>,
    len: usize,
) -> Result {
    let mut has_default = len == 1;
    let mut ids = HashSet::new();
    for (i, (default, global, workspace)) in items.enumerate() {
        if len > 1 && workspace.is_empty() {
            return Err(invalid(
                &format!("[[{section}]] #{i}"),
                "workspace",
                "must be set when there is more than one",
            ));
        }
        if !ids.insert(workspace) {
            return Err(format!("[[{section}]] duplicate workspace {workspace:?}"));
        }
        if global && !default {
            return Err(invalid(
                &format!("[[{section}]] #{i}"),
                "global",
                "only the default config may be global",
            ));
        }
        has_default |= default;
    }
    if len > 0 && !has_default {
        return Err(format!("[[{section}]] one config must be marked default"));
    }
    Ok(())
}

fn validate_handlers(c: &Config) -> Result {
    if c.smtp.enabled {
        required_when_enabled(true, "[smtp]", "host", &c.smtp.host)?;
        if c.smtp.port == 0 {
            return Err(invalid("[smtp]", "port", "must be greater than 0"));
        }
    }
    if c.smtp.state_changes_only && !c.smtp.global {
        return Err(invalid(
            "[smtp]",
            "state-changes-only",
            "only applies when global is set",
        ));
    }
    required_when_enabled(c.snmptrap.enabled, "[snmptrap]", "addr", &c.snmptrap.addr)?;
    if c.snmptrap.retries < 0 {
        return Err(invalid("[snmptrap]", "retries", "must not be negative"));
    }
    required_when_enabled(
        c.opsgenie.enabled,
        "[opsgenie]",
        "api-key",
        &c.opsgenie.api_key,
    )?;
    required_when_enabled(
        c.opsgenie2.enabled,
        "[opsgenie2]",
        "api-key",
        &c.opsgenie2.api_key,
    )?;
    one_of(
        "[opsgenie2]",
        "recovery_action",
        &c.opsgenie2.recovery_action,
        &["notes", "close"],
    )?;
    required_when_enabled(
        c.victorops.enabled,
        "[victorops]",
        "api-key",
        &c.victorops.api_key,
    )?;
    required_when_enabled(c.victorops.enabled, "[victorops]", "url", &c.victorops.url)?;
    required_when_enabled(c.pagerduty.enabled, "[pagerduty]", "url", &c.pagerduty.url)?;
    required_when_enabled(
        c.pagerduty2.enabled,
        "[pagerduty2]",
        "url",
        &c.pagerduty2.url,
    )?;
    required_when_enabled(c.pushover.enabled, "[pushover]", "token", &c.pushover.token)?;
    required_when_enabled(
        c.pushover.enabled,
        "[pushover]",
        "user-key",
        &c.pushover.user_key,
    )?;
    required_when_enabled(c.telegram.enabled, "[telegram]", "token", &c.telegram.token)?;
    required_when_enabled(c.hipchat.enabled, "[hipchat]", "url", &c.hipchat.url)?;
    required_when_enabled(c.alerta.enabled, "[alerta]", "url", &c.alerta.url)?;
    required_when_enabled(c.sensu.enabled, "[sensu]", "addr", &c.sensu.addr)?;
    required_when_enabled(c.sensu.enabled, "[sensu]", "source", &c.sensu.source)?;
    required_when_enabled(c.talk.enabled, "[talk]", "url", &c.talk.url)?;
    required_when_enabled(
        c.teams.enabled,
        "[teams]",
        "channel-url",
        &c.teams.channel_url,
    )?;
    required_when_enabled(
        c.servicenow.enabled,
        "[servicenow]",
        "url",
        &c.servicenow.url,
    )?;
    required_when_enabled(c.bigpanda.enabled, "[bigpanda]", "url", &c.bigpanda.url)?;
    required_when_enabled(
        c.bigpanda.enabled,
        "[bigpanda]",
        "app-key",
        &c.bigpanda.app_key,
    )?;
    required_when_enabled(c.bigpanda.enabled, "[bigpanda]", "token", &c.bigpanda.token)?;
    required_when_enabled(c.zenoss.enabled, "[zenoss]", "url", &c.zenoss.url)?;

    for (i, h) in c.httppost.iter().enumerate() {
        let section = format!("[[httppost]] #{i}");
        if h.endpoint.is_empty() {
            return Err(invalid(&section, "endpoint", "must not be empty"));
        }
        if h.url.is_empty() {
            return Err(invalid(&section, "url", "must not be empty"));
        }
        if !h.alert_template.is_empty() && !h.alert_template_file.is_empty() {
            return Err(invalid(
                &section,
                "alert-template",
                "only one of alert-template and alert-template-file may be set",
            ));
        }
        if !h.row_template.is_empty() && !h.row_template_file.is_empty() {
            return Err(invalid(
                &section,
                "row-template",
                "only one of row-template and row-template-file may be set",
            ));
        }
        for (key, path) in [
            ("alert-template-file", &h.alert_template_file),
            ("row-template-file", &h.row_template_file),
        ] {
            if !path.is_empty() && !path.starts_with('/') {
                return Err(invalid(&section, key, "must be an absolute path"));
            }
        }
        let ba = &h.basic_auth;
        if ba.username.is_empty() != ba.password.is_empty() {
            return Err(invalid(
                &section,
                "basic-auth",
                "must set both username and password",
            ));
        }
    }

    for (i, s) in c.slack.iter().enumerate() {
        required_when_enabled(s.enabled, &format!("[[slack]] #{i}"), "url", &s.url)?;
    }
    validate_defaults(
        "slack",
        c.slack
            .iter()
            .map(|s| (s.default, s.global, s.workspace.as_str())),
        c.slack.len(),
    )?;
    for (i, d) in c.discord.iter().enumerate() {
        required_when_enabled(d.enabled, &format!("[[discord]] #{i}"), "url", &d.url)?;
    }
    validate_defaults(
        "discord",
        c.discord
            .iter()
            .map(|d| (d.default, d.global, d.workspace.as_str())),
        c.discord.len(),
    )?;

    let mut kafka_ids = HashSet::new();
    for (i, k) in c.kafka.iter().enumerate() {
        let section = format!("[[kafka]] #{i}");
        if !k.enabled {
            continue;
        }
        if k.id.is_empty() {
            return Err(invalid(&section, "id", "must not be empty"));
        }
        if !kafka_ids.insert(k.id.as_str()) {
            return Err(format!("[[kafka]] duplicate id {:?}", k.id));
        }
        if k.brokers.is_empty() {
            return Err(invalid(
                &section,
                "brokers",
                "must list at least one broker",
            ));
        }
    }

    let mut mqtt_names = HashSet::new();
    let mut mqtt_default = c.mqtt.len() == 1;
    for (i, m) in c.mqtt.iter().enumerate() {
        let section = format!("[[mqtt]] #{i}");
        if m.name.is_empty() {
            return Err(invalid(&section, "name", "must not be empty"));
        }
        if !mqtt_names.insert(m.name.as_str()) {
            return Err(format!("[[mqtt]] duplicate name {:?}", m.name));
        }
        required_when_enabled(m.enabled, &section, "url", &m.url)?;
        mqtt_default |= m.default;
    }
    if !c.mqtt.is_empty() && !mqtt_default {
        return Err("[[mqtt]] one broker must be marked default".into());
    }
    Ok(())
}

fn validate_queue(c: &Config) -> Result {
    let q = &c.queue;
    if q.dir.as_os_str().is_empty() {
        return Err(invalid("[queue]", "dir", "must be specified"));
    }
    if q.segment_size.as_u64() < 4096 {
        return Err(invalid(
            "[queue]",
            "segment-size",
            format!("must be at least 4KiB, got {}", q.segment_size),
        ));
    }
    let no_memory = q.memory_per_task.as_u64() == 0 || q.memory_total.as_u64() == 0;
    if no_memory && q.disk_per_task.as_u64() == 0 {
        return Err(invalid(
            "[queue]",
            "disk-per-task",
            "must be greater than 0 when memory-per-task or memory-total is 0 (a queue needs room somewhere)",
        ));
    }
    let disk = q.disk_per_task.as_u64();
    if disk > 0 && disk < 2 * q.segment_size.as_u64() {
        return Err(invalid(
            "[queue]",
            "disk-per-task",
            format!(
                "must be 0 or at least twice segment-size ({}): disk space is given back one segment at a time, got {}",
                q.segment_size, q.disk_per_task
            ),
        ));
    }
    Ok(())
}
