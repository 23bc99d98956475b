//! Geo: where a remote address is, from a MaxMind-format database (memory-mapped).
//!
//! Fourth step of the data path (capture → packet → filter → **geo** → table → snapshot →
//! http). Called once per remote, by the first snapshot after it appeared (a remote that a
//! flood evicts before then is never looked up); the answer is stored in the table, never
//! looked up per packet. Two schemas are understood:
//! - GeoIP2/GeoLite2-City (and connmap-geodb's trimmed output): `country.iso_code`,
//!   `city.names.en`, `location.latitude/longitude` as doubles, and the GeoLite2-ASN fields
//!   `autonomous_system_number` / `autonomous_system_organization` when present;
//! - ip-location-db's flat DB-IP files: `country_code`, `city`, `latitude`/`longitude` as
//!   float32 (the `maxminddb` crate will not decode a float32 into an f64, hence the hand-written
//!   visitor `Walk` below).
//!
//! A missing or corrupt database is not fatal: lookups then answer "unknown" and the markers
//! have no position. The file is mapped read-only, so the pages stay shared with the page cache
//! and the kernel may drop them under memory pressure; a file truncated in place under the
//! mapping is survived (`sigbus`) and reopened by the daemon's loops.

use maxminddb::Reader;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// What the map shows about one remote address.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GeoInfo {
    /// (latitude, longitude) in degrees.
    pub position: Option<(f32, f32)>,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: Option<[u8; 2]>,
    pub city: Option<Box<str>>,
    pub asn: Option<u32>,
    pub org: Option<Box<str>>,
}

impl GeoInfo {
    pub fn country_str(&self) -> Option<&str> {
        self.country
            .as_ref()
            .and_then(|c| std::str::from_utf8(c).ok())
    }
}

/// Where the bytes of a database come from: a mapped file, or memory (the demo builds one).
/// One type for both, so that the reader's code (metadata, tree walk, record decoding) is in
/// the binary once rather than once per kind of source.
enum Bytes {
    Mapped(maxminddb::Mmap),
    Memory(Vec<u8>),
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Memory(v) => v,
        }
    }
}

/// Decoded records by their offset in the data section: neighbouring addresses share records,
/// so most new remotes need only the tree walk. Bounded; cleared when full.
const CACHE_ENTRIES: usize = 4096;
type RecordCache = RefCell<HashMap<usize, Option<Rc<GeoInfo>>, crate::hash::RandomState>>;

/// An open database, or none.
pub struct GeoDb {
    source: Option<Reader<Bytes>>,
    path: Option<PathBuf>,
    description: Option<String>,
    cache: RecordCache,
    /// The mapping (address, length) of a mapped file, for `release_pages`.
    mapped: Option<(usize, usize)>,
    /// Keeps a truncation of the mapped file from killing the daemon (`sigbus`); declared
    /// after `source`, so it is dropped after the mapping.
    _guard: Option<crate::sigbus::Guard>,
}

impl GeoDb {
    /// No database: every lookup is unknown.
    pub fn none() -> GeoDb {
        GeoDb {
            source: None,
            path: None,
            description: None,
            cache: RecordCache::default(),
            mapped: None,
            _guard: None,
        }
    }

    /// Opens and memory-maps `path`, checking the metadata and search tree up front so that a
    /// truncated or foreign file is refused here, with a reason, rather than at lookup time.
    pub fn open(path: &Path) -> Result<GeoDb, String> {
        let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if !meta.is_file() {
            return Err(format!("{}: not a regular file", path.display()));
        }
        let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        // SAFETY: the mapping is read-only; the file shrinking under it is handled by `sigbus`
        // (registered before the first read), other writers in place are documented as
        // unsupported (replace the file by rename, as the package does).
        let map = unsafe { maxminddb::Mmap::map(&file) }
            .map_err(|e| format!("{}: cannot map ({e})", path.display()))?;
        let guard = crate::sigbus::protect(map.as_ptr(), map.len());
        let mapped = (map.as_ptr() as usize, map.len());
        let reader = Reader::from_source(Bytes::Mapped(map))
            .map_err(|e| format!("{}: not a MaxMind DB ({e})", path.display()))?;
        check(&reader).map_err(|e| format!("{}: {e}", path.display()))?;
        let description = describe(reader.metadata());
        Ok(GeoDb {
            source: Some(reader),
            path: Some(path.to_path_buf()),
            description,
            cache: RecordCache::default(),
            mapped: Some(mapped),
            _guard: Some(guard),
        })
    }

