//! The providers of the running [`Telemetry`](crate::Telemetry), reachable from anywhere: a
//! library records through `nanotel::global::tracer("my-lib")` without a handle being passed to
//! it.
//!
//! [`init`](crate::init) and [`TelemetryBuilder::build`](crate::TelemetryBuilder::build) install
//! their providers here (unless built with
//! [`with_install_global(false)`](crate::TelemetryBuilder::with_install_global)); the last one built
//! wins. Shutting that [`Telemetry`](crate::Telemetry) down, or dropping it, uninstalls them. While
//! none is installed (before init, after shutdown) the functions here return disabled providers,
//! whose handles record nothing at the cost of a branch.
//!
//! A handle is bound to the provider it came from, as in `opentelemetry::global`: one made before
//! init stays a no-op after it (make handles after init, or look them up again), and one made
//! while a `Telemetry` ran keeps working like any handle of it after shutdown (what it records
//! then is counted as dropped, `shutdown`, not sent).
//!
//! How it is read: one atomic load of a pointer to the installed set of three providers; making a
//! handle then upgrades a weak reference (an atomic increment) and does what the provider's own
//! method does. A set may be read by another thread at the moment it is uninstalled, so a set is
//! never freed: each install leaks one set of three weak references (24 bytes), which keep the
//! providers' top-level allocations (about 300 bytes together) but none of their state: that is
//! freed with the `Telemetry` and the handles made from it, since the set does not keep it alive.
//!
//! ```
//! # let collector = nanotel_testing::TestCollector::start().unwrap();
//! /// A library's code: it takes no handle.
//! fn send_order() {
//!     nanotel::global::tracer("order-lib").in_span("order.send", |_| ());
//! }
//!
//! assert!(!nanotel::global::tracer_provider().is_enabled(), "before init: no-op");
//! let telemetry = nanotel::builder().without_env().with_endpoint(collector.endpoint()).build().unwrap();
//! send_order();
//! let report = telemetry.shutdown(std::time::Duration::from_secs(5));
//! assert_eq!(report.accounting.traces.exported, 1);
//! assert!(!nanotel::global::tracer_provider().is_enabled(), "after shutdown: no-op");
//! ```

use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::OnceLock;

use crate::logs::{Logger, LoggerProvider, WeakLoggerProvider};
use crate::metrics::{Meter, MeterProvider, WeakMeterProvider};
use crate::trace::{Tracer, TracerProvider, WeakTracerProvider};

/// The providers of one [`Telemetry`](crate::Telemetry), as installed.
pub(crate) struct Installed {
    meters: WeakMeterProvider,
    tracers: WeakTracerProvider,
    loggers: WeakLoggerProvider,
}

/// The installed set, or null. Sets are leaked, never freed (see the module's notes).
static CURRENT: AtomicPtr<Installed> = AtomicPtr::new(ptr::null_mut());

/// Makes these providers the global ones, replacing any, and returns the set to pass to
/// [`uninstall`].
pub(crate) fn install(
    meters: &MeterProvider,
    tracers: &TracerProvider,
    loggers: &LoggerProvider,
) -> &'static Installed {
    // One install at a time (a cold path): two racing installs each turned their own provider
    // on after the swap, so the first could turn on a provider the second had already replaced
    // (both then reported the static counters: every one exported twice), until session 40.
    static ONE_AT_A_TIME: parking_lot::Mutex<()> = parking_lot::Mutex::new(());
    let _installing = ONE_AT_A_TIME.lock();
    let set = Box::leak(Box::new(Installed {
        meters: meters.downgrade(),
        tracers: tracers.downgrade(),
        loggers: loggers.downgrade(),
    }));
    // Release: a reader that loads the pointer (Acquire) sees the set fully written. Acquire:
    // the replaced set, if any, is read below.
    let replaced = CURRENT.swap(set, Ordering::AcqRel);
    // SAFETY: as in `current`: a non-null pointer here came from `Box::leak` and is never freed.
    if let Some(replaced) = unsafe { replaced.as_ref() }.and_then(|replaced| replaced.meters.upgrade()) {
        replaced.report_static_counters(false);
    }
    // After the replaced one stops: the same provider installed again keeps reporting.
    meters.report_static_counters(true);
    set
}

