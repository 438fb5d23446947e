//! Conversions between JSON and CEL values. JSON numbers become `int` when integral and in
//! range of i64, else `uint`, else `double`; CEL results map back as documented in
//! `docs/workflow-format.md` (durations as `"1.5s"`, timestamps as RFC 3339, bytes as base64).

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use base64::Engine;
use cel::Value as CelValue;
use cel::objects::{Key, Map};
use serde_json::{Number, Value};

use super::ExprError;

pub(crate) fn json_to_cel(value: &Value) -> CelValue {
    match value {
        Value::Null => CelValue::Null,
        Value::Bool(boolean) => CelValue::Bool(*boolean),
        Value::Number(number) => {
            if let Some(int) = number.as_i64() {
                CelValue::Int(int)
            } else if let Some(uint) = number.as_u64() {
                CelValue::UInt(uint)
            } else {
                CelValue::Float(number.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(text) => CelValue::String(Arc::new(text.clone())),
        Value::Array(items) => CelValue::List(Arc::new(items.iter().map(json_to_cel).collect())),
        Value::Object(map) => {
            let entries: HashMap<Key, CelValue> =
                map.iter().map(|(key, item)| (Key::String(Arc::new(key.clone())), json_to_cel(item))).collect();
            CelValue::Map(Map { map: Arc::new(entries) })
        }
    }
}

pub(crate) fn cel_to_json(value: &CelValue) -> Result<Value, ExprError> {
    Ok(match value {
        CelValue::Null => Value::Null,
        CelValue::Bool(boolean) => Value::Bool(*boolean),
        CelValue::Int(int) => Value::from(*int),
        CelValue::UInt(uint) => Value::from(*uint),
        CelValue::Float(float) => Value::Number(
            Number::from_f64(*float).ok_or_else(|| ExprError::NotJson(format!("{float} is not a finite number")))?,
        ),
        CelValue::String(text) => Value::String(text.as_str().to_owned()),
        CelValue::Bytes(bytes) => Value::String(base64::engine::general_purpose::STANDARD.encode(bytes.as_slice())),
        CelValue::List(items) => Value::Array(items.iter().map(cel_to_json).collect::<Result<_, _>>()?),
        CelValue::Map(map) => {
            let mut object = serde_json::Map::new();
            // sorted keys: CEL maps are unordered, results should be deterministic
            let mut entries: Vec<(String, &CelValue)> =
                map.map.iter().map(|(key, item)| (key_to_string(key), item)).collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            for (key, item) in entries {
                object.insert(key, cel_to_json(item)?);
            }
            Value::Object(object)
        }
        CelValue::Duration(duration) => Value::String(format_duration(duration)),
        CelValue::Timestamp(timestamp) => Value::String(timestamp.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        CelValue::Function(name, _) => return Err(ExprError::NotJson(format!("function {name}"))),
        CelValue::Opaque(_) | CelValue::Struct(_) => return Err(ExprError::NotJson("opaque value".into())),
    })
}

fn key_to_string(key: &Key) -> String {
    match key {
        Key::Int(int) => int.to_string(),
        Key::Uint(uint) => uint.to_string(),
        Key::Bool(boolean) => boolean.to_string(),
        Key::String(text) => text.as_str().to_owned(),
    }
}

/// The protobuf JSON form of a duration: seconds with an `s` suffix, e.g. `"90s"`, `"1.5s"`.
fn format_duration(duration: &chrono::Duration) -> String {
    let nanos = duration.num_nanoseconds();
    match nanos {
        Some(nanos) if nanos % 1_000_000_000 == 0 => format!("{}s", nanos / 1_000_000_000),
        Some(nanos) => {
            let text = format!("{:.9}", nanos as f64 / 1e9);
            format!("{}s", text.trim_end_matches('0'))
        }
        None => format!("{}s", duration.num_seconds()),
    }
}

pub(crate) fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
    }
}

/// Whether `value` serializes to at most `max` bytes; stops writing as soon as it is over.
pub(crate) fn json_fits(value: &Value, max: usize) -> bool {
    struct Budget {
        left: usize,
    }
    impl Write for Budget {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.left = self.left.checked_sub(bytes.len()).ok_or(std::io::ErrorKind::FileTooLarge)?;
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    serde_json::to_writer(&mut Budget { left: max }, value).is_ok()
}

/// How a value reads inside a larger string: strings as-is, `null` as nothing, the rest as
/// compact JSON.
pub(crate) fn interpolate(value: &Value, out: &mut String) {
    match value {
        Value::String(text) => out.push_str(text),
        Value::Null => {}
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_json() {
        let value = json!({"a": [1, -2, 1.5, "x", null, true, {"b": 18446744073709551615u64}]});
        assert_eq!(cel_to_json(&json_to_cel(&value)).unwrap(), value);
    }

    #[test]
    fn converts_cel_only_types() {
        let duration = CelValue::Duration(chrono::Duration::milliseconds(1500));
        assert_eq!(cel_to_json(&duration).unwrap(), json!("1.5s"));
        assert_eq!(cel_to_json(&CelValue::Bytes(Arc::new(b"hi".to_vec()))).unwrap(), json!("aGk="));
        assert!(cel_to_json(&CelValue::Float(f64::NAN)).is_err());
    }

    #[test]
    fn size_budget_stops_early() {
        let value = json!({"text": "x".repeat(100)});
        assert!(json_fits(&value, 200));
        assert!(!json_fits(&value, 50));
    }
}
