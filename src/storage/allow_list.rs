//! Which network addresses storage integrations may reach.
//!
//! An integration's endpoint is a URL any member types in, and the server
//! connects to it from inside the operator's network. So loopback,
//! link-local (cloud metadata at 169.254.169.254 among them), private,
//! unique-local, carrier-grade NAT, multicast and unspecified addresses —
//! and the IPv6 forms that embed an IPv4 address — are refused unless the
//! operator allows them with `--storage-allowed-hosts`
//! (`ANNOGRAPH_STORAGE_ALLOWED_HOSTS`): host names (`minio.internal`), host
//! names with a port (`minio.internal:9000`), addresses with a port
//! (`10.0.0.5:9000`, `[fd00::5]:9000`), addresses and CIDR ranges
//! (`10.0.0.0/8`).
//!
//! A host name in the list is trusted whatever it resolves to; any other
//! name is checked on the addresses it resolves to, which are the addresses
//! connected to (see `connector`). Address and CIDR entries also allow names
//! resolving into them; an address with a port allows that address and port
//! only when written as such in a URL.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// One entry of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    /// A host name, on any port or on one.
    Name { name: String, port: Option<u16> },
    /// An address range (a single address is a /32 or /128).
    Net { network: IpAddr, prefix: u8 },
    /// One address on one port.
    Socket { ip: IpAddr, port: u16 },
}

/// The operator's exceptions to the refusal of internal addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    entries: Vec<Entry>,
}

/// What may be done with the host of a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostVerdict {
    /// A public address, or one the operator allows: connect.
    Allowed,
    /// A name the operator trusts: connect to whatever it resolves to.
    TrustedName,
    /// A name to resolve; each address it resolves to is checked.
    Resolve,
    /// An internal address (or a name that always means one): refused.
    Refused,
}

/// The words of every refusal: the same whatever (if anything) listens
/// there, so that refusals reveal nothing about internal resources.
pub const REFUSED: &str = "the storage address is internal (loopback, private, link-local or similar) and is refused; the operator may allow it with --storage-allowed-hosts";

impl AllowList {
    /// Parses the comma-separated entries of `--storage-allowed-hosts`.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<AllowList, String> {
        let mut entries = Vec::new();
        for item in items
            .iter()
            .flat_map(|i| i.as_ref().split(','))
            .map(str::trim)
            .filter(|i| !i.is_empty())
        {
            entries.push(parse_entry(item).ok_or_else(|| {
                format!(
                    "storage allowed host {item:?} is not a host name, host:port, address, address:port or CIDR range"
                )
            })?);
        }
        Ok(AllowList { entries })
    }

    /// Loopback (IPv4 and IPv6), for tests and local development.
    pub fn loopback() -> AllowList {
        AllowList {
            entries: vec![
                Entry::Net {
                    network: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)),
                    prefix: 8,
                },
                Entry::Net {
                    network: IpAddr::V6(Ipv6Addr::LOCALHOST),
                    prefix: 128,
                },
                Entry::Name {
                    name: "localhost".into(),
                    port: None,
                },
            ],
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// May a resolved address (whatever the port) be connected to?
    pub fn permits_resolved(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        !is_internal(ip)
            || self.entries.iter().any(|e| match e {
                Entry::Net { network, prefix } => in_net(ip, *network, *prefix),
                _ => false,
            })
    }

    /// The verdict on the host and port of `url`. The `url` crate has
    /// already normalised odd IPv4 forms (`2130706433`, `0x7f.1`, `127.1`)
    /// into addresses, so they are judged as addresses.
    pub fn verdict(&self, url: &Url) -> HostVerdict {
        let port = url.port_or_known_default();
        match url.host() {
            Some(Host::Ipv4(ip)) => self.ip_verdict(IpAddr::V4(ip), port),
            Some(Host::Ipv6(ip)) => self.ip_verdict(IpAddr::V6(ip), port),
            Some(Host::Domain(name)) => {
                let name = normal_name(name);
                // A name that is an address in disguise (a non-special
                // scheme leaves it unparsed).
                if let Ok(ip) = name.parse::<IpAddr>() {
                    return self.ip_verdict(ip, port);
                }
                let listed = self.entries.iter().any(|e| match e {
                    Entry::Name { name: n, port: p } => *n == name && (p.is_none() || *p == port),
                    _ => false,
                });
                if listed {
                    HostVerdict::TrustedName
                } else if is_internal_name(&name) {
                    HostVerdict::Refused
                } else {
                    HostVerdict::Resolve
                }
            }
            None => HostVerdict::Refused,
        }
    }

    fn ip_verdict(&self, ip: IpAddr, port: Option<u16>) -> HostVerdict {
        let ip = canonical(ip);
        let socket = self
            .entries
            .iter()
            .any(|e| matches!(e, Entry::Socket { ip: i, port: p } if canonical(*i) == ip && Some(*p) == port));
        if socket || self.permits_resolved(ip) {
            HostVerdict::Allowed
        } else {
            HostVerdict::Refused
        }
    }
}

