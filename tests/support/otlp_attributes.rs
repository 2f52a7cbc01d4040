//! OTLP attributes as the tests compare them: one attribute as `key=value` text, and a string
//! attribute's value by key.

// Each test binary that includes this module uses a different part of it.
#![allow(dead_code)]

use nanotel::proto::common::v1::any_value::Value;
use nanotel::proto::common::v1::KeyValue;

/// `key=value` for a string, integer, double or boolean attribute; any other value as its
/// `Debug` text, so that a comparison shows it rather than a panic hiding the rest.
pub(crate) fn key_value_text(attribute: &KeyValue) -> String {
    let value = match attribute.value.as_ref().and_then(|value| value.value.as_ref()) {
        Some(Value::StringValue(text)) => text.clone(),
        Some(Value::IntValue(number)) => number.to_string(),
        Some(Value::DoubleValue(number)) => number.to_string(),
        Some(Value::BoolValue(flag)) => flag.to_string(),
        other => format!("{other:?}"),
    };
    format!("{}={value}", attribute.key)
}

/// The value of the string attribute `key`; `None` when there is none, or it is of another type.
pub(crate) fn string_value<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attributes.iter().find(|attribute| attribute.key == key)?.value.as_ref()?.value.as_ref()? {
        Value::StringValue(text) => Some(text),
        _ => None,
    }
}
