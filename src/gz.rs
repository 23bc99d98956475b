//! gzip members (RFC 1952) around flate2's raw deflate, with a small CRC-32 (a 64-byte table made
//! at compile time): flate2's own gzip types pull in crc32fast and its 16 KB table, which is
//! ~4% of the router binary. Used for markers.json. Nothing here inflates: the daemon never
//! needs to (the page's files are sent to clients as they are stored).

use std::io::Write;

/// CRC-32 of each 4-bit value: 64 bytes of table, where a byte-wise one is 1 KB of
/// incompressible data in the package; two lookups per byte instead of one, next to
/// deflate's far larger cost per byte.
const fn crc_table() -> [u32; 16] {
    let mut t = [0u32; 16];
    let mut i = 0;
    while i < 16 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 4 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static CRC_TABLE: [u32; 16] = crc_table();

/// CRC-32 (IEEE, as gzip and zlib) of `data`, continuing from `crc` (0 to start).
pub fn crc32(crc: u32, data: &[u8]) -> u32 {
    let mut c = !crc;
    for &b in data {
        c ^= u32::from(b);
        c = CRC_TABLE[(c & 15) as usize] ^ (c >> 4);
        c = CRC_TABLE[(c & 15) as usize] ^ (c >> 4);
    }
    !c
}

/// One gzip member of `data` (header as flate2's GzEncoder writes it: no name, mtime 0, OS 255).
pub fn gzip(data: &[u8], level: u32) -> Vec<u8> {
    let xfl = match level {
        9.. => 2,
        0 | 1 => 4,
        _ => 0,
    };
    let mut out = Vec::with_capacity(data.len() / 4 + 64);
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255]);
    let mut enc = flate2::write::DeflateEncoder::new(out, flate2::Compression::new(level));
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    let mut out = enc.finish().unwrap_or_default();
    out.extend_from_slice(&crc32(0, data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn crc_of_known_strings() {
        assert_eq!(crc32(0, b""), 0);
        assert_eq!(crc32(0, b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(crc32(0, b"12345"), b"6789"), 0xcbf4_3926);
    }

    #[test]
    fn gzip_is_what_flate2_writes_and_reads() {
        let data = b"{\"markers\":[1,2,3]}".repeat(200);
        for level in [1, 6, 9] {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
            e.write_all(&data).unwrap();
            assert_eq!(gzip(&data, level), e.finish().unwrap(), "level {level}");
        }
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&gzip(&data, 6)[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, data);
    }
}
