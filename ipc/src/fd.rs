//! The supervisor link of a child process: one end of a socketpair the supervisor placed at a
//! fixed descriptor (3) before exec, named by the `KAPACITOR_IPC_FD` environment variable.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Environment variable naming the inherited descriptor.
pub const IPC_FD_ENV: &str = "KAPACITOR_IPC_FD";

/// The descriptor the supervisor uses.
pub const IPC_FD: RawFd = 3;

/// Takes ownership of the inherited supervisor socket named by `KAPACITOR_IPC_FD` and turns
/// it into a tokio stream. Must run inside a tokio runtime. Call it once per process.
///
/// The descriptor gets `FD_CLOEXEC` again so that programs this process execs (UDFs, exec
/// alert handlers) do not inherit the supervisor link.
pub fn supervisor_stream() -> io::Result<tokio::net::UnixStream> {
    let raw = std::env::var(IPC_FD_ENV)
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{IPC_FD_ENV} is not set: this role is started by kapacitord only"),
            )
        })?
        .parse::<RawFd>()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{IPC_FD_ENV}: {e}")))?;
    if raw < 3 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{IPC_FD_ENV}={raw} names a standard stream"),
        ));
    }
    // SAFETY: F_GETFD/F_SETFD only read and set descriptor flags; a closed fd yields EBADF.
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFD) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    if unsafe { libc::fcntl(raw, libc::F_SETFD, flags | libc::FD_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor is open (checked above) and nothing else in this process owns it:
    // it was inherited across exec and this function is the only reader of the variable.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: std's UnixStream wraps any stream socket fd; a non-socket fails on first use.
    let std_stream = std::os::unix::net::UnixStream::from(fd);
    std_stream.set_nonblocking(true)?;
    tokio::net::UnixStream::from_std(std_stream)
}
