//! The resource: the attributes that say which service, process, host and container telemetry
//! comes from, sent once with every export request.
//!
//! [`ResourceBuilder`] puts it together from four layers, each winning over the one before:
//!
//! 1. what nanotel detects: `telemetry.sdk.*`, `service.name` = `unknown_service:<executable>`,
//!    a random `service.instance.id`, `host.name`, `host.arch`, `os.type`, `process.pid`,
//!    `process.executable.name`, `process.runtime.*` (the compiler) and `container.id`;
//! 2. `OTEL_RESOURCE_ATTRIBUTES` (see [`parse_resource_attributes`]);
//! 3. `OTEL_SERVICE_NAME`, which names the service over `OTEL_RESOURCE_ATTRIBUTES`;
//! 4. attributes set in code: the specification gives a resource the user provides priority over
//!    the environment's (until session 40 `OTEL_SERVICE_NAME` came last and won over a
//!    `service.name` set here, while `TelemetryBuilder::with_service_name` won over it).
//!
//! A pipeline built without a resource of its own uses `ResourceBuilder::new()` with the
//! pipeline's environment.

pub(crate) mod container;
pub(crate) mod env_attributes;
mod host;

use std::collections::HashMap;

use crate::attributes::KeyValue;
use crate::proto::common::v1 as otlp;
use crate::proto::resource::v1::Resource;

use env_attributes::parse_resource_attributes;

/// Builds the [`Resource`] a pipeline sends: detected attributes, then `OTEL_RESOURCE_ATTRIBUTES`,
/// then `OTEL_SERVICE_NAME`, then attributes set here (see the [module documentation](self)).
///
/// ```
/// use nanotel::attributes::KeyValue;
/// use nanotel::export::Pipeline;
/// use nanotel::resource::ResourceBuilder;
///
/// let resource = ResourceBuilder::new()
///     .with_service_name("order-gateway")
///     .with_service_version(env!("CARGO_PKG_VERSION"))
///     .with_attribute(KeyValue::new("deployment.environment.name", "production"))
///     .build();
/// let pipeline = Pipeline::builder().without_env().with_resource(resource).build().unwrap();
/// # pipeline.shutdown(std::time::Duration::from_secs(1));
/// ```
#[must_use = "a builder does nothing until built"]
#[derive(Clone, Debug, Default)]
pub struct ResourceBuilder {
    attributes: Vec<KeyValue>,
}

impl ResourceBuilder {
    /// A builder with no attributes set in code yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets an attribute, replacing a detected or environment one of the same key, and one set
    /// here before.
    pub fn with_attribute(mut self, attribute: impl Into<KeyValue>) -> Self {
        let attribute = attribute.into();
        self.attributes.retain(|earlier| earlier.key != attribute.key);
        self.attributes.push(attribute);
        self
    }

    /// Sets several attributes, as [`with_attribute`](Self::with_attribute) does each.
    pub fn with_attributes<A: Into<KeyValue>>(self, attributes: impl IntoIterator<Item = A>) -> Self {
        attributes.into_iter().fold(self, Self::with_attribute)
    }

    /// Sets `service.name`, which wins over `OTEL_SERVICE_NAME` (since session 40; it lost to it
    /// before).
    pub fn with_service_name(self, name: impl Into<String>) -> Self {
        self.with_attribute(KeyValue::new("service.name", name.into()))
    }

    /// Sets `service.version`, for example to `env!("CARGO_PKG_VERSION")` of the program.
    pub fn with_service_version(self, version: impl Into<String>) -> Self {
        self.with_attribute(KeyValue::new("service.version", version.into()))
    }

    /// The resource, reading the process environment; problems with `OTEL_RESOURCE_ATTRIBUTES`
    /// are reported once on stderr, and the entries concerned are skipped.
    #[must_use]
    pub fn build(&self) -> Resource {
        let (resource, problems) = self.build_with_env(&crate::config::process_env);
        crate::diag::config_problems(&problems);
        resource
    }

