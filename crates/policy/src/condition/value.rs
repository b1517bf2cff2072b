//! The typed values condition operators compare: numbers, dates, booleans, binary (base64),
//! IP ranges. A policy's values are parsed once when it is compiled (a value that is not of
//! its operator's type refuses the document); a request's values are parsed when compared,
//! and one that does not parse matches nothing (so a negated operator matches it).

use std::net::IpAddr;

use base64::Engine;
use serde::{Deserialize, Serialize};
use time::{Date, Month, PrimitiveDateTime, Time, UtcOffset};

/// How a numeric or date operator compares the request's value with the policy's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    /// `request <cmp> policy`.
    pub(crate) fn holds<T: PartialOrd>(self, request: T, policy: T) -> bool {
        match self {
            Cmp::Eq => request == policy,
            Cmp::Lt => request < policy,
            Cmp::Le => request <= policy,
            Cmp::Gt => request > policy,
            Cmp::Ge => request >= policy,
        }
    }
}

/// A decimal number, `-?digits(.digits)?` and nothing else (no `NaN`, `inf`, `0x`, spaces).
pub(crate) fn number(s: &str) -> Option<f64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if s.len() > 64 || !all_digits(int) || !frac.is_none_or(all_digits) {
        return None;
    }
    s.parse().ok()
}

/// `true` or `false`, in any case.
pub(crate) fn boolean(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

pub(crate) fn binary(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

/// A date as nanoseconds since the Unix epoch: epoch seconds (`1700000000`), or one of the W3C
/// forms of ISO 8601 AWS takes (`2024`, `2024-05`, `2024-05-01`, `2024-05-01T12:00Z`,
/// `2024-05-01T12:00:00Z`, `2024-05-01T12:00:00.5+02:00`; no zone means UTC).
pub(crate) fn date(s: &str) -> Option<i128> {
    if !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit()) && s.len() != 4 {
        return Some(i128::from(s.parse::<i64>().ok()?) * 1_000_000_000);
    }
    let (day, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let mut parts = day.split('-');
    let year: i32 = fixed_digits(parts.next()?, 4)?;
    let month: u8 = parts.next().map_or(Some(1), |m| fixed_digits(m, 2))?;
    let dom: u8 = parts.next().map_or(Some(1), |d| fixed_digits(d, 2))?;
    if parts.next().is_some() || (time.is_some() && day.len() != 10) {
        return None;
    }
    let date = Date::from_calendar_date(year, Month::try_from(month).ok()?, dom).ok()?;
    let (clock, offset) = match time {
        None => (Time::MIDNIGHT, UtcOffset::UTC),
        Some(t) => clock(t)?,
    };
    let at = PrimitiveDateTime::new(date, clock).assume_offset(offset);
    Some(at.unix_timestamp_nanos())
}

fn fixed_digits<T: std::str::FromStr>(s: &str, len: usize) -> Option<T> {
    (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// `hh:mm[:ss[.fraction]][Z|+hh:mm|-hh:mm]`.
fn clock(t: &str) -> Option<(Time, UtcOffset)> {
    let (t, offset) = if let Some(t) = t.strip_suffix('Z') {
        (t, UtcOffset::UTC)
    } else if let Some(i) = t.rfind(['+', '-']) {
        let (sign, zone) = (&t[i..i + 1], &t[i + 1..]);
        let (h, m) = zone.split_once(':')?;
        let (h, m): (i8, i8) = (fixed_digits(h, 2)?, fixed_digits(m, 2)?);
        let sign = if sign == "-" { -1 } else { 1 };
        (&t[..i], UtcOffset::from_hms(sign * h, sign * m, 0).ok()?)
    } else {
        (t, UtcOffset::UTC)
    };
    let mut parts = t.split(':');
    let hour: u8 = fixed_digits(parts.next()?, 2)?;
    let minute: u8 = fixed_digits(parts.next()?, 2)?;
    let (second, nanos) = match parts.next() {
        None => (0, 0),
        Some(s) => {
            let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
            let second: u8 = fixed_digits(whole, 2)?;
            if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let nanos = format!("{frac:0<9}").parse().ok()?;
            (second, nanos)
        }
    };
    if parts.next().is_some() {
        return None;
    }
    Some((
        Time::from_hms_nano(hour, minute, second, nanos).ok()?,
        offset,
    ))
}

/// An IP range: an address and a prefix length (a bare address is a /32 or /128).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Cidr {
    v6: bool,
    /// The address with its host bits cleared, IPv4 in the low 32 bits.
    network: u128,
    prefix: u8,
}

impl Cidr {
    pub(crate) fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let (v6, bits, width) = match addr.parse::<IpAddr>().ok()? {
            IpAddr::V4(a) => (false, u128::from(u32::from(a)), 32),
            IpAddr::V6(a) => (true, u128::from(a), 128),
        };
        let prefix = match prefix {
            None => width,
            Some(p) => fixed_digits::<u8>(p, p.len()).filter(|&p| p <= width)?,
        };
        Some(Cidr {
            v6,
            network: bits & mask(width, prefix),
            prefix,
        })
    }

    pub(crate) fn contains(&self, ip: &str) -> bool {
        let (v6, bits, width) = match ip.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => (false, u128::from(u32::from(a)), 32),
            Ok(IpAddr::V6(a)) => (true, u128::from(a), 128),
            Err(_) => return false,
        };
        v6 == self.v6 && bits & mask(width, self.prefix) == self.network
    }
}

fn mask(width: u8, prefix: u8) -> u128 {
    let all = if width == 32 {
        u128::from(u32::MAX)
    } else {
        u128::MAX
    };
    match width - prefix {
        0 => all,
        host if host >= 128 => 0,
        host => all & !((1u128 << host) - 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_strict() {
        assert_eq!(number("10"), Some(10.0));
        assert_eq!(number("-1.5"), Some(-1.5));
        for bad in ["", "NaN", "inf", "1e3", " 1", "1.", ".5", "0x10", "--1"] {
            assert_eq!(number(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates_in_the_forms_aws_takes() {
        let noon = date("2020-01-01T12:00:00Z").unwrap();
        assert_eq!(noon, 1_577_880_000 * 1_000_000_000);
        assert_eq!(date("1577880000"), Some(noon));
        assert_eq!(date("2020-01-01T12:00Z"), Some(noon));
        assert_eq!(date("2020-01-01T13:00:00+01:00"), Some(noon));
        assert_eq!(date("2020-01-01T12:00:00.5Z"), Some(noon + 500_000_000));
        assert_eq!(date("2020"), date("2020-01-01T00:00:00Z"));
        assert_eq!(date("2020-01"), date("2020-01-01"));
        for bad in [
            "",
            "2020-13-01",
            "2020-02-30",
            "20-01-01",
            "2020-01-01T25:00Z",
            "soon",
        ] {
            assert_eq!(date(bad), None, "{bad}");
        }
    }

    #[test]
    fn cidrs() {
        let net = Cidr::parse("203.0.113.0/24").unwrap();
        assert!(net.contains("203.0.113.200") && !net.contains("203.0.114.1"));
        assert!(!net.contains("::ffff:203.0.113.1") && !net.contains("nonsense"));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("198.51.100.7"));
        assert!(Cidr::parse("192.0.2.7").unwrap().contains("192.0.2.7"));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:1::1") && !v6.contains("2001:db9::1"));
        assert!(Cidr::parse("::/0").unwrap().contains("::1"));
        for bad in [
            "203.0.113.0/33",
            "203.0.113.0/",
            "2001:db8::/129",
            "x/8",
            "1.2.3.4/+8",
        ] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }
}
