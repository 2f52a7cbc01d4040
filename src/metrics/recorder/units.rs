//! `metrics` units as the UCUM codes OTLP carries (and nanotel's Prometheus names read).

use metrics::Unit;

/// The UCUM code of a `metrics` unit; no unit is the empty string.
pub(super) fn ucum(unit: Option<Unit>) -> String {
    let code = match unit {
        None => "",
        Some(Unit::Count) => "1",
        Some(Unit::Percent) => "%",
        Some(Unit::Seconds) => "s",
        Some(Unit::Milliseconds) => "ms",
        Some(Unit::Microseconds) => "us",
        Some(Unit::Nanoseconds) => "ns",
        Some(Unit::Tebibytes) => "TiBy",
        Some(Unit::Gibibytes) => "GiBy",
        Some(Unit::Mebibytes) => "MiBy",
        Some(Unit::Kibibytes) => "KiBy",
        Some(Unit::Bytes) => "By",
        Some(Unit::TerabitsPerSecond) => "Tbit/s",
        Some(Unit::GigabitsPerSecond) => "Gbit/s",
        Some(Unit::MegabitsPerSecond) => "Mbit/s",
        Some(Unit::KilobitsPerSecond) => "kbit/s",
        Some(Unit::BitsPerSecond) => "bit/s",
        Some(Unit::CountPerSecond) => "1/s",
    };
    code.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_has_a_valid_code() {
        let all = [
            Unit::Count,
            Unit::Percent,
            Unit::Seconds,
            Unit::Milliseconds,
            Unit::Microseconds,
            Unit::Nanoseconds,
            Unit::Tebibytes,
            Unit::Gibibytes,
            Unit::Mebibytes,
            Unit::Kibibytes,
            Unit::Bytes,
            Unit::TerabitsPerSecond,
            Unit::GigabitsPerSecond,
            Unit::MegabitsPerSecond,
            Unit::KilobitsPerSecond,
            Unit::BitsPerSecond,
            Unit::CountPerSecond,
        ];
        for unit in all {
            let code = ucum(Some(unit));
            assert!(!code.is_empty() && crate::metrics::descriptor::check_unit("n", &code).is_ok(), "{unit:?}");
        }
        assert_eq!(ucum(None), "");
        assert_eq!(ucum(Some(Unit::Seconds)), "s");
    }
}
