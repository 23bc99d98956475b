//! Which `Host` values name this router: the defence against DNS rebinding.
//!
//! A web page from the internet, opened on a LAN device, can point its own name at the router's
//! LAN address and then read `/markers.json` as a same-origin resource, unless the server
//! refuses requests whose `Host` is not one of its own names. The gate (`gate.rs`) asks
//! `HostPolicy::allows` for every request, on every route: the listen address literal (IPv6 in
//! brackets; any literal when listening on a wildcard address, since no DNS name is involved),
//! `localhost`, the router's hostname and its `.lan` name, and the names given with
//! `--allow-host`; case-insensitive, one trailing dot allowed, with or without a port.
//!
//! The same names make the CSP's `frame-ancestors`: LuCI frames the page from the router's own
//! origins (http and https on their default ports), nothing else may.

use std::net::{IpAddr, SocketAddr};

/// The names and address literals the server answers to.
#[derive(Debug, Clone)]
pub struct HostPolicy {
    /// Lowercase, without a trailing dot.
    names: Vec<String>,
    /// The listen address; `None` when it is a wildcard (then every literal is ours).
    ip: Option<IpAddr>,
}

/// This machine's hostname (`gethostname`), if it has a usable one.
pub fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it or
    // truncates, and we stop at the first NUL or the end.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = std::str::from_utf8(&buf[..end]).ok()?;
    valid_name(name).then(|| name.to_ascii_lowercase())
}

/// A DNS name as `--allow-host` accepts it: letters, digits, `-`, `.`, `_`, at most 253 bytes.
pub fn valid_name(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        })
}

impl HostPolicy {
    /// `hostname`: the router's name (`hostname()`); `extra`: the `--allow-host` names.
    pub fn new(listen: SocketAddr, hostname: Option<&str>, extra: &[String]) -> HostPolicy {
        let mut names = vec!["localhost".to_string()];
        if let Some(h) = hostname {
            let h = h.trim_end_matches('.').to_ascii_lowercase();
            if !h.is_empty() {
                if !h.ends_with(".lan") {
                    names.push(format!("{h}.lan"));
                }
                names.push(h);
            }
        }
        for e in extra {
            names.push(e.trim_end_matches('.').to_ascii_lowercase());
        }
        names.sort();
        names.dedup();
        let ip = Some(listen.ip()).filter(|ip| !ip.is_unspecified());
        HostPolicy { names, ip }
    }

    /// Whether `host` (a `Host` header value or an absolute-form authority) names us.
    pub fn allows(&self, host: &str) -> bool {
        let Some(h) = parse_authority(host) else {
            return false;
        };
        match h {
            Authority::Ip(ip) => match self.ip {
                Some(mine) => ip == mine,
                None => true,
            },
            Authority::Name(n) => {
                let n = n.strip_suffix('.').unwrap_or(n);
                self.names.iter().any(|m| m.eq_ignore_ascii_case(n))
            }
        }
    }

    /// `frame-ancestors` sources: this page itself and the router's own origins (LuCI).
    pub fn frame_ancestors(&self) -> String {
        let mut hosts: Vec<String> = self.names.clone();
        match self.ip {
            Some(IpAddr::V6(v6)) => hosts.push(format!("[{v6}]")),
            Some(IpAddr::V4(v4)) => hosts.push(v4.to_string()),
            None => {}
        }
        let mut out = String::from("frame-ancestors 'self'");
        for h in hosts {
            out.push_str(&format!(" http://{h} https://{h}"));
        }
        out
    }
}

enum Authority<'a> {
    Ip(IpAddr),
    Name(&'a str),
}

