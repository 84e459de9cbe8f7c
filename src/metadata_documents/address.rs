//! Which IP addresses a metadata-document fetch may reach (SSRF defence).
//!
//! RFC 6890 special-use ranges are refused: loopback, private, link-local,
//! CGNAT, unspecified, multicast, broadcast, documentation, benchmarking,
//! reserved, the 6to4 relay anycast; in IPv6 also unique-local, site-local
//! (`fec0::/10`, deprecated by RFC 3879 but still routed by some stacks),
//! IPv4-compatible (`::a.b.c.d`, RFC 4291 §2.5.5.1), local-use NAT64
//! (`64:ff9b:1::/48`, RFC 8215), the IETF protocol block `2001::/23` (Teredo
//! `2001::/32` among others, which tunnels to an IPv4 address), discard-only
//! (`100::/64`) and documentation (`2001:db8::/32`, `3fff::/20`). An IPv4
//! address inside IPv6 (mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4
//! `2002::/16`) is checked as that IPv4 address. Only loopback can be
//! allowed, by an operator flag, for local development and tests.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn v4_special(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64.0.0/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments 192.0.0.0/24
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18.0.0/15
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast 192.88.99.0/24
        || a >= 240 // reserved 240.0.0.0/4
}

fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => ip.to_ipv4_mapped(),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => {
            Some(Ipv4Addr::from(((s[6] as u32) << 16) | s[7] as u32))
        }
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::from(((hi as u32) << 16) | lo as u32)),
        _ => None,
    }
}

fn v6_special(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10
        || s[..6] == [0; 6] // IPv4-compatible ::a.b.c.d
        || s[..3] == [0x64, 0xff9b, 1] // local-use NAT64 64:ff9b:1::/48
        || s[..4] == [0x100, 0, 0, 0] // discard-only 100::/64
        || (s[0] == 0x2001 && s[1] < 0x200) // IETF protocol assignments 2001::/23, Teredo
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation 2001:db8::/32
        || (s[0] == 0x3fff && s[1] < 0x1000) // documentation 3fff::/20
        || embedded_v4(ip).is_some_and(v4_special)
}

/// May a fetch connect to `ip`?
pub fn allowed(ip: IpAddr, allow_loopback: bool) -> bool {
    if allow_loopback && ip.is_loopback() {
        return true;
    }
    match ip {
        IpAddr::V4(v4) => !v4_special(v4),
        IpAddr::V6(v6) => !v6_special(v6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_use_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::",
            "2001:db8::1",
            "ff02::1",
            "192.88.99.1",
            "::7f00:1",
            "::a00:1",
            "::5db8:d822",
            "fec0::1",
            "feff::1",
            "64:ff9b:1::5db8:d822",
            "2001::5db8:d822",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:2::1",
            "100::1",
            "3fff::1",
            "3fff:fff::1",
        ] {
            assert!(!allowed(ip.parse().unwrap(), false), "{ip} must be refused");
        }
    }

    #[test]
    fn ipv4_inside_ipv6_is_checked_as_that_ipv4_address() {
        for (v6, v4) in [
            ("::ffff:169.254.169.254", "169.254.169.254"),
            ("::ffff:100.64.0.1", "100.64.0.1"),
            ("64:ff9b::a9fe:a9fe", "169.254.169.254"),
            ("64:ff9b::c0a8:101", "192.168.1.1"),
            ("2002:c0a8:101::1", "192.168.1.1"),
            ("2002:a9fe:a9fe::", "169.254.169.254"),
        ] {
            assert!(!allowed(v4.parse().unwrap(), false), "{v4}");
            assert!(!allowed(v6.parse().unwrap(), false), "{v6} hides {v4}");
        }
        for public in ["::ffff:1.1.1.1", "64:ff9b::101:101", "2002:101:101::1"] {
            assert!(allowed(public.parse().unwrap(), false), "{public}");
        }
    }

    #[test]
    fn public_addresses_pass_and_loopback_only_with_the_flag() {
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700::1111",
            "2001:4860:4860::8888",
            "3fff:1000::1",
            "::ffff:93.184.216.34",
        ] {
            assert!(allowed(ip.parse().unwrap(), false), "{ip}");
        }
        assert!(allowed("127.0.0.1".parse().unwrap(), true));
        assert!(allowed("::1".parse().unwrap(), true));
        assert!(
            !allowed("10.0.0.1".parse().unwrap(), true),
            "the flag only opens loopback"
        );
    }
}
