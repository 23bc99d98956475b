//! Export: connmap's tables handed to the engines people already run, for homes and offices
//! with more than one router (docs/several-routers.md).
//!
//! Beside the data path, not on it: both exporters work once per snapshot interval from the
//! same bounded tables, never per packet.
//!
//! - `metrics`: `GET /metrics`, Prometheus text exposition 0.0.4 or OpenMetrics 1.0.0. The
//!   data path aggregates the tables into a small `MetricsData` at each snapshot (per device,
//!   top-N countries and ASNs, health); the HTTP threads render it per scrape.
//! - `ipfix`: an optional IPFIX (RFC 7011) exporter over UDP (`--ipfix HOST:PORT`), one record
//!   per remote and direction, sent when a remote goes idle, every active timeout, at the end
//!   of a replay and on exit. Non-blocking socket, bounded queue.
//! - `centroids`: country centroids (generated from Natural Earth) for Grafana's Geomap.

pub mod centroids;
pub mod ipfix;
pub mod metrics;

use crate::cli::Config;
use crate::table::Tables;

/// What the data path keeps for the exporters.
#[derive(Default)]
pub struct Export {
    /// The latest aggregate, shared with the HTTP threads (`/metrics`).
    pub metrics: metrics::MetricsCell,
    pub limits: metrics::Limits,
    pub ipfix: Option<ipfix::Exporter>,
}

impl Export {
    /// From the command line; an IPFIX socket that cannot be opened is logged and left out.
    /// `tables`: as restored from `--state`; what they hold was counted before this start
    /// and is not exported again.
    pub fn new(cfg: &Config, tables: &Tables) -> Export {
        let ipfix = cfg.ipfix.and_then(|addr| {
            let opts = ipfix::Options {
                collector: addr,
                active_timeout: cfg.ipfix_active,
                idle_timeout: cfg.ipfix_idle,
                ..Default::default()
            };
            match ipfix::Exporter::new(opts) {
                Ok(mut x) => {
                    x.already_counted(tables);
                    log::info!("IPFIX flow records to {addr} (UDP)");
                    Some(x)
                }
                Err(e) => {
                    log::error!("ipfix: {e}");
                    None
                }
            }
        });
        Export {
            metrics: metrics::MetricsCell::default(),
            limits: metrics::Limits {
                top: cfg.metrics_top,
                remotes: cfg.metrics_remotes,
            },
            ipfix,
        }
    }

    /// At each snapshot: the aggregate for `/metrics` (one pass over the tables).
    pub fn snapshot(&mut self, sources: metrics::Sources) {
        let ipfix = self.ipfix.as_ref().map(|x| x.stats);
        let data = metrics::collect(&sources, &self.limits, ipfix);
        self.metrics.set(data);
    }

    /// Once per interval (and with `last` at the end of a replay and on exit): IPFIX records
    /// of the flows that went idle or reached the active timeout (`last`: of every flow).
    /// `now` is on the tables' clock (capture time for a replay).
    pub fn tick(&mut self, tables: &Tables, now: u64, last: bool) {
        if let Some(x) = &mut self.ipfix {
            x.tick(tables, now, last);
        }
    }
}