/// `host[:port]`, `[v6][:port]`; `None` for anything else (userinfo, empty, bad port).
fn parse_authority(s: &str) -> Option<Authority<'_>> {
    let port_ok = |p: &str| p.is_empty() || p.len() <= 5 && p.parse::<u16>().is_ok();
    if let Some(rest) = s.strip_prefix('[') {
        let (lit, after) = rest.split_once(']')?;
        let port = match after {
            "" => "",
            a => a.strip_prefix(':').filter(|p| !p.is_empty())?,
        };
        if !port_ok(port) {
            return None;
        }
        return lit
            .parse::<std::net::Ipv6Addr>()
            .ok()
            .map(|v6| Authority::Ip(IpAddr::V6(v6)));
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() => (h, p),
        Some(_) => return None,
        None => (s, ""),
    };
    if !port_ok(port) || host.is_empty() {
        return None;
    }
    if let Ok(v4) = host.parse::<std::net::Ipv4Addr>() {
        return Some(Authority::Ip(IpAddr::V4(v4)));
    }
    valid_name(host).then_some(Authority::Name(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(listen: &str) -> HostPolicy {
        HostPolicy::new(
            listen.parse().unwrap(),
            Some("OpenWrt"),
            &["map.home.arpa".into(), "Router.Example.".into()],
        )
    }

    #[test]
    fn names_of_the_router_are_allowed() {
        let p = policy("192.168.1.1:8090");
        for ok in [
            "192.168.1.1",
            "192.168.1.1:8090",
            "192.168.1.1:80",
            "openwrt",
            "OpenWrt.",
            "openwrt.lan",
            "OPENWRT.LAN.:8090",
            "localhost",
            "localhost:8090",
            "map.home.arpa",
            "router.example",
            "router.example.:8090",
        ] {
            assert!(p.allows(ok), "{ok}");
        }
    }

    #[test]
    fn other_names_are_refused() {
        let p = policy("192.168.1.1:8090");
        for bad in [
            "",
            "attacker.example.com",
            "attacker.example.com:8090",
            "openwrt.lan.attacker.example",
            "192.168.1.2",
            "192.168.1.1.nip.io",
            "[::1]",
            "user@192.168.1.1",
            "192.168.1.1:",
            "192.168.1.1:99999",
            "192.168.1.1:80:80",
            "openwrt..",
            "open wrt",
            "localhost.example",
        ] {
            assert!(!p.allows(bad), "{bad:?}");
        }
    }

    #[test]
    fn ipv6_literals_in_brackets() {
        let p = policy("[fd00::1]:8090");
        for ok in ["[fd00::1]", "[FD00::1]:8090", "[fd00:0::1]"] {
            assert!(p.allows(ok), "{ok}");
        }
        for bad in [
            "fd00::1",
            "[fd00::2]",
            "[fd00::1",
            "[fd00::1]x",
            "[fd00::1]:",
        ] {
            assert!(!p.allows(bad), "{bad}");
        }
    }

    #[test]
    fn wildcard_listen_allows_every_literal_but_no_foreign_name() {
        let p = policy("0.0.0.0:8090");
        assert!(p.allows("10.0.0.1:8090") && p.allows("[::1]") && p.allows("openwrt.lan"));
        assert!(!p.allows("evil.example"));
    }

    #[test]
    fn frame_ancestors_are_the_router_origins() {
        let fa = policy("[fd00::1]:8090").frame_ancestors();
        assert!(fa.starts_with("frame-ancestors 'self' "), "{fa}");
        for o in [
            "http://[fd00::1]",
            "https://[fd00::1]",
            "http://openwrt.lan",
            "https://openwrt",
            "http://localhost",
            "https://router.example",
        ] {
            assert!(fa.split(' ').any(|s| s == o), "{o} in {fa}");
        }
        assert!(!fa.contains('*'));
    }

    #[test]
    fn names_for_the_option() {
        assert!(valid_name("map.home.arpa") && valid_name("x.") && valid_name("a-b_c"));
        assert!(!valid_name("") && !valid_name("a b") && !valid_name("a;b") && !valid_name(".."));
        assert!(!valid_name("a..b") && !valid_name(&"a".repeat(64)));
    }
}
