//! A small MaxMind DB (format 2.0) writer.
//!
//! It writes exactly what connmap-geodb needs: an IPv6 search tree (IPv4 lives at `::/96`,
//! optionally aliased at `::ffff:0:0/96`), a data section with pointer de-duplication of
//! repeated keys and values, and the metadata map. The record size is the smallest of
//! 24, 28 and 32 bits that can address every node and data offset.
//!
//! Networks are inserted as disjoint prefixes; an overlapping insert is an error rather
//! than a silent overwrite, because the trimmer always produces disjoint prefixes.
//!
//! Identical subtrees are stored once (`Writer::set_share_subtrees`, on by default): the
//! search tree becomes a DAG in which two records may point at the same node, which every
//! reader follows like any other record (MaxMind's own databases do the same for the
//! `::ffff:0:0/96` alias). Nodes are numbered in depth-first order from the root. The
//! sharing is skipped when the tree would then hold more than `MAX_NETWORKS_PER_NODE`
//! networks (root-to-leaf paths) per node: the `maxminddb` crate's `verify()` takes more
//! than three per node for a cycle.

use std::collections::HashMap;

/// A value of the MaxMind DB data section (the subset of types this project writes).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// UTF-8 string (type 2).
    Str(String),
    /// IEEE 754 double (type 3).
    F64(f64),
    /// IEEE 754 float (type 15); only for making test inputs like ip-location-db's.
    F32(f32),
    /// Unsigned 16-bit integer (type 5).
    U16(u16),
    /// Unsigned 32-bit integer (type 6).
    U32(u32),
    /// Unsigned 64-bit integer (type 9).
    U64(u64),
    /// Map with string keys (type 7). Key order is kept as given.
    Map(Vec<(String, Value)>),
    /// Array (type 11).
    Array(Vec<Value>),
}

