//! Kinds that talk to files, processes and raw sockets: log, tcp, exec, sensu, smtp, mqtt.

mod common;

use common::*;
use kapacitor_alert::{HandlerSpec, Level};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

#[tokio::test]
async fn log_appends_json_lines_with_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.log");
    let (svc, _) = service(&config(""));
    let o = json!({"path": path.to_str().unwrap(), "mode": 0o640});
    svc.register_handler(HandlerSpec::new("cpu", "log", "log", opts(o)))
        .unwrap();
    svc.publish(event("cpu", Level::Critical));
    svc.publish(event("cpu", Level::Critical));
    wait_until(|| svc.stats().handlers[0].sent == 2).await;
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        format!(
            "{ALERT_JSON}{}",
            ALERT_JSON.replace("\"previousLevel\":\"OK\"", "\"previousLevel\":\"CRITICAL\"")
        )
    );
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    let ro = json!({"path": path.to_str().unwrap(), "mode": "0444"});
    let err = svc
        .register_handler(HandlerSpec::new("cpu", "ro", "log", opts(ro)))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid file mode -r--r--r--, must be user writable"
    );
}

#[tokio::test]
async fn tcp_writes_alert_json_per_connection() {
    let (addr, got) = tcp_sink(None).await;
    let (svc, _) = service(&config(""));
    svc.register_handler(HandlerSpec::new(
        "cpu",
        "tcp",
        "tcp",
        opts(json!({"address": addr})),
    ))
    .unwrap();
    svc.publish(event("cpu", Level::Critical));
    wait_until(|| !got.lock().unwrap().is_empty()).await;
    // Kapacitor's json.Encoder newline plus its extra '\n'.
    assert_eq!(got.lock().unwrap()[0], format!("{ALERT_JSON}\n"));
}

#[tokio::test]
async fn exec_pipes_alert_json_to_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("stdin.json");
    let (svc, _) = service(&config(""));
    let o = json!({"prog": "/bin/sh", "args": ["-c", "cat > \"$0\"", out.to_str().unwrap()]});
    svc.register_handler(HandlerSpec::new("cpu", "exec", "exec", opts(o)))
        .unwrap();
    svc.publish(event("cpu", Level::Critical));
    wait_until(|| svc.stats().handlers[0].sent == 1).await;
    assert_eq!(std::fs::read_to_string(&out).unwrap(), ALERT_JSON);
    // A failing program is counted as failed.
    let o = json!({"prog": "/bin/sh", "args": ["-c", "exit 3"]});
    svc.register_handler(HandlerSpec::new("cpu", "fails", "exec", opts(o)))
        .unwrap();
    svc.publish(event("cpu", Level::Critical));
    wait_until(|| {
        svc.stats()
            .handlers
            .iter()
            .any(|h| h.id == "fails" && h.failed == 1)
    })
    .await;
}

fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // A killed orphan may linger as a zombie until its reaper collects it.
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|s| s.trim_start().starts_with('Z')),
    }
}

#[tokio::test]
async fn exec_timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let (svc, _) = service(&config(""));
    let script = "sleep 60 & echo $! > \"$0\"; wait";
    let o = json!({"prog": "/bin/sh", "args": ["-c", script, pidfile.to_str().unwrap()], "timeout": "300ms"});
    svc.register_handler(HandlerSpec::new("cpu", "slow", "exec", opts(o)))
        .unwrap();
    svc.publish(event("cpu", Level::Critical));
    wait_until(|| svc.stats().handlers[0].failed == 1).await;
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The grandchild `sleep` was in the handler's process group: it is killed too.
    wait_until(|| process_gone(pid)).await;
}

#[tokio::test]
async fn sensu_sends_check_result() {
    let (addr, got) = tcp_sink(Some("ok")).await;
    let (svc, _) = service(&config(&format!(
        "[sensu]\nenabled = true\naddr = \"{addr}\"\n"
    )));
    let o = json!({"handlers": ["h1"], "metadata": {"zone": "eu", "name": "ignored"}});
    svc.register_handler(HandlerSpec::new("cpu", "sensu", "sensu", opts(o)))
        .unwrap();
    svc.publish(event("cpu", Level::Critical));
    wait_until(|| svc.stats().handlers[0].sent == 1).await;
    assert_eq!(
        got.lock().unwrap()[0],
        "{\"handlers\":[\"h1\"],\"name\":\"id\",\"output\":\"message\",\"source\":\"Kapacitor\",\"status\":2,\"zone\":\"eu\"}\n"
    );
}

/// A tiny SMTP server: records the commands and the DATA of one session per connection.
async fn smtp_server() -> (u16, Arc<Mutex<Vec<(Vec<String>, String)>>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = l.accept().await else {
                return;
            };
            let g = g.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut r = BufReader::new(r);
                let mut cmds = Vec::new();
                let mut data = String::new();
                w.write_all(b"220 test ESMTP\r\n").await.unwrap();
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                        break;
                    }
                    let cmd = line.trim_end().to_string();
                    cmds.push(cmd.clone());
                    let reply: &[u8] = match cmd.split(' ').next().unwrap_or("") {
                        "EHLO" => b"250-test\r\n250 AUTH PLAIN\r\n",
                        "AUTH" => b"235 ok\r\n",
                        "DATA" => {
                            w.write_all(b"354 go\r\n").await.unwrap();
                            loop {
                                let mut l = String::new();
                                r.read_line(&mut l).await.unwrap();
                                if l == ".\r\n" {
                                    break;
                                }
                                data.push_str(&l);
                            }
                            b"250 queued\r\n"
                        }
                        "QUIT" => {
                            w.write_all(b"221 bye\r\n").await.unwrap();
                            break;
                        }
                        _ => b"250 ok\r\n",
                    };
                    w.write_all(reply).await.unwrap();
                }
                g.lock().unwrap().push((cmds, data));
            });
        }
    });
    (port, got)
}

