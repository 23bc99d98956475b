// "Download" on the map page: the current tables as files for spreadsheets and scripts,
// made in the browser from the snapshot on screen (no extra request): remotes.csv (one row
// per remote address, as markers.json's `markers`), devices.csv (one row per device, as
// `hosts`), and the snapshot itself as JSON. The daemon keeps no history: what is in the
// tables now (up to --retention) is what there is.

const REMOTE_COLUMNS = ['ip', 'names', 'country', 'city', 'lat', 'lng', 'asn', 'org', 'hosts', 'ports',
  'protocols', 'packets_out', 'bytes_out', 'packets_in', 'bytes_in', 'first_seen', 'last_seen'];
const DEVICE_COLUMNS = ['ip', 'ips', 'name', 'mac', 'packets_out', 'bytes_out', 'packets_in', 'bytes_in',
  'remotes', 'first_seen', 'last_seen'];

/**
 * One CSV field (RFC 4180). Text that a spreadsheet would run as a formula (=, +, -, @, tab,
 * CR first: learned names come from the network) gets a leading apostrophe; numbers stay numbers.
 */
export function csvField(v) {
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) v = v.join(' ');
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  let s = String(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(rows, columns) {
  const lines = [columns.join(',')];
  for (const r of rows) lines.push(columns.map((c) => csvField(r[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

export const remotesCsv = (data) => toCsv(data.markers || [], REMOTE_COLUMNS);
export const devicesCsv = (data) => toCsv(data.hosts || [], DEVICE_COLUMNS);

/** "connmap-2026-01-31T12-00-00" for a snapshot generated at unix time `t`. */
export function baseName(t) {
  const d = new Date((t || Date.now() / 1000) * 1000);
  return `connmap-${d.toISOString().slice(0, 19).replace(/:/g, '-')}`;
}

function save(text, type, name) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** Wires the download buttons; `current()` returns the snapshot on screen (or null). */
export function setupDownloads(current) {
  const on = (id, make) => document.getElementById(id)?.addEventListener('click', () => {
    const data = current();
    if (data) make(data, baseName(data.generated));
  });
  on('dl-remotes', (d, b) => save(remotesCsv(d), 'text/csv;charset=utf-8', `${b}-remotes.csv`));
  on('dl-devices', (d, b) => save(devicesCsv(d), 'text/csv;charset=utf-8', `${b}-devices.csv`));
  on('dl-json', (d, b) => save(JSON.stringify(d), 'application/json', `${b}.json`));
}
