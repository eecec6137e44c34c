//! Which IP addresses an outbound call may reach: the ones globally reachable, and no
//! other. [`special`] names the special-purpose range an address falls in (IANA's IPv4 and
//! IPv6 Special-Purpose Address Registries, plus multicast and the unallocated IPv6
//! space), or `None` for an ordinary public address.
//!
//! Why our own table: std's `is_global` is unstable, and the crates that backport it are
//! unmaintained and classify an IPv4-mapped `::ffff:127.0.0.1` only as "not global",
//! without saying it is loopback (the local stack needs that distinction). The table is
//! small and each range has its test below.
//!
//! Addresses that carry an IPv4 address inside IPv6 (IPv4-mapped `::ffff:0:0/96`,
//! IPv4-translated `::ffff:0:0:0/96`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are judged by
//! the IPv4 address they reach: `[::ffff:10.0.0.1]` is private, `64:ff9b::8.8.8.8` public.
//! IPv4-compatible `::/96` (deprecated by RFC 4291) is refused whatever it embeds.
//!
//! IPv6 outside global unicast `2000::/3` is refused as a whole (unique local `fc00::/7`,
//! link-local `fe80::/10`, site-local `fec0::/10`, multicast `ff00::/8`, discard `100::/64`,
//! SRv6 `5f00::/16` and everything unallocated), so a range IANA assigns later outside
//! `2000::/3` is refused until it is listed here.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A special-purpose range, by what it is for. `Display` is the name the error messages use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// `10/8`, `172.16/12`, `192.168/16` (RFC 1918).
    Private,
    /// `100.64.0.0/10`: carrier-grade NAT (RFC 6598).
    Shared,
    /// `169.254.0.0/16` (cloud metadata endpoints live here), `fe80::/10`.
    LinkLocal,
    /// `0.0.0.0/8` ("this network"), `::`.
    Unspecified,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `192.0.2/24`, `198.51.100/24`, `203.0.113/24`, `2001:db8::/32`, `3fff::/20`.
    Documentation,
    /// `198.18.0.0/15`, `2001:2::/48` (RFC 2544, 5180).
    Benchmarking,
    /// `192.0.0.0/24`, `2001::/23`: IETF protocol assignments (DS-Lite, NAT64 discovery,
    /// Teredo, ORCHID, …); also the old 6to4 relay anycast `192.88.99.0/24`.
    Protocol,
    /// `240.0.0.0/4` (reserved for future use).
    Reserved,
    /// `fc00::/7` (RFC 4193).
    UniqueLocal,
    /// `64:ff9b:1::/48`: NAT64 for one network's own use (RFC 8215).
    LocalNat64,
    /// `::/96` with an IPv4 address in it (RFC 4291 deprecated these).
    Ipv4Compatible,
    /// IPv6 outside `2000::/3` not named above (site-local, discard, SRv6, unallocated).
    NotGlobalUnicast,
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Range::Loopback => "a loopback address",
            Range::Private => "a private address",
            Range::Shared => "a carrier-grade NAT address",
            Range::LinkLocal => "a link-local address",
            Range::Unspecified => "an unspecified address",
            Range::Multicast => "a multicast address",
            Range::Broadcast => "the broadcast address",
            Range::Documentation => "a documentation address",
            Range::Benchmarking => "a benchmarking address",
            Range::Protocol => "an IETF protocol address",
            Range::Reserved => "a reserved address",
            Range::UniqueLocal => "a unique local IPv6 address",
            Range::LocalNat64 => "a local-use NAT64 address",
            Range::Ipv4Compatible => "an IPv4-compatible IPv6 address",
            Range::NotGlobalUnicast => "an IPv6 address outside global unicast",
        })
    }
}

/// The special-purpose range `ip` falls in, or `None` when it is an ordinary public
/// address an outbound call may reach.
pub fn special(ip: IpAddr) -> Option<Range> {
    match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => special_v6(v6),
    }
}

/// Is `bits` inside `prefix/len`?
fn in_v4(ip: Ipv4Addr, prefix: [u8; 4], len: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(prefix)) & mask
}

fn in_v6(ip: Ipv6Addr, prefix: [u16; 8], len: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
    u128::from(ip) & mask == u128::from(Ipv6Addr::from(prefix)) & mask
}

fn special_v4(ip: Ipv4Addr) -> Option<Range> {
    Some(if ip.is_loopback() {
        Range::Loopback
    } else if ip.is_private() {
        Range::Private
    } else if in_v4(ip, [100, 64, 0, 0], 10) {
        Range::Shared
    } else if ip.is_link_local() {
        Range::LinkLocal
    } else if in_v4(ip, [0, 0, 0, 0], 8) {
        Range::Unspecified
    } else if ip.is_multicast() {
        Range::Multicast
    } else if ip.is_broadcast() {
        Range::Broadcast
    } else if ip.is_documentation() {
        Range::Documentation
    } else if in_v4(ip, [198, 18, 0, 0], 15) {
        Range::Benchmarking
    } else if in_v4(ip, [192, 0, 0, 0], 24) || in_v4(ip, [192, 88, 99, 0], 24) {
        Range::Protocol
    } else if in_v4(ip, [240, 0, 0, 0], 4) {
        Range::Reserved
    } else {
        return None;
    })
}

/// The IPv4 address an IPv6 address reaches, for the forms that carry one.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    let low32 = Ipv4Addr::from(bits as u32);
    if in_v6(ip, [0, 0, 0, 0, 0, 0xffff, 0, 0], 96)
        || in_v6(ip, [0, 0, 0, 0, 0xffff, 0, 0, 0], 96)
        || in_v6(ip, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96)
    {
        return Some(low32);
    }
    if in_v6(ip, [0x2002, 0, 0, 0, 0, 0, 0, 0], 16) {
        return Some(Ipv4Addr::from((bits >> 80) as u32));
    }
    None
}

