// Live data: polls /markers.json every few seconds with If-None-Match (the daemon answers
// 304 when nothing changed), pauses while the tab is hidden, and reports the state so the
// page can show it: live; stale (the daemon answers but has had no new snapshot for a minute:
// capture stopped, or a replay that has ended); unreachable (no answer, or an HTTP error).
// Inside LuCI the answers come from another `request` (luci.js): a file read through LuCI's
// cgi-io, which always answers 200; an answer identical to the last one counts as unchanged.
// While the page shows a history range, polling is paused (`pause`/`resume`).

const INTERVAL_MS = 5000; // the daemon's default snapshot interval
const TIMEOUT_MS = 8000; // for the answer's headers
const BODY_TIMEOUT_MS = 30000; // for a (large) body on a slow link

/** Big snapshots (thousands of remotes) are polled less often: kinder to a phone on Wi-Fi. */
const intervalFor = (bytes) => (bytes > 3e6 ? 20000 : bytes > 1e6 ? 10000 : INTERVAL_MS);
const STALE_MS = 60000; // the daemon answers, but no new snapshot for this long: say so

/**
 * @param {object} handlers
 * @param {(data: object, etag: string|null) => void} handlers.onData   a new snapshot arrived
 * @param {(state: {state: string, lastOk: Date|null, lastChange: Date|null, error: string|null}) => void} handlers.onState
 * @param {(headers: object, signal: AbortSignal) => Promise<Response>} [handlers.request]
 *   how to ask for markers.json (default: GET `url` from the daemon)
 */
export function startPolling({ onData, onState, url = 'markers.json', request }) {
  const ask = request || ((headers, signal) => fetch(url, { headers, cache: 'no-store', signal }));
  let etag = null;
  let lastText = null;
  let lastOk = null; // last answer (200 or 304)
  let lastChange = null; // last new snapshot (200)
  let error = null;
  let timer = null;
  let interval = INTERVAL_MS;
  let inFlight = false;
  let paused = false; // a history range is shown: no polling until back to live

  const report = () => {
    if (paused) return;
    let state = 'connecting';
    if (error) state = 'unreachable';
    else if (lastChange && Date.now() - lastChange.getTime() > STALE_MS) state = 'stale';
    else if (lastOk) state = 'live';
    if (document.hidden) state = 'paused';
    onState({ state, lastOk, lastChange, error });
  };

  async function poll() {
    if (inFlight || document.hidden || paused) return;
    inFlight = true;
    const ctrl = new AbortController();
    let abort = setTimeout(() => ctrl.abort(), TIMEOUT_MS);
    try {
      const headers = etag ? { 'If-None-Match': etag } : {};
      const res = await ask(headers, ctrl.signal);
      clearTimeout(abort);
      abort = setTimeout(() => ctrl.abort(), BODY_TIMEOUT_MS);
      if (res.status === 304) {
        // unchanged
      } else if (res.ok) {
        const text = await res.text();
        if (text !== lastText) {
          const data = JSON.parse(text);
          if (request) lastText = text; // (the daemon answers 304 instead)
          etag = res.headers.get('ETag');
          lastChange = new Date();
          onData(data, etag);
          if (intervalFor(text.length) !== interval) {
            interval = intervalFor(text.length);
            schedule();
          }
        }
      } else {
        throw new Error(`HTTP ${res.status}`);
      }
      lastOk = new Date();
      error = null;
    } catch (err) {
      error = err.name === 'AbortError' ? 'no answer' : err.message || String(err);
    } finally {
      clearTimeout(abort);
      inFlight = false;
      report();
    }
  }

  const schedule = () => {
    clearInterval(timer);
    timer = setInterval(() => {
      poll();
      report();
    }, interval);
  };

  document.addEventListener('visibilitychange', () => {
    if (paused) return;
    if (document.hidden) {
      clearInterval(timer);
      report();
    } else {
      poll();
      schedule();
    }
  });

  poll();
  schedule();
  return {
    refresh: poll,
    /** Stops polling (the page shows a history range instead). */
    pause() {
      paused = true;
      clearInterval(timer);
    },
    /** Polls at once and then every few seconds again (back to live). */
    resume() {
      if (!paused) return;
      paused = false;
      poll();
      schedule();
      report();
    },
  };
}
