//! Key figures as CloudWatch metrics, in the Embedded Metric Format (EMF): one JSON line on
//! stdout per figure, which CloudWatch Logs turns into a metric in the `Platefull`
//! namespace (Lambda's and the gateway's stdout both go to CloudWatch Logs). No API calls,
//! no batching, nothing to flush.
//!
//! ```no_run
//! use platefull::metrics;
//! metrics::count("RepliesSent", 1.0, &[("Service", "bot"), ("Line", "cloud")]);
//! metrics::millis("LlmLatency", 840.0, &[("Service", "bot")]);
//! metrics::gauge("SlotsRunning", 12.0, &[("Service", "gateway")]);
//! ```
//!
//! Lines are written only where CloudWatch reads them: in a Lambda function
//! (`AWS_LAMBDA_FUNCTION_NAME`) or an ECS task (`ECS_CONTAINER_METADATA_URI_V4`), both set
//! by AWS. Elsewhere (the local stack, tests) a figure is a `debug` log event instead, so
//! the terminal stays readable.

use std::io::Write;

use serde_json::{json, Map, Value};

/// The CloudWatch namespace of every Platefull metric.
pub const NAMESPACE: &str = "Platefull";

/// The CloudWatch units used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    /// A level rather than an amount (running slots).
    None,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::None => "None",
        }
    }
}

/// How many of something happened (replies sent, messages received).
pub fn count(name: &str, value: f64, dimensions: &[(&str, &str)]) {
    emit(name, Unit::Count, value, dimensions)
}

/// How long something took, in milliseconds (LLM latency).
pub fn millis(name: &str, value: f64, dimensions: &[(&str, &str)]) {
    emit(name, Unit::Milliseconds, value, dimensions)
}

/// A level at this moment (the slots a gateway runs).
pub fn gauge(name: &str, value: f64, dimensions: &[(&str, &str)]) {
    emit(name, Unit::None, value, dimensions)
}

/// Writes one figure: an EMF line on stdout in AWS, a debug log event elsewhere.
pub fn emit(name: &str, unit: Unit, value: f64, dimensions: &[(&str, &str)]) {
    let Some(line) = line(name, unit, value, dimensions, crate::ids::now_ms() as u64) else {
        tracing::warn!(
            metric = name,
            "metric not recorded: invalid name, value or dimensions"
        );
        return;
    };
    if in_aws() {
        // One write under the lock, so the line never interleaves with log lines.
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(format!("{line}\n").as_bytes());
        let _ = out.flush();
    } else {
        tracing::debug!(metric = name, unit = unit.as_str(), value, "metric");
    }
}

fn in_aws() -> bool {
    ["AWS_LAMBDA_FUNCTION_NAME", "ECS_CONTAINER_METADATA_URI_V4"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}

/// The EMF line of one figure, or `None` when CloudWatch would reject it: an empty name, a
/// value that is not finite, more than 30 dimensions, or a dimension that is empty,
/// repeated, named `_aws` or named like the metric.
pub fn line(
    name: &str,
    unit: Unit,
    value: f64,
    dimensions: &[(&str, &str)],
    timestamp_ms: u64,
) -> Option<String> {
    if name.is_empty() || name == "_aws" || !value.is_finite() || dimensions.len() > 30 {
        return None;
    }
    let mut root = Map::new();
    let mut keys = Vec::with_capacity(dimensions.len());
    for (key, val) in dimensions {
        if key.is_empty() || val.is_empty() || *key == "_aws" || *key == name {
            return None;
        }
        if root.insert((*key).to_owned(), json!(val)).is_some() {
            return None;
        }
        keys.push(*key);
    }
    root.insert(name.to_owned(), json!(value));
    root.insert(
        "_aws".to_owned(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [keys],
                "Metrics": [{"Name": name, "Unit": unit.as_str()}],
            }],
        }),
    );
    Some(Value::Object(root).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_figure_is_one_emf_json_line() {
        let text = line(
            "RepliesSent",
            Unit::Count,
            1.0,
            &[("Function", "bot-reply"), ("Store", "st_1")],
            1_795_892_400_000,
        )
        .unwrap();
        assert!(!text.contains('\n'));
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], 1_795_892_400_000u64);
        let cw = &v["_aws"]["CloudWatchMetrics"];
        assert_eq!(cw.as_array().unwrap().len(), 1);
        assert_eq!(cw[0]["Namespace"], "Platefull");
        assert_eq!(cw[0]["Dimensions"], json!([["Function", "Store"]]));
        assert_eq!(
            cw[0]["Metrics"],
            json!([{"Name": "RepliesSent", "Unit": "Count"}])
        );
        // The value and every dimension are members of the root, as EMF requires.
        assert_eq!(v["RepliesSent"], 1.0);
        assert_eq!(v["Function"], "bot-reply");
        assert_eq!(v["Store"], "st_1");
        assert_eq!(v.as_object().unwrap().len(), 4);
    }

    #[test]
    fn units_and_no_dimensions() {
        let v: Value =
            serde_json::from_str(&line("LlmLatency", Unit::Milliseconds, 812.5, &[], 1).unwrap())
                .unwrap();
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"],
            "Milliseconds"
        );
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([[]]));
        assert_eq!(v["LlmLatency"], 812.5);
        let v: Value =
            serde_json::from_str(&line("SlotsConnected", Unit::None, 3.0, &[], 1).unwrap())
                .unwrap();
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"],
            "None"
        );
    }

    #[test]
    fn figures_cloudwatch_would_reject_are_not_written() {
        assert!(line("", Unit::Count, 1.0, &[], 1).is_none());
        assert!(line("X", Unit::Count, f64::NAN, &[], 1).is_none());
        assert!(line("X", Unit::Count, f64::INFINITY, &[], 1).is_none());
        assert!(line("X", Unit::Count, 1.0, &[("X", "a")], 1).is_none());
        assert!(line("X", Unit::Count, 1.0, &[("A", "a"), ("A", "b")], 1).is_none());
        assert!(line("X", Unit::Count, 1.0, &[("_aws", "a")], 1).is_none());
        assert!(line("X", Unit::Count, 1.0, &[("A", "")], 1).is_none());
        let many: Vec<(String, String)> = (0..31).map(|i| (format!("D{i}"), "v".into())).collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert!(line("X", Unit::Count, 1.0, &many, 1).is_none());
        assert!(line("X", Unit::Count, 1.0, &many[..30], 1).is_some());
    }
}
