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
    let d = Daemon::start(DaemonOpts {
        config_via_env: true,
        args: vec!["-hostname".into(), "from-env-config".into()],
        ..DaemonOpts::default()
    });
    // The port in the file was used: the harness reached ping on it.
    assert_eq!(d.get("/kapacitor/v1/ping").status, 204);
    assert_eq!(
        d.get("/kapacitor/v1/debug/vars").json()["host"],
        "from-env-config"
    );
    assert!(
        d.log().contains(&d.config_path().display().to_string()),
        "{}",
        d.log()
    );
}
