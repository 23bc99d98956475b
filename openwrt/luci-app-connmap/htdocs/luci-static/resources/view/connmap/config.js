// luci-app-connmap: Status > Connection Map > Settings, the form for /etc/config/connmap
// (section `connmap 'main'`). Save & Apply commits through rpcd/uci; procd's reload trigger on
// the `connmap` config then restarts the daemon when its command line changed. Placeholders
// and defaults are the daemon's: the marks of defaults (a name between two at signs) are filled
// from connmap's src/defaults.conf when the package is built (scripts/fill-defaults.sh).
'use strict';
'require view';
'require form';
'require uci';
'require tools.widgets as widgets';

// an on/off option, always written (so that the init script's fallback never decides)
function flag(s, tab, name, title, descr, dflt) {
	const o = s.taboption(tab, form.Flag, name, title, descr);
	o.rmempty = false;
	o.default = dflt;
	return o;
}

// a value checked by datatype; placeholder: what the daemon does when it is left empty
function value(s, tab, name, title, descr, datatype, placeholder) {
	const o = s.taboption(tab, form.Value, name, title, descr);
	if (datatype)
		o.datatype = datatype;
	if (placeholder != null)
		o.placeholder = placeholder;
	else
		o.optional = true;
	return o;
}

function list(s, tab, name, title, descr, datatype) {
	const o = s.taboption(tab, form.DynamicList, name, title, descr);
	o.datatype = datatype;
	return o;
}

function choice(s, tab, name, title, descr, values, dflt) {
	const o = s.taboption(tab, form.ListValue, name, title, descr);
	values.forEach((v) => o.value(v[0], v[1]));
	o.default = dflt;
	return o;
}

