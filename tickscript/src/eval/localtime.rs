//! Local-time breakdown for the time functions (`hour("time")`, `weekday("time")`, ...).
//!
//! Kapacitor converts point times to the process's local zone. The zone is read once per process:
//! `TZ` if set (`:`-prefix allowed; a name under `/usr/share/zoneinfo` or an absolute path),
//! else `/etc/localtime`; an empty, unknown or unreadable zone means UTC (as glibc does for an
//! unknown `TZ`). The TZif transition table is used as is: instants after the last listed
//! transition keep its offset (the POSIX rule in the file footer is not interpreted), which is
//! exact for UTC and fixed-offset zones and for "fat" zone files up to 2037.

use std::sync::OnceLock;

/// A point in local civil time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub year: i64,
    /// 1..=12
    pub month: i64,
    /// 1..=31
    pub day: i64,
    pub hour: i64,
    pub minute: i64,
    /// 0 = Sunday
    pub weekday: i64,
}

/// Offsets in effect from each transition (Unix seconds) on, sorted by time.
#[derive(Debug, Default)]
pub(crate) struct Zone {
    transitions: Vec<(i64, i64)>,
    initial_offset: i64,
}

impl Zone {
    pub(crate) fn utc() -> Zone {
        Zone::default()
    }

    fn offset_at(&self, unix_secs: i64) -> i64 {
        match self.transitions.partition_point(|&(t, _)| t <= unix_secs) {
            0 => self.initial_offset,
            n => self.transitions[n - 1].1,
        }
    }

    pub(crate) fn civil(&self, unix_nanos: i64) -> Civil {
        let secs = unix_nanos.div_euclid(1_000_000_000);
        let local = secs.saturating_add(self.offset_at(secs));
        let days = local.div_euclid(86_400);
        let sod = local.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: sod / 3600,
            minute: sod % 3600 / 60,
            weekday: (days + 4).rem_euclid(7),
        }
    }

    /// Parses a TZif file (RFC 8536), preferring the 64-bit data of version 2+ files.
    pub(crate) fn from_tzif(data: &[u8]) -> Option<Zone> {
        let (hdr, body) = parse_header(data)?;
        if hdr.version >= b'2' {
            let v1_len = hdr.block_len(4);
            let (hdr2, body2) = parse_header(body.get(v1_len..)?)?;
            parse_block(&hdr2, body2, 8)
        } else {
            parse_block(&hdr, body, 4)
        }
    }
}

/// The zone of this process, loaded on first use.
pub(crate) fn local_zone() -> &'static Zone {
    static ZONE: OnceLock<Zone> = OnceLock::new();
    ZONE.get_or_init(load_local_zone)
}

fn load_local_zone() -> Zone {
    let path = match std::env::var("TZ") {
        Err(_) => "/etc/localtime".to_string(),
        Ok(tz) => {
            let tz = tz.strip_prefix(':').unwrap_or(&tz);
            if tz.is_empty() || tz.split('/').any(|part| part == "..") {
                return Zone::utc();
            }
            if tz.starts_with('/') {
                tz.to_string()
            } else {
                format!("/usr/share/zoneinfo/{tz}")
            }
        }
    };
    std::fs::read(path)
        .ok()
        .and_then(|data| Zone::from_tzif(&data))
        .unwrap_or_else(Zone::utc)
}

struct Header {
    version: u8,
    isutcnt: usize,
    isstdcnt: usize,
    leapcnt: usize,
    timecnt: usize,
    typecnt: usize,
    charcnt: usize,
}

impl Header {
    fn block_len(&self, time_size: usize) -> usize {
        self.timecnt * time_size
            + self.timecnt
            + self.typecnt * 6
            + self.charcnt
            + self.leapcnt * (time_size + 4)
            + self.isstdcnt
            + self.isutcnt
    }
}

fn parse_header(data: &[u8]) -> Option<(Header, &[u8])> {
    if data.len() < 44 || &data[..4] != b"TZif" {
        return None;
    }
    let count = |i: usize| -> usize {
        let b = &data[20 + 4 * i..24 + 4 * i];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
    };
    let hdr = Header {
        version: data[4],
        isutcnt: count(0),
        isstdcnt: count(1),
        leapcnt: count(2),
        timecnt: count(3),
        typecnt: count(4),
        charcnt: count(5),
    };
    Some((hdr, &data[44..]))
}

