//! One GeoIP2-City record (with the GeoLite2-ASN fields) for `mmdb_writer`: the demo's world
//! database (`demo::world_db`) and the tests' databases (tests/common/data.rs, which includes
//! this file by path: mmdb-writer is a dev-dependency there) build their records here, so
//! the schema connmap reads is written once. The router build (no `demo`) compiles neither.

use mmdb_writer::Value;

/// The record of a place: country code, city name, coordinates, ASN and its organisation.
pub fn city_record(city: &str, cc: &str, lat: f64, lng: f64, asn: u32, org: &str) -> Value {
    Value::map([
        ("country", Value::map([("iso_code", Value::from(cc))])),
        (
            "city",
            Value::map([("names", Value::map([("en", Value::from(city))]))]),
        ),
        (
            "location",
            Value::map([
                ("latitude", Value::Double(lat)),
                ("longitude", Value::Double(lng)),
            ]),
        ),
        ("autonomous_system_number", Value::U32(asn)),
        ("autonomous_system_organization", Value::from(org)),
    ])
}
