//! Process facts from /proc, for benchmarks and leak checks.

/// Resident set size of `pid` in KiB (`VmRSS` of /proc/<pid>/status).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resident set size of `pid` and all its live descendants, in KiB.
pub fn tree_rss_kib(pid: u32) -> u64 {
    std::iter::once(pid)
        .chain(crate::descendants(pid))
        .filter_map(rss_kib)
        .sum()
}

/// User + system CPU time of `pid` in clock ticks (fields 14 and 15 of /proc/<pid>/stat).
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the comm, field 3 (state) is index 0, so utime (14) and stime (15) are 11 and 12.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_has_rss_and_cpu_time() {
        let me = std::process::id();
        assert!(rss_kib(me).is_some_and(|k| k > 0));
        assert!(tree_rss_kib(me) >= rss_kib(me).unwrap_or(0));
        assert!(cpu_ticks(me).is_some());
        assert_eq!(rss_kib(u32::MAX), None);
    }
}
