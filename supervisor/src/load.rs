//! The `[load]` directory: definitions kept as files (Kapacitor's `services/load`).
//!
//! At start and on every SIGHUP the supervisor reads `<dir>/templates/*.tick`, then
//! `<dir>/tasks/*.tick`, then `<dir>/tasks/*.yaml|yml|json` (templated tasks, or vars for the
//! `.tick` of the same name), then `<dir>/handlers/*.yaml|yml|json`, and sends each file to
//! apid (`LoadItem`), which defines it through its own HTTP API: apid validates scripts (the
//! supervisor never parses TICKscript) and owns the topic handlers. Loaded tasks are enabled.
//!
//! What each file defined is kept in the store (`load-items`, keyed by the file's path in the
//! directory), so that a definition whose file was removed is deleted (`LoadItemRemove`).
//! A file that is present but fails to load keeps its previous definition. Errors name the
//! file (and apid's message the line:column) and never stop the daemon.

use crate::keeper::SupCtx;
use kapacitor_ipc::{LoadKind, Message, Peer};
use kapacitor_store::{Namespace, Op, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tracing::{error, info, warn};

/// How long one file may take in apid (creating an enabled task waits for its worker).
const ITEM_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a load waits for apid to be up.
const APID_WAIT: Duration = Duration::from_secs(60);

/// One file of the directory.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadFile {
    /// The path inside the directory (`tasks/cpu.tick`): the store key.
    pub rel: String,
    pub path: PathBuf,
    pub kind: LoadKind,
    /// The base name without the extension.
    pub id: String,
    /// `tick`, `yaml` or `json`.
    pub format: &'static str,
}

/// What a file defined, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadRecord {
    /// `template`, `task`, `task-vars` or `handler`.
    pub kind: String,
    /// The task or template id, or `<topic>/<handler id>`.
    pub key: String,
}

fn kind_name(k: LoadKind) -> &'static str {
    match k {
        LoadKind::Template => "template",
        LoadKind::Task => "task",
        LoadKind::TaskVars => "task-vars",
        LoadKind::Handler => "handler",
    }
}

fn kind_from(name: &str) -> Option<LoadKind> {
    Some(match name {
        "template" => LoadKind::Template,
        "task" => LoadKind::Task,
        "task-vars" => LoadKind::TaskVars,
        "handler" => LoadKind::Handler,
        _ => return None,
    })
}

/// A `.tick` and a vars file of the same name define the same task.
fn entity(kind: &str, key: &str) -> (String, String) {
    let family = if kind == "task-vars" { "task" } else { kind };
    (family.to_string(), key.to_string())
}

/// Removal order: tasks before the templates they use.
fn removal_rank(kind: &str) -> u8 {
    match kind {
        "task" | "task-vars" => 0,
        "template" => 1,
        _ => 2,
    }
}

/// The files of `dir` in load order. A missing subdirectory is empty; other read errors are
/// returned.
pub fn scan(dir: &Path) -> Result<Vec<LoadFile>, String> {
    let mut out = Vec::new();
    let groups: [(&str, &[&str], bool); 4] = [
        ("templates", &["tick"], false),
        ("tasks", &["tick"], false),
        ("tasks", &["yaml", "yml", "json"], true),
        ("handlers", &["yaml", "yml", "json"], true),
    ];
    for (i, (sub, exts, _)) in groups.iter().enumerate() {
        let d = dir.join(sub);
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("{}: {e}", d.display())),
        };
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| format!("{}: {e}", d.display()))?;
            let path = entry.path();
            if path.is_dir() {
                continue;
            }
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                warn!(path = %path.display(), "load: file name is not UTF-8; skipped");
                continue;
            };
            let Some((id, ext)) = name.rsplit_once('.') else {
                continue;
            };
            if !exts.contains(&ext) || id.is_empty() {
                continue;
            }
            let kind = match i {
                0 => LoadKind::Template,
                1 => LoadKind::Task,
                2 => LoadKind::TaskVars,
                _ => LoadKind::Handler,
            };
            files.push(LoadFile {
                rel: format!("{sub}/{name}"),
                path: path.clone(),
                kind,
                id: id.to_string(),
                format: match ext {
                    "tick" => "tick",
                    "json" => "json",
                    _ => "yaml",
                },
            });
        }
        files.sort_by(|a, b| a.rel.cmp(&b.rel));
        out.extend(files);
    }
    Ok(out)
}