impl Value {
    /// Builds a map value from `(&str, Value)` pairs.
    pub fn map<I: IntoIterator<Item = (&'static str, Value)>>(pairs: I) -> Value {
        Value::Map(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }
}

const TYPE_POINTER: u8 = 1;
const TYPE_STRING: u8 = 2;
const TYPE_DOUBLE: u8 = 3;
const TYPE_U16: u8 = 5;
const TYPE_U32: u8 = 6;
const TYPE_MAP: u8 = 7;
const TYPE_U64: u8 = 9;
const TYPE_ARRAY: u8 = 11;
const TYPE_FLOAT: u8 = 15;

/// Writes a control byte (and extended type / size bytes) for `type_` with payload `size`.
fn write_control(buf: &mut Vec<u8>, type_: u8, size: usize) {
    let (t, ext) = if type_ <= 7 {
        (type_, None)
    } else {
        (0, Some(type_ - 7))
    };
    let first = t << 5;
    let mut extra: Vec<u8> = Vec::new();
    let size_bits = if size < 29 {
        size as u8
    } else if size < 29 + 256 {
        extra.push((size - 29) as u8);
        29
    } else if size < 285 + 65536 {
        let s = size - 285;
        extra.extend_from_slice(&[(s >> 8) as u8, s as u8]);
        30
    } else {
        let s = size - 65821;
        extra.extend_from_slice(&[(s >> 16) as u8, (s >> 8) as u8, s as u8]);
        31
    };
    buf.push(first | size_bits);
    if let Some(e) = ext {
        buf.push(e);
    }
    buf.extend_from_slice(&extra);
}

/// Minimal big-endian bytes of an unsigned integer (zero has no bytes).
fn uint_bytes(v: u64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    bytes[skip..].to_vec()
}

/// Encodes `v` without any pointers (used as the de-duplication key and for metadata).
pub fn encode_plain(v: &Value, buf: &mut Vec<u8>) {
    match v {
        Value::Str(s) => {
            write_control(buf, TYPE_STRING, s.len());
            buf.extend_from_slice(s.as_bytes());
        }
        Value::F64(x) => {
            write_control(buf, TYPE_DOUBLE, 8);
            buf.extend_from_slice(&x.to_be_bytes());
        }
        Value::F32(x) => {
            write_control(buf, TYPE_FLOAT, 4);
            buf.extend_from_slice(&x.to_be_bytes());
        }
        Value::U16(x) => {
            let b = uint_bytes(u64::from(*x));
            write_control(buf, TYPE_U16, b.len());
            buf.extend_from_slice(&b);
        }
        Value::U32(x) => {
            let b = uint_bytes(u64::from(*x));
            write_control(buf, TYPE_U32, b.len());
            buf.extend_from_slice(&b);
        }
        Value::U64(x) => {
            let b = uint_bytes(*x);
            write_control(buf, TYPE_U64, b.len());
            buf.extend_from_slice(&b);
        }
        Value::Map(pairs) => {
            write_control(buf, TYPE_MAP, pairs.len());
            for (k, val) in pairs {
                encode_plain(&Value::Str(k.clone()), buf);
                encode_plain(val, buf);
            }
        }
        Value::Array(items) => {
            write_control(buf, TYPE_ARRAY, items.len());
            for item in items {
                encode_plain(item, buf);
            }
        }
    }
}

/// Encodes a data-section pointer to `offset`.
fn encode_pointer(offset: u32, buf: &mut Vec<u8>) {
    let t = TYPE_POINTER << 5;
    if offset < 2048 {
        buf.extend_from_slice(&[t | ((offset >> 8) as u8 & 7), offset as u8]);
    } else if offset < 2048 + 524_288 {
        let o = offset - 2048;
        buf.extend_from_slice(&[t | 0x08 | ((o >> 16) as u8 & 7), (o >> 8) as u8, o as u8]);
    } else if offset < 526_336 + 134_217_728 {
        let o = offset - 526_336;
        buf.extend_from_slice(&[
            t | 0x10 | ((o >> 24) as u8 & 7),
            (o >> 16) as u8,
            (o >> 8) as u8,
            o as u8,
        ]);
    } else {
        buf.push(t | 0x18);
        buf.extend_from_slice(&offset.to_be_bytes());
    }
}

fn pointer_len(offset: u32) -> usize {
    let mut b = Vec::with_capacity(5);
    encode_pointer(offset, &mut b);
    b.len()
}

/// The data section under construction, with value de-duplication through pointers.
#[derive(Default)]
pub struct DataSection {
    buf: Vec<u8>,
    cache: HashMap<Vec<u8>, u32>,
}

impl DataSection {
    /// Adds a top-level record and returns its offset (an earlier identical record is reused).
    pub fn add_record(&mut self, v: &Value) -> u32 {
        let mut plain = Vec::new();
        encode_plain(v, &mut plain);
        if let Some(&off) = self.cache.get(&plain) {
            return off;
        }
        let off = self.buf.len() as u32;
        self.write_inline(v);
        self.cache.insert(plain, off);
        off
    }

    fn write_inline(&mut self, v: &Value) {
        match v {
            Value::Map(pairs) => {
                write_control(&mut self.buf, TYPE_MAP, pairs.len());
                for (k, val) in pairs {
                    self.write_child(&Value::Str(k.clone()));
                    self.write_child(val);
                }
            }
            Value::Array(items) => {
                write_control(&mut self.buf, TYPE_ARRAY, items.len());
                for item in items {
                    self.write_child(item);
                }
            }
            other => encode_plain(other, &mut self.buf),
        }
    }

    fn write_child(&mut self, v: &Value) {
        let mut plain = Vec::new();
        encode_plain(v, &mut plain);
        if let Some(&off) = self.cache.get(&plain) {
            if pointer_len(off) < plain.len() {
                encode_pointer(off, &mut self.buf);
                return;
            }
        }
        let off = self.buf.len() as u32;
        self.write_inline(v);
        self.cache.entry(plain).or_insert(off);
    }

