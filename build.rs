//! Compiles the OTLP schema in `proto/` into Rust types with prost.
//!
//! protox parses the `.proto` files in pure Rust, so no system `protoc` is needed. The descriptors it
//! returns are also walked here to give every OpenTelemetry message the serde attributes of the
//! OTLP/JSON mapping (lowerCamelCase keys, 64-bit integers as strings, ids as hex, enums as
//! integers, defaults omitted). Deriving the mapping from the schema keeps it complete as the schema
//! grows; a hand-written list would silently miss a new field.
//!
//! It also records the compiler's version for the `process.runtime.version` resource attribute:
//! Rust has no runtime to ask at run time, and the compiler that built the program is what the
//! attribute can usefully name.

use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FileDescriptorSet};

const PROTO_FILES: &[&str] = &[
    "opentelemetry/proto/common/v1/common.proto",
    "opentelemetry/proto/resource/v1/resource.proto",
    "opentelemetry/proto/trace/v1/trace.proto",
    "opentelemetry/proto/metrics/v1/metrics.proto",
    "opentelemetry/proto/logs/v1/logs.proto",
    "opentelemetry/proto/collector/trace/v1/trace_service.proto",
    "opentelemetry/proto/collector/metrics/v1/metrics_service.proto",
    "opentelemetry/proto/collector/logs/v1/logs_service.proto",
    "google/rpc/status.proto",
];

/// Where the serde helper modules live in the crate (see `src/proto/json.rs`).
const HELPERS: &str = "crate::proto::json";

fn main() {
    println!("cargo:rerun-if-changed=proto");
    record_compiler_version();
    let descriptors = match protox::compile(PROTO_FILES, ["proto"]) {
        Ok(set) => set,
        Err(err) => panic!("the OTLP schema in proto/ does not compile: {err:?}"),
    };

    let mut config = prost_build::Config::new();
    add_json_attributes(&mut config, &descriptors);
    if let Err(err) = config.compile_fds(descriptors) {
        panic!("prost-build failed on the OTLP schema: {err}");
    }
}

/// Sets `NANOTEL_RUSTC_VERSION` (for example `1.85.0`) for the crate's build; left unset when
/// `rustc --version` cannot be run, and the attribute is then omitted.
fn record_compiler_version() {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let Ok(output) = std::process::Command::new(rustc).arg("--version").output() else { return };
    if !output.status.success() {
        return;
    }
    // The output reads "rustc 1.85.0 (4d91de4e4 2025-02-17)".
    if let Some(version) = String::from_utf8_lossy(&output.stdout).split_whitespace().nth(1) {
        println!("cargo:rustc-env=NANOTEL_RUSTC_VERSION={version}");
    }
}

fn add_json_attributes(config: &mut prost_build::Config, set: &FileDescriptorSet) {
    for file in &set.file {
        let package = file.package();
        if !package.starts_with("opentelemetry.") {
            continue;
        }
        for message in &file.message_type {
            // Paths without a leading dot match by suffix, so each names exactly one message or
            // field; a dotted path would also match everything nested under it.
            add_message_attributes(config, package, message);
        }
    }
}

fn add_message_attributes(config: &mut prost_build::Config, parent: &str, message: &DescriptorProto) {
    let path = format!("{parent}.{}", message.name());
    config.message_attribute(
        &path,
        "#[derive(serde::Serialize, serde::Deserialize)] #[serde(rename_all = \"camelCase\", default)]",
    );
    for oneof in &message.oneof_decl {
        let oneof_path = format!("{path}.{}", oneof.name());
        config.enum_attribute(
            &oneof_path,
            "#[derive(serde::Serialize, serde::Deserialize)] #[serde(rename_all = \"camelCase\")]",
        );
        config.field_attribute(&oneof_path, "#[serde(flatten)]");
    }
    for field in &message.field {
        let repeated = field.label() == Label::Repeated;
        let helper = json_helper(field.r#type(), field.name(), repeated);
        match field.oneof_index {
            // A oneof member is a variant of the oneof's enum: its path runs through the oneof.
            Some(index) if !field.proto3_optional() => {
                let oneof = message.oneof_decl[index as usize].name();
                if let Some(helper) = helper {
                    config.field_attribute(
                        format!("{path}.{oneof}.{}", field.name()),
                        format!("#[serde(with = \"{HELPERS}::{helper}\")]"),
                    );
                }
            }
            _ => {
                let field_path = format!("{path}.{}", field.name());
                let helper = if field.proto3_optional() {
                    helper.map(|h| format!("{h}_opt"))
                } else {
                    helper.map(str::to_owned)
                };
                if let Some(helper) = helper {
                    config.field_attribute(&field_path, format!("#[serde(with = \"{HELPERS}::{helper}\")]"));
                }
                config.field_attribute(&field_path, skip_if_default(field.r#type(), repeated, field.proto3_optional()));
            }
        }
    }
    for nested in &message.nested_type {
        add_message_attributes(config, &path, nested);
    }
}

/// The helper module that maps a field's Rust type to its OTLP/JSON form, when serde's own would
/// be wrong.
fn json_helper(kind: Type, name: &str, repeated: bool) -> Option<&'static str> {
    let scalar = match kind {
        Type::Fixed64 | Type::Uint64 => "u64_string",
        Type::Int64 | Type::Sfixed64 | Type::Sint64 => "i64_string",
        Type::Double => "f64_number",
        // Trace and span ids are hex in OTLP/JSON; other bytes use proto3's base64.
        Type::Bytes if name.ends_with("_id") => "hex_bytes",
        Type::Bytes => "base64_bytes",
        _ => return None,
    };
    if !repeated {
        return Some(scalar);
    }
    match scalar {
        "u64_string" => Some("u64_string_vec"),
        "f64_number" => Some("f64_number_vec"),
        _ => None,
    }
}

/// proto3 JSON leaves out fields at their default value.
fn skip_if_default(kind: Type, repeated: bool, optional: bool) -> String {
    let test = if repeated {
        "Vec::is_empty"
    } else if optional || kind == Type::Message {
        "Option::is_none"
    } else {
        "crate::proto::json::is_default"
    };
    format!("#[serde(skip_serializing_if = \"{test}\")]")
}
