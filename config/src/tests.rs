//! Tests of the whole configuration: defaults, printing, loading, errors and the environment.

use super::*;
use std::path::{Path, PathBuf};
use toml::Value;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn err(text: &str) -> String {
    Config::from_toml(text).unwrap_err().to_string()
}

#[test]
fn defaults_match_kapacitor() {
    let c = Config::default();
    assert_eq!(c.hostname, "localhost");
    assert_eq!(c.data_dir, Path::new("/var/lib/kapacitor"));
    assert_eq!(c.http.bind_address, ":9092");
    assert!(c.http.log_enabled);
    assert_eq!(c.http.shutdown_timeout.to_string(), "10s");
    assert_eq!(c.logging.file, "STDERR");
    assert_eq!(c.task.snapshot_interval.to_string(), "1m0s");
    assert_eq!(c.task.watchdog_timeout.to_string(), "5s");
    assert_eq!(
        c.storage.boltdb,
        Path::new("/var/lib/kapacitor/kapacitor.db")
    );
    assert_eq!(c.cluster.bind_address, ":9090");
    assert_eq!(c.cluster.roles, ["worker"]);
    assert_eq!(c.cluster.gossip_members, 0);
    assert_eq!(c.rpc.bind_address, ":9091");
    assert_eq!(c.alert.redundancy, 0);
    assert_eq!(c.alert.delay_per_member.to_string(), "10s");
    assert_eq!(c.alert.full_sync_interval.to_string(), "5m0s");
    assert_eq!(c.alert.topic_buffer_length, 5000);
    assert!(c.alert.persist_topics);
    let db = &c.influxdb[0];
    assert_eq!(c.influxdb.len(), 1);
    assert_eq!(db.urls, ["http://localhost:8086"]);
    assert_eq!(db.subscription_mode, SubscriptionMode::Cluster);
    assert_eq!(db.subscriptions_sync_interval.to_string(), "1m0s");
    assert_eq!(db.startup_timeout.to_string(), "5m0s");
    assert_eq!(db.excluded_subscriptions["_kapacitor"], ["autogen"]);
    assert_eq!(c.stats.database, "_kapacitor");
    assert_eq!(c.stats.timing_sample_rate, 0.1);
    assert_eq!(c.smtp.port, 25);
    assert_eq!(c.smtp.idle_timeout.to_string(), "30s");
    assert_eq!(
        c.opsgenie.recovery_url,
        "https://api.opsgenie.com/v1/json/alert/note"
    );
    assert_eq!(c.pagerduty2.url, "https://events.pagerduty.com/v2/enqueue");
    assert_eq!(c.slack[0].username, "kapacitor");
    assert!(c.slack[0].default);
    assert_eq!(c.alerta.token_prefix, "Bearer");
    assert_eq!(c.sensu.addr, "sensu-client:3030");
    assert_eq!(c.talk.author_name, "Kapacitor");
    assert_eq!(
        c.servicenow.url,
        "https://instance.service-now.com/api/global/em/jsonv2"
    );
    assert_eq!(c.servicenow.source, "Kapacitor");
    assert_eq!(c.zenoss.collector, "Kapacitor");
    assert_eq!(c.bigpanda.url, "https://api.bigpanda.io/data/v2/alerts");
    assert_eq!(c.snmptrap.community, "kapacitor");
    assert_eq!(c.mqtt[0].url, "tcp://localhost:1883");
    assert_eq!(c.httppost[0].endpoint, "example");
    assert_eq!(c.reporting.url, "https://usage.influxdata.com");
    assert!(c.consul.is_empty());
    let consul = Config::from_toml("[[consul]]\nenabled = true\n")
        .unwrap()
        .consul;
    assert_eq!(consul[0]["address"].as_str(), Some("127.0.0.1:8500"));
    assert_eq!(consul[0]["enabled"].as_bool(), Some(true));
    c.validate().expect("the packaged default is valid");
    demo_config_in(Some(Path::new("/home/u")))
        .validate()
        .expect("the demo default is valid");
}

