// luci-app-connmap: Status > Connection Map. Embeds the map page that the connmap daemon serves
// on its own port (an iframe to this router's host name and the configured port), always offers
// a plain link (an HTTPS LuCI cannot frame the daemon's plain-HTTP page), and a settings form
// for /etc/config/connmap.
'use strict';
'require view';
'require form';
'require uci';

return view.extend({
	load: function() {
		return uci.load('connmap');
	},

	mapUrl: function() {
		var port = uci.get('connmap', 'main', 'port') || '8090',
		    listen = uci.get('connmap', 'main', 'listen'),
		    host = window.location.hostname;

		// a fixed, non-wildcard listen address is where the page is; else this router's name
		if (listen && listen != '0.0.0.0' && listen != '::')
			host = listen;
		if (host.indexOf(':') >= 0 && host.charAt(0) != '[')
			host = '[' + host + ']';
		return 'http://' + host + ':' + port + '/';
	},

	renderMap: function() {
		var url = this.mapUrl(),
		    enabled = uci.get('connmap', 'main', 'enabled') != '0',
		    https = window.location.protocol == 'https:',
		    nodes = [];

		nodes.push(E('p', {}, [
			_('The map is served by the connmap daemon at') + ' ',
			E('a', { 'href': url, 'target': '_blank', 'rel': 'noopener' }, url),
			' ', _('(opens in a new tab).')
		]));

		if (!enabled)
			nodes.push(E('p', { 'class': 'alert-message warning' },
				_('connmap is disabled: enable it below and save.')));
		else if (https)
			nodes.push(E('p', { 'class': 'alert-message notice' },
				_('This page was loaded over HTTPS, and browsers do not show a plain-HTTP page inside it: use the link above.')));
		else
			nodes.push(E('iframe', {
				'src': url,
				'title': _('Connection map'),
				'style': 'width:100%; height:70vh; min-height:400px; border:none'
			}));

		return E('div', { 'class': 'cbi-section' }, nodes);
	},

	render: function() {
		var m, s, o;

		m = new form.Map('connmap', _('Connection Map'),
			_('Where the devices on this network connect to, located offline, on a live world map.'));

		s = m.section(form.NamedSection, 'main', 'connmap', _('Settings'));
		s.addremove = false;

		o = s.option(form.Flag, 'enabled', _('Enabled'));
		o.rmempty = false;
		o.default = '1';

		o = s.option(form.Value, 'interface', _('Interface'),
			_('Logical interface (lan) or device to capture on.'));
		o.placeholder = 'lan';

		o = s.option(form.Value, 'port', _('Port'), _('HTTP port of the map page.'));
		o.datatype = 'port';
		o.placeholder = '8090';

		o = s.option(form.Value, 'listen', _('Listen address'),
			_('Empty: the interface\'s own address, so the page is reachable from the LAN only.'));
		o.datatype = 'ipaddr';
		o.optional = true;

		o = s.option(form.Value, 'geoip', _('Geolocation database'));
		o.placeholder = '/usr/share/connmap/geo.mmdb';

		o = s.option(form.Value, 'max_remotes', _('Maximum remote addresses'));
		o.datatype = 'uinteger';
		o.placeholder = '10000';

		o = s.option(form.Value, 'retention', _('Retention (seconds)'),
			_('Forget remote addresses not seen for this long.'));
		o.datatype = 'uinteger';
		o.placeholder = '86400';

		o = s.option(form.Value, 'interval', _('Update interval (seconds)'));
		o.datatype = 'range(1,3600)';
		o.placeholder = '5';

		o = s.option(form.Flag, 'names', _('Learn remote names'),
			_('Names of remote addresses from DNS answers, TLS SNI and HTTP Host.'));
		o.rmempty = false;
		o.default = '1';

		o = s.option(form.Value, 'max_names', _('Maximum learned names'));
		o.datatype = 'uinteger';
		o.placeholder = '20000';
		o.depends('names', '1');

		o = s.option(form.ListValue, 'conntrack', _('Count from connection tracking'),
			_('Read packet and byte counts from the kernel\'s connection tracking, so that flows sent past br-lan by flow offloading count in full. Needs kmod-nf-conntrack-netlink and gives the daemon CAP_NET_ADMIN. Automatic: on when flow offloading is on.'));
		o.value('auto', _('Automatic'));
		o.value('1', _('On'));
		o.value('0', _('Off'));
		o.default = 'auto';

		o = s.option(form.Flag, 'conntrack_acct', _('Turn on conntrack accounting'),
			_('Sets net.netfilter.nf_conntrack_acct=1 at start: the kernel then counts bytes per connection (a little memory per connection).'));
		o.default = '0';
		o.depends('conntrack', 'auto');
		o.depends('conntrack', '1');

		o = s.option(form.DynamicList, 'exclude', _('Ignore LAN hosts'),
			_('Addresses or networks whose traffic is not shown.'));
		o.datatype = 'or(ipaddr,cidr)';

		o = s.option(form.Value, 'home_lat', _('Home latitude'));
		o.datatype = 'range(-90,90)';
		o.optional = true;

		o = s.option(form.Value, 'home_lng', _('Home longitude'));
		o.datatype = 'range(-180,180)';
		o.optional = true;

		o = s.option(form.Value, 'state_file', _('State file'),
			_('Tables are saved here and restored on start. /var is RAM; a file on flash wears it: use a long save interval.'));
		o.placeholder = '/var/lib/connmap/state';

		o = s.option(form.Value, 'save_interval', _('Save interval (seconds)'));
		o.datatype = 'uinteger';
		o.placeholder = '3600';

		return m.render().then(L.bind(function(formEl) {
			return E([], [ this.renderMap(), formEl ]);
		}, this));
	}
});
