//! `sideload()`: adds fields and tags looked up in files, as Kapacitor's sideload node does.
//!
//! `.source('file:///abs/dir')` names a directory whose `.json`, `.yml` and `.yaml` files are
//! read once when the task starts (and again on `POST /kapacitor/v1/sideload/reload`), each a
//! map of key → value, cached by path relative to the directory. For every point the
//! `.order(...)` templates are rendered with its tags (`host/{{.host}}.yml`) and each
//! `.field(key, default)` / `.tag(key, default)` takes the value of the first file in that
//! order that has the key, converted to the default's type (Kapacitor's `convertType`), or the
//! default. A value that cannot be converted is logged and the default used.
//!
//! Reading a source never blocks and never takes unbounded memory: every entry is checked
//! with `stat` before it is opened, and a FIFO, socket or device, or a values file larger than
//! [`MAX_VALUES_FILE`], fails the task (or the reload) with an error naming the file. Files
//! are opened with `O_NONBLOCK` and checked again on the open descriptor, so one replaced by a
//! FIFO in between cannot block either; only `.json`/`.yml`/`.yaml` files are read at all
//! (Kapacitor read every file and ignored the others' contents). Symlinked directories are
//! followed once each (a loop is not walked forever).

use super::NodeImpl;
use crate::engine::msg::Msg;
use crate::engine::props::NodeSpec;
use crate::engine::{Cx, EngineError};
use gotmpl::{Map, Template};
use kapacitor_models::{FieldValue, Point};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use tickscript::pipeline::Arg;

/// The files of a source directory: relative path → key → value.
type Cache = HashMap<String, HashMap<String, Value>>;

pub struct Sideload {
    dir: PathBuf,
    cache: Cache,
    order: Vec<(String, Template)>,
    fields: Vec<(String, FieldValue)>,
    tags: Vec<(String, String)>,
    /// Rendered order paths, reused per point.
    paths: Vec<String>,
}

impl Sideload {
    pub fn new(spec: &NodeSpec) -> Result<Self, EngineError> {
        let source = spec
            .prop_str("source")?
            .ok_or_else(|| spec.err("sideload needs a .source()"))?;
        let dir = source_dir(&source).map_err(|e| spec.err(e))?;
        let cache = read_dir(&dir).map_err(|e| spec.err(e))?;
        let mut order = Vec::new();
        for p in spec.props("order") {
            for raw in spec.strs(&p.args, ".order()")? {
                let t = Template::parse("order", &raw)
                    .map_err(|e| spec.err(format!("invalid order template {raw:?}: {e}")))?;
                order.push((raw, t));
            }
        }
        let mut fields = Vec::new();
        for p in spec.props("field") {
            match p.args.as_slice() {
                [Arg::Str(k), v] => match super::basic::arg_field(v) {
                    Some(d) => fields.push((k.clone(), d)),
                    None => {
                        return Err(spec.err(".field() default must be a number, string or bool"));
                    }
                },
                _ => return Err(spec.err(".field() takes a key and a default value")),
            }
        }
        let mut tags = Vec::new();
        for p in spec.props("tag") {
            match p.args.as_slice() {
                [Arg::Str(k), Arg::Str(d)] => tags.push((k.clone(), d.clone())),
                _ => return Err(spec.err(".tag() takes a key and a default string")),
            }
        }
        Ok(Sideload {
            dir,
            cache,
            paths: Vec::with_capacity(order.len()),
            order,
            fields,
            tags,
        })
    }

    /// Reads the source directory again (`POST /sideload/reload`); on an error the old cache
    /// stays and the error is returned.
    pub fn reload(&mut self) -> Result<(), String> {
        self.cache = read_dir(&self.dir)?;
        Ok(())
    }

    fn lookup(&self, key: &str) -> Option<&Value> {
        self.paths
            .iter()
            .filter_map(|p| self.cache.get(p))
            .find_map(|values| values.get(key))
    }