    /// A database held in memory (the demo's).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<GeoDb, String> {
        let reader = Reader::from_source(Bytes::Memory(bytes))
            .map_err(|e| format!("not a MaxMind DB ({e})"))?;
        check(&reader)?;
        let description = describe(reader.metadata());
        Ok(GeoDb {
            source: Some(reader),
            path: None,
            description,
            cache: RecordCache::default(),
            mapped: None,
            _guard: None,
        })
    }

    pub fn is_open(&self) -> bool {
        self.source.is_some()
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The database's own description (its attribution, for a trimmed DB-IP file).
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// Drops the file's pages from this process's mappings (they stay in the page cache, and
    /// the next lookup that needs one maps it again): called after a round of lookups, so that
    /// the database's pages are not counted in the daemon's RSS between rounds, nor at its
    /// peak (a snapshot's render comes right after its lookups).
    pub fn release_pages(&self) {
        if let Some((at, len)) = self.mapped {
            // SAFETY: the range is exactly the live read-only file mapping; MADV_DONTNEED on
            // it only drops page table entries: later reads fault the same bytes back in.
            unsafe { libc::madvise(at as *mut libc::c_void, len, libc::MADV_DONTNEED) };
        }
    }

    /// Looks one address up. `Ok(None)`: not in the database. `Err`: the record is corrupt.
    /// Addresses that share a record share one `GeoInfo`.
    pub fn lookup(&self, ip: IpAddr) -> Result<Option<Rc<GeoInfo>>, String> {
        match &self.source {
            None => Ok(None),
            Some(r) => cached_lookup(r, ip, &self.cache),
        }
    }
}

fn cached_lookup<S: AsRef<[u8]>>(
    r: &Reader<S>,
    ip: IpAddr,
    cache: &RecordCache,
) -> Result<Option<Rc<GeoInfo>>, String> {
    let found = r.lookup(ip).map_err(|e| e.to_string())?;
    let Some(offset) = found.offset() else {
        return Ok(None);
    };
    if let Some(hit) = cache.borrow().get(&offset) {
        return Ok(hit.clone());
    }
    let info = found
        .decode::<Record>()
        .map_err(|e| e.to_string())?
        .map(|r| Rc::new(r.into_info()));
    let mut c = cache.borrow_mut();
    if c.len() >= CACHE_ENTRIES {
        c.clear();
    }
    c.insert(offset, info.clone());
    Ok(info)
}

fn decode<S: AsRef<[u8]>>(r: &Reader<S>, ip: IpAddr) -> Result<Option<Record>, String> {
    r.lookup(ip)
        .and_then(|res| res.decode::<Record>())
        .map_err(|e| e.to_string())
}

/// A cheap sanity check: the metadata parsed (done by the reader) and one lookup walks the
/// tree. `verify()` would read the whole file, which on a router's flash takes seconds.
fn check<S: AsRef<[u8]>>(r: &Reader<S>) -> Result<(), String> {
    let probe: IpAddr = if r.metadata().ip_version == 6 {
        "2001:4860:4860::8888"
            .parse()
            .unwrap_or(IpAddr::from([0u8; 16]))
    } else {
        IpAddr::from([8, 8, 8, 8])
    };
    decode(r, probe)
        .map(|_| ())
        .map_err(|e| format!("corrupt database ({e})"))
}

