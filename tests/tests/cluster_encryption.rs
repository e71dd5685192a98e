//! Gossip and RPC encryption (`[cluster] encryption-key`): members sharing the key form a
//! cluster; a member with another key, or none, can neither join nor be joined.

#[path = "support/cluster_helpers.rs"]
mod cluster_helpers;

use cluster_helpers::{Member, ctl, listing, wait_converged};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="; // 32 bytes
const OTHER_KEY: &str = "HxAdHBsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA="; // 32 bytes

fn keyed(key: &str) -> String {
    format!("encryption-key = \"{key}\"")
}

#[test]
fn a_member_without_the_key_cannot_join() {
    let a = Member::start(&keyed(KEY));
    let b = Member::start(&keyed(KEY));
    let wrong = Member::start(&keyed(OTHER_KEY));
    let plain = Member::start("");

    assert!(
        ctl(&a, &["member", "add", &b.rpc_address()])
            .status
            .success()
    );
    wait_converged(&[&a, &b]);

    for (outsider, what) in [(&wrong, "wrong key"), (&plain, "no key")] {
        let out = ctl(&a, &["member", "add", &outsider.rpc_address()]);
        assert_eq!(out.status.code(), Some(3), "{what}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("encryption-key"), "{what}: {err}");
        // And the other way round: the outsider cannot pull a keyed member in.
        let out = ctl(outsider, &["member", "add", &b.rpc_address()]);
        assert_eq!(out.status.code(), Some(3), "{what} adding b: {out:?}");
    }
    assert!(wrong.daemon.log().contains("refusing an RPC connection"));
    assert!(b.daemon.log().contains("refusing an RPC connection"));

    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(listing(&a).rows.len(), 2);
    assert_eq!(listing(&b).rows.len(), 2);
    for outsider in [&wrong, &plain] {
        let l = listing(outsider);
        assert_eq!((l.state.as_str(), l.rows.len()), ("uninitialized", 1));
    }
}
