//! The node's own state for dashboards and alerts: readiness, and the
//! database as this node sees it (circuit breaker, connection pool).

use prometheus::{IntGauge, IntGaugeVec, Opts};

pub const NODE_READY: &str = "keel_node_ready";
pub const DB_CIRCUIT_OPEN: &str = "keel_db_circuit_open";
pub const DB_POOL_CONNECTIONS: &str = "keel_db_pool_connections";
pub const DB_POOL_WAITING: &str = "keel_db_pool_waiting";

pub struct NodeMetrics {
    /// 1 once the boot warm-up is done (`/readyz` answers 200).
    pub ready: IntGauge,
    /// 1 while the circuit breaker fails store calls fast.
    pub circuit_open: IntGauge,
    /// Pool connections by state (`busy`, `idle`); PostgreSQL only.
    pub pool_connections: IntGaugeVec,
    /// Callers waiting for a pool connection.
    pub pool_waiting: IntGauge,
}

impl NodeMetrics {
    pub(super) fn new() -> NodeMetrics {
        let gauge = |name: &str, help: &str| IntGauge::new(name, help).expect("valid metric");
        NodeMetrics {
            ready: gauge(NODE_READY, "1 once the node is warm and ready for readers"),
            circuit_open: gauge(
                DB_CIRCUIT_OPEN,
                "1 while the database circuit breaker fails store calls fast",
            ),
            pool_connections: IntGaugeVec::new(
                Opts::new(DB_POOL_CONNECTIONS, "Database pool connections by state"),
                &["state"],
            )
            .expect("valid metric"),
            pool_waiting: gauge(DB_POOL_WAITING, "Callers waiting for a database connection"),
        }
    }

    pub(super) fn collectors(&self) -> [Box<dyn prometheus::core::Collector>; 4] {
        for state in ["busy", "idle"] {
            self.pool_connections.with_label_values(&[state]);
        }
        [
            Box::new(self.ready.clone()),
            Box::new(self.circuit_open.clone()),
            Box::new(self.pool_connections.clone()),
            Box::new(self.pool_waiting.clone()),
        ]
    }
}
