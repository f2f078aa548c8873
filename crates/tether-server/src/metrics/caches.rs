//! The running agent's caches, read at each scrape: `tether_render_cache_hits_total`,
//! `tether_render_cache_misses_total` and `tether_live_cache_objects` (and
//! `tether_live_cache_kinds`). A standby replica, which runs no agent, reports zeros;
//! the counters restart from zero when a replica becomes leader again.

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use tether_engine::wake::AgentLink;

#[derive(Debug)]
pub struct CacheCollector {
    agent: AgentLink,
}

impl CacheCollector {
    pub fn new(agent: AgentLink) -> CacheCollector {
        CacheCollector { agent }
    }
}

impl prometheus_client::collector::Collector for CacheCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let engine = self.agent.engine();
        let (hits, misses) = engine.as_ref().map_or((0, 0), |e| e.renderer.cache_stats());
        let (objects, kinds) = engine
            .as_ref()
            .and_then(|e| e.live_cache.as_ref())
            .map_or((0, 0), |c| (c.object_count(), c.kind_count()));
        let counter = |encoder: &mut DescriptorEncoder, name: &str, help: &str, v: u64| {
            let c = ConstCounter::new(v);
            let m = encoder.encode_descriptor(name, help, None, c.metric_type())?;
            c.encode(m)
        };
        let gauge = |encoder: &mut DescriptorEncoder, name: &str, help: &str, v: usize| {
            let g = ConstGauge::new(v as i64);
            let m = encoder.encode_descriptor(name, help, None, g.metric_type())?;
            g.encode(m)
        };
        counter(
            &mut encoder,
            "tether_render_cache_hits",
            "Renders answered from the render cache",
            hits,
        )?;
        counter(
            &mut encoder,
            "tether_render_cache_misses",
            "Renders that ran (not in the render cache)",
            misses,
        )?;
        gauge(
            &mut encoder,
            "tether_live_cache_objects",
            "Managed objects held in the live cache",
            objects,
        )?;
        gauge(
            &mut encoder,
            "tether_live_cache_kinds",
            "Kinds watched by the live cache",
            kinds,
        )?;
        Ok(())
    }
}