fn normal_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn parse_entry(item: &str) -> Option<Entry> {
    if let Some((network, prefix)) = item.split_once('/') {
        let network: IpAddr = network
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        return (prefix <= max).then_some(Entry::Net { network, prefix });
    }
    if let Ok(ip) = item
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        let prefix = if ip.is_ipv4() { 32 } else { 128 };
        return Some(Entry::Net {
            network: ip,
            prefix,
        });
    }
    if let Ok(socket) = item.parse::<std::net::SocketAddr>() {
        return Some(Entry::Socket {
            ip: socket.ip(),
            port: socket.port(),
        });
    }
    let (name, port) = match item.rsplit_once(':') {
        Some((name, port)) => (name, Some(port.parse::<u16>().ok()?)),
        None => (item, None),
    };
    let name = normal_name(name);
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    valid.then_some(Entry::Name { name, port })
}

/// Names that mean this machine or the cloud's metadata service wherever
/// they are resolved.
fn is_internal_name(name: &str) -> bool {
    name == "localhost"
        || name.ends_with(".localhost")
        || name == "localhost.localdomain"
        || name == "metadata.google.internal"
}

/// An IPv6 address that carries an IPv4 address (mapped, compatible,
/// NAT64, 6to4) judged as that IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else { return ip };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    let s = v6.segments();
    let embedded = |hi: u16, lo: u16| {
        IpAddr::V4(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        ))
    };
    // ::a.b.c.d (deprecated "compatible"; :: and ::1 stay IPv6).
    if s[..6].iter().all(|&x| x == 0) && (s[6] != 0 || s[7] > 1) {
        return embedded(s[6], s[7]);
    }
    // NAT64 64:ff9b::/96.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6].iter().all(|&x| x == 0) {
        return embedded(s[6], s[7]);
    }
    // 6to4 2002:aabb:ccdd::/48.
    if s[0] == 0x2002 {
        return embedded(s[1], s[2]);
    }
    ip
}

