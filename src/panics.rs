//! Panic reporting for `keel serve`: every panic is counted
//! (`keel_panics_total`) and logged, but at most one line a second, and
//! without a backtrace. The default hook writes a line per panic, and with
//! `RUST_BACKTRACE` set symbolises a backtrace (over 100 MB of memory the
//! first time): a handler bug any request can reach would be a log flood
//! and a memory spike on demand. The front turns a panicking request into
//! a 500 and a closed connection; this module only reports.

use std::panic::PanicHookInfo;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static PANICS: AtomicU64 = AtomicU64::new(0);
/// The second (Unix time) of the last panic logged.
static LOGGED_AT: AtomicU64 = AtomicU64::new(0);

/// Replaces the process's panic hook.
pub fn install() {
    std::panic::set_hook(Box::new(report));
}

/// Panics since the process started.
pub fn count() -> u64 {
    PANICS.load(Ordering::Relaxed)
}

fn report(info: &PanicHookInfo<'_>) {
    let total = PANICS.fetch_add(1, Ordering::Relaxed) + 1;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let last = LOGGED_AT.load(Ordering::Relaxed);
    if now <= last
        || LOGGED_AT
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    let location = info
        .location()
        .map(|l| format!("{}:{}", l.file(), l.line()))
        .unwrap_or_default();
    tracing::error!(
        panics_total = total,
        %location,
        "a thread panicked: {message} (at most one panic is logged per second)"
    );
}