/// Uninstalls `set` if it is still the global one (a later install replaced it otherwise, and
/// stays).
pub(crate) fn uninstall(set: &'static Installed) {
    let set = ptr::from_ref(set).cast_mut();
    // The set itself is not freed: a reader may have loaded it just before.
    let _ = CURRENT.compare_exchange(set, ptr::null_mut(), Ordering::AcqRel, Ordering::Acquire);
}

fn current() -> Option<&'static Installed> {
    // Acquire pairs with the Release store in `install`.
    let set = CURRENT.load(Ordering::Acquire);
    // SAFETY: a non-null pointer here came from `Box::leak` in `install` and is never freed, so
    // it is valid for 'static; nothing mutates a set after it is published.
    unsafe { set.as_ref() }
}

/// The providers handed out while none is installed, made once.
fn disabled() -> &'static (MeterProvider, TracerProvider, LoggerProvider) {
    static DISABLED: OnceLock<(MeterProvider, TracerProvider, LoggerProvider)> = OnceLock::new();
    DISABLED.get_or_init(|| (MeterProvider::disabled(), TracerProvider::disabled(), LoggerProvider::disabled()))
}

/// The installed meter provider, or a disabled one.
#[must_use]
pub fn meter_provider() -> MeterProvider {
    current().and_then(|set| set.meters.upgrade()).unwrap_or_else(|| disabled().0.clone())
}

/// The installed tracer provider, or a disabled one.
#[must_use]
pub fn tracer_provider() -> TracerProvider {
    current().and_then(|set| set.tracers.upgrade()).unwrap_or_else(|| disabled().1.clone())
}

/// The installed logger provider, or a disabled one.
#[must_use]
pub fn logger_provider() -> LoggerProvider {
    current().and_then(|set| set.loggers.upgrade()).unwrap_or_else(|| disabled().2.clone())
}

/// The meter of an instrumentation scope, from the installed provider (a no-op one while none is).
#[must_use]
pub fn meter(name: &str) -> Meter {
    meter_provider().meter(name)
}

/// The meter of an instrumentation scope with a version, from the installed provider.
#[must_use]
pub fn meter_with_version(name: &str, version: &str) -> Meter {
    meter_provider().meter_with_version(name, version)
}

/// The tracer of an instrumentation scope, from the installed provider (a no-op one while none is).
#[must_use]
pub fn tracer(name: &str) -> Tracer {
    tracer_provider().tracer(name)
}

/// The tracer of an instrumentation scope with a version, from the installed provider.
#[must_use]
pub fn tracer_with_version(name: &str, version: &str) -> Tracer {
    tracer_provider().tracer_with_version(name, version)
}

/// The logger of an instrumentation scope, from the installed provider (a no-op one while none is).
#[must_use]
pub fn logger(name: &str) -> Logger {
    logger_provider().logger(name)
}

/// The logger of an instrumentation scope with a version, from the installed provider.
#[must_use]
pub fn logger_with_version(name: &str, version: &str) -> Logger {
    logger_provider().logger_with_version(name, version)
}

#[cfg(all(test, not(nanotel_loom)))]
mod tests {
    use super::*;

    /// Installs racing leave at most one provider reporting the static counters (other tests'
    /// installs may replace them all).
    #[test]
    fn racing_installs_leave_one_provider_reporting_statics() {
        for _ in 0..300 {
            let meters = [(); 8].map(|()| MeterProvider::builder().without_env().build());
            let (tracers, loggers) = (TracerProvider::disabled(), LoggerProvider::disabled());
            let barrier = std::sync::Barrier::new(meters.len());
            let sets: Vec<&'static Installed> = std::thread::scope(|s| {
                let installs = meters.each_ref().map(|meters| {
                    s.spawn(|| {
                        barrier.wait();
                        install(meters, &tracers, &loggers)
                    })
                });
                installs.into_iter().map(|install| install.join().unwrap()).collect()
            });
            let reporting = meters.iter().filter(|meters| meters.reports_static_counters()).count();
            assert!(reporting <= 1, "{reporting} providers report the static counters");
            sets.into_iter().for_each(uninstall);
        }
    }
}