    /// Size of the data section written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// Child slot of a tree node: a node index, a data offset or nothing.
const EMPTY: u32 = u32::MAX;
const DATA_FLAG: u32 = 0x8000_0000;

/// Errors of the writer.
#[derive(Debug, PartialEq, Eq)]
pub enum WriteError {
    /// Two inserted networks overlap.
    Overlap(u128, u8),
    /// Prefix length above 128.
    BadPrefix(u8),
    /// Data offset beyond 2^31 or a tree beyond what 32-bit records address.
    TooLarge,
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::Overlap(a, l) => write!(
                f,
                "network {}/{} overlaps one inserted before",
                std::net::Ipv6Addr::from(*a),
                l
            ),
            WriteError::BadPrefix(l) => write!(f, "prefix length {l} is above 128"),
            WriteError::TooLarge => write!(f, "database too large for the MaxMind DB format"),
        }
    }
}

/// Database metadata to write.
#[derive(Debug, Clone)]
pub struct Metadata {
    /// `database_type`.
    pub database_type: String,
    /// `description` map (language → text).
    pub description: Vec<(String, String)>,
    /// `languages`.
    pub languages: Vec<String>,
    /// `build_epoch` (seconds since 1970).
    pub build_epoch: u64,
}

/// Sizes of a finished database.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteStats {
    /// Search tree nodes written.
    pub node_count: usize,
    /// Search tree nodes before identical subtrees were shared.
    pub nodes_unshared: usize,
    /// Record size in bits (24, 28 or 32).
    pub record_size: u16,
    /// Search tree bytes.
    pub tree_bytes: usize,
    /// Data section bytes.
    pub data_bytes: usize,
    /// Whole file bytes.
    pub total_bytes: usize,
}

/// Builds a MaxMind DB file in memory.
pub struct Writer {
    nodes: Vec<[u32; 2]>,
    data: DataSection,
    ip_version: u16,
    share_subtrees: bool,
}

impl Default for Writer {
    fn default() -> Self {
        Self::new()
    }
}

impl Writer {
    /// An empty IPv6 database (IPv4 at `::/96`).
    pub fn new() -> Self {
        Writer {
            nodes: vec![[EMPTY, EMPTY]],
            data: DataSection::default(),
            ip_version: 6,
            share_subtrees: true,
        }
    }

    /// An empty IPv4-only database (a 32-bit tree, like ip-location-db's IPv4 files).
    pub fn new_v4_only() -> Self {
        Writer {
            ip_version: 4,
            ..Self::new()
        }
    }

    /// Adds a record to the data section; returns the handle to pass to `insert`.
    pub fn add_record(&mut self, v: &Value) -> Result<u32, WriteError> {
        let off = self.data.add_record(v);
        if off >= DATA_FLAG {
            return Err(WriteError::TooLarge);
        }
        Ok(off)
    }

    /// Inserts the IPv6 network `addr/len` pointing at record `rec` (from `add_record`).
    /// IPv6 databases only (an IPv4-only database takes `insert_v4`).
    pub fn insert(&mut self, addr: u128, len: u8, rec: u32) -> Result<(), WriteError> {
        if len > 128 || self.ip_version == 4 {
            return Err(WriteError::BadPrefix(len));
        }
        if len == 0 {
            self.insert(0, 1, rec)?;
            return self.insert(1u128 << 127, 1, rec);
        }
        self.set_slot(addr, len, rec | DATA_FLAG)
    }

    /// Inserts the IPv4 network `addr/len` (stored at `::/96` in an IPv6 tree).
    pub fn insert_v4(&mut self, addr: u32, len: u8, rec: u32) -> Result<(), WriteError> {
        if len > 32 {
            return Err(WriteError::BadPrefix(len));
        }
        if self.ip_version == 4 {
            if len == 0 {
                self.insert_v4(0, 1, rec)?;
                return self.insert_v4(1 << 31, 1, rec);
            }
            return self.set_slot(u128::from(addr) << 96, len, rec | DATA_FLAG);
        }
        self.insert(u128::from(addr), len + 96, rec)
    }