    fn apply(&mut self, p: &mut Point, cx: &mut Cx) {
        let data = gotmpl::Value::Map(Map::strings(
            p.tags.iter().map(|(k, v)| (k.clone(), v.clone())),
        ));
        self.paths.clear();
        for (raw, t) in &self.order {
            match t.execute(&data) {
                Ok(path) => self.paths.push(path),
                Err(e) => {
                    cx.error(format!("failed to evaluate order template {raw:?}: {e}"));
                    return;
                }
            }
        }
        for (key, dflt) in &self.fields {
            let v = match self.lookup(key) {
                None => dflt.clone(),
                Some(v) => convert(v, dflt).unwrap_or_else(|e| {
                    cx.error(format!("failed to load key {key:?}: {e}"));
                    dflt.clone()
                }),
            };
            p.fields.insert(key.clone(), v);
        }
        for (key, dflt) in &self.tags {
            let v = match self.lookup(key) {
                None => dflt.clone(),
                Some(v) => match convert(v, &FieldValue::Str(String::new())) {
                    Ok(FieldValue::Str(s)) => s,
                    _ => {
                        cx.error(format!("failed to load key {key:?}: not a string"));
                        dflt.clone()
                    }
                },
            };
            p.tags.insert(key.clone(), v);
        }
    }
}

impl NodeImpl for Sideload {
    fn on_msg(&mut self, _port: usize, msg: Msg, cx: &mut Cx) {
        match msg {
            Msg::Point(mut pm) => {
                self.apply(&mut pm.p, cx);
                cx.emit(Msg::Point(pm));
            }
            Msg::Batch(mut bm) => {
                for p in bm.b.points.iter_mut() {
                    self.apply(p, cx);
                }
                cx.emit(Msg::Batch(bm));
            }
            other => cx.emit(other),
        }
    }

    fn reload_sideload(&mut self) -> Option<Result<(), String>> {
        Some(self.reload())
    }
}

/// The directory of a `file://` source; Kapacitor refuses relative paths and other schemes
/// (http sources are not supported here).
fn source_dir(source: &str) -> Result<PathBuf, String> {
    let Some(path) = source.strip_prefix("file://") else {
        return Err(format!(
            "unsupported source scheme in {source:?}, must be 'file' (http sources are not supported)"
        ));
    };
    let path = Path::new(path);
    if !path.is_absolute() {
        return Err(format!(
            "sideload source path must be absolute {:?}",
            path.display().to_string()
        ));
    }
    Ok(path.to_path_buf())
}

/// Largest values file read: a file is parsed whole in memory (a parsed JSON or YAML map takes
/// a few times its size), so a bigger one fails the task instead.
pub const MAX_VALUES_FILE: u64 = 64 * 1024 * 1024;

/// Every file under `dir`, by path relative to it: `.json` and `.yml`/`.yaml` parsed as a
/// map, other files as empty maps (as Kapacitor).
fn read_dir(dir: &Path) -> Result<Cache, String> {
    let mut cache = Cache::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut walked: HashSet<(u64, u64)> = HashSet::new();
    while let Some(d) = stack.pop() {
        let failed = |e: std::io::Error| {
            format!(
                "failed to update sideload cache for source file {:?}: {e}",
                dir.display().to_string()
            )
        };
        let meta = std::fs::metadata(&d).map_err(failed)?;
        if !walked.insert((meta.dev(), meta.ino())) {
            continue;
        }
        for entry in std::fs::read_dir(&d).map_err(failed)? {
            let path = entry.map_err(|e| e.to_string())?.path();
            // `stat` (following symlinks) never opens the file.
            let meta = std::fs::metadata(&path).map_err(|e| {
                format!(
                    "failed to read values file {:?}: {e}",
                    path.display().to_string()
                )
            })?;
            if meta.is_dir() {
                stack.push(path);
                continue;
            }
            check_values_file(&path, &meta)?;
            let rel = path
                .strip_prefix(dir)
                .map_err(|e| e.to_string())?
                .to_string_lossy()
                .into_owned();
            cache.insert(rel, read_values(&path)?);
        }
    }
    Ok(cache)
}

