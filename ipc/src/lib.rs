//! IPC between kapacitord's processes.
//!
//! Every connection carries length-delimited frames (u32 big-endian length, at most
//! [`MAX_FRAME_LEN`] by default) of postcard-encoded values. The first frame in each direction
//! is a [`Hello`] (protocol version, role, pid); every later frame is an [`Envelope`] around
//! one [`Message`]. [`handshake`] performs the hello exchange and returns a [`Peer`] for
//! sending and requesting plus an [`Inbox`] of unsolicited messages.
//!
//! Who talks to whom:
//! - supervisor ↔ every child: a socketpair inherited at fd 3 ([`supervisor_stream`]);
//! - apid ↔ task workers: the path socket `<data_dir>/run/apid.sock`, dialled by workers.
//!
//! Bad input from the other side (oversized frame, garbage, unknown message variant,
//! protocol version mismatch) is logged and closes that one connection; nothing panics.

mod child;
mod codec;
mod error;
mod fd;
mod message;
mod peer;

pub use child::{
    CONFIG_TIMEOUT, ChildLink, StopReason, connect_supervisor, serve_until_stopped,
    serve_until_stopped_with, start_child,
};
pub use codec::{
    MAX_FRAME_LEN, decode, decode_envelope, decode_hello, encode, encode_points, frame_codec,
};
pub use error::{CloseReason, IpcError, ProtocolError};
pub use fd::{IPC_FD, IPC_FD_ENV, supervisor_stream};
pub use message::{
    ClaimAnswers, ClusterHandler, ClusterMember, ClusterView, Dbrp, Envelope, Hello, LoadKind,
    Message, PROTO_VERSION, ProcState, ProcessInfo, Role, Status, TaskSpec, TaskState,
    TopicEventState, TopicStateChange, VERSION,
};
pub use peer::{Inbox, Incoming, Peer, PeerOptions, handshake};
