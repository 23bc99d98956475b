//! Records: decoding input records of either schema, the compact interned record the
//! trimmer works on, and the geometry used to compare positions.
//!
//! Input schemas understood (fields not listed are ignored):
//! - ip-location-db flat: `country_code`, `city`, `latitude`, `longitude` (float32 or double)
//! - GeoIP2/GeoLite2 City: `country.iso_code` (fallback `registered_country.iso_code`),
//!   `city.names.en`, `location.latitude/longitude`
//! - ASN: `autonomous_system_number`, `autonomous_system_organization` (GeoLite2-ASN and
//!   connmap-geodb's own output)
//!
//! `maxminddb` refuses to decode a float32 into an `f64`, so every number goes through
//! [`AnyF64`], a visitor that accepts floats, doubles and integers.

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;

/// Mean Earth radius in km.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Coordinates are stored as integers in units of 1e-5 degree.
pub const COORD_UNIT: f64 = 1e-5;

/// A number decoded from float32, double or an integer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnyF64(pub f64);

impl<'de> Deserialize<'de> for AnyF64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = AnyF64;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_f32<E: de::Error>(self, v: f32) -> Result<AnyF64, E> {
                // Through the shortest decimal form, so 45.5019 stays 45.5019 and not
                // 45.50189971923828.
                Ok(AnyF64(v.to_string().parse().unwrap_or(f64::from(v))))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<AnyF64, E> {
                Ok(AnyF64(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<AnyF64, E> {
                Ok(AnyF64(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<AnyF64, E> {
                Ok(AnyF64(v as f64))
            }
        }
        d.deserialize_any(V)
    }
}

/// An unsigned integer of any width.
#[derive(Debug, Clone, Copy, PartialEq)]
struct AnyU32(u32);

impl<'de> Deserialize<'de> for AnyU32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = AnyU32;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an unsigned 32-bit integer")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<AnyU32, E> {
                u32::try_from(v)
                    .map(AnyU32)
                    .map_err(|_| E::custom("integer above 2^32"))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<AnyU32, E> {
                u32::try_from(v)
                    .map(AnyU32)
                    .map_err(|_| E::custom("integer out of range"))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize, Default)]
struct Names {
    en: Option<String>,
}

#[derive(Deserialize, Default)]
struct GeoCity {
    names: Option<Names>,
}

#[derive(Deserialize, Default)]
struct GeoCountry {
    iso_code: Option<String>,
}

#[derive(Deserialize, Default)]
struct GeoLocation {
    latitude: Option<AnyF64>,
    longitude: Option<AnyF64>,
}

/// `city`: a plain string (flat schema) or a `{names: {en: ...}}` map (GeoIP2).
struct CityField(Option<String>);

impl<'de> Deserialize<'de> for CityField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CityField;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a city name or a GeoIP2 city map")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CityField, E> {
                Ok(CityField(Some(v.to_string())))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<CityField, A::Error> {
                let c = GeoCity::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(CityField(c.names.and_then(|n| n.en)))
            }
        }
        d.deserialize_any(V)
    }
}

/// The parts of an input record the trimmer uses.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct InRecord {
    /// ISO 3166-1 alpha-2 country code.
    pub country: Option<String>,
    /// English city name.
    pub city: Option<String>,
    /// Latitude in degrees.
    pub latitude: Option<f64>,
    /// Longitude in degrees.
    pub longitude: Option<f64>,
    /// Autonomous system number.
    pub asn: Option<u32>,
    /// Autonomous system organisation.
    pub asn_org: Option<String>,
}

