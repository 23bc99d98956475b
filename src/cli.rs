//! Command line: flags → `Config`. A bad flag is an error message and exit status 2.

use ipnet::IpNet;
use lexopt::prelude::*;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// The default settings, from their one source src/defaults.conf (made by build.rs; the
/// OpenWrt packages' UCI file, init script and LuCI form are filled from the same table).
pub mod defaults {
    include!(concat!(env!("OUT_DIR"), "/defaults.rs"));
}

pub const DEFAULT_PORT: u16 = defaults::PORT;
pub const DEFAULT_GEOIP: &str = defaults::GEOIP;
pub const DEFAULT_WWW: &str = defaults::WWW;

/// `connmap --help`: src/usage.txt with the defaults filled in (build.rs).
pub const USAGE: &str = include_str!(concat!(env!("OUT_DIR"), "/usage.txt"));

/// The daemon's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub interface: String,
    pub read: Option<PathBuf>,
    pub geoip: PathBuf,
    pub lan: Vec<IpNet>,
    pub remote: Vec<IpNet>,
    pub exclude: Vec<IpNet>,
    pub listen: Option<SocketAddr>,
    /// Extra names the HTTP `Host` header may carry (DNS-rebinding defence).
    pub allow_hosts: Vec<String>,
    /// false (`--no-http`): no HTTP listener, the snapshots go to `json_out` only
    pub http: bool,
    pub www: PathBuf,
    pub json_out: Option<PathBuf>,
    pub interval: u64,
    pub max_remotes: usize,
    pub max_hosts: usize,
    pub retention: u64,
    pub state: Option<PathBuf>,
    pub save_interval: u64,
    /// `--history-*`: the history's bounds (src/history).
    pub history: crate::history::Bounds,
    pub leases: Option<PathBuf>,
    pub ethers: Option<PathBuf>,
    pub dhcp_config: Option<PathBuf>,
    pub odhcpd: Option<PathBuf>,
    pub max_names: usize,
    pub learn_names: bool,
    pub doh_list: Option<PathBuf>,
    pub firewall_config: Option<PathBuf>,
    pub nft: Option<String>,
    /// `--conntrack`: counts from conntrack (see `conntrack`).
    pub conntrack: bool,
    pub home: Option<(f64, f64)>,
    pub user: Option<String>,
    pub tiles: Option<String>,
    /// export (src/export): /metrics bounds and the IPFIX collector
    pub metrics_top: usize,
    pub metrics_remotes: usize,
    pub ipfix: Option<SocketAddr>,
    pub ipfix_active: u64,
    pub ipfix_idle: u64,
    /// alerts (src/alert)
    pub alerts: crate::alert::AlertConfig,
    /// -1 quiet, 0 normal, 1 verbose, 2 debug
    pub verbosity: i8,
}

impl Default for Config {
    fn default() -> Config {
        use defaults as d;
        let path = |p: &str| Some(PathBuf::from(p));
        Config {
            interface: d::DEVICE.into(),
            read: None,
            geoip: DEFAULT_GEOIP.into(),
            lan: vec![],
            remote: vec![],
            exclude: vec![],
            listen: None,
            allow_hosts: vec![],
            http: true,
            www: DEFAULT_WWW.into(),
            json_out: None,
            interval: d::INTERVAL,
            max_remotes: d::MAX_REMOTES,
            max_hosts: d::MAX_HOSTS,
            retention: d::RETENTION,
            state: None,
            save_interval: d::SAVE_INTERVAL,
            history: crate::history::Bounds::default(),
            leases: path(d::LEASES),
            ethers: path(d::ETHERS),
            dhcp_config: path(d::DHCP_CONFIG),
            odhcpd: path(d::ODHCPD),
            max_names: d::MAX_NAMES,
            learn_names: true,
            doh_list: None,
            firewall_config: path(d::FIREWALL_CONFIG),
            nft: cfg!(feature = "nft").then(|| "nft".into()),
            conntrack: false,
            home: None,
            user: None,
            tiles: None,
            metrics_top: d::METRICS_TOP,
            metrics_remotes: d::METRICS_REMOTES,
            ipfix: None,
            ipfix_active: d::IPFIX_ACTIVE,
            ipfix_idle: d::IPFIX_IDLE,
            alerts: Default::default(),
            verbosity: 0,
        }
    }
}

