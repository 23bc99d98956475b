// openwrt/tests/real/netifd-standin.uc — what the rig needs of netifd, in ucode: the ubus
// objects `network.interface` (dump) and `network.interface.lan` (status) in netifd's shape,
// so that /lib/functions/network.sh (network_get_device, network_get_ipaddr) answers as on a
// router, and netifd's notifications (`interface.update` / `interface.down`, which procd's
// interface triggers match as "interface.*") when br-lan goes up or down.
// Started by /etc/init.d/network-standin with `procd_set_param watch network.interface`, so
// procd subscribes to the object as it does to netifd's.
'use strict';
import * as ubus from 'ubus';
import * as uloop from 'uloop';
import { readfile } from 'fs';

const DEV = 'br-lan', ADDR = getenv('LAN_ADDR') ?? '192.168.1.1', MASK = 24;

function is_up() {
	return trim(readfile(`/sys/class/net/${DEV}/operstate`) ?? 'down') == 'up';
}

function status() {
	let up = is_up();
	let s = { interface: 'lan', up: up, pending: false, available: true, autostart: true,
		proto: 'static', device: DEV, 'ipv4-address': [], 'ipv6-address': [], route: [],
		'dns-server': [], data: {} };
	if (up) {
		s.l3_device = DEV;
		s['ipv4-address'] = [ { address: ADDR, mask: MASK } ];
	}
	return s;
}

uloop.init();
let conn = ubus.connect();
let obj = conn.publish('network.interface', {
	dump: { call: () => ({ interface: [ status() ] }), args: {} }
});
conn.publish('network.interface.lan', {
	status: { call: () => status(), args: {} }
});

let last = is_up();
let timer;
timer = uloop.timer(300, function() {
	let up = is_up();
	if (up != last) {
		last = up;
		obj.notify(up ? 'interface.update' : 'interface.down',
			{ action: up ? 'ifup' : 'ifdown', interface: 'lan' }, null, null, null, -1);
	}
	timer.set(300);
});
uloop.run();
