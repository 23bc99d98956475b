//! Command line: flags → `Config`. A bad flag is an error message and exit status 2.
//!
//! Every option is a row of [`OPTIONS`] (its letter, its name, what it does): the numeric
//! settings share one parsing and bounds check, the '' -for-none files one assignment (one
//! copy of each in the router binary instead of one per option).

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

/// lexopt's message (its `Display`), with the values it would print through `Debug` quoted by
/// [`quote`]; written here in full, so that lexopt's own `Display` is not in the binary.
fn lexopt_error(e: lexopt::Error) -> String {
    use lexopt::Error::*;
    match e {
        MissingValue { option: None } => "missing argument".into(),
        MissingValue {
            option: Some(option),
        } => format!("missing argument for option '{option}'"),
        UnexpectedOption(option) => format!("invalid option '{option}'"),
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
        Custom(error) => error.to_string(),
    }
}

fn value(p: &mut lexopt::Parser, flag: &str) -> Result<String, String> {
    let v = p.value().map_err(|_| format!("{flag} needs a value"))?;
    v.into_string()
        .map_err(|_| format!("{flag}: the value is not valid UTF-8"))
}

/// What an option does; [`OPTIONS`] names them.
#[derive(Clone, Copy)]
enum Opt {
    Help,
    Version,
    Verbose,
    Quiet,
    NoHttp,
    NoNames,
    Conntrack,
    /// a whole number, at least the minimum, into a `u64` setting
    U64(u64, fn(&mut Config) -> &mut u64),
    /// the same into a `usize` setting
    Usize(u64, fn(&mut Config) -> &mut usize),
    /// a file, '' for none
    Path(fn(&mut Config) -> &mut Option<PathBuf>),
    /// a CIDR network, repeatable
    Cidr(fn(&mut Config) -> &mut Vec<IpNet>),
    Interface,
    Read,
    Geoip,
    Exclude,
    Listen,
    AllowHost,
    Www,
    JsonOut,
    Nft,
    Home,
    User,
    Tiles,
    Ipfix,
    AlertRules,
    Blocklist,
    /// `connmap demo` only
    Port,
}

/// Every option: its short letter, its name (as the messages write it) and what it does.
/// `--help` (src/usage.txt) documents them.
#[rustfmt::skip]
const OPTIONS: &[(Option<char>, &str, Opt)] = {
    use Opt::*;
    &[
        (Some('h'), "--help", Help),
        (Some('V'), "--version", Version),
        (Some('v'), "--verbose", Verbose),
        (Some('q'), "--quiet", Quiet),
        (Some('i'), "--interface", Interface),
        (Some('r'), "--read", Read),
        (None, "--geoip", Geoip),
        (None, "--lan", Cidr(|c| &mut c.lan)),
        (None, "--remote", Cidr(|c| &mut c.remote)),
        (None, "--exclude", Exclude),
        (None, "--listen", Listen),
        (None, "--allow-host", AllowHost),
        (None, "--no-http", NoHttp),
        (None, "--www", Www),
        (None, "--json-out", JsonOut),
        (None, "--interval", U64(1, |c| &mut c.interval)),
        (None, "--max-remotes", Usize(1, |c| &mut c.max_remotes)),
        (None, "--max-hosts", Usize(1, |c| &mut c.max_hosts)),
        (None, "--retention", U64(1, |c| &mut c.retention)),
        (None, "--state", Path(|c| &mut c.state)),
        (None, "--save-interval", U64(1, |c| &mut c.save_interval)),
        (None, "--history-top", Usize(0, |c| &mut c.history.top)),
        (None, "--history-devices", Usize(1, |c| &mut c.history.devices)),
        (None, "--history-hours", U64(24, |c| &mut c.history.hours)),
        (None, "--history-days", U64(0, |c| &mut c.history.days)),
        (None, "--leases", Path(|c| &mut c.leases)),
        (None, "--ethers", Path(|c| &mut c.ethers)),
        (None, "--dhcp-config", Path(|c| &mut c.dhcp_config)),
        (None, "--odhcpd", Path(|c| &mut c.odhcpd)),
        (None, "--max-names", Usize(1, |c| &mut c.max_names)),
        (None, "--no-names", NoNames),
        (None, "--doh-list", Path(|c| &mut c.doh_list)),
        (None, "--firewall-config", Path(|c| &mut c.firewall_config)),
        (None, "--nft", Nft),
        (None, "--conntrack", Conntrack),
        (None, "--home", Home),
        (None, "--user", User),
        (None, "--tiles", Tiles),
        // export (src/export)
        (None, "--metrics-top", Usize(0, |c| &mut c.metrics_top)),
        (None, "--metrics-remotes", Usize(0, |c| &mut c.metrics_remotes)),
        (None, "--ipfix", Ipfix),
        (None, "--ipfix-active", U64(1, |c| &mut c.ipfix_active)),
        (None, "--ipfix-idle", U64(1, |c| &mut c.ipfix_idle)),
        // alerts (src/alert)
        (None, "--alert-rules", AlertRules),
        (None, "--alert-upload", U64(0, |c| &mut c.alerts.upload_per_hour)),
        (None, "--alert-learning", U64(0, |c| &mut c.alerts.learning)),
        (None, "--alert-window", U64(0, |c| &mut c.alerts.window)),
        (None, "--blocklist", Blocklist),
        (None, "--alert-dir", Path(|c| &mut c.alerts.dir)),
        (None, "--alert-timeout", U64(1, |c| &mut c.alerts.hook_timeout)),
        (None, "--ubus", Path(|c| &mut c.alerts.ubus)),
        (None, "--port", Port),
    ]
};