/// `connmap demo` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoConfig {
    pub listen: SocketAddr,
    pub www: Option<PathBuf>,
    pub verbosity: i8,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Run(Box<Config>),
    Demo(DemoConfig),
    Help,
    Version,
}

fn net(s: &str, flag: &str) -> Result<IpNet, String> {
    if let Ok(n) = s.parse::<IpNet>() {
        return Ok(n.trunc());
    }
    s.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("{flag}: {} is not an IP address or CIDR network", quote(s)))
}

fn cidr(s: &str, flag: &str) -> Result<IpNet, String> {
    s.parse::<IpNet>().map(|n| n.trunc()).map_err(|_| {
        format!(
            "{flag}: {} is not a CIDR network (like 192.168.1.0/24)",
            quote(s)
        )
    })
}

fn number<T>(s: &str, flag: &str, min: T) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let v: T = s
        .parse()
        .map_err(|_| format!("{flag}: {} is not a number", quote(s)))?;
    if v < min {
        return Err(format!("{flag}: must be at least {min}"));
    }
    Ok(v)
}

fn socket(s: &str, flag: &str) -> Result<SocketAddr, String> {
    s.parse::<SocketAddr>().map_err(|_| {
        format!(
            "{flag}: {} is not ADDRESS:PORT (like 192.168.1.1:8090 or [::1]:8090)",
            quote(s)
        )
    })
}

/// `--nft CMD`: '' for none; a command only where the `nft` feature is built in.
fn nft(cmd: String) -> Result<Option<String>, String> {
    if cmd.is_empty() {
        Ok(None)
    } else if cfg!(feature = "nft") {
        Ok(Some(cmd))
    } else {
        Err("--nft: this connmap is built without the `nft` feature; only '' is accepted".into())
    }
}

fn home(s: &str) -> Result<(f64, f64), String> {
    let bad = || format!("--home: {} is not LAT,LNG (like 52.52,13.40)", quote(s));
    let (a, b) = s.split_once(',').ok_or_else(bad)?;
    let lat: f64 = a.trim().parse().map_err(|_| bad())?;
    let lng: f64 = b.trim().parse().map_err(|_| bad())?;
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lng) {
        return Err(format!("--home: {} is outside the globe", quote(s)));
    }
    Ok((lat, lng))
}

/// `--allow-host NAME`: a DNS name (an address is allowed by listening on it).
fn allow_host(s: &str) -> Result<String, String> {
    if crate::http::host::valid_name(s) {
        Ok(s.trim_end_matches('.').to_ascii_lowercase())
    } else {
        Err(format!(
            "--allow-host: {} is not a host name (letters, digits, '-', '.')",
            quote(s)
        ))
    }
}

/// `--alert-rules LIST`.
fn alert_rules(s: &str, a: &mut crate::alert::AlertConfig) -> Result<(), String> {
    (a.new_country, a.new_asn, a.blocklist, a.new_device) = (false, false, false, false);
    for r in s.split(',').map(str::trim).filter(|r| !r.is_empty()) {
        match r {
            "new_country" => a.new_country = true,
            "new_asn" => a.new_asn = true,
            "blocklist" => a.blocklist = true,
            "new_device" => a.new_device = true,
            _ => {
                return Err(format!(
                    "--alert-rules: unknown rule {} (new_country, new_asn, blocklist, new_device; \
                     the upload rule is --alert-upload)",
                    quote(r)
                ))
            }
        }
    }
    Ok(())
}