#[test]
fn printed_config_uses_kapacitor_spelling_and_order() {
    let text = Config::default().to_toml();
    for needle in [
        "data_dir = \"/var/lib/kapacitor\"",
        "[http]\nbind-address = \":9092\"",
        "shutdown-timeout = \"10s\"",
        "read-header-timeout = \"10s\"",
        "idle-timeout = \"2m0s\"",
        "max-connections = 0",
        "max-body-size = \"64MiB\"",
        "max-concurrent-write-bytes = \"256MiB\"",
        "[[influxdb]]",
        "subscription-mode = \"cluster\"",
        "recovery_url = ",
        "recovery_action = \"notes\"",
        "author_name = \"Kapacitor\"",
        "toTemplates = []",
        "[[slack]]",
        "[zenoss.severity-map]\nOK = \"Clear\"",
        "full-sync-interval = \"5m0s\"",
        "[[kubernetes]]",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    let pos = |s: &str| text.find(s).unwrap_or_else(|| panic!("{s} missing"));
    assert!(pos("hostname =") < pos("[http]"));
    assert!(pos("[http]") < pos("[logging]"));
    assert!(pos("[logging]") < pos("[[influxdb]]"));
    assert!(pos("[[influxdb]]") < pos("[smtp]"));
}

#[test]
fn printed_config_loads_back_unchanged() {
    for cfg in [
        Config::default(),
        demo_config_in(Some(Path::new("/home/u"))),
    ] {
        let back = Config::from_toml(&cfg.to_toml()).expect("printed config parses");
        assert_eq!(back, cfg);
    }
}

#[test]
fn fully_customised_config_round_trips() {
    let mut cfg = every_leaf_overridden();
    // Kapacitor makes a lone [[influxdb]] the default on load, whatever the file says.
    cfg.influxdb[0].default = true;
    assert_ne!(cfg, Config::default());
    let back = Config::from_toml(&cfg.to_toml()).expect("printed config parses");
    assert_eq!(back, cfg);
}

#[test]
fn discovery_sections_round_trip() {
    let text: String = DISCOVERY_SECTIONS
        .iter()
        .map(|s| format!("[[{s}]]\nenabled = false\n"))
        .collect();
    let cfg = Config::from_toml(&text).unwrap();
    assert_eq!(
        cfg.static_discovery[0]["labels"]["region"].as_str(),
        Some("us-east-1")
    );
    assert_eq!(cfg.triton[0]["port"].as_integer(), Some(9163));
    assert_eq!(Config::from_toml(&cfg.to_toml()).unwrap(), cfg);
}

#[test]
fn empty_file_is_the_default() {
    assert_eq!(Config::from_toml("").unwrap(), Config::default());
}

#[test]
fn kapacitor_style_file_loads() {
    let text = r##"
hostname = "kap1"
data_dir = "/srv/kapacitor"

[http]
  bind-address = ":9999"

[logging]
  file = "STDOUT"
  level = "INFO"

[task]
  snapshot-interval = "60s"

[[influxdb]]
  enabled = true
  name = "localhost"
  urls = ["http://db:8086"]
  timeout = 0
  startup-timeout = "5m"
  subscription-mode = "server"
  [influxdb.subscriptions]
    telegraf = ["autogen", "longterm"]
  [influxdb.excluded-subscriptions]

[kubernetes]
  enabled = false

[slack]
  enabled = true
  url = "https://hooks.slack.com/x"
  channel = "#alerts"

[udf]
[udf.functions]
  [udf.functions.pyavg]
    prog = "/usr/bin/python3"
    args = ["-u", "moving_avg.py"]
    timeout = "10s"
    [udf.functions.pyavg.env]
      PYTHONPATH = "/opt/udf"

[[httppost]]
  endpoint = "hook"
  url = "http://example.com/{{.ID}}"
  headers = { Example = "your-key" }
  basic-auth = { username = "u", password = "p" }

[cluster]
  gossip-members = 5
  gossip-interval = "100ms"

[alert]
  redundancy = 2
  delay-per-member = "5s"
"##;
    let c = Config::from_toml(text).unwrap();
    c.validate().unwrap();
    assert_eq!(c.hostname, "kap1");
    assert_eq!(c.http.bind_address, ":9999");
    // Unset keys of a present section keep their defaults.
    assert_eq!(c.http.shutdown_timeout, GoDuration::from_secs(10));
    assert_eq!(c.task.snapshot_interval.to_string(), "1m0s");
    let db = &c.influxdb[0];
    assert!(db.default, "a lone [[influxdb]] is the default");
    assert_eq!(db.name, "localhost");
    assert_eq!(db.timeout, GoDuration::ZERO);
    assert_eq!(db.startup_timeout.to_string(), "5m0s");
    assert_eq!(db.subscription_mode, SubscriptionMode::Server);
    assert_eq!(db.subscriptions["telegraf"], ["autogen", "longterm"]);
    assert!(db.excluded_subscriptions.is_empty());
    assert_eq!(db.udp_buffer, 1000);
    assert_eq!(c.kubernetes.len(), 1);
    assert_eq!(c.kubernetes[0]["enabled"].as_bool(), Some(false));
    assert_eq!(
        c.kubernetes[0]["in-cluster"].as_bool(),
        Some(false),
        "filled from defaults"
    );
    assert_eq!(c.slack.len(), 1);
    assert_eq!(c.slack[0].channel, "#alerts");
    assert_eq!(c.slack[0].username, "kapacitor");
    let f = &c.udf.functions["pyavg"];
    assert_eq!(f.args, ["-u", "moving_avg.py"]);
    assert_eq!(f.env["PYTHONPATH"], "/opt/udf");
    assert_eq!(c.httppost[0].headers["Example"], "your-key");
    assert_eq!(c.httppost[0].basic_auth.username, "u");
    let cl = c.cluster_defaults_applied();
    assert_eq!(cl.gossip_members, 5);
    assert_eq!(cl.gossip_interval, GoDuration::from_millis(100));
    assert_eq!(cl.gossip_sync_interval, GoDuration::from_secs(30));
    assert_eq!(c.alert.redundancy, 2);
    assert_eq!(
        c.default_influxdb().map(|d| d.name.as_str()),
        Some("localhost")
    );
}

#[test]
fn cluster_zero_values_mean_lan_defaults() {
    let c = Config::default().cluster_defaults_applied();
    assert_eq!(c.gossip_members, 3);
    assert_eq!(c.gossip_interval.to_string(), "200ms");
    assert_eq!(c.gossip_sync_interval.to_string(), "30s");
}

#[test]
fn unknown_keys_are_named() {
    let e = err("hostnme = \"x\"\n");
    assert!(e.contains("hostnme"), "{e}");
    let e = err("[http]\nbind-adress = \":1\"\n");
    assert!(e.contains("bind-adress"), "{e}");
    assert!(e.contains("line 2"), "{e}");
    let e = err("[[influxdb]]\nurl = \"http://x\"\n");
    assert!(e.contains("`url`"), "{e}");
    let e = err("[slack]\nchanel = \"#a\"\n");
    assert!(e.contains("chanel"), "{e}");
    let e = err("[nosuchsection]\nx = 1\n");
    assert!(e.contains("nosuchsection"), "{e}");
    let e = err("[[consul]]\nadress = \"x\"\n");
    assert!(e.contains("adress") && e.contains("consul"), "{e}");
    let e = err("[[consul]]\nport = \"80\"\n");
    assert!(e.contains("port"), "{e}");
}

#[test]
fn bad_values_name_the_key() {
    let e = err("[http]\nshutdown-timeout = \"10 seconds\"\n");
    assert!(e.contains("shutdown-timeout"), "{e}");
    assert!(e.contains("in duration \"10 seconds\""), "{e}");
    assert!(e.contains("line 2"), "{e}");
    let e = err("[alert]\ndelay-per-member = \"10\"\n");
    assert!(
        e.contains("delay-per-member") && e.contains("missing unit"),
        "{e}"
    );
    let e = err("[alert]\ndelay-per-member = \"-10s\"\n");
    assert!(
        e.contains("delay-per-member") && e.contains("negative"),
        "{e}"
    );
    let e = err("[[influxdb]]\ntimeout = 5\n");
    assert!(e.contains("timeout"), "{e}");
    let e = err("[[influxdb]]\nsubscription-mode = \"both\"\n");
    assert!(
        e.contains("subscription-mode must be \"cluster\" or \"server\""),
        "{e}"
    );
    let e = err("[http]\nmax-body-size = -1\n");
    assert!(e.contains("max-body-size"), "{e}");
    let e = err("[http]\nmax-connections = \"many\"\n");
    assert!(e.contains("max-connections"), "{e}");
    let e = err("[http]\nlog-enabled = \"yes\"\n");
    assert!(e.contains("log-enabled"), "{e}");
    let e = err("[smtp]\nport = 70000\n");
    assert!(e.contains("port"), "{e}");
    let e = err("[[discord]]\ntimestamp = 1\n");
    assert!(e.contains("timestamp"), "{e}");
}

#[test]
fn syntax_errors_carry_line_and_column() {
    let e = err("hostname = \"a\"\n[http]\nbind-address = \n");
    assert!(e.contains("line 3"), "{e}");
    assert!(e.contains("column"), "{e}");
    let e = err("[http\n");
    assert!(e.contains("line 1"), "{e}");
}

#[test]
fn validation_errors_name_the_key() {
    let check = |text: &str, want: &str| {
        let cfg = Config::from_toml(text).unwrap();
        let e = cfg.validate().unwrap_err().to_string();
        assert!(e.contains(want), "{text:?}: {e:?} should contain {want:?}");
    };
    check(
        "[alert]\ntopic-buffer-length = 10\n",
        "invalid [alert] topic-buffer-length: must be at least 1000",
    );
    check("data_dir = \"\"\n", "data_dir");
    check(
        "[http]\nread-header-timeout = \"0s\"\n",
        "invalid [http] read-header-timeout: must be greater than 0",
    );
    check(
        "[http]\nidle-timeout = \"0s\"\n",
        "invalid [http] idle-timeout",
    );
    check(
        "[http]\nmax-body-size = 0\n",
        "invalid [http] max-body-size",
    );
    check(
        "[http]\nmax-body-size = 1000\nmax-concurrent-write-bytes = 999\n",
        "invalid [http] max-concurrent-write-bytes: must be at least max-body-size (1000), got 999",
    );
    check(
        "[cluster]\nroles = [\"worker\", \"api\"]\n",
        "[cluster] roles",
    );
    check("[logging]\nlevel = \"TRACE\"\n", "[logging] level");
    check("[http]\nbind-address = \"9092\"\n", "[http] bind-address");
    check(
        "[cluster]\nencryption-key = \"c2hvcnQ=\"\n",
        "encryption-key",
    );
    check("[load]\nenabled = true\ndir = \"load\"\n", "[load] dir");
    check(
        "[[influxdb]]\nname = \"a\"\ndefault = true\n[[influxdb]]\nname = \"b\"\ndefault = true\n",
        "[[influxdb]] more than one default",
    );
    check(
        "[[influxdb]]\nname = \"a\"\n[[influxdb]]\nname = \"b\"\n",
        "must be marked default",
    );
    check(
        "[[influxdb]]\nname = \"a\"\ndefault = true\n[[influxdb]]\nname = \"a\"\n",
        "duplicate name",
    );
    check(
        "[[influxdb]]\nsubscription-protocol = \"tcp\"\n",
        "subscription-protocol",
    );
    check("[[influxdb]]\nurls = []\n", "urls");
    check("[udf.functions.f]\ntimeout = \"1s\"\n", "[udf.functions.f]");
    check(
        "[[slack]]\nworkspace = \"a\"\n[[slack]]\nworkspace = \"a\"\ndefault = false\n",
        "[[slack]] duplicate",
    );
    check(
        "[[slack]]\nworkspace = \"a\"\ndefault = false\n[[slack]]\nworkspace = \"b\"\ndefault = false\n",
        "marked default",
    );
    check("[[kafka]]\nenabled = true\n", "brokers");
    check(
        "[opsgenie2]\nrecovery_action = \"ignore\"\n",
        "recovery_action",
    );
    check(
        "[alert]\nfull-sync-interval = \"0s\"\n",
        "full-sync-interval",
    );
    check(
        "[queue]\nmemory-per-task = 0\ndisk-per-task = 0\n",
        "invalid [queue] disk-per-task: must be greater than 0",
    );
    check(
        "[queue]\nmemory-total = 0\ndisk-per-task = 0\n",
        "invalid [queue] disk-per-task",
    );
    check(
        "[queue]\ndisk-per-task = \"16MiB\"\n",
        "invalid [queue] disk-per-task: must be 0 or at least twice segment-size (16MiB)",
    );
    check(
        "[queue]\nsegment-size = 100\n",
        "invalid [queue] segment-size: must be at least 4KiB, got 100B",
    );
    check("[queue]\ndir = \"\"\n", "invalid [queue] dir");
    check(
        "[task]\nwatchdog-timeout = \"500ms\"\n",
        "invalid [task] watchdog-timeout: must be 0 (disabled) or at least 1s",
    );
    for ok in ["0", "0s", "1s", "2s"] {
        let cfg = Config::from_toml(&format!("[task]\nwatchdog-timeout = \"{ok}\"\n")).unwrap();
        cfg.validate().unwrap();
    }

    let ok =
        "[logging]\nlevel = \"info\"\n[cluster]\nencryption-key = \"AAECAwQFBgcICQoLDA0ODw==\"\n";
    let cfg = Config::from_toml(ok).unwrap();
    cfg.validate().unwrap();
    assert_eq!(
        cfg.cluster.encryption_key_bytes().unwrap().unwrap().len(),
        16
    );
    assert_eq!(
        Config::default().cluster.encryption_key_bytes().unwrap(),
        None
    );
}

#[test]
fn queue_section_defaults_sizes_and_dir() {
    let c = Config::default();
    assert_eq!(c.queue.memory_per_task, ByteSize::mib(32));
    assert_eq!(c.queue.memory_total, ByteSize::mib(256));
    assert_eq!(c.queue.disk_per_task, ByteSize::gib(1));
    assert_eq!(c.queue.segment_size, ByteSize::mib(16));
    assert_eq!(c.queue.write_timeout.to_string(), "10s");
    let text = c.to_toml();
    let needle = "[queue]\ndir = \"/var/lib/kapacitor/queues\"\nmemory-per-task = \"32MiB\"\nmemory-total = \"256MiB\"\ndisk-per-task = \"1GiB\"\nsegment-size = \"16MiB\"\nwrite-timeout = \"10s\"\n";
    assert!(text.contains(needle), "missing {needle:?} in\n{text}");

    let c = Config::from_toml(
        "[queue]\nmemory-per-task = 1048576\nmemory-total = \"1GB\"\ndisk-per-task = \"2 g\"\nsegment-size = \"512KB\"\nwrite-timeout = \"1m\"\n",
    )
    .unwrap();
    assert_eq!(c.queue.memory_per_task, ByteSize::mib(1));
    assert_eq!(c.queue.memory_total, ByteSize(1_000_000_000));
    assert_eq!(c.queue.disk_per_task, ByteSize::gib(2));
    assert_eq!(c.queue.segment_size, ByteSize(512_000));
    assert_eq!(c.queue.write_timeout.as_duration().as_secs(), 60);
    c.validate().unwrap();
    // Write-through (no memory) is valid when there is disk.
    Config::from_toml("[queue]\nmemory-per-task = 0\n")
        .unwrap()
        .validate()
        .unwrap();

    for (text, wants) in [
        (
            "[queue]\nmemory-per-task = \"32XB\"\n",
            &[
                "config key `queue.memory-per-task`",
                "invalid size \"32XB\": unknown unit",
            ][..],
        ),
        (
            "[queue]\ndisk-per-task = -1\n",
            &[
                "config key `queue.disk-per-task`",
                "invalid size -1: a size cannot be negative",
            ],
        ),
        (
            "[queue]\nsegment-size = true\n",
            &["config key `queue.segment-size`", "a size"],
        ),
        ("[queue]\nmemory = 1\n", &["memory"]),
    ] {
        let e = err(text);
        for want in wants {
            assert!(e.contains(want), "{text:?}: {e:?} should contain {want:?}");
        }
    }
    let e = Config::default()
        .apply_env(&env(&[("KAPACITOR_QUEUE_MEMORY_TOTAL", "lots")]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("KAPACITOR_QUEUE_MEMORY_TOTAL") && e.contains("invalid size"),
        "{e}"
    );
    let c = Config::default()
        .apply_env(&env(&[("KAPACITOR_QUEUE_MEMORY_TOTAL", "1GiB")]))
        .unwrap();
    assert_eq!(c.queue.memory_total, ByteSize::gib(1));

    // Where the queues live.
    let mut c = Config::default();
    assert_eq!(c.queue_dir(), Path::new("/var/lib/kapacitor/queues"));
    c.data_dir = PathBuf::from("/tmp/x");
    assert_eq!(c.queue_dir(), Path::new("/tmp/x/queues"));
    c.queue.dir = PathBuf::from("q");
    assert_eq!(c.queue_dir(), Path::new("/tmp/x/q"));
    c.queue.dir = PathBuf::from("/srv/q");
    assert_eq!(c.queue_dir(), Path::new("/srv/q"));
    let demo = demo_config_in(Some(Path::new("/home/u")));
    assert_eq!(demo.queue_dir(), Path::new("/home/u/.kapacitor/queues"));
}

#[test]
fn bind_addresses_follow_go() {
    let mut c = Config::default();
    assert_eq!(c.http_listen_addr().unwrap().to_string(), "0.0.0.0:9092");
    assert_eq!(c.cluster_listen_addr().unwrap().to_string(), "0.0.0.0:9090");
    assert_eq!(c.rpc_listen_addr().unwrap().to_string(), "0.0.0.0:9091");
    c.http.bind_address = "127.0.0.1:8080".into();
    assert_eq!(c.http_listen_addr().unwrap().to_string(), "127.0.0.1:8080");
    c.http.bind_address = "[::1]:8080".into();
    assert_eq!(c.http_listen_addr().unwrap().to_string(), "[::1]:8080");
    c.http.bind_address = "localhost:8080".into();
    assert_eq!(c.http_listen_addr().unwrap().port(), 8080);
    for bad in ["9092", ":x", ":99999", ""] {
        c.http.bind_address = bad.into();
        let e = c.http_listen_addr().unwrap_err().to_string();
        assert!(e.contains("[http] bind-address"), "{e}");
    }
}

#[test]
fn env_overrides_use_kapacitor_names() {
    let vars = env(&[
        ("KAPACITOR_HOSTNAME", "envhost"),
        ("KAPACITOR_DATA_DIR", "/data"),
        ("KAPACITOR_HTTP_BIND_ADDRESS", ":7777"),
        ("KAPACITOR_HTTP_LOG_ENABLED", "F"),
        ("KAPACITOR_HTTP_SHUTDOWN_TIMEOUT", "1m30s"),
        ("KAPACITOR_LOGGING_LEVEL", "error"),
        ("KAPACITOR_STORAGE_BOLTDB", "/data/k.db"),
        ("KAPACITOR_INFLUXDB_0_URLS_0", "http://influx:8086"),
        ("KAPACITOR_INFLUXDB_0_SUBSCRIPTION_MODE", "server"),
        ("KAPACITOR_INFLUXDB_0_UDP_BUFFER", "0x10"),
        (
            "KAPACITOR_INFLUXDB_0_SUBSCRIPTIONS_telegraf",
            "autogen,weekly",
        ),
        ("KAPACITOR_INFLUXDB_0_SUBSCRIPTIONS_SYNC_INTERVAL", "2m"),
        (
            "KAPACITOR_INFLUXDB_1_NAME",
            "ignored: there is no second element",
        ),
        ("KAPACITOR_SLACK_0_URL", "https://hooks.slack.com/y"),
        ("KAPACITOR_KUBERNETES_ENABLED", "true"),
        ("KAPACITOR_HTTPPOST_0_HEADERS_Example", "header"),
        ("KAPACITOR_SMTP_TO", "a@example.com, b@example.com"),
        ("KAPACITOR_STATS_TIMING_SAMPLE_RATE", "0.5"),
        ("KAPACITOR_ALERT_REDUNDANCY", "1"),
        ("KAPACITOR_CLUSTER_GOSSIP_INTERVAL", "50ms"),
        ("KAPACITOR_REPLAY_DIR", ""),
        ("OTHER_VAR", "x"),
    ]);
    let c = Config::default().apply_env(&vars).unwrap();
    assert_eq!(c.hostname, "envhost");
    assert_eq!(c.data_dir, Path::new("/data"));
    assert_eq!(c.http.bind_address, ":7777");
    assert!(!c.http.log_enabled);
    assert_eq!(c.http.shutdown_timeout.to_string(), "1m30s");
    assert_eq!(c.logging.level, "error");
    assert_eq!(c.storage.boltdb, Path::new("/data/k.db"));
    assert_eq!(c.influxdb.len(), 1);
    assert_eq!(c.influxdb[0].urls, ["http://influx:8086"]);
    assert_eq!(c.influxdb[0].subscription_mode, SubscriptionMode::Server);
    assert_eq!(c.influxdb[0].udp_buffer, 16);
    assert_eq!(
        c.influxdb[0].subscriptions["telegraf"],
        ["autogen", "weekly"]
    );
    assert_eq!(c.influxdb[0].subscriptions.len(), 1);
    assert_eq!(
        c.influxdb[0].subscriptions_sync_interval.to_string(),
        "2m0s"
    );
    assert_eq!(c.slack[0].url, "https://hooks.slack.com/y");
    assert_eq!(c.kubernetes[0]["enabled"].as_bool(), Some(true));
    assert_eq!(c.httppost[0].headers["Example"], "header");
    assert_eq!(c.smtp.to, ["a@example.com", "b@example.com"]);
    assert_eq!(c.stats.timing_sample_rate, 0.5);
    assert_eq!(c.alert.redundancy, 1);
    assert_eq!(c.cluster.gossip_interval, GoDuration::from_millis(50));
    assert_eq!(
        c.replay.dir,
        Config::default().replay.dir,
        "empty values are ignored"
    );
}

#[test]
fn bad_env_values_name_the_variable() {
    let check = |var: &str, value: &str| {
        let e = Config::default()
            .apply_env(&env(&[(var, value)]))
            .unwrap_err()
            .to_string();
        assert!(e.contains(var), "{var}={value}: {e}");
    };
    check("KAPACITOR_HTTP_LOG_ENABLED", "yes");
    check("KAPACITOR_SMTP_PORT", "twenty-five");
    check("KAPACITOR_SMTP_PORT", "70000");
    check("KAPACITOR_HTTP_SHUTDOWN_TIMEOUT", "ten seconds");
    check("KAPACITOR_INFLUXDB_0_SUBSCRIPTION_MODE", "both");
    check("KAPACITOR_STATS_TIMING_SAMPLE_RATE", "half");
    check("KAPACITOR_CLUSTER_GOSSIP_MEMBERS", "-1");
    check("KAPACITOR_CLUSTER_GOSSIP_INTERVAL", "-1s");
}

/// A new value of the same type for a default leaf, so that overriding it is observable.
fn new_value_for(current: &Value) -> Vec<(String, Value)> {
    match current {
        Value::Boolean(b) => vec![((!b).to_string(), Value::Boolean(!b))],
        Value::Integer(i) => vec![((i + 1).to_string(), Value::Integer(i + 1))],
        Value::Float(f) => vec![((f + 0.5).to_string(), Value::Float(f + 0.5))],
        Value::String(s) if GoDuration::parse(s).is_ok() => {
            vec![("7s".into(), Value::String("7s".into()))]
        }
        Value::String(s) if ByteSize::parse(s).is_ok() => {
            vec![("7MiB".into(), Value::String("7MiB".into()))]
        }
        Value::String(s) => ["server", "override-value"]
            .into_iter()
            .filter(|v| *v != s && *v != "cluster")
            .map(|v| (v.to_string(), Value::String(v.to_string())))
            .collect(),
        other => panic!("unexpected leaf {other:?}"),
    }
}

fn every_leaf_overridden() -> Config {
    let base = Config::default();
    let mut vars = Vec::new();
    for (name, current) in env::leaves(&base) {
        let candidates = new_value_for(&current);
        let (raw, _) = candidates
            .iter()
            .find(|(raw, _)| base.apply_env(&env(&[(&name, raw)])).is_ok())
            .unwrap_or_else(|| panic!("no override of {name} is accepted"));
        vars.push((name, raw.clone()));
    }
    base.apply_env(&vars).expect("all overrides together apply")
}

#[test]
fn every_default_leaf_can_be_overridden() {
    let base = Config::default();
    let leaves = env::leaves(&base);
    assert!(leaves.len() > 250, "only {} leaves", leaves.len());
    for (name, current) in leaves {
        let mut done = false;
        for (raw, want) in new_value_for(&current) {
            let Ok(cfg) = base.apply_env(&env(&[(&name, &raw)])) else {
                continue;
            };
            let got: std::collections::HashMap<String, Value> =
                env::leaves(&cfg).into_iter().collect();
            assert_eq!(got.get(&name), Some(&want), "{name}={raw}");
            done = true;
            break;
        }
        assert!(done, "{name} could not be overridden");
    }
}

#[test]
fn load_applies_file_then_env_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kapacitor.conf");
    std::fs::write(
        &path,
        "hostname = \"file\"\n[logging]\nlevel = \"INFO\"\nfile = \"/tmp/k.log\"\n[http]\nbind-address = \":1234\"\n",
    )
    .unwrap();
    let vars = env(&[
        ("KAPACITOR_HOSTNAME", "env"),
        ("KAPACITOR_LOGGING_LEVEL", "ERROR"),
    ]);
    let c = Config::load(Some(&path), &vars, &Overrides::default()).unwrap();
    assert_eq!(c.hostname, "env");
    assert_eq!(c.logging.level, "ERROR");
    assert_eq!(c.logging.file, "/tmp/k.log");
    assert_eq!(c.http.bind_address, ":1234");

    let flags = Overrides {
        hostname: Some("flag".into()),
        log_file: Some("STDOUT".into()),
        log_level: Some("debug".into()),
    };
    let c = Config::load(Some(&path), &vars, &flags).unwrap();
    assert_eq!(c.hostname, "flag");
    assert_eq!(c.logging.file, "STDOUT");
    assert_eq!(c.logging.level, "debug");

    let bad_flags = Overrides {
        log_level: Some("loud".into()),
        ..Overrides::default()
    };
    let e = Config::load(Some(&path), &vars, &bad_flags)
        .unwrap_err()
        .to_string();
    assert!(e.contains("[logging] level"), "{e}");
}

#[test]
fn load_errors_name_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.conf");
    std::fs::write(&path, "[http]\nshutdown-timeout = \"soon\"\n").unwrap();
    let e = Config::load(Some(&path), &[], &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bad.conf") && e.contains("shutdown-timeout"),
        "{e}"
    );
    let missing = dir.path().join("missing.conf");
    let e = Config::load(Some(&missing), &[], &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.conf"), "{e}");
}

#[test]
fn no_file_means_demo_config_in_home() {
    let c = Config::load(None, &env(&[("HOME", "/home/u")]), &Overrides::default()).unwrap();
    assert_eq!(c.data_dir, Path::new("/home/u/.kapacitor"));
    assert_eq!(
        c.storage.boltdb,
        Path::new("/home/u/.kapacitor/kapacitor.db")
    );
    assert_eq!(c.replay.dir, Path::new("/home/u/.kapacitor/replay"));
    assert_eq!(c.task.dir, Path::new("/home/u/.kapacitor/tasks"));
    assert_eq!(c.load.dir, Path::new("/home/u/.kapacitor/load"));
    let c = demo_config_in(None);
    assert_eq!(c.data_dir, Path::new("./.kapacitor"));
    assert_eq!(c.storage.boltdb, Path::new("./.kapacitor/kapacitor.db"));
    // Without HOME in `env`, the process's HOME is used.
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        let c = Config::load(None, &[], &Overrides::default()).unwrap();
        assert_eq!(c.data_dir, Path::new(&home).join(".kapacitor"));
    }
}