fn special_v6(ip: Ipv6Addr) -> Option<Range> {
    if ip.is_unspecified() {
        return Some(Range::Unspecified);
    }
    if ip.is_loopback() {
        return Some(Range::Loopback);
    }
    if let Some(v4) = embedded_v4(ip) {
        return special_v4(v4);
    }
    Some(if in_v6(ip, [0, 0, 0, 0, 0, 0, 0, 0], 96) {
        Range::Ipv4Compatible
    } else if ip.is_multicast() {
        Range::Multicast
    } else if in_v6(ip, [0xfc00, 0, 0, 0, 0, 0, 0, 0], 7) {
        Range::UniqueLocal
    } else if in_v6(ip, [0xfe80, 0, 0, 0, 0, 0, 0, 0], 10) {
        Range::LinkLocal
    } else if in_v6(ip, [0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48) {
        Range::LocalNat64
    } else if !in_v6(ip, [0x2000, 0, 0, 0, 0, 0, 0, 0], 3) {
        Range::NotGlobalUnicast
    } else if in_v6(ip, [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32)
        || in_v6(ip, [0x3fff, 0, 0, 0, 0, 0, 0, 0], 20)
    {
        Range::Documentation
    } else if in_v6(ip, [0x2001, 2, 0, 0, 0, 0, 0, 0], 48) {
        Range::Benchmarking
    } else if in_v6(ip, [0x2001, 0, 0, 0, 0, 0, 0, 0], 23) {
        Range::Protocol
    } else {
        return None;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(ip: &str) -> Option<Range> {
        special(ip.parse().unwrap())
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "200.147.67.142",
            "100.63.255.255",
            "100.128.0.0",
            "172.32.0.1",
            "192.0.1.255",
            "198.20.0.1",
            "223.255.255.255",
            "2800:3f0:4001:80b::200e",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert_eq!(of(ip), None, "{ip}");
        }
    }

    #[test]
    fn every_ipv4_special_range_is_named() {
        for (ip, range) in [
            ("127.0.0.1", Range::Loopback),
            ("127.255.255.254", Range::Loopback),
            ("10.0.0.1", Range::Private),
            ("172.16.0.1", Range::Private),
            ("172.31.255.255", Range::Private),
            ("192.168.1.1", Range::Private),
            ("100.64.0.1", Range::Shared),
            ("100.127.255.255", Range::Shared),
            ("169.254.169.254", Range::LinkLocal),
            ("0.0.0.0", Range::Unspecified),
            ("0.1.2.3", Range::Unspecified),
            ("224.0.0.1", Range::Multicast),
            ("239.255.255.255", Range::Multicast),
            ("255.255.255.255", Range::Broadcast),
            ("192.0.2.1", Range::Documentation),
            ("198.51.100.1", Range::Documentation),
            ("203.0.113.1", Range::Documentation),
            ("198.18.0.1", Range::Benchmarking),
            ("198.19.255.255", Range::Benchmarking),
            ("192.0.0.8", Range::Protocol),
            ("192.0.0.170", Range::Protocol),
            ("192.88.99.1", Range::Protocol),
            ("240.0.0.1", Range::Reserved),
            ("254.255.255.255", Range::Reserved),
        ] {
            assert_eq!(of(ip), Some(range), "{ip}");
        }
    }

    #[test]
    fn every_ipv6_special_range_is_named() {
        for (ip, range) in [
            ("::1", Range::Loopback),
            ("::", Range::Unspecified),
            ("fc00::1", Range::UniqueLocal),
            ("fd12:3456::1", Range::UniqueLocal),
            ("fe80::1", Range::LinkLocal),
            ("febf::1", Range::LinkLocal),
            ("fec0::1", Range::NotGlobalUnicast),
            ("ff02::1", Range::Multicast),
            ("ff0e::1", Range::Multicast),
            ("100::1", Range::NotGlobalUnicast),
            ("5f00::1", Range::NotGlobalUnicast),
            ("4000::1", Range::NotGlobalUnicast),
            ("2001:db8::1", Range::Documentation),
            ("3fff::1", Range::Documentation),
            ("2001:2::1", Range::Benchmarking),
            ("2001::1", Range::Protocol),
            ("2001:10::1", Range::Protocol),
            ("64:ff9b:1::1", Range::LocalNat64),
            ("::7f00:1", Range::Ipv4Compatible),
            ("::808:808", Range::Ipv4Compatible),
        ] {
            assert_eq!(of(ip), Some(range), "{ip}");
        }
    }

    #[test]
    fn ipv4_inside_ipv6_is_judged_by_the_ipv4_address() {
        for (ip, range) in [
            // IPv4-mapped
            ("::ffff:127.0.0.1", Range::Loopback),
            ("::ffff:10.0.0.1", Range::Private),
            ("::ffff:169.254.169.254", Range::LinkLocal),
            ("::ffff:0.0.0.0", Range::Unspecified),
            // IPv4-translated (SIIT)
            ("::ffff:0:7f00:1", Range::Loopback),
            // NAT64 well-known prefix
            ("64:ff9b::7f00:1", Range::Loopback),
            ("64:ff9b::a9fe:a9fe", Range::LinkLocal),
            // 6to4
            ("2002:7f00:1::1", Range::Loopback),
            ("2002:c0a8:101::1", Range::Private),
            ("2002:6440:1::", Range::Shared),
        ] {
            assert_eq!(of(ip), Some(range), "{ip}");
        }
    }
}