fn in_net(ip: IpAddr, network: IpAddr, prefix: u8) -> bool {
    match (canonical(ip), canonical(network)) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let bits = u32::from(prefix.min(32));
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let bits = u32::from(prefix.min(128));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Is `ip` an address of this machine, of a private network, or otherwise
/// not a public unicast address?
pub fn is_internal(ip: IpAddr) -> bool {
    const V4: [([u8; 4], u8); 11] = [
        ([0, 0, 0, 0], 8),      // "this network", unspecified
        ([10, 0, 0, 0], 8),     // private
        ([100, 64, 0, 0], 10),  // carrier-grade NAT
        ([127, 0, 0, 0], 8),    // loopback
        ([169, 254, 0, 0], 16), // link-local, cloud metadata
        ([172, 16, 0, 0], 12),  // private
        ([192, 0, 0, 0], 24),   // IETF protocol assignments
        ([192, 168, 0, 0], 16), // private
        ([198, 18, 0, 0], 15),  // benchmarking
        ([224, 0, 0, 0], 4),    // multicast
        ([240, 0, 0, 0], 4),    // reserved, broadcast
    ];
    const V6: [(u16, u8); 4] = [
        (0xfc00, 7),  // unique-local
        (0xfe80, 10), // link-local
        (0xfec0, 10), // site-local (deprecated)
        (0xff00, 8),  // multicast
    ];
    match canonical(ip) {
        IpAddr::V4(v4) => V4
            .iter()
            .any(|(net, prefix)| in_net(IpAddr::V4(v4), IpAddr::V4(Ipv4Addr::from(*net)), *prefix)),
        IpAddr::V6(v6) => {
            v6.is_unspecified()
                || v6.is_loopback()
                || V6.iter().any(|(net, prefix)| {
                    in_net(
                        IpAddr::V6(v6),
                        IpAddr::V6(Ipv6Addr::new(*net, 0, 0, 0, 0, 0, 0, 0)),
                        *prefix,
                    )
                })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(list: &AllowList, url: &str) -> HostVerdict {
        list.verdict(&Url::parse(url).unwrap())
    }

    #[test]
    fn internal_addresses_in_every_spelling_are_refused_by_default() {
        let none = AllowList::default();
        for url in [
            "http://127.0.0.1:8080/",
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f.0.0.1/",
            "http://0177.0.0.1/",
            "http://127.0.0.1./",
            "http://0.0.0.0/",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://172.31.255.255/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://100.64.0.1/",
            "http://[::1]/",
            "http://[::]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[2002:7f00:1::]/",
            "http://[fe80::1]/",
            "http://[fd00::1]/",
            "http://[fc00::1]/",
            "http://localhost:9000/",
            "http://LOCALHOST./",
            "http://api.localhost/",
            "http://metadata.google.internal/",
            "https://[::127.0.0.1]/",
        ] {
            assert_eq!(verdict(&none, url), HostVerdict::Refused, "{url}");
        }
        for url in [
            "https://8.8.8.8/",
            "https://172.32.0.1/",
            "https://[2606:4700::1111]/",
            "https://100.128.0.1/",
        ] {
            assert_eq!(verdict(&none, url), HostVerdict::Allowed, "{url}");
        }
        assert_eq!(
            verdict(&none, "https://cdn.example.com/"),
            HostVerdict::Resolve
        );
    }

    #[test]
    fn the_allow_list_takes_names_ports_addresses_and_ranges() {
        let list = AllowList::parse(&[
            "minio.internal:9000, files.corp",
            "10.0.0.0/8",
            "[fd00::5]:443",
            "192.168.1.7:8080",
            "172.20.0.9",
        ])
        .unwrap();
        assert_eq!(
            verdict(&list, "http://minio.internal:9000/"),
            HostVerdict::TrustedName
        );
        assert_eq!(
            verdict(&list, "http://minio.internal:9001/"),
            HostVerdict::Resolve
        );
        assert_eq!(
            verdict(&list, "https://FILES.corp./x"),
            HostVerdict::TrustedName
        );
        assert_eq!(verdict(&list, "http://10.9.8.7/"), HostVerdict::Allowed);
        assert_eq!(verdict(&list, "https://[fd00::5]/"), HostVerdict::Allowed);
        assert_eq!(verdict(&list, "http://[fd00::5]/"), HostVerdict::Refused);
        assert_eq!(
            verdict(&list, "http://192.168.1.7:8080/"),
            HostVerdict::Allowed
        );
        assert_eq!(
            verdict(&list, "http://192.168.1.7:8081/"),
            HostVerdict::Refused
        );
        assert_eq!(verdict(&list, "http://172.20.0.9:1/"), HostVerdict::Allowed);
        assert_eq!(verdict(&list, "http://127.0.0.1/"), HostVerdict::Refused);
        assert!(list.permits_resolved("10.0.0.1".parse().unwrap()));
        assert!(list.permits_resolved("::ffff:10.0.0.1".parse().unwrap()));
        assert!(!list.permits_resolved("192.168.1.7".parse().unwrap()));
        assert!(list.permits_resolved("1.1.1.1".parse().unwrap()));
        for bad in ["10.0.0.0/33", "exa mple.com", "host:port", "a..b", "/8"] {
            assert!(AllowList::parse(&[bad]).is_err(), "{bad}");
        }
    }
}
