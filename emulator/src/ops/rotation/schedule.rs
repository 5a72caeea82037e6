//! RotationRules: validation of AutomaticallyAfterDays / Duration / ScheduleExpression (`rate(...)` and AWS's
//! six-field `cron(...)`) and the computation of NextRotationDate from the last rotation.

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};
use serde::Serialize;
use serde_json::Value;

/// A validated rotation schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// `AutomaticallyAfterDays`: N days after the last rotation.
    AfterDays(i64),
    /// `rate(N hours)`: every N hours (window starts on the hour).
    RateHours(i64),
    /// `rate(N days)`: every N days (window starts at midnight UTC).
    RateDays(i64),
    /// `cron(...)`: the next matching minute.
    Cron(Box<Cron>),
}

/// The stored rules, echoed in DescribeSecret as `RotationRules` (the members given, under their
/// wire names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Rules {
    /// What the client sent as AutomaticallyAfterDays (echoed back).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub automatically_after_days: Option<i64>,
    /// What the client sent as Duration, e.g. `3h`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// What the client sent as ScheduleExpression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_expression: Option<String>,
    /// The parsed schedule.
    #[serde(skip)]
    pub schedule: Schedule,
}

impl Rules {
    /// Parses and validates the `RotationRules` member; errors are InvalidParameterException messages.
    pub fn parse(v: &Value) -> Result<Self, String> {
        let days = match v.get("AutomaticallyAfterDays") {
            None | Some(Value::Null) => None,
            Some(d) => {
                let n = d
                    .as_i64()
                    .ok_or("RotationRules.AutomaticallyAfterDays must be a number.")?;
                if !(1..=1000).contains(&n) {
                    return Err(
                        "RotationRules.AutomaticallyAfterDays must be within 1-1000.".into(),
                    );
                }
                Some(n)
            }
        };
        let expr = match v.get("ScheduleExpression") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err("RotationRules.ScheduleExpression must be a string.".into()),
        };
        let duration = match v.get("Duration") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err("RotationRules.Duration must be a string such as \"3h\".".into()),
        };
        let schedule = match (days, &expr) {
            (Some(_), Some(_)) => {
                return Err("You can't specify both AutomaticallyAfterDays and ScheduleExpression in RotationRules.".into())
            }
            (None, None) => return Err("RotationRules must contain AutomaticallyAfterDays or ScheduleExpression.".into()),
            (Some(n), None) => Schedule::AfterDays(n),
            (None, Some(e)) => parse_expression(e)?,
        };
        if let Some(d) = &duration {
            let hours = d
                .strip_suffix('h')
                .filter(|n| (1..=2).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|n| n.parse::<i64>().ok())
                .ok_or_else(|| format!("Invalid RotationRules.Duration '{d}': use a number of hours such as \"3h\"."))?;
            let limit = match &schedule {
                Schedule::RateHours(n) => (*n).min(24),
                _ => 24,
            };
            if !(1..=limit).contains(&hours) {
                return Err(format!(
                    "The rotation window Duration {d} must be between 1h and {limit}h: it must not extend into the next rotation window or the next UTC day."
                ));
            }
        }
        Ok(Self {
            automatically_after_days: days,
            duration,
            schedule_expression: expr,
            schedule,
        })
    }

    /// The `RotationRules` JSON as DescribeSecret returns it.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// The rotation due after one at `last`.
    pub fn next_after(&self, last: DateTime<Utc>) -> DateTime<Utc> {
        match &self.schedule {
            Schedule::AfterDays(n) => last + Duration::days(*n),
            Schedule::RateHours(n) => truncate_hour(last) + Duration::hours(*n),
            Schedule::RateDays(n) => midnight(last) + Duration::days(*n),
            Schedule::Cron(c) => c.next_after(last).unwrap_or(last + Duration::days(36_500)),
        }
    }
}

fn truncate_hour(t: DateTime<Utc>) -> DateTime<Utc> {
    t - Duration::seconds(i64::from(t.minute()) * 60 + i64::from(t.second()))
        - Duration::nanoseconds(i64::from(t.nanosecond()))
}