/// The outcome of one load, for the log and tests.
#[derive(Debug, Default, PartialEq)]
pub struct Report {
    pub loaded: usize,
    pub failed: usize,
    pub removed: usize,
}

/// Starts a load of the `[load]` directory on its own task (at start and on SIGHUP). Loads
/// run one at a time; a SIGHUP during a load queues another one after it.
pub fn start(ctx: Arc<SupCtx>, why: &'static str) {
    let cfg = ctx.config.effective();
    if !cfg.load.enabled {
        if why == "SIGHUP" {
            info!("SIGHUP received; [load] is not enabled, nothing to reload");
        }
        return;
    }
    static ONE_AT_A_TIME: OnceLock<tokio::sync::Mutex<()>> = OnceLock::new();
    tokio::spawn(async move {
        let _one = ONE_AT_A_TIME
            .get_or_init(|| tokio::sync::Mutex::new(()))
            .lock()
            .await;
        let dir = cfg.load.dir.clone();
        info!(dir = %dir.display(), trigger = why, "loading the [load] directory");
        let Some(apid) = wait_for_apid(&ctx).await else {
            error!("load: apid is not up; the [load] directory was not loaded");
            return;
        };
        match load_dir(&ctx, &apid, &dir).await {
            Ok(r) => info!(
                dir = %dir.display(),
                loaded = r.loaded,
                failed = r.failed,
                removed = r.removed,
                "[load] directory loaded"
            ),
            Err(e) => {
                error!(dir = %dir.display(), error = %e, "load: the [load] directory was not loaded")
            }
        }
    });
}