fn parse_block(hdr: &Header, body: &[u8], time_size: usize) -> Option<Zone> {
    if hdr.typecnt == 0 || body.len() < hdr.block_len(time_size) {
        return None;
    }
    let times = &body[..hdr.timecnt * time_size];
    let idx = &body[hdr.timecnt * time_size..hdr.timecnt * (time_size + 1)];
    let types_at = hdr.timecnt * (time_size + 1);
    let types = &body[types_at..types_at + hdr.typecnt * 6];
    let utoff = |t: usize| -> i64 {
        let b = &types[t * 6..t * 6 + 4];
        i64::from(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let mut transitions = Vec::with_capacity(hdr.timecnt);
    for (i, &ty) in idx.iter().enumerate() {
        let ty = usize::from(ty);
        if ty >= hdr.typecnt {
            return None;
        }
        let b = &times[i * time_size..(i + 1) * time_size];
        let at = if time_size == 8 {
            i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
        } else {
            i64::from(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        };
        transitions.push((at, utoff(ty)));
    }
    // RFC 8536: before the first transition, the first standard-time type applies.
    let initial = (0..hdr.typecnt)
        .find(|&t| types[t * 6 + 4] == 0)
        .unwrap_or(0);
    Some(Zone {
        transitions,
        initial_offset: utoff(initial),
    })
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_breakdown() {
        // 2016-03-15T10:57:39Z, a Tuesday.
        let c = Zone::utc().civil(1_458_039_459_000_000_000);
        assert_eq!(
            c,
            Civil {
                year: 2016,
                month: 3,
                day: 15,
                hour: 10,
                minute: 57,
                weekday: 2
            }
        );
        // Before the epoch: 1969-12-31T23:59:59.5Z, a Wednesday.
        let c = Zone::utc().civil(-500_000_000);
        assert_eq!(
            (c.year, c.month, c.day, c.hour, c.minute, c.weekday),
            (1969, 12, 31, 23, 59, 3)
        );
        // Extremes do not panic.
        let _ = Zone::utc().civil(i64::MIN);
        let _ = Zone::utc().civil(i64::MAX);
    }

    fn tzif_v1(times: &[i32], idx: &[u8], offsets: &[(i32, u8)]) -> Vec<u8> {
        let mut d = b"TZif\0".to_vec();
        d.extend([0u8; 15]);
        for n in [0, 0, 0, times.len(), offsets.len(), 1] {
            d.extend((n as u32).to_be_bytes());
        }
        for t in times {
            d.extend(t.to_be_bytes());
        }
        d.extend(idx);
        for (off, dst) in offsets {
            d.extend(off.to_be_bytes());
            d.extend([*dst, 0]);
        }
        d.push(0);
        d
    }

    #[test]
    fn tzif_transitions_apply() {
        // +1h standard, +2h from t=1000s.
        let data = tzif_v1(&[1000], &[1], &[(3600, 0), (7200, 1)]);
        let z = Zone::from_tzif(&data).expect("valid tzif");
        assert_eq!(z.civil(0).hour, 1);
        assert_eq!(z.civil(999_000_000_000).hour, 1);
        assert_eq!(z.civil(1_000_000_000_000).hour, 2);
    }

    #[test]
    fn bad_tzif_is_rejected_not_panicking() {
        assert!(Zone::from_tzif(b"").is_none());
        assert!(Zone::from_tzif(b"TZif2").is_none());
        let mut data = tzif_v1(&[1000], &[5], &[(3600, 0)]);
        assert!(Zone::from_tzif(&data).is_none());
        data.truncate(50);
        assert!(Zone::from_tzif(&data).is_none());
    }

    #[test]
    fn system_utc_file_parses_if_present() {
        if let Ok(data) = std::fs::read("/usr/share/zoneinfo/UTC") {
            let z = Zone::from_tzif(&data).expect("system UTC zone parses");
            assert_eq!(z.civil(3_600_000_000_000).hour, 1);
        }
    }
}