/// A regular file no larger than [`MAX_VALUES_FILE`], or an error naming it.
fn check_values_file(path: &Path, meta: &std::fs::Metadata) -> Result<(), String> {
    let ft = meta.file_type();
    let kind = if ft.is_file() {
        None
    } else if ft.is_fifo() {
        Some("a FIFO")
    } else if ft.is_socket() {
        Some("a socket")
    } else if ft.is_block_device() {
        Some("a block device")
    } else if ft.is_char_device() {
        Some("a character device")
    } else {
        Some("not a regular file")
    };
    if let Some(kind) = kind {
        return Err(format!(
            "sideload source file {:?} is {kind}: only regular files can be read",
            path.display().to_string()
        ));
    }
    if meta.len() > MAX_VALUES_FILE {
        return Err(format!(
            "sideload source file {:?} is {} bytes, more than the {MAX_VALUES_FILE} bytes a \
             values file may have",
            path.display().to_string(),
            meta.len()
        ));
    }
    Ok(())
}

fn read_values(path: &Path) -> Result<HashMap<String, Value>, String> {
    let show = || path.display().to_string();
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if !matches!(ext, "json" | "yml" | "yaml") {
        return Ok(HashMap::new());
    }
    let read_failed = |e: std::io::Error| format!("failed to read values file {:?}: {e}", show());
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(read_failed)?;
    // Checked again on what was opened: the path may have been replaced since the stat.
    check_values_file(path, &file.metadata().map_err(read_failed)?)?;
    let mut text = String::new();
    file.take(MAX_VALUES_FILE + 1)
        .read_to_string(&mut text)
        .map_err(read_failed)?;
    if text.len() as u64 > MAX_VALUES_FILE {
        return Err(format!(
            "sideload source file {:?} grew past the {MAX_VALUES_FILE} bytes a values file may \
             have while it was read",
            show()
        ));
    }
    let values: HashMap<String, Value> = match ext {
        "json" => serde_json::from_str(&text)
            .map_err(|e| format!("failed to unmarshal json values {:?}: {e}", show()))?,
        _ => {
            let y: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text)
                .map_err(|e| format!("failed to unmarshal yaml values {:?}: {e}", show()))?;
            serde_json::to_value(y)
                .ok()
                .and_then(|v| serde_json::from_value(v).ok())
                .ok_or_else(|| format!("failed to unmarshal yaml values {:?}: not a map", show()))?
        }
    };
    Ok(values)
}

