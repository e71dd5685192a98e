//! The envelope around every gossip packet, full-sync frame and RPC frame.
//!
//! ```text
//! plain:     [version][mode=0][kind][cluster id 16][sender id 16][sender token 8][payload]
//! encrypted: [version][mode=1][nonce 12][AES-GCM( kind .. payload ) + tag 16]
//! ```
//! The first two bytes are authenticated as associated data. As in memberlist, the key is
//! shared by every member (16, 24 or 32 bytes: AES-128/192/256) and each message gets a fresh
//! random nonce. A member with a key accepts only encrypted messages and a member without one
//! only plain messages, so a host without the key can neither join nor read. The cluster id in
//! every message lets a receiver drop traffic of another cluster before it reaches SWIM.

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes192;
use aes_gcm::{Aes128Gcm, Aes256Gcm, AesGcm, Nonce};
use uuid::Uuid;

pub const WIRE_VERSION: u8 = 1;
const MODE_PLAIN: u8 = 0;
const MODE_AES_GCM: u8 = 1;
const NONCE_LEN: usize = 12;
const HEADER_LEN: usize = 1 + 16 + 16 + 8;
/// Bytes the envelope adds to a payload at most (encrypted mode).
pub const OVERHEAD: usize = 2 + NONCE_LEN + HEADER_LEN + 16;

/// What the payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A foca (SWIM) packet.
    Swim = 1,
    /// "I am shutting down": payload is the sender's bump (u64 BE).
    Bye = 2,
    /// "You were removed from this cluster": payload is the removed member's id + token.
    Removed = 3,
    /// A full-state sync frame (TCP on the gossip port).
    Sync = 4,
    /// An RPC frame (TCP on the RPC port).
    Rpc = 5,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Swim,
            2 => Kind::Bye,
            3 => Kind::Removed,
            4 => Kind::Sync,
            5 => Kind::Rpc,
            _ => return None,
        })
    }
}

/// Who sent a message, for which cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub kind: Kind,
    pub cluster_id: Uuid,
    pub sender: Uuid,
    pub token: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("message too short ({0} bytes)")]
    TooShort(usize),
    #[error("unsupported wire version {0}")]
    Version(u8),
    #[error(
        "plaintext message, but this member requires encryption (is the sender's encryption-key missing?)"
    )]
    Plaintext,
    #[error("encrypted message, but this member has no encryption-key")]
    Encrypted,
    #[error("cannot decrypt the message (different encryption-key, or corrupt)")]
    Decrypt,
    #[error("unknown mode byte {0}")]
    Mode(u8),
    #[error("unknown message kind {0}")]
    Kind(u8),
}

enum Cipher {
    A128(Box<Aes128Gcm>),
    A192(Box<AesGcm<Aes192, U12>>),
    A256(Box<Aes256Gcm>),
}

/// Seals and opens envelopes; holds the cipher when a key is configured.
pub struct Sealer {
    cipher: Option<Cipher>,
}

impl Sealer {
    /// `key` must be 16, 24 or 32 bytes (the config check already enforces it).
    pub fn new(key: Option<&[u8]>) -> Result<Sealer, String> {
        let cipher = match key {
            None => None,
            Some(k) => Some(match k.len() {
                16 => Cipher::A128(Box::new(
                    Aes128Gcm::new_from_slice(k).map_err(|e| e.to_string())?,
                )),
                24 => Cipher::A192(Box::new(
                    AesGcm::<Aes192, U12>::new_from_slice(k).map_err(|e| e.to_string())?,
                )),
                32 => Cipher::A256(Box::new(
                    Aes256Gcm::new_from_slice(k).map_err(|e| e.to_string())?,
                )),
                n => {
                    return Err(format!(
                        "encryption key must be 16, 24 or 32 bytes, got {n}"
                    ));
                }
            }),
        };
        Ok(Sealer { cipher })
    }

    pub fn encrypted(&self) -> bool {
        self.cipher.is_some()
    }