#[test]
fn config_path_search_order() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().to_str().unwrap();
    let explicit = env(&[("KAPACITOR_CONFIG_PATH", "/x/k.conf"), ("HOME", home)]);
    assert_eq!(default_config_path(&explicit), Some("/x/k.conf".into()));
    let user_conf = dir.path().join(".kapacitor/kapacitor.conf");
    std::fs::create_dir_all(user_conf.parent().unwrap()).unwrap();
    std::fs::write(&user_conf, "").unwrap();
    assert_eq!(
        default_config_path(&env(&[("HOME", home)])),
        Some(user_conf)
    );
    let elsewhere = dir.path().join("nohome");
    let found = default_config_path(&env(&[("HOME", elsewhere.to_str().unwrap())]));
    let etc = Path::new("/etc/kapacitor/kapacitor.conf");
    assert_eq!(found, etc.is_file().then(|| etc.to_path_buf()));
}

#[test]
fn task_memory_limit_is_a_size() {
    assert_eq!(
        Config::default().task.memory_limit,
        ByteSize(2 << 30),
        "2GiB by default"
    );
    let with = |v: &str| {
        Config::from_toml(&format!("[task]\nmemory-limit = \"{v}\"\n"))
            .map(|c| c.task.memory_limit.0)
    };
    assert_eq!(with("0").ok(), Some(0));
    assert_eq!(with("1048576").ok(), Some(1 << 20));
    assert_eq!(with("64MiB").ok(), Some(64 << 20));
    assert_eq!(with("64m").ok(), Some(64 << 20));
    assert_eq!(with("3g").ok(), Some(3 << 30));
    assert_eq!(with("1TiB").ok(), Some(1 << 40));
    for bad in ["lots", "-1", "2 PiB", "99999999999999999999"] {
        let e = with(bad).unwrap_err().to_string();
        assert!(e.contains("memory-limit"), "{bad}: {e}");
    }
    let c = Config::default()
        .apply_env(&env(&[("KAPACITOR_TASK_MEMORY_LIMIT", "256MiB")]))
        .unwrap();
    assert_eq!(c.task.memory_limit, ByteSize(256 << 20));
}

#[test]
fn connection_limit_follows_the_descriptor_limit() {
    let mut h = crate::HttpConfig::default();
    let l = h.connection_limit(512).unwrap();
    assert_eq!((l.max, l.reserve, l.automatic), (320, 192, true));
    assert_eq!(h.connection_limit(1024).unwrap().max, 768);
    assert_eq!(h.connection_limit(65536).unwrap().max, 10_000);
    assert_eq!(h.connection_limit(u64::MAX).unwrap().max, 10_000);
    assert_eq!(h.connection_limit(100).unwrap().max, 25);
    h.max_connections = 300;
    assert_eq!(h.connection_limit(512).unwrap().max, 300);
    h.max_connections = 20_000;
    assert_eq!(h.connection_limit(1 << 20).unwrap().max, 20_000);
    h.max_connections = 321;
    let e = h.connection_limit(512).unwrap_err().to_string();
    assert!(
        e.contains("[http] max-connections")
            && e.contains("RLIMIT_NOFILE 512")
            && e.contains("at most 320"),
        "{e}"
    );
}
