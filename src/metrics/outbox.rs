//! The outbox's metrics: what each destination is owed and how sending to
//! it goes, and what this node holds of the log.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts};

use super::LAG_BUCKETS;

pub const OUTBOX_BACKLOG: &str = "keel_outbox_backlog";
pub const OUTBOX_DELIVERIES_TOTAL: &str = "keel_outbox_deliveries_total";
pub const OUTBOX_FORCED_TOTAL: &str = "keel_outbox_forced_total";
pub const OUTBOX_DELIVERY_DURATION_SECONDS: &str = "keel_outbox_delivery_duration_seconds";
pub const OUTBOX_LAG_SECONDS: &str = "keel_outbox_lag_seconds";
pub const OUTBOX_SENDING: &str = "keel_outbox_sending";
pub const NODE_HELD_SEQ: &str = "keel_node_held_seq";
pub const NODES_LIVE: &str = "keel_nodes_live";

pub struct OutboxMetrics {
    /// Events not yet acknowledged, per destination, as this node last saw.
    pub backlog: IntGaugeVec,
    /// Delivery attempts by destination and result (`ok`, `failed`).
    pub deliveries: IntCounterVec,
    /// Deliveries sent before every live node held their events.
    pub forced: IntCounterVec,
    pub duration: HistogramVec,
    /// From an event's commit to its destination's acknowledgement: how
    /// long the edge served the old page.
    pub lag: HistogramVec,
    /// 1 on the node that holds the destination's lease.
    pub sending: IntGaugeVec,
    pub held_seq: IntGauge,
    pub nodes_live: IntGauge,
}

impl OutboxMetrics {
    pub(super) fn new() -> OutboxMetrics {
        let by_destination = |name: &str, help: &str| {
            IntGaugeVec::new(Opts::new(name, help), &["destination"]).expect("valid metric")
        };
        let histogram = |name: &str, help: &str| {
            HistogramVec::new(
                HistogramOpts::new(name, help).buckets(LAG_BUCKETS.to_vec()),
                &["destination"],
            )
            .expect("valid metric")
        };
        OutboxMetrics {
            backlog: by_destination(
                OUTBOX_BACKLOG,
                "Events not yet acknowledged by the destination",
            ),
            deliveries: IntCounterVec::new(
                Opts::new(
                    OUTBOX_DELIVERIES_TOTAL,
                    "Delivery attempts by destination and result",
                ),
                &["destination", "result"],
            )
            .expect("valid metric"),
            forced: IntCounterVec::new(
                Opts::new(
                    OUTBOX_FORCED_TOTAL,
                    "Deliveries sent before every live node held their events",
                ),
                &["destination"],
            )
            .expect("valid metric"),
            duration: histogram(
                OUTBOX_DELIVERY_DURATION_SECONDS,
                "Time one delivery attempt took",
            ),
            lag: histogram(
                OUTBOX_LAG_SECONDS,
                "Time from an event's commit to the destination acknowledging it",
            ),
            sending: by_destination(
                OUTBOX_SENDING,
                "1 on the node that sends to the destination",
            ),
            held_seq: IntGauge::new(
                NODE_HELD_SEQ,
                "Seq up to which this node holds every event's pages",
            )
            .expect("valid metric"),
            nodes_live: IntGauge::new(NODES_LIVE, "Nodes with a live heartbeat, as last read")
                .expect("valid metric"),
        }
    }

    pub(super) fn collectors(&self) -> [Box<dyn prometheus::core::Collector>; 8] {
        [
            Box::new(self.backlog.clone()),
            Box::new(self.deliveries.clone()),
            Box::new(self.forced.clone()),
            Box::new(self.duration.clone()),
            Box::new(self.lag.clone()),
            Box::new(self.sending.clone()),
            Box::new(self.held_seq.clone()),
            Box::new(self.nodes_live.clone()),
        ]
    }

    /// Exports every series of `destination` at zero, so dashboards and
    /// alerts find them before the first change.
    pub fn register_destination(&self, destination: &str) {
        self.backlog.with_label_values(&[destination]).set(0);
        self.sending.with_label_values(&[destination]).set(0);
        for result in ["ok", "failed"] {
            self.deliveries.with_label_values(&[destination, result]);
        }
        self.forced.with_label_values(&[destination]);
        self.duration.with_label_values(&[destination]);
        self.lag.with_label_values(&[destination]);
    }
}