fn optional_path(s: String) -> Option<PathBuf> {
    (!s.is_empty()).then(|| PathBuf::from(s))
}

fn tiles(s: &str) -> Result<String, String> {
    if !s.starts_with("https://") && !s.starts_with("http://") {
        return Err(format!(
            "--tiles: {} is not an http(s) URL template",
            quote(s)
        ));
    }
    if !(s.contains("{z}") && s.contains("{x}") && s.contains("{y}")) {
        return Err("--tiles: the template needs {z}, {x} and {y}".into());
    }
    if s.chars()
        .any(|c| c.is_whitespace() || c == ';' || c == '\'' || c == '"')
    {
        return Err("--tiles: the template has characters a URL cannot have".into());
    }
    Ok(s.to_string())
}

/// The origin (`https://host[:port]`) of a tile URL template, for the CSP.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split('/').next()?;
    // `{s}` subdomain placeholders become a wildcard.
    let host = host.replace("{s}", "*");
    Some(format!("{scheme}://{host}"))
}

/// `s` in double quotes, escaped as `{:?}` would (the router build has no `Debug` output:
/// `-Zfmt-debug=none`, scripts/cross-build.sh).
pub fn quote(s: &str) -> String {
    format!("\"{}\"", s.escape_debug())
}

/// lexopt's message, with the values it would print through `Debug` quoted by [`quote`].
fn lexopt_error(e: lexopt::Error) -> String {
    use lexopt::Error::*;
    match e {
        UnexpectedValue { option, value } => format!(
            "unexpected argument for option '{option}': {}",
            quote(&value.to_string_lossy())
        ),
        UnexpectedArgument(v) => format!("unexpected argument {}", quote(&v.to_string_lossy())),
        NonUnicodeValue(v) => format!(
            "argument is invalid unicode: {}",
            quote(&v.to_string_lossy())
        ),
        ParsingFailed { value, error } => {
            format!("cannot parse argument {}: {error}", quote(&value))
        }
        e => e.to_string(),
    }
}

fn value(p: &mut lexopt::Parser, flag: &str) -> Result<String, String> {
    let v = p.value().map_err(|_| format!("{flag} needs a value"))?;
    v.into_string()
        .map_err(|_| format!("{flag}: the value is not valid UTF-8"))
}