    pub fn seal(&self, h: &Header, payload: &[u8]) -> Vec<u8> {
        let mut inner = Vec::with_capacity(HEADER_LEN + payload.len());
        inner.push(h.kind as u8);
        inner.extend_from_slice(h.cluster_id.as_bytes());
        inner.extend_from_slice(h.sender.as_bytes());
        inner.extend_from_slice(&h.token.to_be_bytes());
        inner.extend_from_slice(payload);
        let Some(cipher) = &self.cipher else {
            let mut out = Vec::with_capacity(2 + inner.len());
            out.extend_from_slice(&[WIRE_VERSION, MODE_PLAIN]);
            out.extend_from_slice(&inner);
            return out;
        };
        let aad = [WIRE_VERSION, MODE_AES_GCM];
        let nonce: [u8; NONCE_LEN] = rand::random();
        let msg = Payload {
            msg: &inner,
            aad: &aad,
        };
        let n = Nonce::from_slice(&nonce);
        // Encryption with a valid key and an in-memory buffer cannot fail; an empty frame
        // would be rejected by the receiver, which is the right outcome if it ever did.
        let sealed = match cipher {
            Cipher::A128(c) => c.encrypt(n, msg),
            Cipher::A192(c) => c.encrypt(n, msg),
            Cipher::A256(c) => c.encrypt(n, msg),
        }
        .unwrap_or_default();
        let mut out = Vec::with_capacity(2 + NONCE_LEN + sealed.len());
        out.extend_from_slice(&aad);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(&self, packet: &[u8]) -> Result<(Header, Vec<u8>), WireError> {
        if packet.len() < 2 {
            return Err(WireError::TooShort(packet.len()));
        }
        if packet[0] != WIRE_VERSION {
            return Err(WireError::Version(packet[0]));
        }
        let inner = match (packet[1], &self.cipher) {
            (MODE_PLAIN, None) => packet[2..].to_vec(),
            (MODE_PLAIN, Some(_)) => return Err(WireError::Plaintext),
            (MODE_AES_GCM, None) => return Err(WireError::Encrypted),
            (MODE_AES_GCM, Some(cipher)) => {
                if packet.len() < 2 + NONCE_LEN + 16 {
                    return Err(WireError::TooShort(packet.len()));
                }
                let n = Nonce::from_slice(&packet[2..2 + NONCE_LEN]);
                let msg = Payload {
                    msg: &packet[2 + NONCE_LEN..],
                    aad: &packet[..2],
                };
                match cipher {
                    Cipher::A128(c) => c.decrypt(n, msg),
                    Cipher::A192(c) => c.decrypt(n, msg),
                    Cipher::A256(c) => c.decrypt(n, msg),
                }
                .map_err(|_| WireError::Decrypt)?
            }
            (m, _) => return Err(WireError::Mode(m)),
        };
        if inner.len() < HEADER_LEN {
            return Err(WireError::TooShort(packet.len()));
        }
        let kind = Kind::from_u8(inner[0]).ok_or(WireError::Kind(inner[0]))?;
        let id = |at: usize| {
            let mut b = [0u8; 16];
            b.copy_from_slice(&inner[at..at + 16]);
            Uuid::from_bytes(b)
        };
        let mut token = [0u8; 8];
        token.copy_from_slice(&inner[33..41]);
        let header = Header {
            kind,
            cluster_id: id(1),
            sender: id(17),
            token: u64::from_be_bytes(token),
        };
        Ok((header, inner[HEADER_LEN..].to_vec()))
    }
}

/// Length-prefixed frames for the TCP paths (full sync and RPC).
pub mod frame {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Largest frame accepted: a full state of thousands of members fits easily.
    pub const MAX_FRAME: usize = 16 * 1024 * 1024;

    pub async fn write<W: AsyncWriteExt + Unpin>(w: &mut W, data: &[u8]) -> std::io::Result<()> {
        let len =
            u32::try_from(data.len()).map_err(|_| std::io::Error::other("frame too large"))?;
        w.write_all(&len.to_be_bytes()).await?;
        w.write_all(data).await?;
        w.flush().await
    }

    pub async fn read<R: AsyncReadExt + Unpin>(r: &mut R) -> std::io::Result<Vec<u8>> {
        let mut len = [0u8; 4];
        r.read_exact(&mut len).await?;
        let len = u32::from_be_bytes(len) as usize;
        if len > MAX_FRAME {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("frame of {len} bytes exceeds the {MAX_FRAME}-byte limit"),
            ));
        }
        let mut buf = vec![0u8; len];
        r.read_exact(&mut buf).await?;
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            kind: Kind::Swim,
            cluster_id: Uuid::new_v4(),
            sender: Uuid::new_v4(),
            token: 42,
        }
    }

    #[test]
    fn plain_round_trip() {
        let s = Sealer::new(None).unwrap();
        let h = header();
        let (got, payload) = s.open(&s.seal(&h, b"hello")).unwrap();
        assert_eq!(got, h);
        assert_eq!(payload, b"hello");
    }

    #[test]
    fn encrypted_round_trip_for_every_key_size() {
        for len in [16, 24, 32] {
            let key = vec![7u8; len];
            let s = Sealer::new(Some(&key)).unwrap();
            let h = header();
            let sealed = s.seal(&h, b"secret payload");
            assert!(
                !sealed.windows(6).any(|w| w == b"secret"),
                "payload visible"
            );
            let (got, payload) = s.open(&sealed).unwrap();
            assert_eq!((got, payload.as_slice()), (h, &b"secret payload"[..]));
        }
    }

    #[test]
    fn nonces_differ_between_messages() {
        let s = Sealer::new(Some(&[1u8; 32])).unwrap();
        let h = header();
        assert_ne!(s.seal(&h, b"x"), s.seal(&h, b"x"));
    }

    #[test]
    fn wrong_key_missing_key_and_plaintext_are_refused() {
        let a = Sealer::new(Some(&[1u8; 32])).unwrap();
        let b = Sealer::new(Some(&[2u8; 32])).unwrap();
        let plain = Sealer::new(None).unwrap();
        let h = header();
        assert_eq!(b.open(&a.seal(&h, b"x")).unwrap_err(), WireError::Decrypt);
        assert_eq!(
            plain.open(&a.seal(&h, b"x")).unwrap_err(),
            WireError::Encrypted
        );
        assert_eq!(
            a.open(&plain.seal(&h, b"x")).unwrap_err(),
            WireError::Plaintext
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let s = Sealer::new(Some(&[1u8; 16])).unwrap();
        let p = Sealer::new(None).unwrap();
        for bad in [
            &b""[..],
            b"\x01",
            b"\x02\x00abc",
            b"\x01\x07",
            b"\x01\x01short",
            b"\x01\x00\x09",
        ] {
            assert!(s.open(bad).is_err());
            assert!(p.open(bad).is_err());
        }
        let mut tampered = s.seal(&header(), b"payload");
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(s.open(&tampered).unwrap_err(), WireError::Decrypt);
    }
}