/// Kapacitor's `convertType`: the file's value as the default's type.
fn convert(v: &Value, dflt: &FieldValue) -> Result<FieldValue, String> {
    let fail = || format!("cannot convert value {v} to the type of {dflt:?}");
    Ok(match dflt {
        FieldValue::Int(_) => match v {
            Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => FieldValue::Int(i),
                (None, Some(f)) if f.fract() == 0.0 => FieldValue::Int(f as i64),
                _ => return Err(fail()),
            },
            Value::String(s) => FieldValue::Int(s.parse().map_err(|_| fail())?),
            _ => return Err(fail()),
        },
        FieldValue::Float(_) => match v {
            Value::Number(n) => FieldValue::Float(n.as_f64().ok_or_else(fail)?),
            Value::String(s) => FieldValue::Float(s.parse().map_err(|_| fail())?),
            _ => return Err(fail()),
        },
        FieldValue::Bool(_) => match v {
            Value::Bool(b) => FieldValue::Bool(*b),
            Value::String(s) => FieldValue::Bool(parse_go_bool(s).ok_or_else(fail)?),
            _ => return Err(fail()),
        },
        FieldValue::Str(_) => FieldValue::Str(match v {
            Value::String(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => match n.as_i64() {
                Some(i) => i.to_string(),
                None => kapacitor_models::go_json::go_json_float(n.as_f64().unwrap_or(0.0)),
            },
            _ => return Err(fail()),
        }),
    })
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_convert_to_the_defaults_type_as_kapacitor() {
        let int = FieldValue::Int(0);
        assert_eq!(
            convert(&serde_json::json!(3.0), &int),
            Ok(FieldValue::Int(3))
        );
        assert!(convert(&serde_json::json!(3.5), &int).is_err());
        assert_eq!(
            convert(&serde_json::json!("7"), &int),
            Ok(FieldValue::Int(7))
        );
        let float = FieldValue::Float(0.0);
        assert_eq!(
            convert(&serde_json::json!(2), &float),
            Ok(FieldValue::Float(2.0))
        );
        let s = FieldValue::Str(String::new());
        assert_eq!(
            convert(&serde_json::json!(2.5), &s),
            Ok(FieldValue::Str("2.5".into()))
        );
        assert_eq!(
            convert(&serde_json::json!(true), &s),
            Ok(FieldValue::Str("true".into()))
        );
        let b = FieldValue::Bool(false);
        assert_eq!(
            convert(&serde_json::json!("T"), &b),
            Ok(FieldValue::Bool(true))
        );
        assert!(convert(&serde_json::json!(1), &b).is_err());
    }

    #[test]
    fn sources_must_be_absolute_file_urls() {
        assert!(source_dir("file:///tmp/x").is_ok());
        assert!(source_dir("file://rel/x").unwrap_err().contains("absolute"));
        assert!(source_dir("http://h/x").unwrap_err().contains("scheme"));
    }

    #[test]
    fn a_directory_is_cached_by_relative_path_json_and_yaml() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("host")).unwrap();
        std::fs::write(
            dir.path().join("host/a.yml"),
            "threshold: 80\nlevel: high\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("default.json"), r#"{"threshold": 90.5}"#).unwrap();
        std::fs::write(dir.path().join("README"), "not values").unwrap();
        let c = read_dir(dir.path()).unwrap();
        assert_eq!(c["host/a.yml"]["threshold"], serde_json::json!(80));
        assert_eq!(c["host/a.yml"]["level"], serde_json::json!("high"));
        assert_eq!(c["default.json"]["threshold"], serde_json::json!(90.5));
        assert!(c["README"].is_empty());
        std::fs::write(dir.path().join("bad.json"), "{").unwrap();
        assert!(read_dir(dir.path()).unwrap_err().contains("bad.json"));
    }

    #[test]
    fn fifos_sockets_devices_and_huge_files_fail_naming_the_file_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ok.json"), r#"{"a": 1}"#).unwrap();
        // A symlink loop is walked once.
        std::os::unix::fs::symlink(dir.path(), dir.path().join("loop")).unwrap();
        assert_eq!(read_dir(dir.path()).unwrap()["ok.json"]["a"], 1);

        let fifo = dir.path().join("values.json");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo reads the NUL-terminated path it is given.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read_dir(dir.path()).unwrap_err();
        assert!(e.contains("values.json") && e.contains("is a FIFO"), "{e}");
        std::fs::remove_file(&fifo).unwrap();

        std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.yml")).unwrap();
        let e = read_dir(dir.path()).unwrap_err();
        assert!(
            e.contains("zero.yml") && e.contains("a character device"),
            "{e}"
        );
        std::fs::remove_file(dir.path().join("zero.yml")).unwrap();

        let sock = dir.path().join("s.json");
        let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let e = read_dir(dir.path()).unwrap_err();
        assert!(e.contains("s.json") && e.contains("a socket"), "{e}");
        std::fs::remove_file(&sock).unwrap();

        let big = std::fs::File::create(dir.path().join("big.json")).unwrap();
        big.set_len(MAX_VALUES_FILE + 1).unwrap();
        let e = read_dir(dir.path()).unwrap_err();
        assert!(
            e.contains("big.json") && e.contains("more than the 67108864 bytes"),
            "{e}"
        );
    }
}
