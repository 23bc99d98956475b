//! gzip members (RFC 1952) around flate2's raw deflate, with a small CRC-32 (a 1 KB table made
//! at compile time): flate2's own gzip types pull in crc32fast and its 16 KB table, which is
//! ~4% of the router binary. Used for markers.json and for the pre-compressed page files.

use std::io::{self, Read, Write};

const fn crc_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
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

static CRC_TABLE: [u32; 256] = crc_table();

/// CRC-32 (IEEE, as gzip and zlib) of `data`, continuing from `crc` (0 to start).
pub fn crc32(crc: u32, data: &[u8]) -> u32 {
    let mut c = !crc;
    for &b in data {
        c = CRC_TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
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

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("gzip: {what}"))
}

/// Length of the member header at the start of `b`.
fn header_len(b: &[u8]) -> io::Result<usize> {
    if b.len() < 10 || b[..3] != [0x1f, 0x8b, 8] {
        return Err(bad("not a gzip member"));
    }
    let flags = b[3];
    if flags & 0xe0 != 0 {
        return Err(bad("reserved header flags"));
    }
    let mut i = 10;
    if flags & 4 != 0 {
        // FEXTRA
        let xlen = b.get(i..i + 2).ok_or_else(|| bad("truncated header"))?;
        i += 2 + usize::from(u16::from_le_bytes([xlen[0], xlen[1]]));
    }
    for flag in [8, 16] {
        // FNAME, FCOMMENT: NUL-terminated
        if flags & flag != 0 {
            let end = b.get(i..).and_then(|r| r.iter().position(|&c| c == 0));
            i += end.ok_or_else(|| bad("truncated header"))? + 1;
        }
    }
    if flags & 2 != 0 {
        i += 2; // FHCRC
    }
    if i > b.len() {
        return Err(bad("truncated header"));
    }
    Ok(i)
}

/// Inflates every member of `input` (as `gzip -d` does), checking each one's CRC-32 and
/// length; more than `limit` bytes of output is an error.
pub fn gunzip(input: &[u8], limit: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = input;
    loop {
        let body = &rest[header_len(rest)?..];
        let start = out.len();
        let mut dec = flate2::bufread::DeflateDecoder::new(body);
        (&mut dec)
            .take(limit + 1 - start as u64)
            .read_to_end(&mut out)?;
        if out.len() as u64 > limit {
            return Err(io::Error::other(format!(
                "inflates to more than {limit} bytes"
            )));
        }
        let after = dec.into_inner();
        let trailer = after.get(..8).ok_or_else(|| bad("truncated member"))?;
        let member = &out[start..];
        if trailer[..4] != crc32(0, member).to_le_bytes()
            || trailer[4..] != (member.len() as u32).to_le_bytes()
        {
            return Err(bad("CRC or length mismatch"));
        }
        rest = &after[8..];
        if rest.is_empty() {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(gunzip(&gzip(b"", 6), 10).unwrap(), b"");
    }

    #[test]
    fn gunzip_reads_headers_with_every_field_and_every_member() {
        let mut e = flate2::GzBuilder::new()
            .filename("world.json")
            .comment("c")
            .extra(vec![1, 2, 3])
            .mtime(7)
            .write(Vec::new(), flate2::Compression::best());
        e.write_all(b"[1,").unwrap();
        let mut two = e.finish().unwrap();
        two.extend(gzip(b"2]", 9));
        assert_eq!(gunzip(&two, 100).unwrap(), b"[1,2]");
        // header CRC (FHCRC) present
        let mut h = gzip(b"x", 6);
        h[3] |= 2;
        h.splice(10..10, [0xaa, 0xbb]);
        assert_eq!(gunzip(&h, 10).unwrap(), b"x");
    }

    #[test]
    fn gunzip_refuses_damage_and_too_much() {
        let good = gzip(&b"abc".repeat(1000), 6);
        assert!(gunzip(&good, 3000).is_ok());
        assert!(gunzip(&good, 2999).is_err());
        let mut crc = good.clone();
        let n = crc.len();
        crc[n - 8] ^= 1;
        assert!(gunzip(&crc, 3000).is_err());
        assert!(gunzip(&good[..good.len() - 3], 3000).is_err());
        assert!(gunzip(&good[..5], 3000).is_err());
        assert!(gunzip(b"not gzip at all", 3000).is_err());
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(gunzip(&trailing, 3000).is_err());
    }
}
