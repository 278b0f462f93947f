//! Reading batches as they arrive (HTTP body, MQTT payload, file): CSV lines or JSON, parsed into
//! raw readings with every bad line reported (line, field, value, reason).

use crate::time::parse_timestamp;
use serde::Serialize;

/// A reading before it is checked against the meter registry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RawReading {
    pub meter: String,
    pub ts_ms: i64,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct BatchError {
    /// 1-based line of a CSV batch, or 1-based position in a JSON array.
    pub line: usize,
    pub field: String,
    pub value: String,
    pub reason: String,
}

impl std::fmt::Display for BatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {} {:?}: {}", self.line, self.field, self.value, self.reason)
    }
}

fn parse_value(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err("expected a finite number with '.' as decimal point".into()),
    }
}

/// CSV lines `meter,timestamp,value` (kWh for counters, kW for power meters). A first line
/// starting with `meter` is a header; empty lines and lines starting with `#` are skipped.
pub fn parse_csv_lines(text: &str) -> (Vec<RawReading>, Vec<BatchError>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = line.trim_end_matches('\r').trim();
        if line.is_empty()
            || line.starts_with('#')
            || (i == 0 && line.trim_start_matches('\u{feff}').starts_with("meter"))
        {
            continue;
        }
        let mut fields = line.split(',');
        let (Some(meter), Some(ts), Some(value), None) = (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            errors.push(BatchError {
                line: line_no,
                field: "line".into(),
                value: line.into(),
                reason: "expected three fields: meter,timestamp,value".into(),
            });
            continue;
        };
        let meter = meter.trim();
        let mut ok = true;
        if meter.is_empty() {
            errors.push(BatchError {
                line: line_no,
                field: "meter".into(),
                value: String::new(),
                reason: "empty meter code".into(),
            });
            ok = false;
        }
        let ts_ms = parse_timestamp(ts).map_err(|reason| {
            errors.push(BatchError { line: line_no, field: "timestamp".into(), value: ts.trim().into(), reason });
        });
        let value_parsed = parse_value(value).map_err(|reason| {
            errors.push(BatchError { line: line_no, field: "value".into(), value: value.trim().into(), reason });
        });
        if let (true, Ok(ts_ms), Ok(value)) = (ok, ts_ms, value_parsed) {
            out.push(RawReading { meter: meter.to_string(), ts_ms, value });
        }
    }
    (out, errors)
}

/// JSON: an array of `{"meter": "...", "ts": 1714492800000 | "2024-05-01T00:00:00+08:00", "value": 12.5}`,
/// or an object `{"readings": [...]}`.
pub fn parse_json(text: &str) -> (Vec<RawReading>, Vec<BatchError>) {
    let doc: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return (
                Vec::new(),
                vec![BatchError {
                    line: e.line(),
                    field: "body".into(),
                    value: String::new(),
                    reason: format!("invalid JSON: {e}"),
                }],
            )
        }
    };
    let items = match &doc {
        serde_json::Value::Array(a) => a,
        serde_json::Value::Object(o) => match o.get("readings") {
            Some(serde_json::Value::Array(a)) => a,
            _ => {
                return (
                    Vec::new(),
                    vec![BatchError {
                        line: 1,
                        field: "readings".into(),
                        value: String::new(),
                        reason: "expected an array of readings or an object with a \"readings\" array".into(),
                    }],
                )
            }
        },
        _ => {
            return (
                Vec::new(),
                vec![BatchError {
                    line: 1,
                    field: "body".into(),
                    value: String::new(),
                    reason: "expected an array".into(),
                }],
            )
        }
    };
    let mut out = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let line = i + 1;
        let mut err = |field: &str, value: String, reason: &str| {
            errors.push(BatchError { line, field: field.into(), value, reason: reason.into() })
        };
        let meter = match item.get("meter") {
            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
            other => {
                err(
                    "meter",
                    other.map(|v| v.to_string()).unwrap_or_default(),
                    "expected a non-empty meter code string",
                );
                None
            }
        };
        let ts = match item.get("ts") {
            Some(serde_json::Value::Number(n)) => match n.as_i64() {
                Some(ms) => Some(ms),
                None => {
                    err("ts", n.to_string(), "epoch milliseconds must be an integer");
                    None
                }
            },
            Some(serde_json::Value::String(s)) => match parse_timestamp(s) {
                Ok(ms) => Some(ms),
                Err(reason) => {
                    err("ts", s.clone(), &reason);
                    None
                }
            },
            other => {
                err(
                    "ts",
                    other.map(|v| v.to_string()).unwrap_or_default(),
                    "expected epoch milliseconds or an RFC 3339 string",
                );
                None
            }
        };
        let value = match item.get("value") {
            Some(serde_json::Value::Number(n)) => n.as_f64(),
            Some(serde_json::Value::String(s)) => parse_value(s).ok(),
            _ => None,
        };
        if value.is_none() {
            err("value", item.get("value").map(|v| v.to_string()).unwrap_or_default(), "expected a finite number");
        }
        if let (Some(meter), Some(ts_ms), Some(value)) = (meter, ts, value) {
            out.push(RawReading { meter, ts_ms, value });
        }
    }
    (out, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_lines_with_every_error() {
        let text = "meter,ts,value\nM1,1714492800000,12.5\n\nM2,2024-05-01T00:00:00Z,abc\nM3,yesterday,1\nM4,1,2,3\n# note\n,5,1\n";
        let (ok, errs) = parse_csv_lines(text);
        assert_eq!(ok, vec![RawReading { meter: "M1".into(), ts_ms: 1_714_492_800_000, value: 12.5 }]);
        let got: Vec<(usize, &str)> = errs.iter().map(|e| (e.line, e.field.as_str())).collect();
        assert_eq!(got, vec![(4, "value"), (5, "timestamp"), (6, "line"), (8, "meter")]);
    }

    #[test]
    fn json_forms() {
        let (ok, errs) = parse_json(
            r#"{"readings":[{"meter":"M1","ts":"2024-05-01T08:00:00+08:00","value":3},{"meter":"M2","ts":1.5,"value":1},{"ts":5}]}"#,
        );
        assert_eq!(ok, vec![RawReading { meter: "M1".into(), ts_ms: 1_714_521_600_000, value: 3.0 }]);
        let got: Vec<(usize, &str)> = errs.iter().map(|e| (e.line, e.field.as_str())).collect();
        assert_eq!(got, vec![(2, "ts"), (3, "meter"), (3, "value")]);
        assert_eq!(parse_json("[1,").1[0].field, "body");
    }
}
