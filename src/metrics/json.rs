//! The JSON view of collected metrics: OTLP/JSON (a `MetricsData` message without a resource), so
//! any OTLP tool can read it.

use crate::proto::metrics::v1::{MetricsData, ResourceMetrics, ScopeMetrics};

pub(crate) fn render(scopes: &[ScopeMetrics]) -> String {
    let data = MetricsData {
        resource_metrics: vec![ResourceMetrics { scope_metrics: scopes.to_vec(), ..Default::default() }],
    };
    serde_json::to_string(&data).unwrap_or_else(|err| {
        // Serializing plain data into a String cannot fail short of a bug; say so rather than panic.
        crate::diag::error!("metrics JSON view: {err}");
        String::from("{}")
    })
}
