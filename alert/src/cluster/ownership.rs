//! Topic ownership by rendezvous hashing.
//!
//! Every member scores `hrw_score(member, topic)` and the `redundancy` highest scores own the
//! topic, highest first (position 0 is the primary). The hash is 64-bit FNV-1a over
//! `member id`, a 0xff separator (never in UTF-8, so `("ab","c")` and `("a","bc")` differ)
//! and the topic, then the splitmix64 finaliser, because FNV-1a alone mixes its last bytes
//! poorly and topics often differ only at the end (`cpu_1`, `cpu_2`). It is fixed forever:
//! members of different versions must agree on the owners. Ties (64-bit collisions) are
//! broken by the member id so the order is total.

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

fn splitmix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The rendezvous weight of `member` for `topic`.
pub fn hrw_score(member: &str, topic: &str) -> u64 {
    let h = fnv1a(FNV_OFFSET, member.as_bytes());
    let h = fnv1a(h, &[0xff]);
    splitmix64(fnv1a(h, topic.as_bytes()))
}

/// The owners of `topic` among `alive`, in their per-topic order (primary first): at most
/// `redundancy` of them. Empty when `redundancy` is 0 (no ownership: every member handles
/// its own alerts, Kapacitor without clustering). Duplicate ids in `alive` count once.
pub fn owners<S: AsRef<str>>(topic: &str, alive: &[S], redundancy: usize) -> Vec<String> {
    let mut scored: Vec<(u64, &str)> = alive
        .iter()
        .map(|m| (hrw_score(m.as_ref(), topic), m.as_ref()))
        .collect();
    scored.sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored
        .into_iter()
        .take(redundancy)
        .map(|(_, m)| m.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn members(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("member-{i:02}")).collect()
    }

    #[test]
    fn order_does_not_depend_on_the_input_order() {
        let mut m = members(5);
        let a = owners("cpu", &m, 3);
        m.reverse();
        assert_eq!(owners("cpu", &m, 3), a);
        assert_eq!(a.len(), 3);
    }

    #[test]
    fn redundancy_zero_and_above_the_member_count() {
        let m = members(3);
        assert!(owners("cpu", &m, 0).is_empty());
        assert_eq!(owners("cpu", &m, 10).len(), 3);
        let dup = vec!["a".to_string(), "a".to_string(), "b".to_string()];
        assert_eq!(owners("cpu", &dup, 3).len(), 2);
    }

    #[test]
    fn the_hash_is_fixed() {
        // Members of every version must agree: these values may never change.
        assert_eq!(hrw_score("", ""), splitmix64(fnv1a(FNV_OFFSET, &[0xff])));
        assert_ne!(hrw_score("ab", "c"), hrw_score("a", "bc"));
        assert_eq!(hrw_score("member-00", "cpu"), hrw_score("member-00", "cpu"));
    }

    #[test]
    fn removing_a_member_moves_only_its_topics() {
        let all = members(5);
        let without: Vec<String> = all.iter().filter(|m| *m != "member-02").cloned().collect();
        for t in 0..500 {
            let topic = format!("topic-{t}");
            let before = owners(&topic, &all, 2);
            let after = owners(&topic, &without, 2);
            if !before.iter().any(|m| m == "member-02") {
                assert_eq!(before, after, "{topic}");
            } else {
                // The survivor keeps its relative order and a new member joins at the end.
                let kept: Vec<&String> = before.iter().filter(|m| *m != "member-02").collect();
                assert_eq!(after[0], *kept[0], "{topic}");
            }
        }
    }

    #[test]
    fn primaries_spread_over_members() {
        let m = members(4);
        let mut count: HashMap<String, usize> = HashMap::new();
        for t in 0..4000 {
            *count
                .entry(owners(&format!("t{t}"), &m, 1)[0].clone())
                .or_default() += 1;
        }
        for (member, n) in count {
            assert!((700..1300).contains(&n), "{member} primary for {n} of 4000");
        }
    }
}
