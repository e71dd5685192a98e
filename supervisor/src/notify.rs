//! systemd readiness notification (`Type=notify`), without a dependency: one datagram to
//! `$NOTIFY_SOCKET`. A no-op outside systemd.

use std::os::unix::net::{SocketAddr, UnixDatagram};

pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let path = path.to_string_lossy().into_owned();
    let addr = if let Some(name) = path.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        SocketAddr::from_abstract_name(name.as_bytes())
    } else {
        SocketAddr::from_pathname(&path)
    };
    let result = addr.and_then(|addr| {
        let sock = UnixDatagram::unbound()?;
        sock.send_to_addr(state.as_bytes(), &addr)
    });
    if let Err(e) = result {
        tracing::warn!(error = %e, state, "systemd notification failed");
    }
}
