//! The real `kapacitor` and `kapacitorctl` binaries: exit codes and streams, with no server
//! (port 1 on loopback refuses connections at once).

use std::process::Command;

fn kapacitor(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kapacitor"))
        .args(args)
        .env("KAPACITOR_URL", "http://127.0.0.1:1")
        .env_remove("KAPACITOR_UNSAFE_SSL")
        .output()
        .expect("run kapacitor")
}

#[test]
fn exit_codes_of_the_binary() {
    let out = kapacitor(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("Error: Must pass a command."));

    let out = kapacitor(&["define"]);
    assert_eq!(out.status.code(), Some(2));

    let out = kapacitor(&["list", "tasks"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .starts_with("Error: Get \"http://127.0.0.1:1/kapacitor/v1/tasks\"")
    );

    let out = kapacitor(&["-url", "localhost:9092", "list", "tasks"]);
    assert_eq!(out.status.code(), Some(4));
}

#[test]
fn version_prints_to_stdout() {
    let out = kapacitor(&["version"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Kapacitor "));
}

#[test]
fn kapacitorctl_prints_usage() {
    let out = Command::new(env!("CARGO_BIN_EXE_kapacitorctl"))
        .output()
        .expect("run kapacitorctl");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Usage: kapacitorctl"));
}
