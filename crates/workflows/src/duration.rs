//! Durations in workflow definitions: ISO-8601 (`PT5M`, `P1DT2H`, `PT0.5S`) or the shorthand
//! `5m`, `1h30m`, `500ms`, `2d`. Both forms are accepted everywhere; the shorthand is what we
//! serialize. Calendar units (years, months) are rejected: their length depends on the date.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest duration a definition may state: timers and waits beyond a year are almost
/// certainly mistakes, and a bound keeps arithmetic on deadlines far from overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

/// A strictly positive duration of at most [`MAX_DURATION`], with millisecond precision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkflowDuration(Duration);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("must be an ISO-8601 duration like PT5M or a shorthand like 5m, 1h30m, 500ms")]
    Syntax,
    #[error("calendar units (years, months) are not allowed: use days or weeks")]
    CalendarUnit,
    #[error("must be greater than zero")]
    NotPositive,
    #[error("must be at most 366 days")]
    TooLong,
}

impl WorkflowDuration {
    pub const ONE_SECOND: Self = Self(Duration::from_secs(1));
    pub const ONE_MINUTE: Self = Self(Duration::from_secs(60));

    pub fn parse(text: &str) -> Result<Self, DurationError> {
        let millis = if text.starts_with('P') { parse_iso8601(text)? } else { parse_shorthand(text)? };
        if millis <= 0.0 {
            return Err(DurationError::NotPositive);
        }
        if millis > MAX_DURATION.as_millis() as f64 {
            return Err(DurationError::TooLong);
        }
        let whole_millis = millis.round() as u64;
        if whole_millis == 0 {
            return Err(DurationError::NotPositive);
        }
        Ok(Self(Duration::from_millis(whole_millis)))
    }

    pub fn from_millis(millis: u64) -> Result<Self, DurationError> {
        let duration = Duration::from_millis(millis);
        if millis == 0 {
            return Err(DurationError::NotPositive);
        }
        if duration > MAX_DURATION {
            return Err(DurationError::TooLong);
        }
        Ok(Self(duration))
    }

    pub fn as_std(self) -> Duration {
        self.0
    }

    pub fn as_millis(self) -> u64 {
        // bounded by MAX_DURATION, far below u64::MAX milliseconds
        u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX)
    }
}

impl fmt::Display for WorkflowDuration {
    /// The canonical shorthand: largest units first, e.g. `1d2h`, `1m30s`, `250ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut remaining = self.as_millis();
        for (unit, size) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
            if remaining >= size {
                write!(f, "{}{unit}", remaining / size)?;
                remaining %= size;
            }
        }
        Ok(())
    }
}

impl Serialize for WorkflowDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for WorkflowDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// `<number><unit>` repeated, units `ms`, `s`, `m`, `h`, `d`; numbers may have a fraction.
fn parse_shorthand(text: &str) -> Result<f64, DurationError> {
    if text.is_empty() {
        return Err(DurationError::Syntax);
    }
    let mut total = 0.0;
    let mut rest = text;
    while !rest.is_empty() {
        let (number, after_number) = split_number(rest)?;
        let (unit_millis, after_unit) = if let Some(after) = after_number.strip_prefix("ms") {
            (1.0, after)
        } else if let Some(after) = after_number.strip_prefix('s') {
            (1_000.0, after)
        } else if let Some(after) = after_number.strip_prefix('m') {
            (60_000.0, after)
        } else if let Some(after) = after_number.strip_prefix('h') {
            (3_600_000.0, after)
        } else if let Some(after) = after_number.strip_prefix('d') {
            (86_400_000.0, after)
        } else {
            return Err(DurationError::Syntax);
        };
        total += number * unit_millis;
        rest = after_unit;
    }
    Ok(total)
}

