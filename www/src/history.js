// The time control (live / last hour / today / a chosen day / last 30 days, and a slider over
// the hours of the last 48 h) and the requests for `/history.json?from=&to=[&host=]`, made
// only when the user asks for a range or selects a device (nothing at the first load).
// Answers are revalidated with the browser's HTTP cache (the daemon sends an ETag: going back
// to an hour seen before costs a 304). A newer choice aborts the request of an older one.
import * as fmt from './format.js';
import { rangeOf, rangeLabel, scrubHour, scrubIndex, dayValue, parseDay, SCRUB_HOURS, HOUR, DAY } from './range.js';

const TIMEOUT_MS = 30000;

/** GET history.json for [from, to) (and one device); resolves to the parsed answer. */
export async function fetchHistory({ from, to, host }, signal) {
  const q = new URLSearchParams({ from: String(Math.floor(from)), to: String(Math.ceil(to)) });
  if (host) q.set('host', host);
  const ctrl = new AbortController();
  const abort = () => ctrl.abort();
  signal?.addEventListener('abort', abort);
  const timer = setTimeout(abort, TIMEOUT_MS);
  try {
    const res = await fetch(`history.json?${q}`, { cache: 'no-cache', signal: ctrl.signal });
    if (!res.ok) {
      const text = (await res.text()).trim().split('\n')[0];
      const err = new Error(`HTTP ${res.status}${text ? `: ${text}` : ''}`);
      err.status = res.status; // 404: the daemon keeps no history (--history-top 0)
      throw err;
    }
    return await res.json();
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', abort);
  }
}

export class TimeControl {
  /**
   * @param {(choice: object|null) => void} onChange  a range was chosen (null: back to live)
   * @param {() => number} nowFn  the current time on the daemon's clock (ranges end there)
   */
  constructor(onChange, nowFn) {
    this.onChange = onChange;
    this.nowFn = nowFn;
    this.now = 0;
    this.choice = { mode: 'live' };
    this.el = {
      box: document.getElementById('timectl'),
      mode: document.getElementById('range'),
      day: document.getElementById('range-day'),
      live: document.getElementById('range-live'),
      scrub: document.getElementById('scrub'),
      scrubLabel: document.getElementById('scrub-label'),
      label: document.getElementById('range-label'),
      note: document.getElementById('history-note'),
    };
    this.el.scrub.max = String(SCRUB_HOURS - 1);
    this.el.scrub.value = String(SCRUB_HOURS - 1);
    this.el.mode.addEventListener('change', () => this.choose(this.el.mode.value));
    this.el.day.addEventListener('change', () => {
      if (parseDay(this.el.day.value) != null) this.choose('day');
    });
    this.el.live.addEventListener('click', () => {
      this.choose('live');
      this.el.mode.focus();
    });
    // scrubbing: the label follows at once, the request once the slider rests for a moment
    let debounce = null;
    this.el.scrub.addEventListener('input', () => {
      this.showScrubLabel();
      clearTimeout(debounce);
      debounce = setTimeout(() => this.choose('scrub'), 250);
    });
    this.el.scrub.addEventListener('change', () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => this.choose('scrub'), 100);
    });
  }

  /** Hides the control and says why (`reason`), or shows it. */
  setAvailable(available, reason = '') {
    for (const child of this.el.box.querySelectorAll('.time-row, .scrub-row')) child.hidden = !available;
    this.el.note.hidden = available;
    this.el.note.textContent = available ? '' : reason;
    this.el.box.dataset.available = String(available);
  }

  /** The time of the latest snapshot: ranges are relative to it (a replay's clock is the capture's). */
  setNow(now, keepScrub = this.choice.mode === 'scrub') {
    if (!(now > 0) || now === this.now) return;
    const moved = Math.floor(now / HOUR) !== Math.floor(this.now / HOUR);
    // the slider's positions are relative to the current hour: keep it on the hour it shows
    const shown = this.now ? scrubHour(Number(this.el.scrub.value), this.now) : null;
    this.now = now;
    this.el.day.max = dayValue(now);
    this.el.day.min = dayValue(now - 35 * DAY);
    if (!this.el.day.value) this.el.day.value = dayValue(now);
    if (moved) this.el.scrub.value = String(keepScrub && shown != null ? scrubIndex(shown, now) : SCRUB_HOURS - 1);
    this.showScrubLabel();
  }

  /** The oldest buckets the daemon has (history.json's `available`): the day picker's minimum. */
  setAvailableFrom(available) {
    const from = available?.daily_from ?? available?.hourly_from;
    if (from > 0) this.el.day.min = dayValue(Math.max(from, this.now - 35 * DAY));
  }

  showScrubLabel() {
    const i = Number(this.el.scrub.value);
    const from = scrubHour(i, this.now);
    const text = this.now ? rangeLabel(from, Math.min(from + HOUR, Math.max(this.now, from + 1))) : '';
    this.el.scrub.setAttribute('aria-valuetext', text);
    this.el.scrubLabel.textContent = text;
  }

  /** Selects the hour holding unix time `t` on the slider and shows it (a click on a timeline bar). */
  showHour(t) {
    this.el.scrub.value = String(scrubIndex(t, this.now));
    this.showScrubLabel();
    this.choose('scrub');
  }

  choose(mode) {
    this.setNow(this.nowFn(), mode === 'scrub');
    const choice = { mode };
    if (mode === 'day') choice.day = parseDay(this.el.day.value);
    if (mode === 'scrub') choice.hour = Number(this.el.scrub.value);
    const range = rangeOf(choice, this.now);
    if (mode !== 'live' && !range) return;
    this.choice = choice;
    this.el.mode.value = mode;
    this.el.day.hidden = mode !== 'day';
    this.el.live.hidden = mode === 'live';
    this.el.box.dataset.mode = mode;
    this.onChange(mode === 'live' ? null : { ...choice, ...range });
  }

  /** The range line under the heading: what is shown, or that it is loading. */
  setLabel(text) {
    this.el.label.textContent = text;
  }
}

/** What the header says while a range is shown. */
export function historyStatus(range, hist) {
  const shown = hist ? rangeLabel(hist.from, hist.to) : rangeLabel(range.from, range.to);
  const res = hist?.resolution >= DAY ? 'daily' : 'hourly';
  return { text: `History: ${shown}`, detail: hist ? `${res} totals, ${fmt.plural(hist.markers?.length || 0, 'remote')}` : 'loading…' };
}
