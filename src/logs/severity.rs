//! Severity: OTLP's `SeverityNumber`, with the data model's short names as the default text.

use std::fmt;

/// How severe a log record is, from OTLP's `SeverityNumber` (1 to 24): six ranges of four, each
/// finer step within a range more severe than the one before. Comparisons follow the numbers.
///
/// ```
/// use nanotel::logs::Severity;
///
/// assert!(Severity::Warn > Severity::Info4);
/// assert_eq!((Severity::Error.number(), Severity::Error.name()), (17, "ERROR"));
/// assert_eq!(Severity::from_number(10), Some(Severity::Info2));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
#[allow(missing_docs)] // The variants are the data model's names; the type's doc says what they mean.
pub enum Severity {
    Trace = 1,
    Trace2,
    Trace3,
    Trace4,
    Debug,
    Debug2,
    Debug3,
    Debug4,
    Info,
    Info2,
    Info3,
    Info4,
    Warn,
    Warn2,
    Warn3,
    Warn4,
    Error,
    Error2,
    Error3,
    Error4,
    Fatal,
    Fatal2,
    Fatal3,
    Fatal4,
}

/// Every severity, in number order (index = number − 1).
const ALL: [Severity; 24] = {
    use Severity::{
        Debug, Debug2, Debug3, Debug4, Error, Error2, Error3, Error4, Fatal, Fatal2, Fatal3, Fatal4, Info, Info2,
        Info3, Info4, Trace, Trace2, Trace3, Trace4, Warn, Warn2, Warn3, Warn4,
    };
    [
        Trace, Trace2, Trace3, Trace4, Debug, Debug2, Debug3, Debug4, Info, Info2, Info3, Info4, Warn, Warn2, Warn3,
        Warn4, Error, Error2, Error3, Error4, Fatal, Fatal2, Fatal3, Fatal4,
    ]
};

/// The data model's short names, in number order.
const NAMES: [&str; 24] = [
    "TRACE", "TRACE2", "TRACE3", "TRACE4", "DEBUG", "DEBUG2", "DEBUG3", "DEBUG4", "INFO", "INFO2", "INFO3", "INFO4",
    "WARN", "WARN2", "WARN3", "WARN4", "ERROR", "ERROR2", "ERROR3", "ERROR4", "FATAL", "FATAL2", "FATAL3", "FATAL4",
];

impl Severity {
    /// The OTLP `SeverityNumber` (1 to 24).
    #[must_use]
    pub const fn number(self) -> i32 {
        self as i32
    }

    /// The severity with this number; `None` outside 1 to 24.
    #[must_use]
    pub fn from_number(number: i32) -> Option<Severity> {
        let index = usize::try_from(number).ok()?.checked_sub(1)?;
        ALL.get(index).copied()
    }

    /// The data model's short name (`"INFO"`, `"WARN2"`), sent as the severity text unless a
    /// record sets its own.
    #[must_use]
    pub const fn name(self) -> &'static str {
        NAMES[self as usize - 1]
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names_match_the_data_model() {
        for (index, severity) in ALL.iter().enumerate() {
            assert_eq!(severity.number(), index as i32 + 1);
            assert_eq!(Severity::from_number(severity.number()), Some(*severity));
        }
        assert_eq!(Severity::from_number(0), None);
        assert_eq!(Severity::from_number(25), None);
        assert_eq!(Severity::from_number(-1), None);
        let firsts: Vec<(i32, &str)> =
            [Severity::Trace, Severity::Debug, Severity::Info, Severity::Warn, Severity::Error, Severity::Fatal]
                .iter()
                .map(|s| (s.number(), s.name()))
                .collect();
        assert_eq!(firsts, [(1, "TRACE"), (5, "DEBUG"), (9, "INFO"), (13, "WARN"), (17, "ERROR"), (21, "FATAL")]);
        assert_eq!(Severity::Fatal4.to_string(), "FATAL4");
    }
}
