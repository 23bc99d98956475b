// luci-app-connmap: Status > Connection Map > Map, the display view (the settings are the
// separate view connmap/config.js, as luci-app-nlbwmon does it).
// Shows whether the connmap service is running (procd's `service list` through rpcd), and,
// while it runs, the map itself inside LuCI: the map page's LuCI build, installed with this app
// under /luci-static/resources/connmap/ and framed from LuCI's own origin (so HTTPS LuCI works
// as well as HTTP), reads markers.json through LuCI's cgi-io with this LuCI session (rpcd's file
// ACL: read access to that one path). The daemon's own page, when it serves one (UCI option
// `http`), is offered as a link. No request leaves the router.
'use strict';
'require view';
'require rpc';
'require uci';
'require poll';
'require dom';

// where the init script has the daemon write markers.json (--json-out), readable through the
// ACL of this app (root/usr/share/rpcd/acl.d/luci-app-connmap.json)
const MARKERS = '/var/run/connmap/markers.json';
const DEFAULT_PORT = '@port@'; // the daemon's (src/defaults.conf, filled in by the build)

const callServiceList = rpc.declare({
	object: 'service',
	method: 'list',
	params: [ 'name' ],
	expect: { '': {} }
});

// {running, pid, exitCode, known}: the first instance of connmap in procd's answer
function serviceState(list) {
	const svc = (list || {}).connmap,
	      instances = (svc && svc.instances) || {},
	      names = Object.keys(instances),
	      inst = names.length ? instances[names[0]] : null;

	return {
		known: !!svc,
		running: !!(inst && inst.running),
		pid: inst ? inst.pid : null,
		exitCode: inst ? inst.exit_code : null
	};
}

return view.extend({
	load: function() {
		return Promise.all([
			uci.load('connmap'),
			L.resolveDefault(callServiceList('connmap'), {})
		]);
	},

	// the daemon's own page, when it opens a port: this router's name (or the fixed listen
	// address) and the configured port
	daemonUrl: function() {
		if (uci.get('connmap', 'main', 'http') == '0')
			return null;

		let port = uci.get('connmap', 'main', 'port') || DEFAULT_PORT,
		    listen = uci.get('connmap', 'main', 'listen'),
		    host = window.location.hostname;

		if (listen && listen != '0.0.0.0' && listen != '::')
			host = listen;
		if (host.indexOf(':') >= 0 && host.charAt(0) != '[')
			host = '[' + host + ']';
		return 'http://' + host + ':' + port + '/';
	},

	statusText: function(st) {
		const enabled = uci.get('connmap', 'main', 'enabled') != '0';

		if (st.running)
			return E('p', { 'class': 'alert-message success', 'id': 'connmap-state', 'data-state': 'running' },
				_('connmap is running (PID %s).').format(st.pid));

		let why;
		if (!enabled)
			why = _('It is disabled in the settings.');
		else if (st.exitCode != null)
			why = _('It exited with status %s; procd restarts it a few times, then gives up. See the system log (logread -e connmap).').format(st.exitCode);
		else
			why = _('It has not been started: is the capture interface up? See the system log (logread -e connmap).');

		return E('div', { 'class': 'alert-message warning', 'id': 'connmap-state', 'data-state': 'stopped' }, [
			E('strong', {}, _('connmap is not running, so there is no map to show.')), ' ', why, ' ',
			E('a', { 'href': L.url('admin/status/connmap/config') }, _('Settings'))
		]);
	},

	renderMap: function() {
		return E('iframe', {
			'id': 'connmap-frame',
			'src': L.resource('connmap/index.html') + '?markers=' + encodeURIComponent(MARKERS),
			'title': _('Connection map'),
			'referrerpolicy': 'no-referrer',
			'style': 'width:100%; height:75vh; min-height:420px; border:1px solid #8884; border-radius:4px'
		});
	},

	// swaps status and map when the service starts or stops while the page is open
	update: function(box, st) {
		const running = !!box.querySelector('#connmap-frame');

		dom.content(box.querySelector('#connmap-status'), this.statusText(st));
		if (st.running && !running)
			box.appendChild(this.renderMap());
		else if (!st.running && running)
			box.removeChild(box.querySelector('#connmap-frame'));
	},

	render: function(data) {
		const st = serviceState(data[1]),
		      url = this.daemonUrl(),
		      box = E('div', { 'class': 'cbi-section', 'id': 'connmap-view' }, [
			E('div', { 'id': 'connmap-status' }, this.statusText(st))
		      ]);

		if (url)
			box.insertBefore(E('p', {}, [
				_('The daemon also serves this map on its own port:') + ' ',
				E('a', { 'href': url, 'target': '_blank', 'rel': 'noopener noreferrer' }, url)
			]), box.firstChild.nextSibling);

		if (st.running)
			box.appendChild(this.renderMap());

		poll.add(L.bind(function() {
			return L.resolveDefault(callServiceList('connmap'), {}).then(L.bind(function(list) {
				this.update(box, serviceState(list));
			}, this));
		}, this), 5);

		// heading and description first, then state, link and map
		return E([], [
			E('h2', { 'name': 'content' }, _('Connection Map')),
			E('div', { 'class': 'cbi-map-descr' },
				_('Where the devices on this network connect to, located offline on this router, on a live world map.')),
			box
		]);
	},

	handleSaveApply: null,
	handleSave: null,
	handleReset: null
});
