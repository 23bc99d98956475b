// The page inside LuCI: luci-app-connmap's view frames this page (the build's LuCI variant,
// installed under /www/luci-static/connmap/) from LuCI's own origin, HTTP or HTTPS alike, and
// the page reads markers.json not from the daemon but as a file through LuCI's cgi-io
// (/cgi-bin/cgi-download), with the session of the LuCI page around it: rpcd checks the
// user's ACL (read access to that one path) on every request. The path comes in the frame's
// URL (`?markers=/var/run/connmap/markers.json`). Nothing here runs in the daemon's own page.

/** The LuCI runtime of the page that frames this one (same origin), or null. */
function luciEnv() {
  try {
    const L = window.parent !== window ? window.parent.L : null;
    return L && L.env ? L.env : null;
  } catch {
    return null; // another origin: not LuCI
  }
}

/**
 * A `request` for startPolling when this is the LuCI variant of the page, else null.
 * cgi-io answers 403 when the session has expired or lacks the ACL, 404 when the daemon has not
 * written the file (not running): both are shown as the page's "unreachable" state.
 */
export function luciRequest() {
  if (document.body.dataset.source !== 'luci') return null;
  const path = new URLSearchParams(window.location.search).get('markers');
  return (headers, signal) => {
    const env = luciEnv();
    if (!env || !env.sessionid || !path) return Promise.reject(new Error('open this map from LuCI'));
    const body = new URLSearchParams({ sessionid: env.sessionid, path, mimetype: 'application/json' });
    return fetch(`${env.cgi_base || '/cgi-bin'}/cgi-download`, { method: 'POST', body, cache: 'no-store', signal });
  };
}
