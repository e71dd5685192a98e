use std::time::Duration;

/// The peer sent something this end cannot accept. The connection is closed; the process
/// carries on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("frame larger than the limit of {limit} bytes")]
    FrameTooLarge { limit: usize },
    #[error("undecodable frame: {0}")]
    Decode(String),
    #[error("unknown message variant")]
    UnknownMessage,
    #[error("protocol version mismatch: ours {ours}, theirs {theirs}")]
    VersionMismatch { ours: u32, theirs: u32 },
    #[error("expected a hello frame, got {0}")]
    NoHello(String),
    #[error("encoding failed: {0}")]
    Encode(String),
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloseReason {
    #[error("end of stream")]
    Eof,
    #[error("closed locally")]
    Local,
    #[error("i/o error: {0}")]
    Io(String),
    #[error("protocol error: {0}")]
    Protocol(ProtocolError),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpcError {
    #[error("connection closed: {0}")]
    Closed(CloseReason),
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    #[error("handshake: {0}")]
    Handshake(String),
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    #[error("i/o error: {0}")]
    Io(String),
    #[error("message is not a request (id 0), it cannot be answered")]
    NotARequest,
}

impl From<std::io::Error> for IpcError {
    fn from(e: std::io::Error) -> Self {
        IpcError::Io(e.to_string())
    }
}