return view.extend({
	load: function() {
		return uci.load('connmap');
	},

	render: function() {
		let m, s, o;

		m = new form.Map('connmap', _('Connection Map - Settings'),
			_('connmap watches the LAN side of this router and shows, on a live world map, every remote address the devices on this network talk to. Geolocation is offline; nothing leaves the router.'));

		s = m.section(form.NamedSection, 'main', 'connmap');
		s.addremove = false;
		s.tab('general', _('General Settings'));
		s.tab('advanced', _('Advanced Settings'));
		s.tab('alerts', _('Alerts'));

		flag(s, 'general', 'enabled', _('Enabled'), null, '@enabled@');

		o = s.taboption('general', widgets.NetworkSelect, 'interface', _('Interface'),
			_('The LAN side to watch (its device, e.g. br-lan, is captured). A device name can be set with uci.'));
		o.nocreate = true;
		o.default = '@interface@';
		// a device name set with uci is not among LuCI's networks, so the list shows nothing for
		// it: an empty choice leaves the option as it is (instead of refusing to save)
		o.rmempty = true;
		o.remove = function(section_id) {};

		flag(s, 'general', 'http', _('Own web page'),
			_('The daemon also serves the map on its own port (plain HTTP, reachable from the LAN). Off: it opens no port at all, and the map is shown in LuCI only.'), '@http@');
		value(s, 'general', 'port', _('Port'), _('HTTP port of the map page.'), 'port', '@port@')
			.depends('http', '1');
		value(s, 'general', 'listen', _('Listen address'),
			_('Empty: the interface\'s own address, so the page is reachable from the LAN only.'), 'ipaddr')
			.depends('http', '1');
		o = list(s, 'general', 'allow_host', _('Other names of this router'),
			_('Host names the map is reached by besides its address, localhost, the hostname and HOSTNAME.lan. Requests naming other hosts are refused (DNS rebinding).'), 'hostname');
		o.optional = true;
		o.depends('http', '1');
		value(s, 'general', 'home_lat', _('Home latitude'),
			_('Where the lines on the map start, e.g. 52.52 (with the longitude).'), 'range(-90,90)');
		value(s, 'general', 'home_lng', _('Home longitude'), _('e.g. 13.40'), 'range(-180,180)');
		flag(s, 'general', 'names', _('Learn remote names'),
			_('Names of remote addresses from DNS answers, TLS SNI and HTTP Host, read passively.'), '@names@');
		value(s, 'advanced', 'doh_list', _('More DNS-over-HTTPS resolvers'),
			_('A file of resolver addresses (one per line) besides the built-in list; devices that talk to them, or to port 853, are shown as using encrypted DNS.'),
			null, '/etc/connmap/doh.txt').optional = true;
		list(s, 'general', 'exclude', _('Ignore LAN hosts'),
			_('Addresses or networks whose traffic is not shown.'), 'or(ipaddr,cidr)');

		value(s, 'advanced', 'geoip', _('Geolocation database'),
			_('MaxMind-format database (package connmap-geodb).'), null, '@geoip@');
		value(s, 'advanced', 'max_remotes', _('Maximum remote addresses'),
			_('The least recently seen are forgotten first; memory is bounded by this.'), 'min(1)', '@max_remotes@');
		value(s, 'advanced', 'max_hosts', _('Maximum LAN devices'), null, 'min(1)', '@max_hosts@');
		value(s, 'advanced', 'max_names', _('Maximum learned names'), null, 'min(1)', '@max_names@')
			.depends('names', '1');
		value(s, 'advanced', 'retention', _('Retention (seconds)'),
			_('Forget remote addresses not seen for this long.'), 'min(1)', '@retention@');
		value(s, 'advanced', 'interval', _('Update interval (seconds)'), null, 'range(1,3600)', '@interval@');
		value(s, 'advanced', 'state_file', _('State file'),
			_('Tables are saved here and restored on start. /var is RAM; a file on flash wears it: use a long save interval.'), null, '@state_file@');
		value(s, 'advanced', 'save_interval', _('Save interval (seconds)'), null, 'min(1)', '@save_interval@');
		value(s, 'advanced', 'history_top', _('History: remotes per device and hour'),
			_('The history (last %s hours by hour, %s days by day) keeps this many remotes, countries and networks per device and hour or day; the rest are summed as "other". 0: no history. More costs memory (see the README).')
				.format('@history_hours@', '@history_days@'), 'uinteger', '@history_top@');
		value(s, 'advanced', 'history_devices', _('History: devices per hour'),
			_('Devices kept per hour or day of history, the busiest first.'), 'min(1)', '@history_devices@');
		value(s, 'advanced', 'history_hours', _('History: hours kept by the hour'),
			_('Hourly buckets kept (at least 24); older traffic is kept by the day.'), 'min(24)', '@history_hours@');
		value(s, 'advanced', 'history_days', _('History: days kept by the day'), null, 'uinteger', '@history_days@');
		list(s, 'advanced', 'lan', _('LAN networks'), _('Default: the networks of the interface.'), 'cidr');
		list(s, 'advanced', 'remote', _('Count as remote'),
			_('Networks shown as remote even though they are special-purpose, e.g. 100.64.0.0/10 (carrier-grade NAT).'), 'cidr');

		choice(s, 'advanced', 'conntrack', _('Count from connection tracking'),
			_('Read packet and byte counts from the kernel\'s connection tracking, so that flows sent past br-lan by flow offloading count in full. Needs kmod-nf-conntrack-netlink and gives the daemon CAP_NET_ADMIN. Automatic: on when flow offloading is on.'),
			[ [ 'auto', _('Automatic') ], [ '1', _('On') ], [ '0', _('Off') ] ], '@conntrack@');
		o = s.taboption('advanced', form.Flag, 'conntrack_acct', _('Turn on conntrack accounting'),
			_('Sets net.netfilter.nf_conntrack_acct=1 at start: the kernel then counts bytes per connection (a little memory per connection).'));
		o.default = '@conntrack_acct@';
		o.depends('conntrack', 'auto');
		o.depends('conntrack', '1');

		value(s, 'advanced', 'metrics_top', _('Metrics: countries and ASNs'),
			_('Prometheus /metrics: how many countries and networks (ASNs) get their own series; the rest are summed as "other".'), 'uinteger', '@metrics_top@');
		value(s, 'advanced', 'metrics_remotes', _('Metrics: remote addresses'),
			_('Series for the remote addresses with most traffic (0: none; each adds series to Prometheus).'), 'uinteger', '@metrics_remotes@');
		value(s, 'advanced', 'ipfix', _('IPFIX collector'),
			_('Send flow records (IPFIX over UDP) to this address:port, e.g. a computer running nfcapd. Empty: none.'), 'ipaddrport(1)');
		value(s, 'advanced', 'ipfix_active', _('IPFIX active timeout (seconds)'), null, 'range(1,86400)', '@ipfix_active@')
			.depends({ ipfix: '', '!reverse': true });
		value(s, 'advanced', 'ipfix_idle', _('IPFIX idle timeout (seconds)'), null, 'range(1,86400)', '@ipfix_idle@')
			.depends({ ipfix: '', '!reverse': true });

		choice(s, 'advanced', 'log_level', _('Log level'), null,
			[ [ 'quiet', _('Warnings and errors') ], [ 'normal', _('Normal') ], [ 'verbose', _('Verbose') ] ], '@log_level@');

		o = value(s, 'advanced', 'tiles', _('Online map tiles'),
			_('Off when empty. A tile URL template (https://…/{z}/{x}/{y}.png) offers an online map layer on the page: the browser then fetches images from that third party, which so learns which part of the map you look at.'));
		o.validate = function(section_id, value) {
			if (!value)
				return true;
			return (/^https?:\/\/[^\s;'"]+$/.test(value) && value.indexOf('{z}') >= 0 &&
				value.indexOf('{x}') >= 0 && value.indexOf('{y}') >= 0)
				? true : _('An http(s) URL template with {z}, {x} and {y}');
		};

		flag(s, 'alerts', 'alert_new_country', _('New country'),
			_('Alert when a device reaches a country it never reached before.'), '@alert_new_country@');
		flag(s, 'alerts', 'alert_new_asn', _('New network (ASN)'),
			_('Alert when a device reaches a network (autonomous system) it never reached before. Frequent for phones and computers.'), '@alert_new_asn@');
		flag(s, 'alerts', 'alert_blocklist', _('Block-listed address'),
			_('Alert when a device talks to an address of one of the block lists below.'), '@alert_blocklist@');
		list(s, 'alerts', 'blocklist', _('Block lists'),
			_('Files of IP addresses and networks (banIP or FireHOL format), kept up to date by another tool: connmap downloads nothing. A bad line is logged with its number and skipped.'))
			.placeholder = '/etc/connmap/firehol_level1.netset';
		flag(s, 'alerts', 'alert_new_device', _('New device'),
			_('Alert when a device never seen before appears on the LAN.'), '@alert_new_device@');
		value(s, 'alerts', 'alert_upload', _('Upload limit (bytes per hour)'),
			_('Alert when a device sends more than this in one clock hour. 0: off.'), 'uinteger', '@alert_upload@');
		value(s, 'alerts', 'alert_learning', _('Learning period (seconds)'),
			_('After the first start, new countries, networks and devices are learned without alerts for this long (604800: 7 days).'), 'uinteger', '@alert_learning@');
		value(s, 'alerts', 'alert_window', _('Alert window (seconds)'),
			_('At most one alert per device and rule within this time; the others are counted as suppressed.'), 'uinteger', '@alert_window@');
		flag(s, 'alerts', 'alert_ubus', _('ubus event'),
			_('Send each alert as the ubus event connmap.alert.'), '@alert_ubus@');
		value(s, 'alerts', 'alert_dir', _('Hook directory'),
			_('Executable files here run for each alert, in name order, as the user connmap, with the alert in environment variables. An example that forwards to ntfy: ntfy.example. Restart connmap after adding a hook.'), null, '@alert_dir@');
		value(s, 'alerts', 'alert_timeout', _('Hook timeout (seconds)'), null, 'range(1,3600)', '@alert_timeout@');

		return m.render();
	}
});
