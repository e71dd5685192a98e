//! `mqtt`: publishes the event message to a broker topic with a small MQTT 3.1.1 client
//! (CONNECT, PUBLISH at QoS 0/1/2, DISCONNECT), one connection per event and broker access
//! serialised per broker so a fixed client id is never used twice at once. Plain `tcp://`
//! brokers only.

use super::{DeliveryError, Shared};
use crate::event::Event;
use crate::options::MqttOptions;
use kapacitor_config::MqttConfig;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One lock per broker name.
#[derive(Default)]
pub(crate) struct MqttClients {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    next_packet_id: AtomicU16,
}

impl MqttClients {
    fn lock_for(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut m = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(name.to_string()).or_default().clone()
    }

    fn packet_id(&self) -> u16 {
        self.next_packet_id.fetch_add(1, Ordering::Relaxed).max(1)
    }
}

pub(crate) struct MqttAction {
    opts: MqttOptions,
}

impl MqttAction {
    pub fn new(opts: MqttOptions) -> MqttAction {
        MqttAction { opts }
    }

    pub async fn deliver(&self, ev: &Event, sh: &Shared) -> Result<(), DeliveryError> {
        let cfg = sh.cfg();
        let brokers = &cfg.mqtt;
        let broker = if self.opts.broker_name.is_empty() {
            if brokers.len() == 1 {
                brokers.first()
            } else {
                brokers.iter().find(|b| b.default)
            }
        } else {
            brokers.iter().find(|b| b.name == self.opts.broker_name)
        };
        let Some(b) = broker.filter(|b| b.enabled) else {
            return Err(DeliveryError::permanent(format!(
                "unknown MQTT broker {:?}",
                self.opts.broker_name
            )));
        };
        if self.opts.topic.is_empty() {
            return Err(DeliveryError::permanent("mqtt handler needs a topic"));
        }
        let lock = sh.mqtt.lock_for(&b.name);
        let _guard = lock.lock().await;
        let client_id = if b.client_id.is_empty() {
            format!("kapacitor-{}-{}", cfg.hostname, std::process::id())
        } else {
            b.client_id.clone()
        };
        let pid = sh.mqtt.packet_id();
        tokio::time::timeout(
            sh.http_timeout,
            publish(b, &client_id, &self.opts, pid, ev.message.as_bytes()),
        )
        .await
        .map_err(|_| DeliveryError::retryable("MQTT publish timed out"))?
    }
}

fn broker_addr(url: &str) -> Result<&str, DeliveryError> {
    url.strip_prefix("tcp://")
        .or_else(|| url.strip_prefix("mqtt://"))
        .ok_or_else(|| {
            DeliveryError::permanent(format!(
                "unsupported MQTT broker URL {url:?}: only tcp:// is implemented"
            ))
        })
}

fn push_str(buf: &mut Vec<u8>, s: &[u8]) {
    buf.extend_from_slice(&(s.len() as u16).to_be_bytes());
    buf.extend_from_slice(s);
}

fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    let mut len = body.len();
    loop {
        let mut b = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            b |= 0x80;
        }
        out.push(b);
        if len == 0 {
            break;
        }
    }
    out.extend_from_slice(body);
    out
}

/// Largest packet read from a broker.
const MAX_PACKET: usize = 64 * 1024;

async fn read_packet(s: &mut TcpStream) -> Result<(u8, Vec<u8>), DeliveryError> {
    let io = |e: std::io::Error| DeliveryError::retryable(format!("MQTT read failed: {e}"));
    let first = s.read_u8().await.map_err(io)?;
    let mut len = 0usize;
    let mut mult = 1usize;
    for _ in 0..4 {
        let b = s.read_u8().await.map_err(io)?;
        len += (b & 0x7f) as usize * mult;
        mult *= 128;
        if b & 0x80 == 0 {
            break;
        }
    }
    // Only acknowledgements are read here (a few bytes): a broker announcing more is not
    // given the memory.
    if len > MAX_PACKET {
        return Err(DeliveryError::retryable(format!(
            "MQTT packet of {len} bytes from the broker, more than the {MAX_PACKET} expected"
        )));
    }
    let mut body = vec![0; len];
    s.read_exact(&mut body).await.map_err(io)?;
    Ok((first, body))
}

async fn expect(s: &mut TcpStream, kind: u8, pid: u16, what: &str) -> Result<(), DeliveryError> {
    let (first, body) = read_packet(s).await?;
    if first >> 4 != kind || body.get(..2) != Some(&pid.to_be_bytes()[..]) {
        return Err(DeliveryError::retryable(format!(
            "MQTT broker sent packet type {} instead of {what}",
            first >> 4
        )));
    }
    Ok(())
}

async fn publish(
    b: &MqttConfig,
    client_id: &str,
    o: &MqttOptions,
    pid: u16,
    payload: &[u8],
) -> Result<(), DeliveryError> {
    let addr = broker_addr(&b.url)?;
    let mut s = TcpStream::connect(addr)
        .await
        .map_err(|e| DeliveryError::retryable(format!("MQTT connect to {addr}: {e}")))?;
    let wr = |e: std::io::Error| DeliveryError::retryable(format!("MQTT write failed: {e}"));

    let mut flags = 0x02; // clean session
    let mut body = Vec::new();
    push_str(&mut body, b"MQTT");
    body.push(4);
    if !b.username.is_empty() {
        flags |= 0x80;
        if !b.password.is_empty() {
            flags |= 0x40;
        }
    }
    body.push(flags);
    body.extend_from_slice(&30u16.to_be_bytes());
    push_str(&mut body, client_id.as_bytes());
    if !b.username.is_empty() {
        push_str(&mut body, b.username.as_bytes());
        if !b.password.is_empty() {
            push_str(&mut body, b.password.as_bytes());
        }
    }
    s.write_all(&packet(0x10, &body)).await.map_err(wr)?;
    let (first, ack) = read_packet(&mut s).await?;
    if first >> 4 != 2 || ack.len() < 2 {
        return Err(DeliveryError::retryable(
            "MQTT broker did not answer CONNECT",
        ));
    }
    if ack[1] != 0 {
        return Err(DeliveryError::permanent(format!(
            "MQTT broker refused the connection (code {})",
            ack[1]
        )));
    }

    let mut body = Vec::new();
    push_str(&mut body, o.topic.as_bytes());
    if o.qos > 0 {
        body.extend_from_slice(&pid.to_be_bytes());
    }
    body.extend_from_slice(payload);
    let first = 0x30 | (o.qos << 1) | u8::from(o.retained);
    s.write_all(&packet(first, &body)).await.map_err(wr)?;
    match o.qos {
        1 => expect(&mut s, 4, pid, "PUBACK").await?,
        2 => {
            expect(&mut s, 5, pid, "PUBREC").await?;
            s.write_all(&packet(0x62, &pid.to_be_bytes()))
                .await
                .map_err(wr)?;
            expect(&mut s, 7, pid, "PUBCOMP").await?;
        }
        _ => {}
    }
    s.write_all(&packet(0xE0, &[])).await.map_err(wr)?;
    let _ = s.shutdown().await;
    // Give QoS 0 messages a moment to leave before the socket closes.
    tokio::time::sleep(Duration::from_millis(1)).await;
    Ok(())
}
