//! The W3C Baggage propagator: the `baggage` header in and out of carriers.

use super::{Baggage, Extractor, Injector};

/// Carries [`Baggage`] across processes in the W3C `baggage` header.
///
/// ```
/// use http::HeaderMap;
/// use nanotel::propagation::{Baggage, BaggagePropagator};
///
/// let mut baggage = Baggage::new();
/// baggage.insert("userId", "Amélie").unwrap();
/// let mut headers = HeaderMap::new();
/// BaggagePropagator.inject(&baggage, &mut headers);
/// assert_eq!(headers["baggage"], "userId=Am%C3%A9lie");
/// assert_eq!(BaggagePropagator.extract(&headers), baggage);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct BaggagePropagator;

impl BaggagePropagator {
    /// The `baggage` header's name.
    pub const BAGGAGE: &'static str = "baggage";

    /// Writes the `baggage` header; for an empty baggage, removes any the carrier holds instead.
    pub fn inject<I: Injector + ?Sized>(&self, baggage: &Baggage, carrier: &mut I) {
        if baggage.is_empty() {
            carrier.remove(Self::BAGGAGE);
        } else {
            carrier.set(Self::BAGGAGE, &baggage.to_header());
        }
    }

    /// Reads the baggage of every `baggage` line together (see [`Baggage::parse`]); empty when
    /// there is none. Never fails: malformed members are skipped.
    pub fn extract<E: Extractor + ?Sized>(&self, carrier: &E) -> Baggage {
        let mut baggage = Baggage::new();
        carrier.for_each_value(Self::BAGGAGE, &mut |line| baggage.add_header_line(line));
        baggage
    }
}
