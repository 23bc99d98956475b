//! Network namespaces for live tests (the setup of tests/live.rs, shared):
//!
//! ```text
//!  ns H (LAN host)          ns R (the "router")                     ns W (a "remote" server)
//!  eth0 192.168.77.10 ── veth ── br-lan 192.168.77.1   wan 198.18.5.1 ── veth ── eth0 198.18.5.5
//! ```
//!
//! Traffic never leaves the namespaces. Included with `#[path = "common/netns.rs"] mod netns;`.
#![allow(dead_code)]

use std::os::fd::AsRawFd;
use std::process::{Child, Command};

pub struct Namespaces {
    pub names: Vec<String>,
    pub daemon: Option<Child>,
}

impl Namespaces {
    pub fn host(&self) -> &str {
        &self.names[0]
    }
    pub fn router(&self) -> &str {
        &self.names[1]
    }
    pub fn remote(&self) -> &str {
        &self.names[2]
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for n in &self.names {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

pub fn ip(ns: &str, args: &str) -> Result<(), String> {
    let mut all = vec!["-n", ns];
    all.extend(args.split_whitespace());
    let out = Command::new("ip")
        .args(&all)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            all.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Makes (or remakes) the router's br-lan with the LAN-side veth in it.
pub fn make_bridge(r: &str) -> Result<(), String> {
    ip(r, "link add br-lan type bridge")?;
    ip(r, "link set lan0 master br-lan")?;
    ip(r, "addr add 192.168.77.1/24 dev br-lan")?;
    ip(r, "link set br-lan up")?;
    ip(r, "link set lan0 up")
}

/// Builds H, R and W (names `cmh{tag}`, `cmr{tag}`, `cmw{tag}`). Err: no root or no iproute2.
pub fn setup(tag: &str, with_bridge: bool) -> Result<Namespaces, String> {
    let (h, r, w) = (
        format!("cmh{tag}"),
        format!("cmr{tag}"),
        format!("cmw{tag}"),
    );
    let mut ns = Namespaces {
        names: vec![],
        daemon: None,
    };
    for n in [&h, &r, &w] {
        let out = Command::new("ip")
            .args(["netns", "add", n])
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        ns.names.push(n.clone());
        ip(n, "link set lo up")?;
    }
    ip(
        &r,
        &format!("link add lan0 type veth peer name eth0 netns {h}"),
    )?;
    ip(
        &r,
        &format!("link add wan type veth peer name eth0 netns {w}"),
    )?;
    ip(&r, "addr add 198.18.5.1/24 dev wan")?;
    ip(&r, "link set wan up")?;
    if with_bridge {
        make_bridge(&r)?;
    }
    ip(&h, "addr add 192.168.77.10/24 dev eth0")?;
    ip(&h, "link set eth0 up")?;
    ip(&h, "route add default via 192.168.77.1")?;
    ip(&w, "addr add 198.18.5.5/24 dev eth0")?;
    ip(&w, "link set eth0 up")?;
    ip(&w, "route add 192.168.77.0/24 via 198.18.5.1")?;
    let fwd = Command::new("ip")
        .args([
            "netns",
            "exec",
            &r,
            "sh",
            "-c",
            "echo 1 > /proc/sys/net/ipv4/ip_forward",
        ])
        .status()
        .map_err(|e| e.to_string())?;
    if !fwd.success() {
        return Err("cannot enable forwarding in the router namespace".into());
    }
    Ok(ns)
}

/// Runs `f` on a thread that has entered network namespace `ns`.
pub fn in_ns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("netns file");
        // SAFETY: setns on this thread only; the fd is valid for the call.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
}