fn midnight(t: DateTime<Utc>) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(t.year(), t.month(), t.day(), 0, 0, 0)
        .single()
        .unwrap_or(t)
}

fn parse_expression(e: &str) -> Result<Schedule, String> {
    let bad = |why: &str| format!("Invalid ScheduleExpression '{e}': {why}");
    if let Some(inner) = e.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
        let mut parts = inner.split_whitespace();
        let (Some(n), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("use rate(N hours) or rate(N days)."));
        };
        let n: i64 = n
            .parse()
            .map_err(|_| bad("the rate must be a whole number."))?;
        return match unit {
            "hour" | "hours" if (4..=24 * 999).contains(&n) => Ok(Schedule::RateHours(n)),
            "hour" | "hours" => Err(bad("a rate in hours must be at least 4 hours.")),
            "day" | "days" if (1..=999).contains(&n) => Ok(Schedule::RateDays(n)),
            "day" | "days" => Err(bad("a rate in days must be between 1 and 999.")),
            _ => Err(bad("the unit must be hours or days.")),
        };
    }
    if let Some(inner) = e.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
        return Cron::parse(inner)
            .map(|c| Schedule::Cron(Box::new(c)))
            .map_err(|why| bad(&why));
    }
    Err(bad("it must be a rate() or cron() expression."))
}

/// An AWS cron expression: minutes hours day-of-month month day-of-week year (UTC). Supports `*`, `?`,
/// numbers, ranges, lists, `/` steps and month / weekday names; `L`, `W` and `#` are rejected as invalid values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    days: Vec<bool>,
    months: Vec<bool>,
    weekdays: Vec<bool>,
    years: Vec<bool>,
    dom_any: bool,
    dow_any: bool,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

fn field(
    spec: &str,
    lo: u32,
    hi: u32,
    names: &[&str],
    name_base: u32,
) -> Result<(Vec<bool>, bool), String> {
    let mut set = vec![false; (hi + 1) as usize];
    if spec == "*" || spec == "?" {
        set.iter_mut().skip(lo as usize).for_each(|b| *b = true);
        return Ok((set, true));
    }
    let value = |s: &str| -> Result<u32, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(i as u32 + name_base);
        }
        let n: u32 = s
            .parse()
            .map_err(|_| format!("'{s}' is not a valid value in '{spec}'."))?;
        if (lo..=hi).contains(&n) {
            Ok(n)
        } else {
            Err(format!("{n} is outside {lo}-{hi} in '{spec}'."))
        }
    };
    for part in spec.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or(format!("bad step in '{part}'."))?,
            ),
            None => (part, 1),
        };
        let (a, b) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            let a = value(range)?;
            (a, if part.contains('/') { hi } else { a })
        };
        if a > b {
            return Err(format!("range {a}-{b} is reversed in '{spec}'."));
        }
        (a..=b)
            .step_by(step as usize)
            .for_each(|i| set[i as usize] = true);
    }
    Ok((set, false))
}

