// The alerts list: recent alerts from `/alerts.json` (new country, new network, block list,
// upload, new device), fetched when the list is opened and every minute while the tab is
// visible, with If-None-Match (unchanged: a 304 costs nothing). A badge in the header counts
// the alerts not yet seen (the newest id seen is remembered in localStorage); clicking an
// alert focuses its device and remote on the map. The remotes of the alerts are marked on the
// map (map.js). The learning period (no "new country" alerts yet) is shown while it lasts.
import * as fmt from './format.js';

const { esc } = fmt;
const INTERVAL_MS = 60000;
const TIMEOUT_MS = 15000;
const SEEN_KEY = 'connmap.alerts.seen';

const RULES = {
  new_country: 'New country',
  new_asn: 'New network',
  blocklist: 'Block list',
  upload: 'Upload',
  new_device: 'New device',
};

export class Alerts {
  /**
   * @param {object} handlers  onFocus(alert), onChange() (the set of alerted remotes changed)
   */
  constructor(handlers) {
    this.h = handlers;
    this.data = null;
    this.etag = null;
    this.error = null;
    this.timer = null;
    this.inFlight = false;
    this.remotes = new Set(); // remote IPs of the alerts, marked on the map
    this.seen = -1; // the newest alert id seen (ids may start at 0)
    try {
      const stored = localStorage.getItem(SEEN_KEY);
      if (stored != null && Number.isFinite(Number(stored))) this.seen = Number(stored);
    } catch {
      // storage unavailable: every alert counts as new until the list is opened
    }
    this.el = {
      box: document.getElementById('alerts'),
      list: document.getElementById('alert-list'),
      count: document.getElementById('alert-count'),
      note: document.getElementById('alert-note'),
      btn: document.getElementById('alerts-btn'),
      badge: document.getElementById('alerts-badge'),
    };
    this.el.box.addEventListener('toggle', () => {
      if (this.el.box.open) {
        this.poll();
        this.markSeen();
      }
    });
    this.el.btn.addEventListener('click', () => {
      this.el.box.open = true;
      this.el.box.scrollIntoView({ block: 'nearest' });
      this.el.box.querySelector('summary').focus();
    });
    this.el.list.addEventListener('click', (e) => {
      const btn = e.target.closest('button[data-alert]');
      const alert = btn && this.data?.alerts?.find((a) => String(a.id) === btn.dataset.alert);
      if (alert) this.h.onFocus(alert);
    });
    document.addEventListener('visibilitychange', () => {
      if (!this.timer) return;
      if (!document.hidden) this.poll();
    });
  }

  /**
   * Starts the minute polling (not inside LuCI: no daemon to ask). The badge and the list
   * appear with the first answer; a daemon without alerts (404) hides them for good.
   */
  start() {
    this.poll();
    this.timer = setInterval(() => this.poll(), INTERVAL_MS);
  }

  /** Alerts are not available here: the list and the badge stay hidden, nothing is asked. */
  unavailable() {
    clearInterval(this.timer);
    this.timer = null;
    this.el.btn.hidden = true;
    this.el.box.hidden = true;
  }

  async poll() {
    if (this.inFlight || document.hidden) return;
    this.inFlight = true;
    const ctrl = new AbortController();
    const abort = setTimeout(() => ctrl.abort(), TIMEOUT_MS);
    try {
      const headers = this.etag ? { 'If-None-Match': this.etag } : {};
      const res = await fetch('alerts.json', { headers, cache: 'no-store', signal: ctrl.signal });
      if (res.status === 404) {
        this.unavailable();
        return;
      }
      if (res.status !== 304) {
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        this.data = await res.json();
        this.etag = res.headers.get('ETag');
        this.el.btn.hidden = false;
        this.el.box.hidden = false;
        this.changed();
      }
      this.error = null;
    } catch (err) {
      this.error = err.name === 'AbortError' ? 'no answer' : err.message || String(err);
    } finally {
      clearTimeout(abort);
      this.inFlight = false;
      this.render();
    }
  }

  changed() {
    const remotes = new Set((this.data?.alerts || []).map((a) => a.remote?.ip).filter(Boolean));
    const same = remotes.size === this.remotes.size && [...remotes].every((ip) => this.remotes.has(ip));
    this.remotes = remotes;
    if (this.el.box.open) this.markSeen();
    if (!same) this.h.onChange();
  }

  /** A one-off line in the list's notes (e.g. that an alert's remote is not on the map). */
  say(text) {
    this.said = text;
    this.render();
  }

  markSeen() {
    const newest = Math.max(-1, ...(this.data?.alerts || []).map((a) => Number(a.id) || 0));
    if (newest > this.seen) {
      this.seen = newest;
      try {
        localStorage.setItem(SEEN_KEY, String(newest));
      } catch {
        // not remembered
      }
    }
    this.render();
  }

  render() {
    const d = this.data;
    const alerts = d?.alerts || [];
    const unseen = alerts.filter((a) => Number(a.id) > this.seen).length;
    const badge = unseen ? `${unseen}<span class="sr-only"> new</span>` : '';
    if (this.el.badge.innerHTML !== badge) this.el.badge.innerHTML = badge;
    this.el.badge.hidden = !unseen;
    this.el.btn.dataset.unseen = String(unseen);
    this.el.count.textContent = `(${alerts.length})`;

    const notes = [];
    if (this.said) notes.push(this.said);
    this.said = null;
    if (this.error) notes.push(`Could not load the alerts: ${this.error}.`);
    if (d?.learning_until && d.learning_until > (d.generated || 0)) {
      notes.push(`Learning until ${fmt.when(d.learning_until, d.generated)}: what the devices do now is taken as normal, “new country” alerts start after that.`);
    }
    if (d?.suppressed) notes.push(`${fmt.count(d.suppressed)} more were not kept (repeats or too many at once).`);
    const noteHtml = notes.map(esc).join(' ');
    if (this.el.note.textContent !== notes.join(' ')) this.el.note.innerHTML = noteHtml;
    this.el.note.hidden = notes.length === 0;
    this.el.box.dataset.learning = String(Boolean(d?.learning_until && d.learning_until > (d.generated || 0)));

    const items = alerts.map((a) => {
      const isNew = Number(a.id) > this.seen;
      const where = [a.remote?.country ? fmt.countryName(a.remote.country) : null, a.remote?.asn != null ? `AS${a.remote.asn}` : null]
        .filter(Boolean).join(' · ');
      return `<li><button type="button" class="alert-btn rule-${esc(a.rule)}" data-alert="${esc(a.id)}" data-rule="${esc(a.rule)}">
        <span class="alert-rule">${esc(RULES[a.rule] || a.rule)}${isNew ? ' <span class="badge">new</span>' : ''}</span>
        <span class="alert-time">${esc(fmt.when(a.time, d.generated))}</span>
        <span class="alert-msg">${esc(a.message || '')}</span>
        ${where ? `<span class="alert-where muted">${esc(where)}</span>` : ''}
      </button></li>`;
    });
    const html = d ? items.join('') || '<li class="empty">No alerts.</li>' : '<li class="empty">Loading…</li>';
    if (html !== this.lastHtml) {
      const focused = document.activeElement?.closest?.('#alert-list button[data-alert]')?.dataset.alert;
      this.el.list.innerHTML = html;
      this.lastHtml = html;
      if (focused) this.el.list.querySelector(`button[data-alert="${CSS.escape(focused)}"]`)?.focus();
    }
  }
}
