//! `connmap-geodb`: host-side tool that trims a full MaxMind-format city database
//! (DB-IP IP-to-City Lite as ip-location-db ships it, or GeoLite2/GeoIP2 City) into a
//! router-sized GeoIP2-City-subset database for connmap, and measures the result.
//!
//! Commands: `trim` (see [`trim`]) and `compare` (see [`compare`]). Errors are printed as
//! `connmap-geodb: ...` and exit with status 1; usage errors exit with status 2.

use connmap_geodb::{compare, trim};
use lexopt::prelude::*;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
usage: connmap-geodb trim [OPTIONS] INPUT.mmdb [INPUT.mmdb] -o OUTPUT.mmdb
       connmap-geodb compare [OPTIONS] FULL.mmdb [FULL.mmdb] TRIMMED.mmdb

trim: merge a full city database (DB-IP flat schema or GeoIP2 City; give the IPv4 and
IPv6 files of ip-location-db together) into a small GeoIP2-City-subset database.
  -o, --output FILE      output database (required)
  --preset NAME          router (default: <= 4 MB on flash, no city names), city (<= 30 MB),
                         strict (lossless within the bound); options below refine it
  --bound KM             distance bound for merging networks (strict: 25)
  --lambda X             price of one output network in misplaced networks; 0 = strict,
                         every network within the bound and its country (strict: 0)
  --lambda6 X            lambda for IPv6 (default: same as --lambda)
  --keep IP              keep the exact record of the network holding IP (repeatable;
                         the well-known anycast/CDN addresses of `compare` are kept by
                         default)
  --no-keep              forget the kept addresses given so far (and the default ones)
  --country-penalty X    cost of a country mismatch in lossy mode (default 4)
  --country-penalty6 X   the same for IPv6 (default: same as --country-penalty)
  --addr-weight X        extra weight of a network per /24 (IPv4) or /48 (IPv6) (strict: 0)
  --addr-weight6 X       the same for IPv6 (default: same as --addr-weight)
  --precision DEG        coordinate precision in degrees (strict: 0.01)
  --no-city              leave city names out
  --city                 put city names in
  --asn FILE             ASN data: GeoLite2-ASN mmdb or start,end,asn,org CSV
                         (repeatable; enables the ASN fields)
  --asn-penalty X        cost of an ASN mismatch (default 1)
  --ipv4-only            leave IPv6 out
  --no-fill-gaps         never let a merged network cover addresses without data
  --heavy-reps           for a merged prefix, also try the records holding the most
                         weight inside it as its representative (not only the halves')
  --no-share             write identical subtrees of the search tree once each time
                         they occur (default: once in all, the tree is then a DAG)
  --attribution TEXT     metadata description (default: derived from the inputs)
  --report FILE          also write the trim report to FILE
  -q, --quiet            no progress display

compare: sample addresses and compare the trimmed database's answers with the full one's.
  --samples N            addresses per sample set (default 200000)
  --seed N               random seed (default 1)
  --extra IP             one more well-known address to check (repeatable)
  --asn FILE             reference ASN data (mmdb or CSV, as for trim; repeatable):
                         reports ASN agreement when the trimmed database has ASNs
                         (without it: the full database's own ASN fields, if any)
  --min-country PCT      fail unless country agreement >= PCT in every set
  --min-100km PCT        fail unless the share within 100 km >= PCT in every set
  --well-known-km KM     fail unless every well-known address is within KM
  -q, --quiet            no progress display
";

enum Failure {
    Usage(String),
    Run(String),
}

impl From<lexopt::Error> for Failure {
    fn from(e: lexopt::Error) -> Self {
        Failure::Usage(e.to_string())
    }
}

fn num<T: std::str::FromStr>(p: &mut lexopt::Parser, what: &str) -> Result<T, Failure> {
    let v = p.value()?;
    let s = v.to_string_lossy().to_string();
    s.parse()
        .map_err(|_| Failure::Usage(format!("{what}: not a valid number: {s}")))
}

fn cmd_trim(mut p: lexopt::Parser) -> Result<(), Failure> {
    let args: Vec<std::ffi::OsString> = p.raw_args()?.collect();
    // The preset goes first, whatever its place: the other options refine it.
    let mut preset = trim::PRESETS[0].to_string();
    for (i, a) in args.iter().enumerate() {
        let a = a.to_string_lossy();
        if a == "--preset" {
            preset = args
                .get(i + 1)
                .map(|v| v.to_string_lossy().to_string())
                .ok_or_else(|| Failure::Usage("--preset needs a value".into()))?;
        } else if let Some(v) = a.strip_prefix("--preset=") {
            preset = v.to_string();
        }
    }
    let mut o = trim::TrimOpts::default();
    trim::apply_preset(&mut o, &preset).map_err(Failure::Usage)?;
    let mut p = lexopt::Parser::from_args(args);
    let mut report: Option<PathBuf> = None;
    let mut output: Option<PathBuf> = None;
    while let Some(arg) = p.next()? {
        match arg {
            Short('o') | Long("output") => output = Some(p.value()?.into()),
            Long("preset") => {
                p.value()?;
            }
            Long("bound") => o.params.bound_km = num(&mut p, "--bound")?,
            Long("lambda") => o.params.lambda = num(&mut p, "--lambda")?,
            Long("lambda6") => o.lambda6 = Some(num(&mut p, "--lambda6")?),
            Long("keep") => o.keep.push(num(&mut p, "--keep")?),
            Long("no-keep") => o.keep.clear(),
            Long("country-penalty") => o.params.country_penalty = num(&mut p, "--country-penalty")?,
            Long("country-penalty6") => {
                o.country_penalty6 = Some(num(&mut p, "--country-penalty6")?)
            }
            Long("asn-penalty") => o.params.asn_penalty = num(&mut p, "--asn-penalty")?,
            Long("addr-weight") => o.params.addr_weight = num(&mut p, "--addr-weight")?,
            Long("addr-weight6") => o.addr_weight6 = Some(num(&mut p, "--addr-weight6")?),
            Long("precision") => o.precision = num(&mut p, "--precision")?,
            Long("no-city") => o.cities = false,
            Long("city") => o.cities = true,
            Long("asn") => o.asn.push(p.value()?.into()),
            Long("ipv4-only") => o.ipv4_only = true,
            Long("no-fill-gaps") => o.params.fill_gaps = false,
            Long("heavy-reps") => o.params.heavy_candidates = true,
            Long("no-share") => o.share_subtrees = false,
            Long("attribution") => o.attribution = Some(p.value()?.to_string_lossy().to_string()),
            Long("report") => report = Some(p.value()?.into()),
            Short('q') | Long("quiet") => o.quiet = true,
            Value(v) => o.inputs.push(v.into()),
            _ => return Err(arg.unexpected().into()),
        }
    }
    o.output = output.ok_or_else(|| Failure::Usage("trim: -o OUTPUT is required".into()))?;
    if o.inputs.is_empty() || o.inputs.len() > 2 {
        return Err(Failure::Usage(
            "trim: give one or two input databases".into(),
        ));
    }
    let bad = |x: f64| !x.is_finite() || x < 0.0;
    if bad(o.params.bound_km)
        || bad(o.params.lambda)
        || bad(o.params.country_penalty)
        || bad(o.params.asn_penalty)
        || bad(o.params.addr_weight)
        || o.lambda6.is_some_and(bad)
        || o.addr_weight6.is_some_and(bad)
        || o.country_penalty6.is_some_and(bad)
    {
        return Err(Failure::Usage(
            "trim: --bound, --lambda and the penalties/weights must be finite and >= 0".into(),
        ));
    }
    let r = trim::run(&o).map_err(Failure::Run)?;
    let text = trim::format_report(&o, &r);
    if let Some(path) = report {
        std::fs::write(&path, &text)
            .map_err(|e| Failure::Run(format!("{}: {e}", path.display())))?;
    }
    eprint!("{text}");
    Ok(())
}

fn cmd_compare(mut p: lexopt::Parser) -> Result<(), Failure> {
    let mut files: Vec<PathBuf> = Vec::new();
    let mut o = compare::CompareOpts {
        full: Vec::new(),
        trimmed: PathBuf::new(),
        samples: 200_000,
        seed: 1,
        extra: Vec::new(),
        asn: Vec::new(),
        quiet: false,
    };
    let (mut min_country, mut min_100, mut wk_km) = (None, None, None);
    while let Some(arg) = p.next()? {
        match arg {
            Long("samples") => o.samples = num(&mut p, "--samples")?,
            Long("seed") => o.seed = num(&mut p, "--seed")?,
            Long("extra") => o.extra.push(num(&mut p, "--extra")?),
            Long("asn") => o.asn.push(p.value()?.into()),
            Long("min-country") => min_country = Some(num(&mut p, "--min-country")?),
            Long("min-100km") => min_100 = Some(num(&mut p, "--min-100km")?),
            Long("well-known-km") => wk_km = Some(num(&mut p, "--well-known-km")?),
            Short('q') | Long("quiet") => o.quiet = true,
            Value(v) => files.push(v.into()),
            _ => return Err(arg.unexpected().into()),
        }
    }
    if files.len() < 2 || files.len() > 3 {
        return Err(Failure::Usage(
            "compare: give FULL [FULL] TRIMMED (two or three databases)".into(),
        ));
    }
    if o.samples == 0 {
        return Err(Failure::Usage("compare: --samples must be > 0".into()));
    }
    o.trimmed = files.pop().unwrap_or_default();
    o.full = files;
    let r = compare::run(&o).map_err(Failure::Run)?;
    print!("{}", compare::format_report(&r));
    let fails = compare::check(&r, min_country, min_100, wk_km);
    if !fails.is_empty() {
        return Err(Failure::Run(format!(
            "accuracy requirements not met:\n  {}",
            fails.join("\n  ")
        )));
    }
    Ok(())
}

fn run() -> Result<(), Failure> {
    let mut p = lexopt::Parser::from_env();
    match p.next()? {
        Some(Value(cmd)) => match cmd.to_string_lossy().as_ref() {
            "trim" => cmd_trim(p),
            "compare" => cmd_compare(p),
            other => Err(Failure::Usage(format!("unknown command: {other}"))),
        },
        Some(Short('h') | Long("help")) => {
            print!("{USAGE}");
            Ok(())
        }
        Some(Short('V') | Long("version")) => {
            println!("connmap-geodb {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Some(arg) => Err(arg.unexpected().into()),
        None => Err(Failure::Usage("no command given".into())),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(m)) => {
            eprintln!("connmap-geodb: {m}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Err(Failure::Run(m)) => {
            eprintln!("connmap-geodb: {m}");
            ExitCode::from(1)
        }
    }
}
