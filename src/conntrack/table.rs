//! Tables: counts that come from conntrack (`--conntrack`), per flow rather than per packet.
//! A child module of `table`, so that it shares the tables' private slots and helpers.

use super::*;

impl Tables {
    /// Adds what conntrack counted for a LAN-originated connection since it last looked:
    /// `delta` (out: LAN host → remote) to the remote and the host, which are created if
    /// new (the remote only if it can be one). The capture's per-packet counting is off
    /// meanwhile (`capture_counts`), so nothing is counted twice. Per flow and dump, not
    /// per packet.
    #[allow(clippy::too_many_arguments)]
    pub fn add_flow(
        &mut self,
        host: Addr,
        remote: Addr,
        protocol: u8,
        remote_port: Option<u16>,
        delta: Counters,
        now: u64,
        nets: &Networks,
    ) {
        let r = match self.remotes.slot(&remote) {
            Some(r) => r,
            None => {
                if !nets.is_remote(remote) {
                    return;
                }
                if self.remotes.len() >= self.max_remotes {
                    self.evict_remotes();
                }
                self.geo_pending = true;
                self.remotes.insert(remote, Remote::new(now, now))
            }
        };
        let h = match self.hosts.slot(&host) {
            Some(h) => h,
            None => {
                if self.hosts.len() >= self.max_hosts {
                    self.evict_hosts();
                }
                self.hosts.insert(host, Host::new(now, now))
            }
        };
        // (an eviction of hosts cannot move remotes, nor the reverse: both slots hold)
        let entry = self.remotes.at(r);
        add_counters(&mut entry.counters, &delta);
        entry.last_seen = entry.last_seen.max(now);
        let mut pair = entry.host_index(host);
        if pair == u32::MAX {
            pair = entry.push_host(host);
            if pair != u32::MAX && !self.learned.is_empty() {
                attach_learned(self.remotes.at(r), &self.learned, host, remote);
            }
        }
        let entry = self.remotes.at(r);
        // the pair's share, for the history (per flow and dump, like the rest)
        if let Some(p) = entry.pairs.get_mut(pair as usize) {
            p.add_counts(&PairCount::of(&delta));
        }
        let key = proto_port_key(protocol, remote_port);
        if entry.last_proto_port != key {
            entry.last_proto_port = key;
            note_proto_port(entry, protocol, remote_port);
        }
        let hst = self.hosts.at(h);
        add_counters(&mut hst.counters, &delta);
        hst.last_seen = hst.last_seen.max(now);
        // saturating: counters come from the kernel (or from bytes that only claim to)
        let packets = delta.packets_out.saturating_add(delta.packets_in);
        self.stats.packets = self.stats.packets.saturating_add(packets);
        self.stats.bytes = self.stats.bytes.saturating_add(delta.total_bytes());
        self.dirty = true;
    }
}

fn add_counters(c: &mut Counters, d: &Counters) {
    c.packets_out = c.packets_out.saturating_add(d.packets_out);
    c.bytes_out = c.bytes_out.saturating_add(d.bytes_out);
    c.packets_in = c.packets_in.saturating_add(d.packets_in);
    c.bytes_in = c.bytes_in.saturating_add(d.bytes_in);
}