async fn wait_for_apid(ctx: &SupCtx) -> Option<Peer> {
    let until = tokio::time::Instant::now() + APID_WAIT;
    loop {
        if let Some(p) = ctx.apid_peer() {
            return Some(p);
        }
        if tokio::time::Instant::now() >= until {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn load_dir(ctx: &SupCtx, apid: &Peer, dir: &Path) -> Result<Report, String> {
    if !dir.is_dir() {
        // An unmounted or mistyped directory must not delete every loaded definition.
        return Err(format!(
            "{} is not a directory; nothing loaded or removed",
            dir.display()
        ));
    }
    let files = scan(dir)?;
    let previous: BTreeMap<String, LoadRecord> = ctx
        .store
        .call(|s| s.list_each::<LoadRecord>(Namespace::LoadItems))
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter_map(|(k, r)| match r {
            Ok(r) => Some((k, r)),
            Err(e) => {
                warn!(item = %k, error = %e, "load: stored load item is unreadable; ignored");
                None
            }
        })
        .collect();
    let mut report = Report::default();
    let mut current: BTreeMap<String, LoadRecord> = BTreeMap::new();
    let mut stale: Vec<LoadRecord> = Vec::new();
    for f in &files {
        match load_file(apid, f).await {
            Ok(key) => {
                report.loaded += 1;
                let rec = LoadRecord {
                    kind: kind_name(f.kind).into(),
                    key,
                };
                if let Some(old) = previous.get(&f.rel).filter(|old| **old != rec) {
                    stale.push(old.clone());
                }
                current.insert(f.rel.clone(), rec);
            }
            Err(e) => {
                report.failed += 1;
                error!(file = %f.path.display(), error = %e, "load: file not loaded");
                if let Some(old) = previous.get(&f.rel) {
                    current.insert(f.rel.clone(), old.clone());
                }
            }
        }
    }
    for (rel, old) in &previous {
        if !current.contains_key(rel) {
            stale.push(old.clone());
        }
    }
    stale.sort_by_key(|r| removal_rank(&r.kind));
    for old in stale {
        let defined = entity(&old.kind, &old.key);
        if current.values().any(|r| entity(&r.kind, &r.key) == defined) {
            continue;
        }
        let Some(kind) = kind_from(&old.kind) else {
            continue;
        };
        let msg = Message::LoadItemRemove {
            kind,
            key: old.key.clone(),
        };
        match apid.request_timeout(msg, ITEM_TIMEOUT).await {
            Ok(Message::Done) => {
                report.removed += 1;
                info!(kind = %old.kind, id = %old.key, "load: its file is gone; deleted");
            }
            Ok(Message::Error { message }) => {
                error!(kind = %old.kind, id = %old.key, error = %message, "load: cannot delete")
            }
            Ok(other) => {
                error!(kind = %old.kind, id = %old.key, answer = other.name(), "load: unexpected answer")
            }
            Err(e) => {
                error!(kind = %old.kind, id = %old.key, error = %e, "load: apid did not answer")
            }
        }
    }
    save(ctx, &previous, &current)
        .await
        .map_err(|e| e.to_string())?;
    Ok(report)
}

async fn load_file(apid: &Peer, f: &LoadFile) -> Result<String, String> {
    let text = std::fs::read_to_string(&f.path).map_err(|e| format!("cannot read: {e}"))?;
    let msg = Message::LoadItem {
        kind: f.kind,
        id: f.id.clone(),
        format: f.format.to_string(),
        text,
    };
    match apid.request_timeout(msg, ITEM_TIMEOUT).await {
        Ok(Message::LoadItemDone { key }) => Ok(key),
        Ok(Message::Rejected { message }) | Ok(Message::Error { message }) => Err(message),
        Ok(other) => Err(format!("unexpected answer from apid: {}", other.name())),
        Err(e) => Err(format!("apid did not answer: {e}")),
    }
}

/// Replaces the stored load items with `current` in one transaction.
async fn save(
    ctx: &SupCtx,
    previous: &BTreeMap<String, LoadRecord>,
    current: &BTreeMap<String, LoadRecord>,
) -> Result<(), StoreError> {
    let mut ops = Vec::new();
    for rel in previous.keys() {
        if !current.contains_key(rel) {
            ops.push(Op::Delete(Namespace::LoadItems, rel.clone()));
        }
    }
    for (rel, rec) in current {
        if previous.get(rel) != Some(rec) {
            ops.push(Op::put(Namespace::LoadItems, rel, rec)?);
        }
    }
    if ops.is_empty() {
        return Ok(());
    }
    ctx.store.call(move |s| s.apply(&ops)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_orders_templates_tasks_vars_handlers() {
        let d = tempfile::tempdir().unwrap();
        for (p, text) in [
            ("tasks/b.tick", ""),
            ("tasks/a.tick", ""),
            ("tasks/a.yaml", ""),
            ("tasks/notes.txt", ""),
            ("templates/t.tick", ""),
            ("handlers/h.json", ""),
            ("handlers/g.yml", ""),
        ] {
            let path = d.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let files = scan(d.path()).unwrap();
        let rels: Vec<&str> = files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(
            rels,
            [
                "templates/t.tick",
                "tasks/a.tick",
                "tasks/b.tick",
                "tasks/a.yaml",
                "handlers/g.yml",
                "handlers/h.json"
            ]
        );
        assert_eq!(files[3].kind, LoadKind::TaskVars);
        assert_eq!(files[3].id, "a");
        assert_eq!(files[4].format, "yaml");
        assert_eq!(files[5].format, "json");
        let none = scan(&d.path().join("missing")).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn a_tick_and_its_vars_are_one_task() {
        assert_eq!(entity("task-vars", "a"), entity("task", "a"));
        assert_ne!(entity("template", "a"), entity("task", "a"));
        assert!(removal_rank("task") < removal_rank("template"));
    }
}