impl<'de> Deserialize<'de> for InRecord {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = InRecord;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map (city or ASN record)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<InRecord, A::Error> {
                let mut r = InRecord::default();
                let mut registered: Option<String> = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "country_code" => r.country = map.next_value::<Option<String>>()?,
                        "city" => r.city = map.next_value::<CityField>()?.0,
                        "latitude" => r.latitude = Some(map.next_value::<AnyF64>()?.0),
                        "longitude" => r.longitude = Some(map.next_value::<AnyF64>()?.0),
                        "country" => r.country = map.next_value::<GeoCountry>()?.iso_code,
                        "registered_country" => {
                            registered = map.next_value::<GeoCountry>()?.iso_code
                        }
                        "location" => {
                            let l = map.next_value::<GeoLocation>()?;
                            r.latitude = l.latitude.map(|x| x.0);
                            r.longitude = l.longitude.map(|x| x.0);
                        }
                        "autonomous_system_number" => r.asn = Some(map.next_value::<AnyU32>()?.0),
                        "autonomous_system_organization" => {
                            r.asn_org = Some(map.next_value::<String>()?)
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                if r.country.as_deref().is_none_or(str::is_empty) {
                    r.country = registered;
                }
                if r.city.as_deref() == Some("") {
                    r.city = None;
                }
                Ok(r)
            }
        }
        d.deserialize_map(V)
    }
}

/// Rounds `deg` to a multiple of `precision` degrees and returns it in [`COORD_UNIT`]s.
pub fn quantise(deg: f64, precision: f64) -> i32 {
    let units_per_step = (precision / COORD_UNIT).round().max(1.0);
    ((deg / COORD_UNIT / units_per_step).round() * units_per_step) as i32
}

/// Great-circle distance in km.
pub fn haversine_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
}

/// Unit vector of a position (for fast "within D km" tests by dot product).
pub fn unit_vector(lat: f64, lon: f64) -> [f64; 3] {
    let (p, l) = (lat.to_radians(), lon.to_radians());
    [p.cos() * l.cos(), p.cos() * l.sin(), p.sin()]
}

/// A compact record: everything connmap's map shows for one network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rec {
    /// Country code bytes (`[0, 0]` when unknown).
    pub cc: [u8; 2],
    /// Latitude in [`COORD_UNIT`]s, already quantised.
    pub lat: i32,
    /// Longitude in [`COORD_UNIT`]s, already quantised.
    pub lon: i32,
    /// City name id in [`Interner`] (0 = none).
    pub city: u32,
    /// ASN id in [`RecTable::asns`] (0 = none).
    pub asn: u32,
}

impl Rec {
    /// Latitude in degrees.
    pub fn lat_deg(&self) -> f64 {
        f64::from(self.lat) / 100_000.0
    }
    /// Longitude in degrees.
    pub fn lon_deg(&self) -> f64 {
        f64::from(self.lon) / 100_000.0
    }
    /// Country code as text ("" when unknown).
    pub fn country(&self) -> &str {
        if self.cc == [0, 0] {
            ""
        } else {
            std::str::from_utf8(&self.cc).unwrap_or("")
        }
    }
}

/// Packs a country code into two bytes (anything not two ASCII letters is "unknown").
pub fn pack_country(cc: Option<&str>) -> [u8; 2] {
    match cc.map(str::as_bytes) {
        Some([a, b]) if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
            [a.to_ascii_uppercase(), b.to_ascii_uppercase()]
        }
        _ => [0, 0],
    }
}

/// String interner (id 0 is the empty string).
#[derive(Debug)]
pub struct Interner {
    strings: Vec<String>,
    ids: HashMap<String, u32>,
}

impl Default for Interner {
    fn default() -> Self {
        Interner {
            strings: vec![String::new()],
            ids: HashMap::from([(String::new(), 0)]),
        }
    }
}

impl Interner {
    /// Id of `s`, adding it if new.
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.strings.len() as u32;
        self.strings.push(s.to_string());
        self.ids.insert(s.to_string(), id);
        id
    }
    /// String of `id`.
    pub fn get(&self, id: u32) -> &str {
        &self.strings[id as usize]
    }
}

/// All distinct records, cities and ASNs seen in the inputs.
#[derive(Default)]
pub struct RecTable {
    /// Records by id.
    pub recs: Vec<Rec>,
    ids: HashMap<Rec, u32>,
    /// City names.
    pub cities: Interner,
    /// ASNs: (number, organisation id in `orgs`); index 0 is "none".
    pub asns: Vec<(u32, u32)>,
    asn_ids: HashMap<(u32, u32), u32>,
    /// ASN organisation names.
    pub orgs: Interner,
}