/// The option `arg` names, if it is one of [`OPTIONS`] that `allowed` accepts.
fn option(arg: &lexopt::Arg, allowed: fn(&Opt) -> bool) -> Option<(&'static str, Opt)> {
    let (_, flag, opt) = OPTIONS.iter().find(|(short, long, _)| match arg {
        Short(s) => *short == Some(*s),
        Long(l) => long.strip_prefix("--") == Some(*l),
        Value(_) => false,
    })?;
    allowed(opt).then_some((flag, *opt))
}

/// A whole number of at least `min` and at most `max` for `flag`.
fn number(s: &str, flag: &str, min: u64, max: u64) -> Result<u64, String> {
    let v = s
        .parse::<u64>()
        .ok()
        .filter(|v| *v <= max)
        .ok_or_else(|| format!("{flag}: {} is not a number", quote(s)))?;
    if v < min {
        return Err(format!("{flag}: must be at least {min}"));
    }
    Ok(v)
}

/// `-v` and `-q`: the verbosity after `opt`.
fn verbosity(v: i8, opt: Opt) -> i8 {
    match opt {
        Opt::Verbose => (v.max(0) + 1).min(2),
        _ => -1,
    }
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
        if first && matches!(&arg, Value(v) if v == "demo") {
            return parse_demo(&mut p);
        }
        first = false;
        let Some((flag, opt)) = option(&arg, |o| !matches!(o, Opt::Port)) else {
            return Err(lexopt_error(arg.unexpected()));
        };
        match opt {
            Opt::Help => return Ok(Command::Help),
            Opt::Version => return Ok(Command::Version),
            Opt::Verbose | Opt::Quiet => c.verbosity = verbosity(c.verbosity, opt),
            Opt::NoHttp => c.http = false,
            Opt::NoNames => c.learn_names = false,
            Opt::Conntrack => c.conntrack = true,
            _ => set(&mut c, flag, opt, value(&mut p, flag)?)?,
        }
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

/// The daemon's option `opt` (`flag`) with its value `v`.
fn set(c: &mut Config, flag: &str, opt: Opt, v: String) -> Result<(), String> {
    match opt {
        Opt::U64(min, field) => *field(c) = number(&v, flag, min, u64::MAX)?,
        Opt::Usize(min, field) => *field(c) = number(&v, flag, min, usize::MAX as u64)? as usize,
        Opt::Path(field) => *field(c) = optional_path(v),
        Opt::Cidr(field) => field(c).push(cidr(&v, flag)?),
        Opt::Interface => {
            if v.is_empty() || v.len() > 15 || v.contains('/') {
                return Err(format!(
                    "--interface: {} is not an interface name",
                    quote(&v)
                ));
            }
            c.interface = v;
        }
        Opt::Read => c.read = Some(v.into()),
        Opt::Geoip => c.geoip = v.into(),
        Opt::Exclude => c.exclude.push(net(&v, flag)?),
        Opt::Listen => c.listen = Some(socket(&v, flag)?),
        Opt::AllowHost => c.allow_hosts.push(allow_host(&v)?),
        Opt::Www => c.www = v.into(),
        Opt::JsonOut => c.json_out = Some(v.into()),
        Opt::Nft => c.nft = nft(v)?,
        Opt::Home => c.home = Some(home(&v)?),
        Opt::User => c.user = Some(v).filter(|u| !u.is_empty()),
        Opt::Tiles => c.tiles = Some(tiles(&v)?),
        Opt::Ipfix => c.ipfix = (!v.is_empty()).then(|| socket(&v, flag)).transpose()?,
        Opt::AlertRules => alert_rules(&v, &mut c.alerts)?,
        Opt::Blocklist => c.alerts.blocklists.push(v.into()),
        // the options without a value, and the demo's `--port` (not the daemon's)
        _ => {}
    }
    Ok(())
}

fn parse_demo(p: &mut lexopt::Parser) -> Result<Command, String> {
    let mut d = DemoConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
        www: None,
        verbosity: 0,
    };
    let demo = |o: &Opt| {
        use Opt::*;
        matches!(o, Help | Verbose | Quiet | Port | Listen | Www)
    };
    while let Some(arg) = p.next().map_err(lexopt_error)? {
        let Some((flag, opt)) = option(&arg, demo) else {
            return Err(lexopt_error(arg.unexpected()));
        };
        match opt {
            Opt::Help => return Ok(Command::Help),
            Opt::Verbose | Opt::Quiet => d.verbosity = verbosity(d.verbosity, opt),
            Opt::Port => d
                .listen
                .set_port(number(&value(p, flag)?, flag, 0, u16::MAX.into())? as u16),
            Opt::Listen => d.listen = socket(&value(p, flag)?, flag)?,
            _ => d.www = Some(value(p, flag)?.into()),
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

    /// The messages written by `lexopt_error` without quoting are lexopt's own.
    #[test]
    fn lexopt_messages_are_lexopts() {
        use lexopt::Error::*;
        let cases: [fn() -> lexopt::Error; 4] = [
            || MissingValue { option: None },
            || MissingValue {
                option: Some("--x".into()),
            },
            || UnexpectedOption("--x".into()),
            || Custom("boom".into()),
        ];
        for e in cases {
            assert_eq!(lexopt_error(e()), e().to_string());
        }
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