    fn set_slot(&mut self, addr: u128, len: u8, value: u32) -> Result<(), WriteError> {
        let mut node = 0usize;
        for i in 0..len - 1 {
            let bit = ((addr >> (127 - i)) & 1) as usize;
            let child = self.nodes[node][bit];
            if child == EMPTY {
                let new = self.nodes.len() as u32;
                if new >= DATA_FLAG {
                    return Err(WriteError::TooLarge);
                }
                self.nodes.push([EMPTY, EMPTY]);
                self.nodes[node][bit] = new;
                node = new as usize;
            } else if child & DATA_FLAG != 0 {
                return Err(WriteError::Overlap(addr, len));
            } else {
                node = child as usize;
            }
        }
        let bit = ((addr >> (127 - (len - 1))) & 1) as usize;
        if self.nodes[node][bit] != EMPTY {
            return Err(WriteError::Overlap(addr, len));
        }
        self.nodes[node][bit] = value;
        Ok(())
    }

    /// Points `::ffff:0:0/96` (IPv4-mapped IPv6) at the IPv4 subtree, if there is one.
    pub fn alias_v4_mapped(&mut self) -> Result<(), WriteError> {
        if self.ip_version == 4 {
            return Ok(());
        }
        let mut slot = 0u32; // node index or data
        let mut node = 0usize;
        for _ in 0..96 {
            let child = self.nodes[node][0];
            if child == EMPTY {
                return Ok(());
            }
            slot = child;
            if child & DATA_FLAG != 0 {
                break;
            }
            node = child as usize;
        }
        self.set_slot(0xffffu128 << 32, 96, slot)
    }

    /// Number of tree nodes so far (before sharing).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Whether `finish` stores identical subtrees once (default: yes).
    pub fn set_share_subtrees(&mut self, on: bool) {
        self.share_subtrees = on;
    }

    /// Serialises the database.
    pub fn finish(mut self, meta: &Metadata) -> Result<(Vec<u8>, WriteStats), WriteError> {
        let nodes_unshared = self.nodes.len();
        if self.share_subtrees {
            if let Some(shared) = share_subtrees(&self.nodes) {
                self.nodes = shared;
            }
        }
        let node_count = self.nodes.len();
        let data_len = self.data.len();
        let max_value = node_count as u64 + 16 + data_len as u64;
        let record_size: u16 = if max_value < (1 << 24) {
            24
        } else if max_value < (1 << 28) {
            28
        } else if max_value < (1 << 32) {
            32
        } else {
            return Err(WriteError::TooLarge);
        };
        let node_bytes = usize::from(record_size) / 4;
        let mut out = Vec::with_capacity(node_count * node_bytes + 16 + data_len + 512);
        let resolve = |v: u32| -> u32 {
            if v == EMPTY {
                node_count as u32
            } else if v & DATA_FLAG != 0 {
                node_count as u32 + 16 + (v & !DATA_FLAG)
            } else {
                v
            }
        };
        for n in &self.nodes {
            let (l, r) = (resolve(n[0]), resolve(n[1]));
            match record_size {
                24 => {
                    out.extend_from_slice(&l.to_be_bytes()[1..]);
                    out.extend_from_slice(&r.to_be_bytes()[1..]);
                }
                28 => {
                    out.extend_from_slice(&l.to_be_bytes()[1..]);
                    out.push((((l >> 24) & 0x0f) << 4) as u8 | ((r >> 24) & 0x0f) as u8);
                    out.extend_from_slice(&r.to_be_bytes()[1..]);
                }
                _ => {
                    out.extend_from_slice(&l.to_be_bytes());
                    out.extend_from_slice(&r.to_be_bytes());
                }
            }
        }
        let tree_bytes = out.len();
        out.extend_from_slice(&[0u8; 16]);
        out.extend_from_slice(&self.data.buf);
        out.extend_from_slice(b"\xab\xcd\xefMaxMind.com");
        let metadata = Value::Map(vec![
            ("binary_format_major_version".into(), Value::U16(2)),
            ("binary_format_minor_version".into(), Value::U16(0)),
            ("build_epoch".into(), Value::U64(meta.build_epoch)),
            (
                "database_type".into(),
                Value::Str(meta.database_type.clone()),
            ),
            (
                "description".into(),
                Value::Map(
                    meta.description
                        .iter()
                        .map(|(k, v)| (k.clone(), Value::Str(v.clone())))
                        .collect(),
                ),
            ),
            ("ip_version".into(), Value::U16(self.ip_version)),
            (
                "languages".into(),
                Value::Array(
                    meta.languages
                        .iter()
                        .map(|l| Value::Str(l.clone()))
                        .collect(),
                ),
            ),
            ("node_count".into(), Value::U32(node_count as u32)),
            ("record_size".into(), Value::U16(record_size)),
        ]);
        encode_plain(&metadata, &mut out);
        let stats = WriteStats {
            node_count,
            nodes_unshared,
            record_size,
            tree_bytes,
            data_bytes: data_len,
            total_bytes: out.len(),
        };
        Ok((out, stats))
    }
}

