//! The serde model of a definition's `flow`: how many runs of the workflow run at once, per
//! concurrency key (an expression over the inputs), and how fast runs of one key may start.
//! Admission is done by [`crate::triggers::flow`].

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FlowControl {
    /// Most runs of this workflow running at once; the others wait as `pending`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// CEL expression over `inputs` giving a run's concurrency key (e.g. `inputs.rooftop`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Most running runs per key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_concurrency: Option<u32>,
    /// Most runs started per key per period: `"<count>/<s|min|h|d>"`, e.g. `"10/min"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_rate: Option<String>,
}

/// `"10/min"` → (10, one minute). `None` when malformed.
pub fn parse_rate(rate: &str) -> Option<(u32, chrono::Duration)> {
    let (count, unit) = rate.split_once('/')?;
    let count: u32 = count.parse().ok().filter(|c| *c > 0)?;
    let window = match unit {
        "s" => chrono::Duration::seconds(1),
        "min" => chrono::Duration::minutes(1),
        "h" => chrono::Duration::hours(1),
        "d" => chrono::Duration::days(1),
        _ => return None,
    };
    Some((count, window))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!(parse_rate("10/min"), Some((10, chrono::Duration::minutes(1))));
        assert_eq!(parse_rate("1/s"), Some((1, chrono::Duration::seconds(1))));
        for bad in ["0/min", "10/week", "ten/min", "10", "/min"] {
            assert_eq!(parse_rate(bad), None, "{bad}");
        }
    }
}
