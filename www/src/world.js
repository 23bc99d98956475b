// The map data's file format: a quantized TopoJSON topology with its arcs in binary.
//
//   u32 (little-endian)   length of the header
//   header                UTF-8 JSON: the topology without `arcs` (type, bbox, transform, objects)
//   varint                number of arcs
//   per arc: varint       number of points, then per point two zigzag varints: the steps
//                         dx, dy of TopoJSON's delta encoding
//
// The same topology as JSON text is 26.0 KB gzipped, this 20.3 KB: most steps are one byte
// here, against 3-6 characters (digits, sign, comma, brackets) in JSON. build.mjs writes it
// with encodeWorld; the page reads it with decodeWorld and hands the topology to
// topojson-client as before.

/** Topology (quantized: integer delta-encoded arcs) -> bytes. */
export function encodeWorld(topology) {
  const { arcs, ...rest } = topology;
  const header = new TextEncoder().encode(JSON.stringify(rest));
  const out = [];
  const uint = (n) => {
    if (!Number.isInteger(n) || n < 0) throw new Error(`not a count or step: ${n}`);
    while (n >= 0x80) {
      out.push((n & 0x7f) | 0x80);
      n = Math.floor(n / 0x80);
    }
    out.push(n);
  };
  const int = (n) => {
    if (!Number.isInteger(n)) throw new Error(`not a step: ${n}`);
    uint(n >= 0 ? n * 2 : -n * 2 - 1);
  };
  uint(arcs.length);
  for (const arc of arcs) {
    uint(arc.length);
    for (const [dx, dy] of arc) {
      int(dx);
      int(dy);
    }
  }
  const bytes = new Uint8Array(4 + header.length + out.length);
  new DataView(bytes.buffer).setUint32(0, header.length, true);
  bytes.set(header, 4);
  bytes.set(out, 4 + header.length);
  return bytes;
}

/** Bytes (ArrayBuffer or Uint8Array) -> topology. Throws on a damaged file. */
export function decodeWorld(buffer) {
  const bytes = buffer instanceof Uint8Array ? buffer : new Uint8Array(buffer);
  if (bytes.length < 4) throw new Error('map data: too short');
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
  let at = 4 + headerLength;
  if (at > bytes.length) throw new Error('map data: truncated header');
  const topology = JSON.parse(new TextDecoder().decode(bytes.subarray(4, at)));
  const uint = () => {
    let n = 0;
    for (let scale = 1; ; scale *= 0x80) {
      if (at >= bytes.length || scale > 2 ** 28) throw new Error('map data: truncated');
      const b = bytes[at++];
      n += (b & 0x7f) * scale;
      if (b < 0x80) return n;
    }
  };
  const int = () => {
    const z = uint();
    return z % 2 ? -(z + 1) / 2 : z / 2;
  };
  const arcs = new Array(uint());
  for (let i = 0; i < arcs.length; i++) {
    const arc = new Array(uint());
    for (let j = 0; j < arc.length; j++) arc[j] = [int(), int()];
    arcs[i] = arc;
  }
  if (at !== bytes.length) throw new Error('map data: trailing bytes');
  topology.arcs = arcs;
  return topology;
}