/// True for a slot that holds a node index (not a data offset, not empty).
fn is_node(v: u32) -> bool {
    v != EMPTY && v & DATA_FLAG == 0
}

/// Most networks (root-to-leaf paths, empty ones included) per node a shared tree may hold.
const MAX_NETWORKS_PER_NODE: u64 = 2;

/// Stores every distinct subtree once and renumbers the nodes depth-first from the root;
/// `None` if the shared tree would hold more than `MAX_NETWORKS_PER_NODE` networks per node.
///
/// Two nodes are the same subtree when both of their slots are: the same data record, both
/// empty, or (recursively) the same subtree. Children are always created after their parent,
/// so walking the nodes backwards sees every child before its parent.
fn share_subtrees(nodes: &[[u32; 2]]) -> Option<Vec<[u32; 2]>> {
    let mut canon = vec![0u32; nodes.len()]; // node → its representative node
    let mut seen: HashMap<[u32; 2], u32> = HashMap::with_capacity(nodes.len());
    let slot = |canon: &[u32], v: u32| if is_node(v) { canon[v as usize] } else { v };
    // Networks below each representative (its children's representatives are above it).
    let mut paths = vec![0u64; nodes.len()];
    for i in (0..nodes.len()).rev() {
        let key = [slot(&canon, nodes[i][0]), slot(&canon, nodes[i][1])];
        canon[i] = *seen.entry(key).or_insert(i as u32);
        if canon[i] == i as u32 {
            paths[i] = key
                .iter()
                .map(|&k| if is_node(k) { paths[k as usize] } else { 1 })
                .fold(0u64, u64::saturating_add);
        }
    }
    drop(seen);
    let networks = canon.first().map_or(0, |&root| paths[root as usize]);
    drop(paths);
    // Depth-first from the root, left first; a shared node gets the number of its first visit.
    const UNSET: u32 = u32::MAX;
    let mut number = vec![UNSET; nodes.len()];
    let mut out: Vec<[u32; 2]> = Vec::new();
    let mut stack = vec![0u32];
    while let Some(n) = stack.pop() {
        if number[n as usize] != UNSET {
            continue;
        }
        number[n as usize] = out.len() as u32;
        let kids = [
            slot(&canon, nodes[n as usize][0]),
            slot(&canon, nodes[n as usize][1]),
        ];
        out.push(kids);
        for &k in kids.iter().rev() {
            if is_node(k) && number[k as usize] == UNSET {
                stack.push(k);
            }
        }
    }
    for n in &mut out {
        for k in n.iter_mut() {
            if is_node(*k) {
                *k = number[*k as usize];
            }
        }
    }
    (networks <= MAX_NETWORKS_PER_NODE * out.len() as u64).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use maxminddb::Reader;
    use serde::Deserialize;
    use std::collections::BTreeMap;
    use std::net::IpAddr;

    fn meta() -> Metadata {
        Metadata {
            database_type: "Test-City".into(),
            description: vec![("en".into(), "test".into())],
            languages: vec!["en".into()],
            build_epoch: 1_700_000_000,
        }
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct All {
        s: String,
        d: f64,
        u16v: u16,
        u32v: u32,
        u64v: u64,
        m: BTreeMap<String, String>,
        a: Vec<u32>,
    }

    fn sample(i: u32) -> Value {
        Value::map([
            ("s", Value::Str(format!("string {i} ünïcödé"))),
            ("d", Value::F64(-33.8688 + f64::from(i))),
            ("u16v", Value::U16(0)),
            ("u32v", Value::U32(4_000_000_000 + i)),
            ("u64v", Value::U64(u64::MAX - u64::from(i))),
            ("m", Value::map([("en", Value::Str("x".repeat(300)))])),
            ("a", Value::Array(vec![Value::U32(1), Value::U32(70000)])),
        ])
    }

    #[test]
    fn round_trip_every_type_and_pointers() {
        let mut w = Writer::new();
        let mut recs = Vec::new();
        for i in 0..3000u32 {
            recs.push(w.add_record(&sample(i)).unwrap());
        }
        // Identical records share one offset.
        assert_eq!(w.add_record(&sample(7)).unwrap(), recs[7]);
        for i in 0..3000u32 {
            w.insert_v4(0x0a00_0000 + (i << 8), 24, recs[i as usize])
                .unwrap();
        }
        let (bytes, stats) = w.finish(&meta()).unwrap();
        assert_eq!(stats.record_size, 24);
        let r = Reader::from_source(bytes).unwrap();
        assert_eq!(r.metadata().description.get("en").unwrap(), "test");
        for i in [0u32, 1, 7, 2047, 2999] {
            let ip = IpAddr::V4((0x0a00_0000 + (i << 8) + 5).into());
            let got: All = r.lookup(ip).unwrap().decode().unwrap().unwrap();
            assert_eq!(got.s, format!("string {i} ünïcödé"));
            assert_eq!(got.d, -33.8688 + f64::from(i));
            assert_eq!(got.u16v, 0);
            assert_eq!(got.u32v, 4_000_000_000 + i);
            assert_eq!(got.u64v, u64::MAX - u64::from(i));
            assert_eq!(got.m["en"], "x".repeat(300));
            assert_eq!(got.a, vec![1, 70000]);
        }
        // Outside any network: nothing.
        assert!(!r.lookup("11.0.0.1".parse().unwrap()).unwrap().has_data());
        r.verify().unwrap();
    }

    #[test]
    fn long_strings_and_large_maps() {
        for n in [28usize, 29, 284, 285, 65820, 65821, 70000] {
            let mut w = Writer::new();
            let rec = w
                .add_record(&Value::map([("s", Value::Str("y".repeat(n)))]))
                .unwrap();
            w.insert(0x2000u128 << 112, 3, rec).unwrap();
            let (bytes, _) = w.finish(&meta()).unwrap();
            let r = Reader::from_source(bytes).unwrap();
            let got: BTreeMap<String, String> = r
                .lookup("2a00::1".parse().unwrap())
                .unwrap()
                .decode()
                .unwrap()
                .unwrap();
            assert_eq!(got["s"].len(), n);
        }
    }

    #[test]
    fn pointer_encodings_round_trip() {
        // Force offsets into every pointer size class by padding the data section.
        let mut w = Writer::new();
        let mut handles = Vec::new();
        let pad = "p".repeat(60000);
        for i in 0..12u32 {
            let v = Value::map([
                ("pad", Value::Str(format!("{pad}{i}"))),
                ("shared", Value::Str(format!("shared value {}", i % 3))),
            ]);
            handles.push(w.add_record(&v).unwrap());
        }
        for (i, h) in handles.iter().enumerate() {
            w.insert((0x2000u128 << 112) | ((i as u128) << 100), 28, *h)
                .unwrap();
        }
        let (bytes, stats) = w.finish(&meta()).unwrap();
        assert!(stats.data_bytes > 700_000);
        let r = Reader::from_source(bytes).unwrap();
        for i in 0..12u32 {
            let ip = IpAddr::V6(((0x2000u128 << 112) | (u128::from(i) << 100) | 1).into());
            let got: BTreeMap<String, String> = r.lookup(ip).unwrap().decode().unwrap().unwrap();
            assert_eq!(got["shared"], format!("shared value {}", i % 3));
            assert!(got["pad"].ends_with(&i.to_string()));
        }
        r.verify().unwrap();
    }

    #[test]
    fn record_sizes_grow_with_the_tree() {
        let mut w = Writer::new();
        let rec = w.add_record(&Value::map([("x", Value::U32(1))])).unwrap();
        // 2^16 /32 networks spread out: > 2^16 * 16 nodes → needs 24 bits only up to 16.7M.
        for i in 0..70_000u32 {
            w.insert_v4(i.wrapping_mul(2_654_435_761) | 1, 32, rec)
                .or_else(|e| match e {
                    WriteError::Overlap(..) => Ok(()),
                    e => Err(e),
                })
                .unwrap();
        }
        let n = w.node_count();
        let (bytes, stats) = w.finish(&meta()).unwrap();
        assert_eq!(stats.nodes_unshared, n);
        assert_eq!(stats.record_size, if n + 16 < (1 << 24) { 24 } else { 28 });
        let r = Reader::from_source(bytes).unwrap();
        let ip = IpAddr::V4((7u32.wrapping_mul(2_654_435_761) | 1).into());
        assert!(r.lookup(ip).unwrap().has_data());
    }

    /// Builds the same random tree with and without sharing: `blocks` /24s, each cut into a
    /// /26, two /27s and a /25 carrying one of `records` records.
    fn shared_and_plain(records: u32, blocks: u32) -> [(Vec<u8>, WriteStats); 2] {
        [false, true].map(|share| {
            let mut w = Writer::new();
            w.set_share_subtrees(share);
            let recs: Vec<u32> = (0..records)
                .map(|i| w.add_record(&Value::map([("x", Value::U32(i))])).unwrap())
                .collect();
            let mut x = 12345u32;
            for block in 0..blocks {
                let base = 0x0100_0000 + block * 256;
                for (j, len) in [(0u32, 26u8), (64, 27), (96, 27), (128, 25)] {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    w.insert_v4(base + j, len, recs[(x % records) as usize])
                        .unwrap();
                }
            }
            w.insert(0x2001_0db9u128 << 96, 32, recs[1]).unwrap();
            w.alias_v4_mapped().unwrap();
            w.finish(&meta()).unwrap()
        })
    }

    /// (record, prefix length) of `ip`'s network.
    fn x_at(r: &Reader<Vec<u8>>, ip: IpAddr) -> Option<(u32, u8)> {
        #[derive(Deserialize)]
        struct X {
            x: u32,
        }
        let res = r.lookup(ip).unwrap();
        let net = res.network().unwrap().prefix();
        res.decode::<X>().unwrap().map(|v| (v.x, net))
    }

    /// Every network of the tree with its data offset, in order.
    fn all_networks(r: &Reader<Vec<u8>>) -> Vec<(String, Option<usize>)> {
        r.networks(maxminddb::WithinOptions::default())
            .unwrap()
            .map(|i| {
                let lr = i.unwrap();
                (lr.network().unwrap().to_string(), lr.offset())
            })
            .collect()
    }

    #[test]
    fn shared_subtrees_answer_like_the_plain_tree() {
        let [(plain, plain_stats), (shared, stats)] = shared_and_plain(8, 2000);
        assert_eq!(plain_stats.node_count, plain_stats.nodes_unshared);
        assert_eq!(stats.nodes_unshared, plain_stats.node_count);
        // 8 records: 64 distinct /26 subtrees, ≤ 512 /25s, ≤ 4096 /24s for 2000 blocks.
        assert!(
            stats.node_count * 10 < plain_stats.node_count * 6,
            "{stats:?}"
        );
        assert!(shared.len() < plain.len());
        let (a, b) = (
            Reader::from_source(plain).unwrap(),
            Reader::from_source(shared).unwrap(),
        );
        b.verify().unwrap();
        let mut x = 99u32;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let v4 = std::net::Ipv4Addr::from(0x0100_0000 + x % (2001 * 256));
            assert_eq!(x_at(&a, v4.into()), x_at(&b, v4.into()), "{v4}");
            let mapped = IpAddr::V6(v4.to_ipv6_mapped());
            assert_eq!(x_at(&b, mapped), x_at(&a, mapped), "{mapped}");
        }
        let v6: IpAddr = "2001:db9::1".parse().unwrap();
        assert_eq!(x_at(&b, v6), Some((1, 32)));
        // Enumerating the networks through the shared tree gives the plain tree's.
        assert_eq!(all_networks(&a), all_networks(&b));
    }

    #[test]
    fn sharing_is_skipped_when_verifiers_would_see_a_cycle() {
        // 2 records: sharing would leave > 2 networks per node, so the tree stays plain.
        let [(plain, plain_stats), (shared, stats)] = shared_and_plain(2, 2000);
        assert_eq!(stats.node_count, plain_stats.node_count);
        assert_eq!(plain, shared);
        Reader::from_source(shared).unwrap().verify().unwrap();
    }

    #[test]
    fn overlap_is_an_error_and_alias_works() {
        let mut w = Writer::new();
        let rec = w.add_record(&Value::map([("x", Value::U32(1))])).unwrap();
        w.insert_v4(0x0101_0100, 24, rec).unwrap();
        assert!(matches!(
            w.insert_v4(0x0101_0101, 32, rec),
            Err(WriteError::Overlap(..))
        ));
        assert!(matches!(
            w.insert_v4(0x0100_0000, 8, rec),
            Err(WriteError::Overlap(..))
        ));
        w.alias_v4_mapped().unwrap();
        let (bytes, _) = w.finish(&meta()).unwrap();
        let r = Reader::from_source(bytes).unwrap();
        assert!(r.lookup("1.1.1.1".parse().unwrap()).unwrap().has_data());
        assert!(r
            .lookup("::ffff:1.1.1.1".parse().unwrap())
            .unwrap()
            .has_data());
        assert!(!r
            .lookup("::ffff:1.1.2.1".parse().unwrap())
            .unwrap()
            .has_data());
    }

    #[test]
    fn ipv4_only_tree() {
        let mut w = Writer::new_v4_only();
        let rec = w
            .add_record(&Value::map([("f", Value::F32(45.5019))]))
            .unwrap();
        w.insert_v4(0x0101_0100, 24, rec).unwrap();
        assert!(w.insert(0, 8, rec).is_err());
        let (bytes, _) = w.finish(&meta()).unwrap();
        let r = Reader::from_source(bytes).unwrap();
        assert_eq!(r.metadata().ip_version, 4);
        let got: crate::record::InRecord = r
            .lookup("1.1.1.1".parse().unwrap())
            .unwrap()
            .decode()
            .unwrap()
            .unwrap();
        assert_eq!(got, crate::record::InRecord::default());
        #[derive(Deserialize)]
        struct F {
            f: crate::record::AnyF64,
        }
        let f: F = r
            .lookup("1.1.1.1".parse().unwrap())
            .unwrap()
            .decode()
            .unwrap()
            .unwrap();
        assert_eq!(f.f.0, 45.5019);
        assert!(!r.lookup("1.1.2.1".parse().unwrap()).unwrap().has_data());
    }

    #[test]
    fn control_byte_sizes() {
        let mut b = Vec::new();
        write_control(&mut b, TYPE_STRING, 3);
        assert_eq!(b, [0x43]);
        b.clear();
        write_control(&mut b, TYPE_STRING, 29);
        assert_eq!(b, [0x5d, 0]);
        b.clear();
        write_control(&mut b, TYPE_ARRAY, 2);
        assert_eq!(b, [0x02, 0x04]);
        let mut p = Vec::new();
        encode_pointer(2048, &mut p);
        assert_eq!(p, [0x28, 0, 0]);
    }
}
