//! Cron schedules with time zones: a pattern parsed by `croner` (5 fields, or 6 with seconds
//! first) evaluated in an IANA zone from `chrono-tz`, so "every day at 9:00 Europe/Paris" follows
//! daylight-saving changes.

use std::str::FromStr as _;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;

#[derive(Clone, Debug)]
pub struct CronSchedule {
    cron: Cron,
    zone: Tz,
}

impl CronSchedule {
    /// Parses `pattern` in `timezone` (default UTC). Errors are sentences for a field error.
    pub fn parse(pattern: &str, timezone: Option<&str>) -> Result<Self, ScheduleError> {
        let cron = Cron::from_str(pattern).map_err(|e| ScheduleError::Pattern(e.to_string()))?;
        let zone = match timezone {
            None => Tz::UTC,
            Some(name) => Tz::from_str(name).map_err(|_| ScheduleError::TimeZone(name.to_owned()))?,
        };
        Ok(Self { cron, zone })
    }

    /// The first tick strictly after `after`; `None` when the pattern never matches again.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&self.zone);
        self.cron.find_next_occurrence(&local, false).ok().map(|next| next.with_timezone(&Utc))
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ScheduleError {
    #[error("invalid cron pattern: {0}")]
    Pattern(String),
    #[error("unknown time zone {0:?} (use an IANA name such as Europe/Paris)")]
    TimeZone(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    #[test]
    fn five_and_six_field_patterns() {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 10, 0, 30).unwrap();
        let every_minute = CronSchedule::parse("* * * * *", None).unwrap();
        assert_eq!(every_minute.next_after(start), Some(Utc.with_ymd_and_hms(2026, 1, 1, 10, 1, 0).unwrap()));
        let every_second = CronSchedule::parse("* * * * * *", None).unwrap();
        assert_eq!(every_second.next_after(start), Some(Utc.with_ymd_and_hms(2026, 1, 1, 10, 0, 31).unwrap()));
    }

    #[test]
    fn time_zones_follow_daylight_saving() {
        let nine_paris = CronSchedule::parse("0 9 * * *", Some("Europe/Paris")).unwrap();
        let winter = Utc.with_ymd_and_hms(2026, 1, 15, 0, 0, 0).unwrap();
        assert_eq!(nine_paris.next_after(winter), Some(Utc.with_ymd_and_hms(2026, 1, 15, 8, 0, 0).unwrap()));
        let summer = Utc.with_ymd_and_hms(2026, 7, 15, 0, 0, 0).unwrap();
        assert_eq!(nine_paris.next_after(summer), Some(Utc.with_ymd_and_hms(2026, 7, 15, 7, 0, 0).unwrap()));
    }

    #[test]
    fn bad_patterns_and_zones_are_errors() {
        assert!(matches!(CronSchedule::parse("61 * * * *", None), Err(ScheduleError::Pattern(_))));
        assert!(matches!(CronSchedule::parse("* * *", None), Err(ScheduleError::Pattern(_))));
        assert_eq!(
            CronSchedule::parse("* * * * *", Some("Mars/Olympus")).unwrap_err(),
            ScheduleError::TimeZone("Mars/Olympus".into())
        );
    }
}
