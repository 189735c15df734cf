//! The shape every periodic background task shares: wait for the next tick
//! or for shutdown, whichever comes first; a late tick is delayed, never
//! bunched up after a stall.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{Instant, Interval, MissedTickBehavior};

pub struct Periodic {
    tick: Interval,
    shutdown: watch::Receiver<bool>,
}

impl Periodic {
    /// Ticks every `every`, the first one at once.
    pub fn now(every: Duration, shutdown: watch::Receiver<bool>) -> Periodic {
        Self::starting(Instant::now(), every, shutdown)
    }

    /// Ticks every `every`, the first one a period from now.
    pub fn after(every: Duration, shutdown: watch::Receiver<bool>) -> Periodic {
        Self::starting(Instant::now() + every, every, shutdown)
    }

    fn starting(start: Instant, every: Duration, shutdown: watch::Receiver<bool>) -> Periodic {
        let mut tick = tokio::time::interval_at(start, every);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Periodic { tick, shutdown }
    }

    /// Waits for the next tick; `false` once shutdown is asked for (or its
    /// sender is gone), and the task should return.
    pub async fn next(&mut self) -> bool {
        tokio::select! {
            _ = self.tick.tick() => {}
            changed = self.shutdown.changed() => {
                if changed.is_err() {
                    return false;
                }
            }
        }
        !*self.shutdown.borrow()
    }
}
