//! Service-discovery and scraper sections (`[[scraper]]`, `[[kubernetes]]`, `[[consul]]`, ...).
//!
//! kapacitor-rs runs none of these services, so they are kept as loosely typed tables: each
//! section's default element (Kapacitor's) doubles as its schema, and `check_tables` rejects
//! keys the default does not have and values of another TOML type. That keeps Kapacitor's files
//! loading, `kapacitord config` complete, and typos still errors.

use toml::{Table, Value};

/// One default element per section: the schema of the section and the values of keys a file
/// leaves out. Only `kubernetes` and `swarm` have an element when the file has none.
const DEFAULTS: &str = r#"
[[kubernetes]]
enabled = false
id = ""
in-cluster = false
api-servers = []
token = ""
ca-path = ""
namespace = ""
resource = ""

[[swarm]]
enabled = false
id = ""
servers = ["http://localhost:2376"]
ssl-ca = ""
ssl-cert = ""
ssl-key = ""
insecure-skip-verify = false

[[scraper]]
enabled = false
name = "myscraper"
discoverer-id = ""
discoverer-service = ""
db = "prometheus_raw"
rp = "autogen"
type = "prometheus"
scheme = "http"
metrics-path = "/metrics"
scrape-interval = "1m0s"
scrape-timeout = "10s"
username = ""
password = ""
bearer-token = ""
ssl-ca = ""
ssl-cert = ""
ssl-key = ""
ssl-server-name = ""
insecure-skip-verify = false
blacklist = []

[[azure]]
enabled = false
id = "myazure"
port = 80
subscription-id = ""
tenant-id = ""
client-id = ""
client-secret = ""
refresh-interval = "5m0s"

[[consul]]
enabled = false
id = "myconsul"
address = "127.0.0.1:8500"
token = ""
datacenter = ""
tag-separator = ","
scheme = "http"
username = ""
password = ""
ssl-ca = ""
ssl-cert = ""
ssl-key = ""
ssl-server-name = ""
insecure-skip-verify = false
services = []

[[dns]]
enabled = false
id = "mydns"
refresh-interval = "30s"
type = "SRV"
port = 80
record-names = []

[[ec2]]
enabled = false
id = "myec2"
region = "us-east-1"
access-key = ""
secret-key = ""
profile = ""
refresh-interval = "1m0s"
port = 80

[[file-discovery]]
enabled = false
id = "myfile"
refresh-interval = "5m0s"
files = []

[[gce]]
enabled = false
id = "mygce"
project = ""
zone = ""
filter = ""
refresh-interval = "1m0s"
port = 80
tag-separator = ","

[[marathon]]
enabled = false
id = "mymarathon"
timeout = "30s"
refresh-interval = "30s"
bearer-token = ""
ssl-ca = ""
ssl-cert = ""
ssl-key = ""
ssl-server-name = ""
insecure-skip-verify = false
servers = []

[[nerve]]
enabled = false
id = "mynerve"
timeout = "10s"
servers = []
paths = []

[[serverset]]
enabled = false
id = "myserverset"
timeout = "10s"
servers = []
paths = []

[[static-discovery]]
enabled = false
id = "mystatic"
targets = ["localhost:9100"]
[static-discovery.labels]
region = "us-east-1"

[[triton]]
enabled = false
id = "mytriton"
account = ""
dns-suffix = ""
endpoint = ""
port = 9163
refresh-interval = "1m0s"
version = 1
ssl-ca = ""
ssl-cert = ""
ssl-key = ""
ssl-server-name = ""
insecure-skip-verify = false
"#;

/// The default element of a discovery section, as a one-element list.
pub fn default_tables(section: &str) -> Vec<Table> {
    // Parsed once: every decode of a configuration consults it for 14 sections.
    static ALL: std::sync::OnceLock<Table> = std::sync::OnceLock::new();
    let all = ALL.get_or_init(|| {
        DEFAULTS
            .parse()
            .expect("embedded discovery defaults are valid TOML")
    });
    match all.get(section) {
        Some(Value::Array(items)) => items.iter().filter_map(|v| v.as_table().cloned()).collect(),
        _ => Vec::new(),
    }
}

/// Checks user tables of `section` against its default element; errors name the key.
pub fn check_tables(section: &str, tables: &[Table]) -> Result<(), String> {
    let Some(schema) = default_tables(section).into_iter().next() else {
        return Ok(());
    };
    for (i, table) in tables.iter().enumerate() {
        for (key, value) in table {
            let Some(example) = schema.get(key) else {
                return Err(format!("[[{section}]] #{i}: unknown key `{key}`"));
            };
            if !same_kind(example, value) {
                return Err(format!(
                    "[[{section}]] #{i}: invalid {key}: expected {}, got {}",
                    example.type_str(),
                    value.type_str()
                ));
            }
            if (key.ends_with("interval") || key.ends_with("timeout"))
                && let Value::String(s) = value
            {
                crate::GoDuration::parse(s)
                    .map_err(|e| format!("[[{section}]] #{i}: invalid {key}: {e}"))?;
            }
        }
    }
    Ok(())
}

fn same_kind(example: &Value, value: &Value) -> bool {
    matches!(
        (example, value),
        (Value::String(_), Value::String(_))
            | (Value::Integer(_), Value::Integer(_))
            | (Value::Float(_), Value::Float(_) | Value::Integer(_))
            | (Value::Boolean(_), Value::Boolean(_))
            | (Value::Array(_), Value::Array(_))
            | (Value::Table(_), Value::Table(_))
    )
}
