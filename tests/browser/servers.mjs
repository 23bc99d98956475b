// Starts the server the browser tests run against, on a free loopback port:
//   - 'static': fixed data (the daemon replaying a capture: CONNMAP_PCAP + CONNMAP_MMDB),
//     or, when no capture is given, `connmap demo` (changing data: tests check structure)
//   - 'live':   `connmap demo`, whose data changes continuously
// With CONNMAP_FAKE=1 both are fake-daemon.mjs instead (no Rust build needed).
// startServer(kind, {pcap, mmdb, args, www}) replays another capture (history.test.mjs).
// Environment: CONNMAP_BIN (default $CARGO_TARGET_DIR/debug/connmap, or target/debug/connmap
// from the repo root), CONNMAP_WWW (default www/dist), and for the replay CONNMAP_PCAP,
// CONNMAP_MMDB, CONNMAP_LAN and CONNMAP_REMOTE (CIDRs, comma-separated), CONNMAP_HOME
// (lat,lng), CONNMAP_LEASES, CONNMAP_ETHERS, CONNMAP_ARGS (more flags, space-separated).
import { spawn } from 'node:child_process';
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '../..');
const env = process.env;
const WWW = path.resolve(ROOT, env.CONNMAP_WWW || 'www/dist');
const BIN = path.resolve(ROOT, env.CONNMAP_BIN || path.join(env.CARGO_TARGET_DIR || 'target', 'debug/connmap'));

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** What the 'static' server is: 'replay', 'demo' or 'fake'. */
export function staticKind() {
  if (env.CONNMAP_FAKE === '1') return 'fake';
  return env.CONNMAP_PCAP && env.CONNMAP_MMDB ? 'replay' : 'demo';
}

function command(kind, port, opts = {}) {
  const www = opts.www ? path.resolve(ROOT, opts.www) : WWW;
  if (opts.pcap) {
    const args = ['-r', opts.pcap, '--geoip', opts.mmdb, '--listen', `127.0.0.1:${port}`, '--www', www, ...(opts.args || [])];
    return [BIN, [...args, '--leases', '', '--ethers', '']];
  }
  if (env.CONNMAP_FAKE === '1') {
    const args = [path.join(here, 'fake-daemon.mjs'), '--www', www, '--port', String(port)];
    if (kind === 'live') args.push('--live');
    return [process.execPath, args];
  }
  if (!fs.existsSync(BIN)) throw new Error(`connmap binary not found at ${BIN} (build it, or set CONNMAP_BIN; CONNMAP_FAKE=1 uses a stand-in)`);
  if (kind === 'static' && staticKind() === 'replay') {
    const args = ['-r', env.CONNMAP_PCAP, '--geoip', env.CONNMAP_MMDB, '--listen', `127.0.0.1:${port}`, '--www', www];
    const list = (v) => (v || '').split(/[\s,]+/).filter(Boolean);
    for (const cidr of list(env.CONNMAP_LAN)) args.push('--lan', cidr);
    for (const cidr of list(env.CONNMAP_REMOTE)) args.push('--remote', cidr);
    if (env.CONNMAP_HOME) args.push('--home', env.CONNMAP_HOME);
    args.push(...list(env.CONNMAP_ARGS)); // e.g. the fixtures' args.txt
    // device names only from the files the fixtures provide, never from this machine's
    args.push('--leases', env.CONNMAP_LEASES || '', '--ethers', env.CONNMAP_ETHERS || '');
    return [BIN, args];
  }
  return [BIN, ['demo', '--port', String(port), '--www', www]];
}

/**
 * Starts a server and waits until /markers.json answers with at least one marker.
 * @returns {Promise<{url: string, kind: string, stop: () => Promise<void>, log: () => string}>}
 */
export async function startServer(kind, opts = {}) {
  const port = await freePort();
  const [cmd, args] = command(kind, port, opts);
  const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const keep = (d) => {
    log = (log + d).slice(-20000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = null;
  child.on('exit', (code, signal) => {
    exited = `exited with ${code ?? signal}`;
  });

  const url = `http://127.0.0.1:${port}/`;
  const deadline = Date.now() + 60000;
  for (;;) {
    if (exited) throw new Error(`${cmd} ${args.join(' ')} ${exited}:\n${log}`);
    try {
      const res = await fetch(url + 'markers.json');
      if (res.ok) {
        const data = await res.json();
        if ((data.markers || []).length > 0 && (data.hosts || []).length > 0) break;
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGTERM');
      throw new Error(`${cmd} ${args.join(' ')}: no markers at ${url}markers.json within 60 s:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    url,
    kind: opts.pcap ? 'replay' : env.CONNMAP_FAKE === '1' ? 'fake' : kind === 'static' ? staticKind() : 'demo',
    log: () => log,
    stop: () => new Promise((resolve) => {
      if (exited) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 3000).unref();
    }),
  };
}