    /// The resource, reading `OTEL_*` variables through `lookup` instead of the process
    /// environment, with one message per problem found there (not logged).
    ///
    /// ```
    /// use nanotel::proto::common::v1::any_value::Value;
    /// use nanotel::resource::ResourceBuilder;
    ///
    /// let env = |name: &str| match name {
    ///     "OTEL_SERVICE_NAME" => Some("md-handler".to_owned()),
    ///     "OTEL_RESOURCE_ATTRIBUTES" => Some("service.name=ignored,desk=fx,oops".to_owned()),
    ///     _ => None,
    /// };
    /// let (resource, problems) = ResourceBuilder::new().build_with_env(&env);
    /// let text = |key: &str| {
    ///     let kv = resource.attributes.iter().find(|kv| kv.key == key)?;
    ///     match kv.value.as_ref()?.value.as_ref()? {
    ///         Value::StringValue(s) => Some(s.clone()),
    ///         _ => None,
    ///     }
    /// };
    /// assert_eq!(text("service.name").as_deref(), Some("md-handler"));
    /// assert_eq!(text("desk").as_deref(), Some("fx"));
    /// assert_eq!(text("telemetry.sdk.name").as_deref(), Some("nanotel"));
    /// assert_eq!(problems, ["OTEL_RESOURCE_ATTRIBUTES: entry 3 is skipped: it has no '=' between a key and a value"]);
    ///
    /// // What the program sets wins over the environment.
    /// let (resource, _) = ResourceBuilder::new().with_service_name("from-code").build_with_env(&env);
    /// let name = resource.attributes.iter().find(|kv| kv.key == "service.name").and_then(|kv| kv.value.clone());
    /// assert_eq!(name.and_then(|value| value.value), Some(Value::StringValue("from-code".into())));
    /// ```
    pub fn build_with_env(&self, lookup: &dyn Fn(&str) -> Option<String>) -> (Resource, Vec<String>) {
        let text = |name: &str| lookup(name).map(|value| value.trim().to_owned()).filter(|value| !value.is_empty());
        let mut attributes = Keyed::new(detected());
        let mut problems = Vec::new();
        if let Some(value) = text("OTEL_RESOURCE_ATTRIBUTES") {
            let parsed = parse_resource_attributes(&value);
            for (key, value) in parsed.attributes {
                attributes.set(string_attribute(key, value));
            }
            problems.extend(parsed.problems.into_iter().map(|problem| format!("OTEL_RESOURCE_ATTRIBUTES: {problem}")));
        }
        if let Some(service) = text("OTEL_SERVICE_NAME") {
            attributes.set(string_attribute("service.name".to_owned(), service));
        }
        // Last: what the program gives wins over the environment, as the specification asks of
        // a resource provided by the user (until session 40 `OTEL_SERVICE_NAME` won over it).
        for attribute in &self.attributes {
            attributes.set(attribute.to_proto());
        }
        (Resource { attributes: attributes.list, ..Default::default() }, problems)
    }
}

/// The attributes nanotel finds by itself, with the mandatory ones first.
fn detected() -> Vec<otlp::KeyValue> {
    let executable = host::executable_name();
    let service = match &executable {
        Some(name) => format!("unknown_service:{name}"),
        None => "unknown_service".to_owned(),
    };
    let mut attributes = vec![
        string_attribute("service.name".into(), service),
        string_attribute("service.instance.id".into(), host::instance_id().into()),
        string_attribute("telemetry.sdk.name".into(), "nanotel".into()),
        string_attribute("telemetry.sdk.language".into(), "rust".into()),
        string_attribute("telemetry.sdk.version".into(), env!("CARGO_PKG_VERSION").into()),
    ];
    let optional = [
        ("host.name", host::host_name()),
        ("host.arch", Some(host::host_arch().to_owned())),
        ("os.type", Some(host::os_type().to_owned())),
    ];
    attributes.extend(optional.into_iter().filter_map(|(key, value)| Some(string_attribute(key.into(), value?))));
    attributes.push(KeyValue::new("process.pid", i64::from(std::process::id())).to_proto());
    let optional = [
        ("process.executable.name", executable),
        ("process.runtime.name", Some("rustc".to_owned())),
        ("process.runtime.version", host::runtime_version().map(str::to_owned)),
        ("container.id", container::detect()),
    ];
    attributes.extend(optional.into_iter().filter_map(|(key, value)| Some(string_attribute(key.into(), value?))));
    attributes
}

fn string_attribute(key: String, value: String) -> otlp::KeyValue {
    KeyValue::new(key, value).to_proto()
}

/// A resource's attributes being gathered, with where each key stands (a scan per attribute was
/// quadratic in them: seconds for the 20,000 a long `OTEL_RESOURCE_ATTRIBUTES` can hold).
struct Keyed {
    list: Vec<otlp::KeyValue>,
    at: HashMap<String, usize>,
}

impl Keyed {
    fn new(list: Vec<otlp::KeyValue>) -> Keyed {
        let mut keyed = Keyed { list: Vec::with_capacity(list.len()), at: HashMap::new() };
        for attribute in list {
            keyed.set(attribute);
        }
        keyed
    }

    /// Replaces the attribute of the same key where it stands, or appends it.
    fn set(&mut self, attribute: otlp::KeyValue) {
        if let Some(&existing) = self.at.get(&attribute.key) {
            self.list[existing] = attribute;
        } else {
            self.at.insert(attribute.key.clone(), self.list.len());
            self.list.push(attribute);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use otlp::any_value::Value;
    use std::collections::HashMap;

    fn build(builder: &ResourceBuilder, vars: &[(&str, &str)]) -> (HashMap<String, Value>, Vec<String>) {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let (resource, problems) = builder.build_with_env(&|name| map.get(name).cloned());
        let keys: Vec<&str> = resource.attributes.iter().map(|kv| kv.key.as_str()).collect();
        let mut unique = keys.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), keys.len(), "a key appears twice: {keys:?}");
        let attributes = resource
            .attributes
            .into_iter()
            .map(|kv| (kv.key, kv.value.and_then(|v| v.value).expect("every attribute has a value")))
            .collect();
        (attributes, problems)
    }