/// Parses `args` (without the program name).
pub fn parse<I>(args: I) -> Result<Command, String>
where
    I: IntoIterator,
    I::Item: Into<std::ffi::OsString>,
{
    let mut p = lexopt::Parser::from_args(args);
    let mut c = Config::default();
    let mut first = true;
    while let Some(arg) = p.next().map_err(lexopt_error)? {
        match arg {
            Value(v) if first && v == "demo" => return parse_demo(&mut p),
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            Short('v') | Long("verbose") => c.verbosity = (c.verbosity.max(0) + 1).min(2),
            Short('q') | Long("quiet") => c.verbosity = -1,
            Short('i') | Long("interface") => {
                c.interface = value(&mut p, "--interface")?;
                if c.interface.is_empty() || c.interface.len() > 15 || c.interface.contains('/') {
                    return Err(format!(
                        "--interface: {} is not an interface name",
                        quote(&c.interface)
                    ));
                }
            }
            Short('r') | Long("read") => c.read = Some(value(&mut p, "--read")?.into()),
            Long("geoip") => c.geoip = value(&mut p, "--geoip")?.into(),
            Long("lan") => c.lan.push(cidr(&value(&mut p, "--lan")?, "--lan")?),
            Long("remote") => c
                .remote
                .push(cidr(&value(&mut p, "--remote")?, "--remote")?),
            Long("exclude") => c
                .exclude
                .push(net(&value(&mut p, "--exclude")?, "--exclude")?),
            Long("listen") => c.listen = Some(socket(&value(&mut p, "--listen")?, "--listen")?),
            Long("allow-host") => c
                .allow_hosts
                .push(allow_host(&value(&mut p, "--allow-host")?)?),
            Long("no-http") => c.http = false,
            Long("www") => c.www = value(&mut p, "--www")?.into(),
            Long("json-out") => c.json_out = Some(value(&mut p, "--json-out")?.into()),
            Long("interval") => {
                c.interval = number(&value(&mut p, "--interval")?, "--interval", 1)?
            }
            Long("max-remotes") => {
                c.max_remotes = number(&value(&mut p, "--max-remotes")?, "--max-remotes", 1)?
            }
            Long("max-hosts") => {
                c.max_hosts = number(&value(&mut p, "--max-hosts")?, "--max-hosts", 1)?
            }
            Long("retention") => {
                c.retention = number(&value(&mut p, "--retention")?, "--retention", 1)?
            }
            Long("state") => c.state = optional_path(value(&mut p, "--state")?),
            Long("save-interval") => {
                c.save_interval = number(&value(&mut p, "--save-interval")?, "--save-interval", 1)?
            }
            Long("history-top") => {
                c.history.top = number(&value(&mut p, "--history-top")?, "--history-top", 0)?
            }
            Long("history-devices") => {
                let v = value(&mut p, "--history-devices")?;
                c.history.devices = number(&v, "--history-devices", 1)?
            }
            Long("history-hours") => {
                let v = value(&mut p, "--history-hours")?;
                c.history.hours = number(&v, "--history-hours", 24)?
            }
            Long("history-days") => {
                c.history.days = number(&value(&mut p, "--history-days")?, "--history-days", 0)?
            }
            Long("leases") => c.leases = optional_path(value(&mut p, "--leases")?),
            Long("ethers") => c.ethers = optional_path(value(&mut p, "--ethers")?),
            Long("dhcp-config") => c.dhcp_config = optional_path(value(&mut p, "--dhcp-config")?),
            Long("odhcpd") => c.odhcpd = optional_path(value(&mut p, "--odhcpd")?),
            Long("max-names") => {
                c.max_names = number(&value(&mut p, "--max-names")?, "--max-names", 1)?
            }
            Long("no-names") => c.learn_names = false,
            Long("doh-list") => c.doh_list = optional_path(value(&mut p, "--doh-list")?),
            Long("firewall-config") => {
                c.firewall_config = optional_path(value(&mut p, "--firewall-config")?)
            }
            Long("nft") => c.nft = nft(value(&mut p, "--nft")?)?,
            Long("conntrack") => c.conntrack = true,
            Long("home") => c.home = Some(home(&value(&mut p, "--home")?)?),
            Long("user") => c.user = Some(value(&mut p, "--user")?).filter(|u| !u.is_empty()),
            Long("tiles") => c.tiles = Some(tiles(&value(&mut p, "--tiles")?)?),
            // export options (src/export)
            Long("metrics-top") => {
                c.metrics_top = number(&value(&mut p, "--metrics-top")?, "--metrics-top", 0)?
            }
            Long("metrics-remotes") => {
                c.metrics_remotes =
                    number(&value(&mut p, "--metrics-remotes")?, "--metrics-remotes", 0)?
            }
            Long("ipfix") => {
                let v = value(&mut p, "--ipfix")?;
                c.ipfix = (!v.is_empty()).then(|| socket(&v, "--ipfix")).transpose()?;
            }
            Long("ipfix-active") => {
                c.ipfix_active = number(&value(&mut p, "--ipfix-active")?, "--ipfix-active", 1)?
            }
            Long("ipfix-idle") => {
                c.ipfix_idle = number(&value(&mut p, "--ipfix-idle")?, "--ipfix-idle", 1)?
            }
            // alerts (src/alert)
            Long("alert-rules") => alert_rules(&value(&mut p, "--alert-rules")?, &mut c.alerts)?,
            Long("alert-upload") => {
                c.alerts.upload_per_hour =
                    number(&value(&mut p, "--alert-upload")?, "--alert-upload", 0)?
            }
            Long("alert-learning") => {
                c.alerts.learning =
                    number(&value(&mut p, "--alert-learning")?, "--alert-learning", 0)?
            }
            Long("alert-window") => {
                c.alerts.window = number(&value(&mut p, "--alert-window")?, "--alert-window", 0)?
            }
            Long("blocklist") => c
                .alerts
                .blocklists
                .push(value(&mut p, "--blocklist")?.into()),
            Long("alert-dir") => c.alerts.dir = optional_path(value(&mut p, "--alert-dir")?),
            Long("alert-timeout") => {
                c.alerts.hook_timeout =
                    number(&value(&mut p, "--alert-timeout")?, "--alert-timeout", 1)?
            }
            Long("ubus") => c.alerts.ubus = optional_path(value(&mut p, "--ubus")?),
            Value(v) => {
                return Err(format!(
                    "unexpected argument {}",
                    quote(&v.to_string_lossy())
                ))
            }
            _ => return Err(lexopt_error(arg.unexpected())),
        }
        first = false;
    }
    if !c.http {
        if c.listen.is_some() {
            return Err("--no-http and --listen contradict each other".into());
        }
        if c.json_out.is_none() {
            return Err("--no-http needs --json-out (nothing else would show the data)".into());
        }
    }
    if c.conntrack && c.read.is_some() {
        return Err("--conntrack reads this machine's connection tracking: not with --read".into());
    }
    Ok(Command::Run(Box::new(c)))
}

