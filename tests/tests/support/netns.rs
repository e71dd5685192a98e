//! Network namespaces for partition tests (included with `#[path = "support/..."]`): each
//! member in its own namespace, linked by a veth pair to a bridge in a hub namespace; a
//! partition is `ip link set down` on a member's hub side. Everything lives in those
//! namespaces (never the host's network) and is deleted when the [`Net`] is dropped. Needs
//! root and iproute2: [`Net::create`] says why it cannot, and the test then skips.
#![allow(dead_code)]

use nix::libc;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The namespaces and links of one test run; dropping it deletes them.
pub struct Net {
    hub: String,
    members: Vec<String>,
    /// Second octet of the members' 10.x.y.z addresses: each test binary its own, so
    /// partition tests can run at once.
    subnet: u8,
}

impl Net {
    /// `n` member namespaces named `<prefix><pid>m<i>`, addresses `10.<subnet>.<pid%250>.<i+1>`.
    pub fn create(prefix: &str, subnet: u8, n: usize) -> Result<Net, String> {
        let tag = std::process::id();
        let net = Net {
            hub: format!("{prefix}{tag}hub"),
            members: (0..n).map(|i| format!("{prefix}{tag}m{i}")).collect(),
            subnet,
        };
        ip(&["netns", "add", &net.hub])?;
        let hub = net.hub.clone();
        ip(&["-n", &hub, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &hub, "link", "set", "br0", "up"])?;
        for (i, ns) in net.members.iter().enumerate() {
            ip(&["netns", "add", ns])?;
            let (h, m) = (format!("h{i}"), format!("m{i}"));
            ip(&[
                "-n", &hub, "link", "add", &h, "type", "veth", "peer", "name", &m, "netns", ns,
            ])?;
            ip(&["-n", &hub, "link", "set", &h, "master", "br0", "up"])?;
            let addr = format!("{}/24", net.member_ip(i));
            ip(&["-n", ns, "addr", "add", &addr, "dev", &m])?;
            ip(&["-n", ns, "link", "set", &m, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(net)
    }

    pub fn member_ip(&self, i: usize) -> String {
        format!("10.{}.{}.{}", self.subnet, std::process::id() % 250, i + 1)
    }

    /// Cuts (`false`) or restores member `i`'s link to the others.
    pub fn set_link(&self, i: usize, up: bool) {
        let state = if up { "up" } else { "down" };
        ip(&["-n", &self.hub, "link", "set", &format!("h{i}"), state]).expect("switching a link");
    }

    /// Runs `f` with this thread inside member `i`'s namespace (sockets and processes made
    /// by `f` stay there; a daemon's HTTP API on 127.0.0.1 is that namespace's loopback).
    pub fn within<T>(&self, i: usize, f: impl FnOnce() -> T) -> T {
        let home = File::open("/proc/thread-self/ns/net").expect("own netns");
        let target = File::open(format!("/var/run/netns/{}", self.members[i])).expect("netns");
        // SAFETY: setns on this thread with valid namespace fds; switched back below.
        assert_eq!(
            unsafe { libc::setns(target.as_raw_fd(), libc::CLONE_NEWNET) },
            0
        );
        let out = f();
        assert_eq!(
            unsafe { libc::setns(home.as_raw_fd(), libc::CLONE_NEWNET) },
            0
        );
        out
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in self.members.iter().chain([&self.hub]) {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}