    fn string(value: &str) -> Value {
        Value::StringValue(value.to_owned())
    }

    #[test]
    fn the_default_resource_names_sdk_process_and_host() {
        let (attributes, problems) = build(&ResourceBuilder::new(), &[]);
        assert!(problems.is_empty());
        let executable = host::executable_name().unwrap();
        assert_eq!(attributes["service.name"], string(&format!("unknown_service:{executable}")));
        assert_eq!(attributes["process.executable.name"], string(&executable));
        assert_eq!(attributes["telemetry.sdk.name"], string("nanotel"));
        assert_eq!(attributes["telemetry.sdk.language"], string("rust"));
        assert_eq!(attributes["telemetry.sdk.version"], string(env!("CARGO_PKG_VERSION")));
        assert_eq!(attributes["service.instance.id"], string(host::instance_id()));
        assert_eq!(attributes["process.pid"], Value::IntValue(i64::from(std::process::id())));
        assert_eq!(attributes["host.arch"], string(host::host_arch()));
        assert_eq!(attributes["os.type"], string(host::os_type()));
        assert_eq!(attributes["process.runtime.name"], string("rustc"));
        assert!(attributes.contains_key("process.runtime.version"));
        assert_eq!(attributes.contains_key("host.name"), host::host_name().is_some());
        assert_eq!(attributes.contains_key("container.id"), container::detect().is_some());
    }

    #[test]
    fn environment_attributes_override_detected_ones() {
        let (attributes, problems) = build(
            &ResourceBuilder::new(),
            &[("OTEL_RESOURCE_ATTRIBUTES", " host.name=gw-7,service.name=from-attrs,desk=rates ")],
        );
        assert!(problems.is_empty());
        assert_eq!(attributes["host.name"], string("gw-7"));
        assert_eq!(attributes["service.name"], string("from-attrs"));
        assert_eq!(attributes["desk"], string("rates"));
    }

    #[test]
    fn code_overrides_the_environment_attributes() {
        let builder = ResourceBuilder::new()
            .with_attribute(("desk", "credit"))
            .with_attributes([KeyValue::new("host.name", "named-in-code"), KeyValue::new("shard", 3)])
            .with_service_name("from-code")
            .with_service_version("2.1.0");
        let (attributes, _) = build(&builder, &[("OTEL_RESOURCE_ATTRIBUTES", "desk=rates,service.version=1")]);
        assert_eq!(attributes["desk"], string("credit"));
        assert_eq!(attributes["host.name"], string("named-in-code"));
        assert_eq!(attributes["shard"], Value::IntValue(3));
        assert_eq!(attributes["service.name"], string("from-code"));
        assert_eq!(attributes["service.version"], string("2.1.0"));
    }

    /// `OTEL_SERVICE_NAME` wins over `OTEL_RESOURCE_ATTRIBUTES`; a name set in code wins over
    /// both (since session 40: the specification's priority of a resource the user provides).
    #[test]
    fn otel_service_name_wins_over_the_attributes_variable_and_code_over_both() {
        let vars = [("OTEL_SERVICE_NAME", " pricer "), ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs")];
        let (attributes, _) = build(&ResourceBuilder::new(), &vars);
        assert_eq!(attributes["service.name"], string("pricer"));
        let (attributes, _) = build(&ResourceBuilder::new().with_service_name("from-code"), &vars);
        assert_eq!(attributes["service.name"], string("from-code"));
    }

    #[test]
    fn empty_variables_count_as_unset() {
        let (attributes, problems) =
            build(&ResourceBuilder::new(), &[("OTEL_SERVICE_NAME", "  "), ("OTEL_RESOURCE_ATTRIBUTES", "")]);
        assert!(problems.is_empty());
        let Value::StringValue(service) = &attributes["service.name"] else { panic!("not a string") };
        assert!(service.starts_with("unknown_service:"), "{service}");
    }

    #[test]
    fn malformed_entries_are_reported_naming_the_variable() {
        let (attributes, problems) =
            build(&ResourceBuilder::new(), &[("OTEL_RESOURCE_ATTRIBUTES", "a=1,b=%G0,=x,c=3")]);
        assert_eq!(attributes["a"], string("1"));
        assert_eq!(attributes["c"], string("3"));
        assert!(!attributes.contains_key("b"));
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems.iter().all(|p| p.starts_with("OTEL_RESOURCE_ATTRIBUTES: entry ")), "{problems:?}");
        assert!(problems[0].contains("entry 2 is skipped") && problems[1].contains("entry 3 is skipped"));
    }
}