#[tokio::test]
async fn smtp_sends_mail() {
    let (port, got) = smtp_server().await;
    let cfg = config(&format!(
        "[smtp]\nenabled = true\nhost = \"127.0.0.1\"\nport = {port}\nusername = \"u\"\npassword = \"p\"\nfrom = \"kap@example.com\"\nto = [\"default@example.com\"]\n"
    ));
    let (svc, _) = service(&cfg);
    let o = json!({"to": ["a@example.com"], "to-templates": ["{{ index .Tags \"host\" }}@example.com"]});
    svc.register_handler(HandlerSpec::new("cpu", "mail", "smtp", opts(o)))
        .unwrap();
    let mut ev = event("cpu", Level::Critical);
    ev.details = "<b>cpu</b> = high\n.dot line".into();
    svc.publish(ev);
    wait_until(|| !got.lock().unwrap().is_empty()).await;
    let (cmds, data) = got.lock().unwrap()[0].clone();
    assert_eq!(
        cmds,
        [
            "EHLO localhost",
            "AUTH PLAIN AHUAcA==",
            "MAIL FROM:<kap@example.com>",
            "RCPT TO:<a@example.com>",
            "RCPT TO:<serverA@example.com>",
            "DATA",
            "QUIT"
        ]
    );
    assert!(data.contains("From: kap@example.com\r\n"), "{data}");
    assert!(
        data.contains("To: a@example.com, serverA@example.com\r\n"),
        "{data}"
    );
    assert!(data.contains("Subject: message\r\n"), "{data}");
    assert!(
        data.contains("Content-Type: text/html; charset=UTF-8\r\n"),
        "{data}"
    );
    // Quoted-printable body, dot-stuffed on the wire.
    assert!(
        data.ends_with("\r\n\r\n<b>cpu</b> =3D high\r\n..dot line\r\n"),
        "{data:?}"
    );
    wait_until(|| svc.stats().handlers[0].sent == 1).await;
}

fn mqtt_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u16).to_be_bytes());
    buf.extend_from_slice(s.as_bytes());
}

/// Subscribes to `topic` and returns the first PUBLISH packet (first byte, topic, payload).
async fn mqtt_receive_retained(port: u16, topic: &str) -> (u8, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut body = Vec::new();
    mqtt_str(&mut body, "MQTT");
    body.extend_from_slice(&[4, 0x02, 0, 30]);
    mqtt_str(&mut body, "test-sub");
    s.write_all(&[&[0x10, body.len() as u8][..], &body].concat())
        .await
        .unwrap();
    let mut connack = [0u8; 4];
    s.read_exact(&mut connack).await.unwrap();
    assert_eq!(connack[3], 0, "CONNACK refused");
    let mut body = vec![0, 1];
    mqtt_str(&mut body, topic);
    body.push(0);
    s.write_all(&[&[0x82, body.len() as u8][..], &body].concat())
        .await
        .unwrap();
    loop {
        let first = s.read_u8().await.unwrap();
        let len = s.read_u8().await.unwrap() as usize;
        let mut body = vec![0; len];
        s.read_exact(&mut body).await.unwrap();
        if first >> 4 == 3 {
            let tlen = u16::from_be_bytes([body[0], body[1]]) as usize;
            let t = String::from_utf8_lossy(&body[2..2 + tlen]).into_owned();
            let qos = (first >> 1) & 3;
            let payload_at = 2 + tlen + if qos > 0 { 2 } else { 0 };
            return (
                first,
                t,
                String::from_utf8_lossy(&body[payload_at..]).into_owned(),
            );
        }
    }
}

#[tokio::test]
async fn mqtt_publishes_to_a_real_broker() {
    let Some(bin) = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        println!("skipping mqtt test: mosquitto is not installed (apt-get install mosquitto)");
        return;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut broker = tokio::process::Command::new(bin)
        .args(["-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_until(|| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()).await;
    let cfg = config(&format!(
        "[[mqtt]]\nenabled = true\nname = \"local\"\nurl = \"tcp://127.0.0.1:{port}\"\nclient-id = \"kapacitor-test\"\n"
    ));
    let (svc, _) = service(&cfg);
    let o = json!({"topic": "alerts/cpu", "qos": 1, "retained": true});
    svc.register_handler(HandlerSpec::new("cpu", "mqtt", "mqtt", opts(o)))
        .unwrap();
    svc.publish(event("cpu", Level::Critical));
    wait_until(|| {
        let h = &svc.stats().handlers[0];
        h.sent + h.failed == 1
    })
    .await;
    assert_eq!(svc.stats().handlers[0].sent, 1);
    let (first, topic, payload) = tokio::time::timeout(
        Duration::from_secs(10),
        mqtt_receive_retained(port, "alerts/cpu"),
    )
    .await
    .expect("retained message");
    assert_eq!(
        (topic.as_str(), payload.as_str()),
        ("alerts/cpu", "message")
    );
    assert_eq!(first & 1, 1, "delivered as a retained message");
    let _ = broker.kill().await;
}
