//! The command line: `config`, `version`, `-config`/`--config`, `KAPACITOR_CONFIG_PATH`,
//! flags, and configuration errors.

use kapacitor_tests::{Daemon, DaemonOpts, run_kapacitord};

#[test]
fn printed_config_loads_back_through_config_flag() {
    let printed = run_kapacitord(&["config"], &[]);
    assert!(
        printed.status.success(),
        "{}",
        String::from_utf8_lossy(&printed.stderr)
    );
    let text = String::from_utf8(printed.stdout).unwrap();
    assert!(
        text.contains("[http]") && text.contains("bind-address"),
        "{text}"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("printed.conf");
    std::fs::write(&path, &text).unwrap();
    for flag in ["-config", "--config"] {
        let again = run_kapacitord(&["config", flag, path.to_str().unwrap()], &[]);
        assert!(
            again.status.success(),
            "{}",
            String::from_utf8_lossy(&again.stderr)
        );
        assert_eq!(String::from_utf8(again.stdout).unwrap(), text);
    }
}

#[test]
fn unknown_key_fails_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.conf");
    std::fs::write(&path, "[http]\nbind-adress = \":9092\"\n").unwrap();
    let path = path.to_str().unwrap();
    for args in [vec!["-config", path], vec!["config", "-config", path]] {
        let out = run_kapacitord(&args, &[]);
        assert!(!out.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("bind-adress"), "{args:?}: {stderr}");
    }
}

#[test]
fn version_command() {
    let out = run_kapacitord(&["version"], &[]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(env!("CARGO_PKG_VERSION")), "{stdout}");
}

#[test]
fn unknown_flag_is_refused() {
    let out = run_kapacitord(&["-no-such-flag"], &[]);
    assert!(!out.status.success());
    assert!(!out.stderr.is_empty());
}

#[test]
fn hostname_flag_overrides_the_file() {
    let d = Daemon::start(DaemonOpts {
        args: vec!["-hostname".into(), "flag-host".into()],
        ..DaemonOpts::default()
    });
    assert_eq!(
        d.get("/kapacitor/v1/debug/vars").json()["host"],
        "flag-host"
    );
}

#[test]
fn config_path_from_the_environment() {
    // Start once to get a written config, then start a second daemon from the same file
    // through KAPACITOR_CONFIG_PATH only.
    let mut first = Daemon::start(DaemonOpts::default());
    let config = std::fs::read_to_string(first.config_path()).unwrap();
    let port = first.port();
    assert!(first.stop().is_some_and(|s| s.success()));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("env.conf");
    std::fs::write(&path, &config).unwrap();
    let mut child = std::process::Command::new(kapacitor_tests::kapacitord_bin())
        .env("KAPACITOR_CONFIG_PATH", &path)
        .env_remove("KAPACITORD_TEST_TASKS")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/kapacitor/v1/ping");
    let answered =
        kapacitor_tests::eventually(kapacitor_tests::EVENTUALLY, "ping via env config", || {
            kapacitor_tests::http::get(&url)
                .ok()
                .filter(|r| r.status == 204)
        });
    assert_eq!(answered.status, 204);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(child.wait().unwrap().success());
}