fn parse_demo(p: &mut lexopt::Parser) -> Result<Command, String> {
    let mut d = DemoConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
        www: None,
        verbosity: 0,
    };
    while let Some(arg) = p.next().map_err(lexopt_error)? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('v') | Long("verbose") => d.verbosity = (d.verbosity.max(0) + 1).min(2),
            Short('q') | Long("quiet") => d.verbosity = -1,
            Long("port") => {
                let port: u16 = number(&value(p, "--port")?, "--port", 0)?;
                d.listen.set_port(port);
            }
            Long("listen") => d.listen = socket(&value(p, "--listen")?, "--listen")?,
            Long("www") => d.www = Some(value(p, "--www")?.into()),
            Value(v) => {
                return Err(format!(
                    "unexpected argument {}",
                    quote(&v.to_string_lossy())
                ))
            }
            _ => return Err(lexopt_error(arg.unexpected())),
        }
    }
    Ok(Command::Demo(d))
}

#[cfg(test)]
mod tests {
    use super::defaults as d;
    use super::*;

    fn run(args: &[&str]) -> Result<Config, String> {
        match parse(args.iter().copied())? {
            Command::Run(c) => Ok(*c),
            other => panic!("{other:?}"),
        }
    }

    /// src/history and src/alert keep their defaults as their own constants (their
    /// `Default`s are what `Config::default` uses): they must be the table's
    /// (src/defaults.conf) until they are written as `crate::cli::defaults::…` there.
    #[test]
    fn module_defaults_are_the_tables() {
        use crate::alert::AlertConfig;
        let a = AlertConfig::default();
        let h = crate::history::Bounds::default();
        assert_eq!((h.top, h.devices), (d::HISTORY_TOP, d::HISTORY_DEVICES));
        assert_eq!((h.hours, h.days), (d::HISTORY_HOURS, d::HISTORY_DAYS));
        let rules = (a.new_country, a.new_asn, a.blocklist, a.new_device);
        let table = (d::ALERT_NEW_COUNTRY, d::ALERT_NEW_ASN, d::ALERT_BLOCKLIST);
        assert_eq!(rules, (table.0, table.1, table.2, d::ALERT_NEW_DEVICE));
        assert_eq!(
            (a.upload_per_hour, a.learning),
            (d::ALERT_UPLOAD, d::ALERT_LEARNING)
        );
        assert_eq!(
            (a.window, a.hook_timeout),
            (d::ALERT_WINDOW, d::ALERT_TIMEOUT)
        );
        assert_eq!(a.dir, Some(PathBuf::from(d::ALERT_DIR)));
        assert_eq!(a.ubus, Some(PathBuf::from(d::UBUS)));
        assert!(USAGE.contains("(default 8090)") && !USAGE.contains('@'));
    }