impl Cron {
    /// Parses the inside of `cron(...)`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let f: Vec<&str> = s.split_whitespace().collect();
        if f.len() != 6 {
            return Err("a cron expression has six fields: minutes hours day-of-month month day-of-week year.".into());
        }
        let (minutes, _) = field(f[0], 0, 59, &[], 0)?;
        let (hours, _) = field(f[1], 0, 23, &[], 0)?;
        let (days, dom_any) = field(f[2], 1, 31, &[], 0)?;
        let (months, _) = field(f[3], 1, 12, &MONTHS, 1)?;
        let (weekdays, dow_any) = field(f[4], 1, 7, &WEEKDAYS, 1)?;
        let (years, _) = field(f[5], 1970, 2199, &[], 0)?;
        if f[2] != "?" && f[4] != "?" {
            return Err("use '?' in either the day-of-month or the day-of-week field.".into());
        }
        Ok(Self {
            minutes,
            hours,
            days,
            months,
            weekdays,
            years,
            dom_any,
            dow_any,
        })
    }

    fn day_matches(&self, t: DateTime<Utc>) -> bool {
        let dom = self.days[t.day() as usize];
        let dow = self.weekdays[t.weekday().number_from_sunday() as usize];
        let day = match (self.dom_any, self.dow_any) {
            (true, true) => true,
            (true, false) => dow,
            (false, true) => dom,
            (false, false) => dom && dow,
        };
        day && self.months[t.month() as usize]
            && self.years.get(t.year() as usize).copied().unwrap_or(false)
    }

    /// The first matching minute strictly after `t`, searching up to five years ahead.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = truncate_hour(t) + Duration::minutes(i64::from(t.minute()) + 1);
        let mut day = midnight(start);
        for _ in 0..(366 * 5) {
            if self.day_matches(day) {
                for h in (0..24).filter(|h| self.hours[*h as usize]) {
                    for m in (0..60).filter(|m| self.minutes[*m as usize]) {
                        let cand = day + Duration::minutes(h * 60 + m);
                        if cand >= start {
                            return Some(cand);
                        }
                    }
                }
            }
            day += Duration::days(1);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("valid date")
    }

    #[test]
    fn validation_messages() {
        assert!(Rules::parse(&json!({"AutomaticallyAfterDays": 0}))
            .expect_err("should fail")
            .contains("within 1-1000"));
        assert!(Rules::parse(&json!({"AutomaticallyAfterDays": 1001})).is_err());
        assert!(Rules::parse(
            &json!({"AutomaticallyAfterDays": 3, "ScheduleExpression": "rate(2 days)"})
        )
        .expect_err("should fail")
        .contains("both"));
        assert!(Rules::parse(&json!({})).is_err());
        assert!(
            Rules::parse(&json!({"ScheduleExpression": "rate(2 hours)"}))
                .expect_err("should fail")
                .contains("4 hours")
        );
        assert!(Rules::parse(&json!({"ScheduleExpression": "every day"})).is_err());
        assert!(Rules::parse(&json!({"ScheduleExpression": "cron(0 * * * *)"})).is_err());
        assert!(Rules::parse(&json!({"ScheduleExpression": "cron(0 8 1 * MON *)"})).is_err());
        assert!(
            Rules::parse(&json!({"ScheduleExpression": "rate(6 hours)", "Duration": "7h"}))
                .is_err()
        );
        assert!(
            Rules::parse(&json!({"ScheduleExpression": "rate(6 hours)", "Duration": "x"})).is_err()
        );
        let r = Rules::parse(&json!({"ScheduleExpression": "rate(6 hours)", "Duration": "2h"}))
            .expect("valid");
        assert_eq!(
            r.to_json(),
            json!({"ScheduleExpression": "rate(6 hours)", "Duration": "2h"})
        );
    }

    #[test]
    fn next_rotation_dates() {
        let last = at(2026, 3, 10, 14, 25);
        let days = Rules::parse(&json!({"AutomaticallyAfterDays": 30})).expect("days");
        assert_eq!(days.next_after(last), last + Duration::days(30));
        let rate_h = Rules::parse(&json!({"ScheduleExpression": "rate(6 hours)"})).expect("hours");
        assert_eq!(rate_h.next_after(last), at(2026, 3, 10, 20, 0));
        let rate_d = Rules::parse(&json!({"ScheduleExpression": "rate(10 days)"})).expect("days");
        assert_eq!(rate_d.next_after(last), at(2026, 3, 20, 0, 0));
        let cron =
            Rules::parse(&json!({"ScheduleExpression": "cron(0 8 ? * MON *)"})).expect("cron");
        assert_eq!(cron.next_after(last), at(2026, 3, 16, 8, 0)); // 2026-03-10 is a Tuesday
        let monthly =
            Rules::parse(&json!({"ScheduleExpression": "cron(30 4 1 JAN-JUN/2 ? 2026-2027)"}))
                .expect("cron");
        assert_eq!(monthly.next_after(last), at(2026, 5, 1, 4, 30));
        let every_15 =
            Rules::parse(&json!({"ScheduleExpression": "cron(0/15 * * * ? *)"})).expect("cron");
        assert_eq!(every_15.next_after(last), at(2026, 3, 10, 14, 30));
        let past =
            Rules::parse(&json!({"ScheduleExpression": "cron(0 0 1 1 ? 2020)"})).expect("cron");
        assert!(past.next_after(last) > last + Duration::days(3650));
    }
}