fn describe(meta: &maxminddb::Metadata) -> Option<String> {
    meta.description
        .get("en")
        .or_else(|| meta.description.values().next())
        .cloned()
        .or_else(|| Some(meta.database_type.clone()).filter(|s| !s.is_empty()))
}

/// One database record, read in a single pass by one visitor ([`Walk`]) whatever the schema:
/// one set of generic decoder code in the binary instead of one per nested struct (the
/// derived version cost ~50 KB on MIPS), and no `String` for a field that is not kept.
/// Unknown fields are skipped without being expanded.
#[derive(Default)]
struct Record {
    /// `country.iso_code` (GeoIP2) or `country_code` (flat)
    country: Option<[u8; 2]>,
    flat_country: Option<[u8; 2]>,
    /// `city.names.en` (GeoIP2) or `city` (flat)
    city: Option<Box<str>>,
    /// `location.latitude/longitude` (GeoIP2, doubles)
    location: (Option<f64>, Option<f64>),
    /// `latitude`/`longitude` (flat, floats)
    flat: (Option<f64>, Option<f64>),
    asn: Option<u32>,
    org: Option<Box<str>>,
}

impl Record {
    fn into_info(self) -> GeoInfo {
        let (lat, lng) = match self.location {
            (Some(a), Some(b)) => (Some(a), Some(b)),
            _ => self.flat,
        };
        let position = match (lat, lng) {
            (Some(a), Some(b))
                if a.is_finite() && b.is_finite() && a.abs() <= 90.0 && b.abs() <= 180.0 =>
            {
                Some((a as f32, b as f32))
            }
            _ => None,
        };
        GeoInfo {
            position,
            country: self.country.or(self.flat_country),
            city: self.city,
            asn: self.asn,
            org: self.org,
        }
    }
}

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Record, D::Error> {
        let mut r = Record::default();
        d.deserialize_any(Walk {
            out: &mut r,
            at: At::Root,
        })?;
        Ok(r)
    }
}

/// Where in a record a value sits (the fields connmap reads, and their parents).
#[derive(Clone, Copy, PartialEq)]
enum At {
    Root,
    Country,
    IsoCode,
    FlatCountry,
    City,
    CityNames,
    CityNameEn,
    Location,
    Latitude,
    Longitude,
    FlatLatitude,
    FlatLongitude,
    Asn,
    Org,
    /// anything else: skipped
    Other,
}

impl At {
    /// The position of `key` inside a map at `self`.
    fn child(self, key: &str) -> At {
        match (self, key) {
            (At::Root, "country") => At::Country,
            (At::Root, "country_code") => At::FlatCountry,
            (At::Root, "city") => At::City,
            (At::Root, "location") => At::Location,
            (At::Root, "latitude") => At::FlatLatitude,
            (At::Root, "longitude") => At::FlatLongitude,
            (At::Root, "autonomous_system_number") => At::Asn,
            (At::Root, "autonomous_system_organization") => At::Org,
            (At::Country, "iso_code") => At::IsoCode,
            (At::City, "names") => At::CityNames,
            (At::CityNames, "en") => At::CityNameEn,
            (At::Location, "latitude") => At::Latitude,
            (At::Location, "longitude") => At::Longitude,
            _ => At::Other,
        }
    }
}

/// A map key, as the position it leads to (no allocation for the key).
struct KeyIn(At);

impl<'de> de::DeserializeSeed<'de> for KeyIn {
    type Value = At;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<At, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyIn {
    type Value = At;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map key")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<At, E> {
        Ok(self.0.child(key))
    }
}

/// The value at `at`, written into `out`.
struct Walk<'a> {
    out: &'a mut Record,
    at: At,
}

impl<'de> de::DeserializeSeed<'de> for Walk<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.at == At::Other {
            d.deserialize_ignored_any(IgnoredAny).map(|_| ())
        } else {
            d.deserialize_any(self)
        }
    }
}