    /// README.md's configuration reference states the defaults `--help` states (both from
    /// src/defaults.conf; README's prose is written by hand).
    #[test]
    fn readme_states_the_defaults() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
        let readme = readme.unwrap();
        // flag -> the text after "(default " up to the next ')', ',' or ';'
        let defaults = |text: &str| -> Vec<(String, String)> {
            let mut out = vec![];
            let mut flag = String::new();
            for line in text.lines() {
                let t = line.trim_start();
                if let Some(f) = t.split_whitespace().find(|w| w.starts_with("--")) {
                    if t.starts_with('-') {
                        flag = f.to_string();
                    }
                }
                if let Some((_, v)) = line.split_once("(default ") {
                    let v = v.split([')', ',', ';']).next().unwrap().trim();
                    out.push((flag.clone(), v.to_string()));
                }
            }
            out
        };
        let help = defaults(USAGE.split("Demo options:").next().unwrap());
        let block = readme.split("## Configuration").nth(1).unwrap();
        let block = block.split("```").nth(1).unwrap();
        let mut checked = 0;
        for (flag, v) in defaults(block) {
            if let Some((_, h)) = help.iter().find(|(f, _)| *f == flag) {
                assert_eq!(&v, h, "README.md's default of {flag}");
                checked += 1;
            }
        }
        assert!(checked >= 20, "{checked}");
    }

    /// The router build has no `Debug` output (`-Zfmt-debug=none`): `{:?}`, `{x:?}`, `{:#?}`,
    /// `{:02x?}` in a message would print nothing there. Source before a file's tests only.
    #[test]
    fn no_debug_formatting_outside_tests() {
        fn walk(dir: &std::path::Path, bad: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, bad);
                    continue;
                }
                if p.extension().is_none_or(|x| x != "rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&p).unwrap();
                let code = text.split("#[cfg(test)]").next().unwrap_or("");
                for (n, line) in code.lines().enumerate() {
                    let line = line.trim_start();
                    if line.starts_with("//") {
                        continue;
                    }
                    // `?}` closing a format spec: a ':' after the last '{', no space between
                    for (at, _) in line.match_indices("?}") {
                        let open = line[..at].rfind('{');
                        if open.is_some_and(|o| {
                            let spec = &line[o + 1..at];
                            spec.contains(':') && !spec.contains(' ')
                        }) {
                            bad.push(format!("{}:{}: {line}", p.display(), n + 1));
                        }
                    }
                }
            }
        }
        let mut bad = Vec::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut bad,
        );
        assert!(
            bad.is_empty(),
            "Debug formatting outside tests:\n{}",
            bad.join("\n")
        );
    }

    #[test]
    fn quote_escapes_as_debug_does() {
        assert_eq!(quote("a\"b\n"), "\"a\\\"b\\n\"");
        // lexopt's own message would print the value with `{:?}`
        let e = parse(["--verbose=a\"b"]).err().unwrap();
        assert_eq!(e, "unexpected argument for option '--verbose': \"a\\\"b\"");
        let e = parse(["stray"]).err().unwrap();
        assert_eq!(e, "unexpected argument \"stray\"");
    }

    #[test]
    fn nft_needs_the_feature() {
        let c = |args: &[&str]| {
            parse(args.iter().copied()).map(|c| match c {
                Command::Run(c) => c.nft,
                _ => unreachable!(),
            })
        };
        assert_eq!(c(&["--nft", ""]), Ok(None));
        if cfg!(feature = "nft") {
            assert_eq!(c(&[]), Ok(Some("nft".into())));
            assert_eq!(
                c(&["--nft", "/usr/sbin/nft"]),
                Ok(Some("/usr/sbin/nft".into()))
            );
        } else {
            assert_eq!(c(&[]), Ok(None));
            assert!(c(&["--nft", "nft"]).unwrap_err().contains("`nft` feature"));
        }
    }

    #[test]
    fn conntrack_flag() {
        assert!(!run(&[]).unwrap().conntrack);
        assert!(run(&["--conntrack"]).unwrap().conntrack);
        assert!(run(&["--conntrack", "-r", "x.pcap"])
            .unwrap_err()
            .contains("not with --read"));
    }

    #[test]
    fn defaults() {
        let c = run(&[]).unwrap();
        assert_eq!(c.interface, "br-lan");
        assert_eq!(c.interval, 5);
        assert_eq!(c.max_remotes, 10_000);
        assert_eq!(c.geoip, PathBuf::from(DEFAULT_GEOIP));
    }

    #[test]
    fn all_flags() {
        let c = run(&[
            "-i",
            "eth1",
            "-r",
            "x.pcap",
            "--geoip",
            "g.mmdb",
            "--lan",
            "192.168.1.0/24",
            "--lan",
            "fd00::/64",
            "--remote",
            "198.51.100.0/24",
            "--exclude",
            "192.168.1.1",
            "--listen",
            "127.0.0.1:9000",
            "--allow-host",
            "Map.Home.Arpa.",
            "--allow-host",
            "router",
            "--www",
            "w",
            "--json-out",
            "m.json",
            "--interval",
            "2",
            "--max-remotes",
            "50",
            "--max-hosts",
            "5",
            "--retention",
            "60",
            "--state",
            "s.json",
            "--save-interval",
            "30",
            "--leases",
            "",
            "--ethers",
            "e",
            "--dhcp-config",
            "",
            "--odhcpd",
            "o",
            "--max-names",
            "7",
            "--firewall-config",
            "",
            "--nft",
            "",
            "--home",
            "52.5,13.4",
            "--user",
            "nobody",
            "--tiles",
            "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
            "-v",
        ])
        .unwrap();
        assert_eq!(c.lan.len(), 2);
        assert_eq!(c.exclude, vec!["192.168.1.1/32".parse::<IpNet>().unwrap()]);
        assert_eq!(c.listen, Some("127.0.0.1:9000".parse().unwrap()));
        assert_eq!(c.allow_hosts, ["map.home.arpa", "router"]);
        assert_eq!(c.leases, None);
        assert_eq!((c.dhcp_config, c.odhcpd), (None, Some("o".into())));
        assert_eq!((c.max_names, c.firewall_config, c.nft), (7, None, None));
        assert_eq!(c.home, Some((52.5, 13.4)));
        assert_eq!(c.verbosity, 1);
        assert_eq!(
            origin_of(c.tiles.as_deref().unwrap()).as_deref(),
            Some("https://tile.openstreetmap.org")
        );
    }

    #[test]
    fn export_flags() {
        let c = run(&[]).unwrap();
        assert_eq!((c.metrics_top, c.metrics_remotes, c.ipfix), (50, 0, None));
        let c = run(&[
            "--metrics-top",
            "5",
            "--metrics-remotes",
            "100",
            "--ipfix",
            "[::1]:4739",
            "--ipfix-active",
            "30",
            "--ipfix-idle",
            "5",
        ])
        .unwrap();
        assert_eq!((c.metrics_top, c.metrics_remotes), (5, 100));
        assert_eq!(c.ipfix, Some("[::1]:4739".parse().unwrap()));
        assert_eq!((c.ipfix_active, c.ipfix_idle), (30, 5));
        assert_eq!(run(&["--ipfix", ""]).unwrap().ipfix, None);
        assert!(run(&["--ipfix", "collector"]).is_err());
        assert!(run(&["--ipfix-idle", "0"]).is_err());
    }

    #[test]
    fn alert_flags() {
        let c = run(&[]).unwrap().alerts;
        assert_eq!(c, crate::alert::AlertConfig::default());
        assert!(c.new_country && !c.new_asn && c.blocklist && c.new_device);
        let c = run(&[
            "--alert-rules",
            "new_asn, new_device",
            "--alert-upload",
            "1000000",
            "--alert-learning",
            "0",
            "--alert-window",
            "60",
            "--blocklist",
            "/a",
            "--blocklist",
            "/b",
            "--alert-dir",
            "",
            "--alert-timeout",
            "5",
            "--ubus",
            "",
        ])
        .unwrap()
        .alerts;
        assert!(!c.new_country && c.new_asn && !c.blocklist && c.new_device);
        assert_eq!(
            (c.upload_per_hour, c.learning, c.window),
            (1_000_000, 0, 60)
        );
        assert_eq!(c.blocklists, [PathBuf::from("/a"), PathBuf::from("/b")]);
        assert_eq!((c.dir, c.hook_timeout, c.ubus), (None, 5, None));
        let c = run(&["--alert-rules", ""]).unwrap().alerts;
        assert!(!c.new_country && !c.new_asn && !c.blocklist && !c.new_device);
        assert!(run(&["--alert-rules", "upload"])
            .unwrap_err()
            .contains("--alert-upload"));
        assert!(run(&["--alert-timeout", "0"]).is_err());
    }

    #[test]
    fn history_flags() {
        let c = run(&[]).unwrap();
        assert_eq!(c.history, crate::history::Bounds::default());
        assert!(c.history.enabled());
        let c = run(&[
            "--history-top",
            "3",
            "--history-devices",
            "7",
            "--history-hours",
            "72",
            "--history-days",
            "0",
        ])
        .unwrap();
        let b = c.history;
        assert_eq!((b.top, b.devices, b.hours, b.days), (3, 7, 72, 0));
        assert!(!run(&["--history-top", "0"]).unwrap().history.enabled());
        assert!(run(&["--history-hours", "23"]).is_err());
        assert!(run(&["--history-devices", "0"]).is_err());
        assert!(run(&["--history-top", "x"]).is_err());
    }

    #[test]
    fn bad_flags() {
        for args in [
            &["--lan", "192.168.1.0"][..],
            &["--lan"],
            &["--interval", "0"],
            &["--interval", "x"],
            &["--listen", "8090"],
            &["--home", "100,0"],
            &["--home", "1"],
            &["--bogus"],
            &["extra"],
            &["--exclude", "nope"],
            &["--tiles", "javascript:alert(1)"],
            &["-i", "../../etc"],
            &["--max-remotes", "-5"],
            &["--allow-host", "a b"],
            &["--allow-host", "evil.example;frame-ancestors *"],
            &["--allow-host", ""],
            &["--no-http"],
            &[
                "--no-http",
                "--json-out",
                "m.json",
                "--listen",
                "127.0.0.1:1",
            ],
        ] {
            assert!(parse(args.iter().copied()).is_err(), "{args:?}");
        }
    }

    #[test]
    fn no_http() {
        let Command::Run(c) =
            parse(["--no-http", "--json-out", "/var/run/connmap/markers.json"]).unwrap()
        else {
            panic!("not a run")
        };
        assert!(!c.http);
        assert_eq!(c.listen, None);
        assert!(Config::default().http);
    }

    #[test]
    fn demo() {
        assert_eq!(
            parse(["demo", "--port", "9999"]).unwrap(),
            Command::Demo(DemoConfig {
                listen: "127.0.0.1:9999".parse().unwrap(),
                www: None,
                verbosity: 0
            })
        );
        assert!(parse(["demo", "--nope"]).is_err());
    }
}
