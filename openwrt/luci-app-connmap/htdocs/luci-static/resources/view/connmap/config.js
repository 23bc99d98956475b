// luci-app-connmap: Status > Connection Map > Settings, the form for /etc/config/connmap
// (section `connmap 'main'`). Save & Apply commits through rpcd/uci; procd's reload trigger on
// the `connmap` config then restarts the daemon when its command line changed. Placeholders
// are the daemon's defaults (src/cli.rs), checked by openwrt/tests/luci_test.mjs.
'use strict';
'require view';
'require form';
'require uci';
'require tools.widgets as widgets';

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

		o = s.taboption('general', form.Flag, 'enabled', _('Enabled'));
		o.rmempty = false;
		o.default = '1';

		o = s.taboption('general', widgets.NetworkSelect, 'interface', _('Interface'),
			_('The LAN side to watch (its device, e.g. br-lan, is captured). A device name can be set with uci.'));
		o.nocreate = true;
		o.default = 'lan';
		// a device name set with uci is not among LuCI's networks, so the list shows nothing for
		// it: an empty choice leaves the option as it is (instead of refusing to save)
		o.rmempty = true;
		o.remove = function(section_id) {};

		o = s.taboption('general', form.Flag, 'http', _('Own web page'),
			_('The daemon also serves the map on its own port (plain HTTP, reachable from the LAN). Off: it opens no port at all, and the map is shown in LuCI only.'));
		o.rmempty = false;
		o.default = '1';

		o = s.taboption('general', form.Value, 'port', _('Port'), _('HTTP port of the map page.'));
		o.datatype = 'port';
		o.placeholder = '8090';
		o.depends('http', '1');

		o = s.taboption('general', form.Value, 'listen', _('Listen address'),
			_('Empty: the interface\'s own address, so the page is reachable from the LAN only.'));
		o.datatype = 'ipaddr';
		o.optional = true;
		o.depends('http', '1');

		o = s.taboption('general', form.DynamicList, 'allow_host', _('Other names of this router'),
			_('Host names the map is reached by besides its address, localhost, the hostname and HOSTNAME.lan. Requests naming other hosts are refused (DNS rebinding).'));
		o.datatype = 'hostname';
		o.optional = true;
		o.depends('http', '1');

		o = s.taboption('general', form.Value, 'home_lat', _('Home latitude'),
			_('Where the lines on the map start, e.g. 52.52 (with the longitude).'));
		o.datatype = 'range(-90,90)';
		o.optional = true;

		o = s.taboption('general', form.Value, 'home_lng', _('Home longitude'), _('e.g. 13.40'));
		o.datatype = 'range(-180,180)';
		o.optional = true;

		o = s.taboption('general', form.Flag, 'names', _('Learn remote names'),
			_('Names of remote addresses from DNS answers, TLS SNI and HTTP Host, read passively.'));
		o.rmempty = false;
		o.default = '1';

		o = s.taboption('advanced', form.Value, 'doh_list', _('More DNS-over-HTTPS resolvers'),
			_('A file of resolver addresses (one per line) besides the built-in list; devices that talk to them, or to port 853, are shown as using encrypted DNS.'));
		o.placeholder = '/etc/connmap/doh.txt';
		o.optional = true;

		o = s.taboption('general', form.DynamicList, 'exclude', _('Ignore LAN hosts'),
			_('Addresses or networks whose traffic is not shown.'));
		o.datatype = 'or(ipaddr,cidr)';

		o = s.taboption('advanced', form.Value, 'geoip', _('Geolocation database'),
			_('MaxMind-format database (package connmap-geodb).'));
		o.placeholder = '/usr/share/connmap/geo.mmdb';

		o = s.taboption('advanced', form.Value, 'max_remotes', _('Maximum remote addresses'),
			_('The least recently seen are forgotten first; memory is bounded by this.'));
		o.datatype = 'min(1)';
		o.placeholder = '10000';

		o = s.taboption('advanced', form.Value, 'max_hosts', _('Maximum LAN devices'));
		o.datatype = 'min(1)';
		o.placeholder = '1024';

		o = s.taboption('advanced', form.Value, 'max_names', _('Maximum learned names'));
		o.datatype = 'min(1)';
		o.placeholder = '20000';
		o.depends('names', '1');

		o = s.taboption('advanced', form.Value, 'retention', _('Retention (seconds)'),
			_('Forget remote addresses not seen for this long.'));
		o.datatype = 'min(1)';
		o.placeholder = '86400';

		o = s.taboption('advanced', form.Value, 'interval', _('Update interval (seconds)'));
		o.datatype = 'range(1,3600)';
		o.placeholder = '5';

		o = s.taboption('advanced', form.Value, 'state_file', _('State file'),
			_('Tables are saved here and restored on start. /var is RAM; a file on flash wears it: use a long save interval.'));
		o.placeholder = '/var/lib/connmap/state';

		o = s.taboption('advanced', form.Value, 'save_interval', _('Save interval (seconds)'));
		o.datatype = 'min(1)';
		o.placeholder = '3600';

		o = s.taboption('advanced', form.Value, 'history_top', _('History: remotes per device and hour'),
			_('The history (last 48 hours by hour, 35 days by day) keeps this many remotes, countries and networks per device and hour or day; the rest are summed as "other". 0: no history. More costs memory (see the README).'));
		o.datatype = 'uinteger';
		o.placeholder = '5';

		o = s.taboption('advanced', form.Value, 'history_devices', _('History: devices per hour'),
			_('Devices kept per hour or day of history, the busiest first.'));
		o.datatype = 'min(1)';
		o.placeholder = '24';

		o = s.taboption('advanced', form.DynamicList, 'lan', _('LAN networks'),
			_('Default: the networks of the interface.'));
		o.datatype = 'cidr';

		o = s.taboption('advanced', form.DynamicList, 'remote', _('Count as remote'),
			_('Networks shown as remote even though they are special-purpose, e.g. 100.64.0.0/10 (carrier-grade NAT).'));
		o.datatype = 'cidr';

		o = s.taboption('advanced', form.ListValue, 'conntrack', _('Count from connection tracking'),
			_('Read packet and byte counts from the kernel\'s connection tracking, so that flows sent past br-lan by flow offloading count in full. Needs kmod-nf-conntrack-netlink and gives the daemon CAP_NET_ADMIN. Automatic: on when flow offloading is on.'));
		o.value('auto', _('Automatic'));
		o.value('1', _('On'));
		o.value('0', _('Off'));
		o.default = 'auto';

		o = s.taboption('advanced', form.Flag, 'conntrack_acct', _('Turn on conntrack accounting'),
			_('Sets net.netfilter.nf_conntrack_acct=1 at start: the kernel then counts bytes per connection (a little memory per connection).'));
		o.default = '0';
		o.depends('conntrack', 'auto');
		o.depends('conntrack', '1');

		o = s.taboption('advanced', form.Value, 'metrics_top', _('Metrics: countries and ASNs'),
			_('Prometheus /metrics: how many countries and networks (ASNs) get their own series; the rest are summed as "other".'));
		o.datatype = 'uinteger';
		o.placeholder = '50';

		o = s.taboption('advanced', form.Value, 'metrics_remotes', _('Metrics: remote addresses'),
			_('Series for the remote addresses with most traffic (0: none; each adds series to Prometheus).'));
		o.datatype = 'uinteger';
		o.placeholder = '0';

		o = s.taboption('advanced', form.Value, 'ipfix', _('IPFIX collector'),
			_('Send flow records (IPFIX over UDP) to this address:port, e.g. a computer running nfcapd. Empty: none.'));
		o.datatype = 'ipaddrport(1)';
		o.optional = true;

		o = s.taboption('advanced', form.Value, 'ipfix_active', _('IPFIX active timeout (seconds)'));
		o.datatype = 'range(1,86400)';
		o.placeholder = '60';
		o.depends({ ipfix: '', '!reverse': true });

		o = s.taboption('advanced', form.Value, 'ipfix_idle', _('IPFIX idle timeout (seconds)'));
		o.datatype = 'range(1,86400)';
		o.placeholder = '15';
		o.depends({ ipfix: '', '!reverse': true });

		o = s.taboption('advanced', form.ListValue, 'log_level', _('Log level'));
		o.value('quiet', _('Warnings and errors'));
		o.value('normal', _('Normal'));
		o.value('verbose', _('Verbose'));
		o.default = 'normal';

		o = s.taboption('advanced', form.Value, 'tiles', _('Online map tiles'),
			_('Off when empty. A tile URL template (https://…/{z}/{x}/{y}.png) offers an online map layer on the page: the browser then fetches images from that third party, which so learns which part of the map you look at.'));
		o.optional = true;
		o.validate = function(section_id, value) {
			if (!value)
				return true;
			return (/^https?:\/\/[^\s;'"]+$/.test(value) && value.indexOf('{z}') >= 0 &&
				value.indexOf('{x}') >= 0 && value.indexOf('{y}') >= 0)
				? true : _('An http(s) URL template with {z}, {x} and {y}');
		};

		o = s.taboption('alerts', form.Flag, 'alert_new_country', _('New country'),
			_('Alert when a device reaches a country it never reached before.'));
		o.rmempty = false;
		o.default = '1';

		o = s.taboption('alerts', form.Flag, 'alert_new_asn', _('New network (ASN)'),
			_('Alert when a device reaches a network (autonomous system) it never reached before. Frequent for phones and computers.'));
		o.rmempty = false;
		o.default = '0';

		o = s.taboption('alerts', form.Flag, 'alert_blocklist', _('Block-listed address'),
			_('Alert when a device talks to an address of one of the block lists below.'));
		o.rmempty = false;
		o.default = '1';

		o = s.taboption('alerts', form.DynamicList, 'blocklist', _('Block lists'),
			_('Files of IP addresses and networks (banIP or FireHOL format), kept up to date by another tool: connmap downloads nothing. A bad line is logged with its number and skipped.'));
		o.placeholder = '/etc/connmap/firehol_level1.netset';

		o = s.taboption('alerts', form.Flag, 'alert_new_device', _('New device'),
			_('Alert when a device never seen before appears on the LAN.'));
		o.rmempty = false;
		o.default = '1';

		o = s.taboption('alerts', form.Value, 'alert_upload', _('Upload limit (bytes per hour)'),
			_('Alert when a device sends more than this in one clock hour. 0: off.'));
		o.datatype = 'uinteger';
		o.placeholder = '0';

		o = s.taboption('alerts', form.Value, 'alert_learning', _('Learning period (seconds)'),
			_('After the first start, new countries, networks and devices are learned without alerts for this long (604800: 7 days).'));
		o.datatype = 'uinteger';
		o.placeholder = '604800';

		o = s.taboption('alerts', form.Value, 'alert_window', _('Alert window (seconds)'),
			_('At most one alert per device and rule within this time; the others are counted as suppressed.'));
		o.datatype = 'uinteger';
		o.placeholder = '3600';

		o = s.taboption('alerts', form.Flag, 'alert_ubus', _('ubus event'),
			_('Send each alert as the ubus event connmap.alert.'));
		o.rmempty = false;
		o.default = '1';

		o = s.taboption('alerts', form.Value, 'alert_dir', _('Hook directory'),
			_('Executable files here run for each alert, in name order, as the user connmap, with the alert in environment variables. An example that forwards to ntfy: ntfy.example. Restart connmap after adding a hook.'));
		o.placeholder = '/etc/connmap/alert.d';

		o = s.taboption('alerts', form.Value, 'alert_timeout', _('Hook timeout (seconds)'));
		o.datatype = 'range(1,3600)';
		o.placeholder = '30';

		return m.render();
	}
});
