//! What identifies an instrument: kind, name, unit and description, with the specification's
//! checks (OTLP-NOTES §6.8), and the temporality each kind gets (§6.2).

use std::fmt;

/// The seven kinds of instrument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InstrumentKind {
    /// A monotonic sum of increments.
    Counter,
    /// A sum of increments of either sign.
    UpDownCounter,
    /// The last value set (synchronous).
    Gauge,
    /// A distribution of values.
    Histogram,
    /// A monotonic total reported by a callback.
    ObservableCounter,
    /// A total of either sign reported by a callback.
    ObservableUpDownCounter,
    /// A current value reported by a callback.
    ObservableGauge,
}

impl InstrumentKind {
    /// Whether every measurement of this kind is at least zero (counters, histograms): a
    /// histogram of another kind's measurements reports no sum, as the specification advises for
    /// values that may be negative.
    pub(crate) fn never_negative(self) -> bool {
        matches!(self, InstrumentKind::Counter | InstrumentKind::Histogram | InstrumentKind::ObservableCounter)
    }
}

/// How sums and histograms are reported: since the start, or since the previous collection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Temporality {
    /// Totals since each series began.
    Cumulative,
    /// Changes since the previous collection.
    Delta,
}

impl Temporality {
    pub(crate) fn to_proto(self) -> i32 {
        use crate::proto::metrics::v1::AggregationTemporality as Otlp;
        match self {
            Temporality::Cumulative => Otlp::Cumulative as i32,
            Temporality::Delta => Otlp::Delta as i32,
        }
    }
}

/// Which temporality each instrument kind gets, as
/// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` chooses it.
///
/// ```
/// use nanotel::metrics::{InstrumentKind, Temporality, TemporalityPreference};
///
/// let low = TemporalityPreference::LowMemory;
/// assert_eq!(low.temporality(InstrumentKind::Counter), Temporality::Delta);
/// assert_eq!(low.temporality(InstrumentKind::ObservableCounter), Temporality::Cumulative);
/// assert_eq!(TemporalityPreference::Delta.temporality(InstrumentKind::UpDownCounter), Temporality::Cumulative);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TemporalityPreference {
    /// Cumulative for every kind (the default, and what Prometheus needs).
    #[default]
    Cumulative,
    /// Delta for counters, observable counters and histograms.
    Delta,
    /// Delta for synchronous counters and histograms only.
    LowMemory,
}

impl TemporalityPreference {
    /// The temporality of one instrument kind (OTLP-NOTES §6.2). Up-down counters are always
    /// cumulative, and gauges have no temporality (reported as cumulative: every series repeats).
    #[expect(
        clippy::match_same_arms,
        reason = "the arms are different cases that happen to be handled alike; merged they would read as one"
    )]
    #[must_use]
    pub fn temporality(self, kind: InstrumentKind) -> Temporality {
        use InstrumentKind::{Counter, Histogram, ObservableCounter};
        match (self, kind) {
            (TemporalityPreference::Delta, Counter | ObservableCounter | Histogram) => Temporality::Delta,
            (TemporalityPreference::LowMemory, Counter | Histogram) => Temporality::Delta,
            _ => Temporality::Cumulative,
        }
    }
}

/// Why an instrument could not be created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InstrumentError {
    /// The name breaks the specification's syntax.
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The unit is longer than 63 characters or not ASCII.
    InvalidUnit {
        /// The instrument's name.
        name: String,
        /// The unit given.
        unit: String,
    },
    /// Histogram boundaries that are not finite and strictly increasing.
    InvalidBoundaries {
        /// The instrument's name.
        name: String,
    },
}

impl fmt::Display for InstrumentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstrumentError::InvalidName { name, reason } => write!(f, "invalid instrument name {name:?}: {reason}"),
            InstrumentError::InvalidUnit { name, unit } => {
                write!(f, "invalid unit {unit:?} for instrument {name:?}: at most 63 ASCII characters")
            }
            InstrumentError::InvalidBoundaries { name } => {
                write!(f, "histogram {name:?}: boundaries must be finite and strictly increasing")
            }
        }
    }
}

impl std::error::Error for InstrumentError {}

/// Checks a name against `^[A-Za-z][A-Za-z0-9_.\-/]{0,254}$`.
pub(crate) fn check_name(name: &str) -> Result<(), InstrumentError> {
    let fail = |reason| Err(InstrumentError::InvalidName { name: name.to_owned(), reason });
    let Some(first) = name.chars().next() else { return fail("it is empty") };
    if !first.is_ascii_alphabetic() {
        return fail("it must start with an ASCII letter");
    }
    if name.len() > 255 {
        return fail("it is longer than 255 characters");
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/')) {
        return fail("only ASCII letters, digits, '_', '.', '-' and '/' are allowed");
    }
    Ok(())
}

/// Checks a unit: at most 63 ASCII characters.
pub(crate) fn check_unit(name: &str, unit: &str) -> Result<(), InstrumentError> {
    if unit.len() > 63 || !unit.is_ascii() {
        return Err(InstrumentError::InvalidUnit { name: name.to_owned(), unit: unit.to_owned() });
    }
    Ok(())
}

/// Checks explicit histogram boundaries: finite and strictly increasing.
pub(crate) fn check_boundaries(name: &str, bounds: &[f64]) -> Result<(), InstrumentError> {
    let valid = bounds.iter().all(|b| b.is_finite()) && bounds.windows(2).all(|w| w[0] < w[1]);
    if !valid {
        return Err(InstrumentError::InvalidBoundaries { name: name.to_owned() });
    }
    Ok(())
}

/// An instrument's identity as exported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Descriptor {
    pub kind: InstrumentKind,
    pub name: String,
    pub unit: String,
    pub description: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_specification() {
        for good in ["orders", "a", "http.server.request.duration", "a_b-c/d.E9", &"x".repeat(255)] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        for bad in ["", "9lives", "_x", "with space", "é", "a:b", &"x".repeat(256)] {
            assert!(matches!(check_name(bad), Err(InstrumentError::InvalidName { .. })), "{bad}");
        }
        assert!(check_unit("n", "{order}").is_ok());
        assert!(check_unit("n", &"s".repeat(64)).is_err());
        assert!(check_unit("n", "µs").is_err());
        assert!(check_boundaries("h", &[0.0, 1.0, 2.0]).is_ok());
        assert!(check_boundaries("h", &[]).is_ok());
        assert!(check_boundaries("h", &[1.0, 1.0]).is_err());
        assert!(check_boundaries("h", &[0.0, f64::NAN]).is_err());
    }
}
