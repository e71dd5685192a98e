//! `kapacitorctl member list|add|remove`, rendered exactly like Kapacitor Enterprise:
//!
//! ```text
//! State: initialized
//! Cluster ID: 876ddfb4-1879-4f40-87e2-4080c04d3096
//! Local Member ID: f74f3547-efaf-4e6e-8b05-fb12b19f8287
//! Member ID                               Gossip Address RPC Address    API Address    Roles  Status
//! f74f3547-efaf-4e6e-8b05-fb12b19f8287    serverA:9090   serverA:9091   serverA:9092   worker alive
//! ```

use super::api::Api;
use serde_json::{Value, json};

pub const MEMBERS_PATH: &str = "/cluster/members";

/// Widths of the documented layout; a longer cell widens its column so columns never touch.
const MIN_WIDTHS: [usize; 5] = [40, 15, 15, 15, 7];
const HEADERS: [&str; 6] = [
    "Member ID",
    "Gossip Address",
    "RPC Address",
    "API Address",
    "Roles",
    "Status",
];

/// Renders the `member list` output from the API's JSON.
pub fn render_list(v: &Value) -> String {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let mut out = format!(
        "State: {}\nCluster ID: {}\nLocal Member ID: {}\n",
        s(&v["state"]),
        s(&v["cluster_id"]),
        s(&v["local_member_id"])
    );
    let rows: Vec<[String; 6]> = v["members"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|m| {
            let roles = m["roles"]
                .as_array()
                .map(|r| r.iter().map(s).collect::<Vec<_>>().join(","))
                .unwrap_or_default();
            [
                s(&m["id"]),
                s(&m["gossip_address"]),
                s(&m["rpc_address"]),
                s(&m["api_address"]),
                roles,
                s(&m["status"]),
            ]
        })
        .collect();
    let mut widths = MIN_WIDTHS;
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count() + 1);
        }
    }
    let line = |cells: [&str; 6]| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i < widths.len() {
                l.push_str(&format!("{c:<w$}", w = widths[i]));
            } else {
                l.push_str(c);
            }
        }
        l.trim_end().to_string() + "\n"
    };
    out.push_str(&line(HEADERS));
    for r in &rows {
        out.push_str(&line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]]));
    }
    out
}

pub fn list(api: &Api) -> Result<String, String> {
    api.json("GET", MEMBERS_PATH, None).map(|v| render_list(&v))
}

pub fn add(api: &Api, rpc_address: &str) -> Result<(), String> {
    api.call(
        "POST",
        MEMBERS_PATH,
        Some(&json!({ "rpc_address": rpc_address })),
    )
    .map(|_| ())
}

pub fn remove(api: &Api, member_id: &str) -> Result<(), String> {
    let path = format!(
        "{MEMBERS_PATH}/{}",
        crate::client::encode_segment(member_id)
    );
    api.call("DELETE", &path, None).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_matches_the_documented_layout() {
        let v = json!({
            "state": "initialized",
            "cluster_id": "876ddfb4-1879-4f40-87e2-4080c04d3096",
            "local_member_id": "f74f3547-efaf-4e6e-8b05-fb12b19f8287",
            "members": [
                {"id": "f74f3547-efaf-4e6e-8b05-fb12b19f8287", "gossip_address": "serverA:9090",
                 "rpc_address": "serverA:9091", "api_address": "serverA:9092", "roles": ["worker"], "status": "alive"},
                {"id": "13eeefdd-41b5-453f-928e-cb9c55fd2a5d", "gossip_address": "serverB:9090",
                 "rpc_address": "serverB:9091", "api_address": "serverB:9092", "roles": ["worker"], "status": "alive"}
            ]
        });
        let want = "State: initialized
Cluster ID: 876ddfb4-1879-4f40-87e2-4080c04d3096
Local Member ID: f74f3547-efaf-4e6e-8b05-fb12b19f8287
Member ID                               Gossip Address RPC Address    API Address    Roles  Status
f74f3547-efaf-4e6e-8b05-fb12b19f8287    serverA:9090   serverA:9091   serverA:9092   worker alive
13eeefdd-41b5-453f-928e-cb9c55fd2a5d    serverB:9090   serverB:9091   serverB:9092   worker alive
";
        assert_eq!(render_list(&v), want);
    }

    #[test]
    fn long_addresses_widen_their_column() {
        let v = json!({
            "state": "uninitialized", "cluster_id": "c", "local_member_id": "m",
            "members": [{"id": "m", "gossip_address": "127.0.0.1:49152", "rpc_address": "r",
                         "api_address": "a", "roles": ["worker"], "status": "suspect"}]
        });
        let out = render_list(&v);
        let row = out.lines().last().unwrap();
        assert!(row.contains("127.0.0.1:49152 r"), "{row:?}");
        assert!(row.ends_with("worker suspect"), "{row:?}");
    }
}