/// ISO-8601 `PnWnDTnHnMnS` (ISO 8601-1:2019 §5.5.2.4). Only the last component may carry a fraction.
fn parse_iso8601(text: &str) -> Result<f64, DurationError> {
    let Some(body) = text.strip_prefix('P') else {
        return Err(DurationError::Syntax);
    };
    let (date_part, time_part) = match body.split_once('T') {
        Some((date, time)) if !time.is_empty() => (date, Some(time)),
        Some(_) => return Err(DurationError::Syntax),
        None => (body, None),
    };
    if date_part.is_empty() && time_part.is_none() {
        return Err(DurationError::Syntax);
    }
    let mut total = 0.0;
    total += parse_iso_components(date_part, &[('W', 604_800_000.0), ('D', 86_400_000.0)], true)?;
    if let Some(time) = time_part {
        total += parse_iso_components(time, &[('H', 3_600_000.0), ('M', 60_000.0), ('S', 1_000.0)], false)?;
    }
    Ok(total)
}

fn parse_iso_components(mut rest: &str, units: &[(char, f64)], date: bool) -> Result<f64, DurationError> {
    let mut total = 0.0;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let (number, after_number) = split_number(rest)?;
        let Some(designator) = after_number.chars().next() else {
            return Err(DurationError::Syntax);
        };
        if date && (designator == 'Y' || designator == 'M') {
            return Err(DurationError::CalendarUnit);
        }
        let Some(position) = units.iter().skip(next_unit).position(|(unit, _)| *unit == designator) else {
            return Err(DurationError::Syntax);
        };
        let index = next_unit + position;
        total += number * units[index].1;
        next_unit = index + 1;
        rest = &after_number[designator.len_utf8()..];
    }
    Ok(total)
}

/// A decimal number without sign or exponent at the start of `text`, and what follows it.
fn split_number(text: &str) -> Result<(f64, &str), DurationError> {
    let end = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let digits = &text[..end];
    let valid = !digits.is_empty()
        && !digits.starts_with('.')
        && !digits.ends_with('.')
        && digits.chars().filter(|c| *c == '.').count() <= 1
        && digits.len() <= 15;
    if !valid {
        return Err(DurationError::Syntax);
    }
    let number = digits.parse::<f64>().map_err(|_| DurationError::Syntax)?;
    Ok((number, &text[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(text: &str) -> u64 {
        WorkflowDuration::parse(text).unwrap().as_millis()
    }

    #[test]
    fn parses_shorthand() {
        assert_eq!(millis("500ms"), 500);
        assert_eq!(millis("5m"), 300_000);
        assert_eq!(millis("1h30m"), 5_400_000);
        assert_eq!(millis("2d"), 172_800_000);
        assert_eq!(millis("1.5s"), 1_500);
    }

    #[test]
    fn parses_iso8601() {
        assert_eq!(millis("PT5M"), 300_000);
        assert_eq!(millis("P1DT2H"), 93_600_000);
        assert_eq!(millis("PT0.5S"), 500);
        assert_eq!(millis("P1W"), 604_800_000);
        assert_eq!(millis("PT1H1M1S"), 3_661_000);
    }

    #[test]
    fn rejects_bad_durations() {
        for text in ["", "5", "m", "5x", "P", "PT", "P1M", "P1Y", "PT1S1M", "1..5s", "-5m", "5 m", ".5s", "P1DT"] {
            assert!(WorkflowDuration::parse(text).is_err(), "{text} should be rejected");
        }
        assert_eq!(WorkflowDuration::parse("0s"), Err(DurationError::NotPositive));
        assert_eq!(WorkflowDuration::parse("PT0S"), Err(DurationError::NotPositive));
        assert_eq!(WorkflowDuration::parse("367d"), Err(DurationError::TooLong));
        assert_eq!(WorkflowDuration::parse("P1Y"), Err(DurationError::CalendarUnit));
    }

    #[test]
    fn displays_canonical_shorthand() {
        assert_eq!(WorkflowDuration::parse("PT90S").unwrap().to_string(), "1m30s");
        assert_eq!(WorkflowDuration::parse("P1DT2H0.25S").unwrap().to_string(), "1d2h250ms");
        let round_trip: WorkflowDuration = serde_json::from_value(serde_json::json!("1h30m")).unwrap();
        assert_eq!(serde_json::to_value(round_trip).unwrap(), serde_json::json!("1h30m"));
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_display_round_trips(text in "\\PC{0,12}") {
            if let Ok(parsed) = WorkflowDuration::parse(&text) {
                proptest::prop_assert_eq!(WorkflowDuration::parse(&parsed.to_string()), Ok(parsed));
            }
        }
    }
}