fn country_code(s: &str) -> Option<[u8; 2]> {
    match s.as_bytes() {
        [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
            Some([a.to_ascii_uppercase(), b.to_ascii_uppercase()])
        }
        _ => None,
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a GeoIP2-City, GeoLite2-ASN or DB-IP flat record")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(child) = map.next_key_seed(KeyIn(self.at))? {
            map.next_value_seed(Walk {
                out: &mut *self.out,
                at: child,
            })?;
        }
        Ok(())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        let text = || (!v.is_empty()).then(|| Box::from(v));
        match self.at {
            At::IsoCode => self.out.country = country_code(v),
            At::FlatCountry => self.out.flat_country = country_code(v),
            // `city` is a plain string in the flat schema
            At::City | At::CityNameEn => self.out.city = text(),
            At::Org => self.out.org = text(),
            _ => {}
        }
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        match self.at {
            At::Latitude => self.out.location.0 = Some(v),
            At::Longitude => self.out.location.1 = Some(v),
            At::FlatLatitude => self.out.flat.0 = Some(v),
            At::FlatLongitude => self.out.flat.1 = Some(v),
            _ => {}
        }
        Ok(())
    }
    // the flat DB-IP files store coordinates as float32
    fn visit_f32<E: de::Error>(self, v: f32) -> Result<(), E> {
        self.visit_f64(f64::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        if self.at == At::Asn {
            self.out.asn = u32::try_from(v).ok();
        }
        Ok(())
    }
    // a known field of an unexpected type is not the record's fault: it is left empty
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmdb_writer::{Value, Writer};

    fn geoip2_db() -> Vec<u8> {
        let mut w = Writer::new("GeoIP2-City");
        let rec = Value::map([
            ("country", Value::map([("iso_code", Value::from("AU"))])),
            (
                "city",
                Value::map([("names", Value::map([("en", Value::from("Sydney"))]))]),
            ),
            (
                "location",
                Value::map([
                    ("latitude", Value::Double(-33.8688)),
                    ("longitude", Value::Double(151.2093)),
                ]),
            ),
            ("autonomous_system_number", Value::U32(13335)),
            (
                "autonomous_system_organization",
                Value::from("Cloudflare, Inc."),
            ),
        ]);
        w.insert_value("1.1.1.0/24".parse::<ipnet::IpNet>().unwrap(), rec)
            .unwrap();
        w.to_bytes().unwrap()
    }

    fn flat_db() -> Vec<u8> {
        let mut w = Writer::new("dbip-city");
        let rec = Value::map([
            ("country_code", Value::from("US")),
            ("city", Value::from("Mountain View")),
            ("latitude", Value::Float(37.386)),
            ("longitude", Value::Float(-122.0838)),
        ]);
        w.insert_value("8.8.8.0/24".parse::<ipnet::IpNet>().unwrap(), rec)
            .unwrap();
        w.to_bytes().unwrap()
    }

    #[test]
    fn geoip2_schema() {
        let db = GeoDb::from_bytes(geoip2_db()).unwrap();
        let g = db.lookup("1.1.1.1".parse().unwrap()).unwrap().unwrap();
        assert_eq!(g.country_str(), Some("AU"));
        assert_eq!(g.city.as_deref(), Some("Sydney"));
        assert_eq!(g.asn, Some(13335));
        assert_eq!(g.org.as_deref(), Some("Cloudflare, Inc."));
        let (lat, lng) = g.position.unwrap();
        assert!((lat + 33.8688).abs() < 1e-4 && (lng - 151.2093).abs() < 1e-4);
        assert_eq!(db.lookup("9.9.9.9".parse().unwrap()).unwrap(), None);
    }

    #[test]
    fn flat_float32_schema() {
        let db = GeoDb::from_bytes(flat_db()).unwrap();
        let g = db.lookup("8.8.8.8".parse().unwrap()).unwrap().unwrap();
        assert_eq!(g.country_str(), Some("US"));
        assert_eq!(g.city.as_deref(), Some("Mountain View"));
        assert!(g.position.is_some());
        assert_eq!(g.asn, None);
    }

    #[test]
    fn whole_geoip2_records_and_odd_types() {
        // a record as GeoIP2-City has them (every type the format knows somewhere), and one
        // whose known fields have the wrong types: read what is there, skip the rest
        let names = |en: &str| Value::map([("en", Value::from(en)), ("de", Value::from("x"))]);
        let full = Value::map([
            (
                "continent",
                Value::map([("code", Value::from("EU")), ("names", names("Europe"))]),
            ),
            (
                "country",
                Value::map([
                    ("geoname_id", Value::U32(2921044)),
                    ("is_in_european_union", Value::Bool(true)),
                    ("iso_code", Value::from("de")),
                    ("names", names("Germany")),
                ]),
            ),
            (
                "subdivisions",
                Value::Array(vec![Value::map([("iso_code", Value::from("BE"))])]),
            ),
            (
                "city",
                Value::map([("geoname_id", Value::U32(1)), ("names", names("Berlin"))]),
            ),
            (
                "location",
                Value::map([
                    ("accuracy_radius", Value::U16(20)),
                    ("latitude", Value::Double(52.52)),
                    ("longitude", Value::Double(13.405)),
                    ("time_zone", Value::from("Europe/Berlin")),
                ]),
            ),
            ("postal", Value::map([("code", Value::from("10115"))])),
            ("traits", Value::map([("big", Value::U128(u128::MAX))])),
            ("blob", Value::Bytes(vec![1, 2, 3])),
            ("signed", Value::I32(-5)),
            ("wide", Value::U64(u64::MAX)),
            ("autonomous_system_number", Value::U32(3320)),
        ]);
        let odd = Value::map([
            ("city", Value::Array(vec![Value::from("Berlin")])),
            (
                "location",
                Value::map([
                    ("latitude", Value::from("52.5")),
                    ("longitude", Value::Double(13.4)),
                ]),
            ),
            ("country", Value::from("DE")),
            ("autonomous_system_number", Value::U64(1 << 40)),
            ("autonomous_system_organization", Value::Bool(true)),
        ]);
        let mut w = Writer::new("GeoIP2-City");
        w.insert_value("5.5.5.0/24".parse::<ipnet::IpNet>().unwrap(), full)
            .unwrap();
        w.insert_value("6.6.6.0/24".parse::<ipnet::IpNet>().unwrap(), odd)
            .unwrap();
        let db = GeoDb::from_bytes(w.to_bytes().unwrap()).unwrap();
        let g = db.lookup("5.5.5.5".parse().unwrap()).unwrap().unwrap();
        assert_eq!(g.country_str(), Some("DE"));
        assert_eq!(g.city.as_deref(), Some("Berlin"));
        assert_eq!(g.asn, Some(3320));
        assert_eq!(g.org, None);
        assert_eq!(g.position, Some((52.52, 13.405)));
        let g = db.lookup("6.6.6.6".parse().unwrap()).unwrap().unwrap();
        assert_eq!(*g, GeoInfo::default());
    }

    #[test]
    fn corrupt_and_missing() {
        assert!(GeoDb::from_bytes(b"definitely not a database".to_vec()).is_err());
        let mut bytes = geoip2_db();
        bytes.truncate(bytes.len() / 2);
        assert!(GeoDb::from_bytes(bytes).is_err());
        let err = GeoDb::open(Path::new("/nonexistent/geo.mmdb"))
            .err()
            .unwrap();
        assert!(err.contains("/nonexistent/geo.mmdb"), "{err}");
        assert!(GeoDb::none()
            .lookup("1.1.1.1".parse().unwrap())
            .unwrap()
            .is_none());
    }
}
