//! Every valid script of the corpus (the conformance cases, Kapacitor's getting-started
//! scripts and hand-written scripts covering the whole grammar) parses, compiles, and
//! formats idempotently to a program equal to the original.

use std::fs;
use std::path::{Path, PathBuf};

use tickscript::Vars;

fn corpus(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(dir);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tick"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no scripts in {}", dir.display());
    files
}

fn vars_for(script: &Path) -> Vars {
    let path = script.with_extension("vars.json");
    match fs::read_to_string(&path) {
        Ok(s) => serde_json::from_str(&s).unwrap(),
        Err(_) => Vars::default(),
    }
}

#[test]
fn valid_scripts_parse_compile_and_format_idempotently() {
    let mut failures = Vec::new();
    for path in corpus("valid") {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let src = fs::read_to_string(&path).unwrap();
        let vars = vars_for(&path);
        let program = match tickscript::parse(&src) {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{name}: parse: {e}"));
                continue;
            }
        };
        let pipeline = match tickscript::compile(&src, &vars) {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{name}: compile: {e}"));
                continue;
            }
        };
        let formatted = match tickscript::format(&src) {
            Ok(f) => f,
            Err(e) => {
                failures.push(format!("{name}: format: {e}"));
                continue;
            }
        };
        let again = tickscript::format(&formatted).unwrap();
        if again != formatted {
            failures.push(format!(
                "{name}: not idempotent:\n{formatted}\n---\n{again}"
            ));
        }
        let reparsed = tickscript::parse(&formatted).unwrap();
        if reparsed.normalized() != program.normalized() {
            failures.push(format!(
                "{name}: formatting changed the program:\n{formatted}"
            ));
        }
        let recompiled = tickscript::compile(&formatted, &vars).unwrap();
        if recompiled.dot(&name) != pipeline.dot(&name)
            || recompiled.nodes.len() != pipeline.nodes.len()
        {
            failures.push(format!("{name}: formatting changed the pipeline"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