impl RecTable {
    /// An empty table (ASN id 0 reserved for "none").
    pub fn new() -> Self {
        RecTable {
            asns: vec![(0, 0)],
            ..Default::default()
        }
    }

    /// Id of `r`, adding it if new.
    pub fn intern(&mut self, r: Rec) -> u32 {
        if let Some(&id) = self.ids.get(&r) {
            return id;
        }
        let id = self.recs.len() as u32;
        self.recs.push(r);
        self.ids.insert(r, id);
        id
    }

    /// Id of an ASN (number, organisation).
    pub fn intern_asn(&mut self, asn: u32, org: &str) -> u32 {
        let org = self.orgs.intern(org);
        if let Some(&id) = self.asn_ids.get(&(asn, org)) {
            return id;
        }
        let id = self.asns.len() as u32;
        self.asns.push((asn, org));
        self.asn_ids.insert((asn, org), id);
        id
    }

    /// Builds the compact record of an input record; `None` when it has no position.
    pub fn from_input(&mut self, r: &InRecord, precision: f64, cities: bool) -> Option<u32> {
        let (lat, lon) = (r.latitude?, r.longitude?);
        if !lat.is_finite() || !lon.is_finite() || lat.abs() > 90.0 || lon.abs() > 180.0 {
            return None;
        }
        let city = match (&r.city, cities) {
            (Some(c), true) => self.cities.intern(c),
            _ => 0,
        };
        let asn = match r.asn {
            Some(n) => self.intern_asn(n, r.asn_org.as_deref().unwrap_or("")),
            None => 0,
        };
        Some(self.intern(Rec {
            cc: pack_country(r.country.as_deref()),
            lat: quantise(lat, precision),
            lon: quantise(lon, precision),
            city,
            asn,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantise_rounds_to_steps() {
        assert_eq!(quantise(45.5019, 0.01), 4_550_000);
        assert_eq!(quantise(-73.5674, 0.1), -7_360_000);
        assert_eq!(quantise(-33.8688, 0.00001), -3_386_880);
    }

    #[test]
    fn distances() {
        // Paris – London ≈ 344 km.
        let d = haversine_km(48.8566, 2.3522, 51.5074, -0.1278);
        assert!((d - 343.5).abs() < 2.0, "{d}");
        assert_eq!(haversine_km(10.0, 20.0, 10.0, 20.0), 0.0);
        let (a, b) = (unit_vector(48.8566, 2.3522), unit_vector(51.5074, -0.1278));
        let dot: f64 = (0..3).map(|i| a[i] * b[i]).sum();
        assert!(((dot.acos() * EARTH_RADIUS_KM) - d).abs() < 0.01);
    }

    #[test]
    fn pack_country_checks() {
        assert_eq!(pack_country(Some("us")), *b"US");
        assert_eq!(pack_country(Some("USA")), [0, 0]);
        assert_eq!(pack_country(None), [0, 0]);
    }

    #[test]
    fn table_interns() {
        let mut t = RecTable::new();
        let r = InRecord {
            country: Some("AU".into()),
            city: Some("Sydney".into()),
            latitude: Some(-33.8688),
            longitude: Some(151.209),
            ..Default::default()
        };
        let a = t.from_input(&r, 0.01, true).unwrap();
        let b = t.from_input(&r, 0.01, true).unwrap();
        assert_eq!(a, b);
        let c = t.from_input(&r, 0.01, false).unwrap();
        assert_ne!(a, c);
        assert_eq!(t.cities.get(t.recs[a as usize].city), "Sydney");
        assert_eq!(t.recs[c as usize].country(), "AU");
        let none = InRecord {
            latitude: Some(1.0),
            ..Default::default()
        };
        assert!(t.from_input(&none, 0.01, true).is_none());
        assert!(t.from_input(&InRecord::default(), 0.01, true).is_none());
    }
}
