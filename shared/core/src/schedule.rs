//! EventBridge Scheduler expressions, evaluated in an IANA time zone.
//!
//! Supports `cron(minutes hours day-of-month month day-of-week year)` with `*`, `?`, `,`,
//! `-`, `/`, `L`, `W`, `LW`, `#`, month and weekday names, `rate(value unit)` and
//! `at(yyyy-mm-ddThh:mm:ss)`, with AWS's rules rather than Unix cron's: weekdays are 1-7 for
//! SUN-SAT, exactly one of day-of-month and day-of-week is `?`, and `/` is not allowed in
//! day-of-week.
//!
//! Daylight saving follows EventBridge Scheduler: a firing whose local time does not exist
//! (clocks jump forward) is skipped, and a firing whose local time happens twice (clocks go
//! back) runs once, at the first occurrence. A `rate` counts fixed durations, so a day is
//! always 24 hours; local mode anchors it at the Unix epoch (AWS anchors it at the schedule's
//! start date).

use std::fmt;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;

/// A schedule expression that did not parse, with what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleError(String);

fn err<T>(msg: impl Into<String>) -> Result<T, ScheduleError> {
    Err(ScheduleError(msg.into()))
}

const FIRST_YEAR: i32 = 1970;
const LAST_YEAR: i32 = 2199;

/// A parsed schedule expression, independent of time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expression {
    Cron(Box<Cron>),
    Rate { every: Duration, text: String },
    At(NaiveDateTime),
}

/// A schedule: an expression evaluated in a time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    expression: Expression,
    zone: Tz,
}

impl Schedule {
    pub fn parse(expression: &str, zone: Tz) -> Result<Self, ScheduleError> {
        Ok(Self {
            expression: Expression::parse(expression)?,
            zone,
        })
    }

    pub fn zone(&self) -> Tz {
        self.zone
    }

    pub fn expression(&self) -> &Expression {
        &self.expression
    }

    /// The first firing strictly after `after`, or `None` when the schedule never fires again.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.expression {
            Expression::Cron(cron) => cron.next_after(after, self.zone),
            Expression::Rate { every, .. } => {
                let every_s = every.num_seconds();
                let since_epoch = after.timestamp();
                let next = (since_epoch.div_euclid(every_s) + 1) * every_s;
                DateTime::from_timestamp(next, 0)
            }
            Expression::At(local) => {
                let at = resolve_local(self.zone, *local)?;
                (at > after).then_some(at)
            }
        }
    }

    /// The firings strictly after `after`, in order.
    pub fn upcoming(&self, after: DateTime<Utc>) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        std::iter::successors(self.next_after(after), move |t| self.next_after(*t))
    }

    /// The last firing at or before `at`, looking back at most `within`.
    pub fn last_at_or_before(&self, at: DateTime<Utc>, within: Duration) -> Option<DateTime<Utc>> {
        self.upcoming(at - within - Duration::seconds(1))
            .take_while(|t| *t <= at)
            .last()
    }
}

impl fmt::Display for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expression::Cron(cron) => write!(f, "cron({})", cron.text),
            Expression::Rate { text, .. } => write!(f, "rate({text})"),
            Expression::At(at) => write!(f, "at({})", at.format("%Y-%m-%dT%H:%M:%S")),
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in {}", self.expression, self.zone)
    }
}

/// Local time to UTC with EventBridge Scheduler's daylight-saving rules.
fn resolve_local(zone: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        // Clocks went back: the first occurrence only.
        LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
        // Clocks jumped forward over this time: skipped.
        LocalResult::None => None,
    }
}

impl Expression {
    pub fn parse(raw: &str) -> Result<Self, ScheduleError> {
        let raw = raw.trim();
        if let Some(body) = raw.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
            return Ok(Expression::Cron(Box::new(Cron::parse(body)?)));
        }
        if let Some(body) = raw.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
            return parse_rate(body);
        }
        if let Some(body) = raw.strip_prefix("at(").and_then(|r| r.strip_suffix(')')) {
            return NaiveDateTime::parse_from_str(body.trim(), "%Y-%m-%dT%H:%M:%S")
                .map(Expression::At)
                .or_else(|_| {
                    err(format!(
                        "at({body}) is not a date and time; write at(2026-12-24T09:00:00)"
                    ))
                });
        }
        err(format!(
            "{raw:?} is not a schedule expression; write cron(0 9 ? * MON *), rate(1 day) or at(2026-12-24T09:00:00)"
        ))
    }
}

fn parse_rate(body: &str) -> Result<Expression, ScheduleError> {
    let fix = "write rate(5 minutes), rate(1 hour) or rate(7 days)";
    let mut parts = body.split_whitespace();
    let (Some(value), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
        return err(format!("rate({body}) needs a value and a unit; {fix}"));
    };
    let Ok(n) = value.parse::<i64>() else {
        return err(format!(
            "rate({body}): {value:?} is not a positive whole number; {fix}"
        ));
    };
    if !(1..=100_000).contains(&n) {
        return err(format!("rate({body}): the value must be 1 or more; {fix}"));
    }
    // AWS insists on the singular for 1 and the plural otherwise.
    let (singular, plural, unit_len) = match unit {
        "minute" | "minutes" => ("minute", "minutes", Duration::minutes(1)),
        "hour" | "hours" => ("hour", "hours", Duration::hours(1)),
        "day" | "days" => ("day", "days", Duration::days(1)),
        other => return err(format!("rate({body}): unknown unit {other:?}; {fix}")),
    };
    let expected = if n == 1 { singular } else { plural };
    if unit != expected {
        return err(format!("rate({body}): write rate({n} {expected})"));
    }
    Ok(Expression::Rate {
        every: unit_len * i32::try_from(n).unwrap_or(i32::MAX),
        text: format!("{n} {unit}"),
    })
}

/// A set of small integers (at most 0..=63), as a bit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bits(u64);

impl Bits {
    fn has(self, v: u32) -> bool {
        v < 64 && self.0 & (1 << v) != 0
    }
    fn values(self) -> impl Iterator<Item = u32> {
        (0..64).filter(move |v| self.has(*v))
    }
}

/// One item of the day-of-month field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MonthDay {
    Days(Bits),
    Last,
    LastWeekday,
    NearestWeekday(u32),
}

/// One item of the day-of-week field (weekdays numbered 1-7 for SUN-SAT, as AWS does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WeekDay {
    Days(Bits),
    /// `5L`: the last Thursday of the month.
    LastOfMonth(u32),
    /// `3#2`: the second Tuesday of the month.
    Nth(u32, u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Days {
    OfMonth(Vec<MonthDay>),
    OfWeek(Vec<WeekDay>),
}

/// A parsed `cron(...)` expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    text: String,
    minutes: Bits,
    hours: Bits,
    days: Days,
    months: Bits,
    /// Years as offsets from 1970 (230 possible values, more than one mask holds).
    years: Vec<bool>,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    steps: bool,
}

impl Field {
    fn value(&self, raw: &str) -> Result<u32, ScheduleError> {
        let upper = raw.to_ascii_uppercase();
        if let Some(i) = self.names.iter().position(|n| *n == upper) {
            return Ok(self.min + u32::try_from(i).unwrap_or(0));
        }
        match raw.parse::<u32>() {
            Ok(v) if (self.min..=self.max).contains(&v) => Ok(v),
            _ => {
                let names = if self.names.is_empty() {
                    String::new()
                } else {
                    format!(" or {}-{}", self.names[0], self.names[self.names.len() - 1])
                };
                err(format!(
                    "{}: {raw:?} is out of range; use {}-{}{names}",
                    self.name, self.min, self.max
                ))
            }
        }
    }

    /// `*`, `n`, `a-b`, with an optional `/step`, into the list of values they select.
    fn plain(&self, item: &str) -> Result<Vec<u32>, ScheduleError> {
        let (range, step) = match item.split_once('/') {
            Some((_, _)) if !self.steps => {
                return err(format!(
                    "{}: {item:?}: '/' is not allowed in this field",
                    self.name
                ));
            }
            Some((r, s)) => {
                let step = s.parse::<u32>().ok().filter(|s| *s >= 1).ok_or_else(|| {
                    ScheduleError(format!(
                        "{}: {item:?}: the step after '/' must be a whole number of 1 or more",
                        self.name
                    ))
                })?;
                (r, step)
            }
            None => (item, 1),
        };
        let (lo, hi) = if range == "*" {
            (self.min, self.max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (self.value(a)?, self.value(b)?);
            if a > b {
                return err(format!(
                    "{}: range {range:?} runs backwards; write it as a list instead (e.g. \"FRI,SAT,SUN\")",
                    self.name
                ));
            }
            (a, b)
        } else {
            let v = self.value(range)?;
            // `5/15` means "from 5, every 15" up to the field's maximum.
            (v, if item.contains('/') { self.max } else { v })
        };
        Ok((lo..=hi).step_by(step as usize).collect())
    }

    fn bits(&self, raw: &str) -> Result<Bits, ScheduleError> {
        let mut bits = 0u64;
        for item in raw.split(',') {
            for v in self.plain(item)? {
                bits |= 1 << v;
            }
        }
        Ok(Bits(bits))
    }
}

const MINUTES: Field = Field {
    name: "minutes",
    min: 0,
    max: 59,
    names: &[],
    steps: true,
};
const HOURS: Field = Field {
    name: "hours",
    min: 0,
    max: 23,
    names: &[],
    steps: true,
};
const MONTH_DAYS: Field = Field {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
    steps: true,
};
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &MONTHS,
    steps: true,
};
const WEEK_DAYS: Field = Field {
    name: "day-of-week",
    min: 1,
    max: 7,
    names: &WEEKDAYS,
    steps: false,
};

impl Cron {
    fn parse(body: &str) -> Result<Self, ScheduleError> {
        let fields: Vec<&str> = body.split_whitespace().collect();
        let [minutes, hours, dom, month, dow, year] = fields[..] else {
            return err(format!(
                "cron({body}) has {} fields; EventBridge needs 6: minutes hours day-of-month month day-of-week year, e.g. cron(0 9 ? * MON *)",
                fields.len()
            ));
        };
        let days = match (dom, dow) {
            ("?", "?") => {
                return err(
                    "day-of-month and day-of-week are both '?'; set one of them, e.g. cron(0 9 ? * MON *)",
                );
            }
            ("?", dow) => Days::OfWeek(parse_week_days(dow)?),
            (dom, "?") => Days::OfMonth(parse_month_days(dom)?),
            _ => {
                return err(format!(
                    "cron({body}) sets both day-of-month ({dom}) and day-of-week ({dow}); EventBridge needs '?' in one of them, e.g. cron(0 9 ? * MON *)"
                ));
            }
        };
        let year_field = Field {
            name: "year",
            min: 1970,
            max: 2199,
            names: &[],
            steps: true,
        };
        let mut years = vec![false; (LAST_YEAR - FIRST_YEAR + 1) as usize];
        for item in year.split(',') {
            for y in year_field.plain(item)? {
                years[(y - 1970) as usize] = true;
            }
        }
        Ok(Self {
            text: fields.join(" "),
            minutes: MINUTES.bits(minutes)?,
            hours: HOURS.bits(hours)?,
            days,
            months: MONTH.bits(month)?,
            years,
        })
    }

    fn year_matches(&self, year: i32) -> bool {
        usize::try_from(year - FIRST_YEAR)
            .ok()
            .and_then(|i| self.years.get(i))
            .copied()
            .unwrap_or(false)
    }

    fn day_matches(&self, date: NaiveDate) -> bool {
        let last = last_day_of_month(date);
        match &self.days {
            Days::OfMonth(items) => items.iter().any(|item| match *item {
                MonthDay::Days(bits) => bits.has(date.day()),
                MonthDay::Last => date.day() == last,
                MonthDay::LastWeekday => date.day() == last_weekday_of_month(date),
                MonthDay::NearestWeekday(n) => nearest_weekday(date, n) == Some(date.day()),
            }),
            Days::OfWeek(items) => {
                let dow = date.weekday().num_days_from_sunday() + 1;
                items.iter().any(|item| match *item {
                    WeekDay::Days(bits) => bits.has(dow),
                    WeekDay::LastOfMonth(d) => dow == d && date.day() + 7 > last,
                    WeekDay::Nth(d, k) => dow == d && (date.day() - 1) / 7 + 1 == k,
                })
            }
        }
    }

    fn next_after(&self, after: DateTime<Utc>, zone: Tz) -> Option<DateTime<Utc>> {
        // Firings are whole minutes: evaluate in local wall-clock time, day by day.
        let mut date = after.with_timezone(&zone).date_naive();
        loop {
            if date.year() > LAST_YEAR {
                return None;
            }
            if !self.year_matches(date.year()) {
                date = NaiveDate::from_ymd_opt(date.year() + 1, 1, 1)?;
                continue;
            }
            if !self.months.has(date.month()) {
                date = first_of_next_month(date)?;
                continue;
            }
            if self.day_matches(date) {
                for h in self.hours.values() {
                    for m in self.minutes.values() {
                        let local = date.and_hms_opt(h, m, 0)?;
                        if let Some(t) = resolve_local(zone, local).filter(|t| *t > after) {
                            return Some(t);
                        }
                    }
                }
            }
            date = date.succ_opt()?;
        }
    }
}

fn parse_month_days(raw: &str) -> Result<Vec<MonthDay>, ScheduleError> {
    raw.split(',')
        .map(|item| {
            let upper = item.to_ascii_uppercase();
            Ok(match upper.as_str() {
                "L" => MonthDay::Last,
                "LW" => MonthDay::LastWeekday,
                w if w.ends_with('W') => {
                    MonthDay::NearestWeekday(MONTH_DAYS.value(&w[..w.len() - 1])?)
                }
                _ => MonthDay::Days(MONTH_DAYS.bits(item)?),
            })
        })
        .collect()
}

fn parse_week_days(raw: &str) -> Result<Vec<WeekDay>, ScheduleError> {
    if raw.contains('#') && raw.contains(',') {
        return err(format!(
            "day-of-week {raw:?}: with '#' the field holds one expression only (EventBridge rejects \"3#1,6#3\"); use two schedules"
        ));
    }
    raw.split(',')
        .map(|item| {
            let upper = item.to_ascii_uppercase();
            if upper == "L" {
                // Alone, L is the last day of the week: Saturday.
                return Ok(WeekDay::Days(Bits(1 << 7)));
            }
            if let Some(day) = upper.strip_suffix('L') {
                return Ok(WeekDay::LastOfMonth(WEEK_DAYS.value(day)?));
            }
            if let Some((day, nth)) = upper.split_once('#') {
                let k = nth.parse::<u32>().ok().filter(|k| (1..=5).contains(k)).ok_or_else(|| {
                    ScheduleError(format!("day-of-week {item:?}: the number after '#' must be 1 to 5 (e.g. 3#2, the second Tuesday)"))
                })?;
                return Ok(WeekDay::Nth(WEEK_DAYS.value(day)?, k));
            }
            Ok(WeekDay::Days(WEEK_DAYS.bits(item)?))
        })
        .collect()
}

fn first_of_next_month(date: NaiveDate) -> Option<NaiveDate> {
    if date.month() == 12 {
        NaiveDate::from_ymd_opt(date.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(date.year(), date.month() + 1, 1)
    }
}

fn last_day_of_month(date: NaiveDate) -> u32 {
    first_of_next_month(date)
        .and_then(|d| d.pred_opt())
        .map_or(28, |d| d.day())
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

fn last_weekday_of_month(date: NaiveDate) -> u32 {
    let mut d = date.with_day(last_day_of_month(date)).unwrap_or(date);
    while is_weekend(d) {
        d = d.pred_opt().unwrap_or(d);
    }
    d.day()
}

/// The weekday nearest to day `n` of `date`'s month, never leaving the month (Quartz rules,
/// which EventBridge follows): `1W` on a Saturday is Monday the 3rd.
fn nearest_weekday(date: NaiveDate, n: u32) -> Option<u32> {
    let last = last_day_of_month(date);
    if n > last {
        return None;
    }
    let target = date.with_day(n)?;
    Some(match target.weekday() {
        Weekday::Sat if n == 1 => 3,
        Weekday::Sat => n - 1,
        Weekday::Sun if n == last => n - 2,
        Weekday::Sun => n + 1,
        _ => n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America::New_York, Europe::Berlin, UTC};

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn next_n(expr: &str, zone: Tz, after: &str, n: usize) -> Vec<String> {
        let s = Schedule::parse(expr, zone).unwrap();
        s.upcoming(utc(after))
            .take(n)
            .map(|t| {
                t.with_timezone(&zone)
                    .format("%Y-%m-%d %a %H:%M %Z")
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn weekly_monday_cut_in_berlin() {
        assert_eq!(
            next_n("cron(0 9 ? * MON *)", Berlin, "2026-11-18T00:00:00Z", 3),
            [
                "2026-11-23 Mon 09:00 CET",
                "2026-11-30 Mon 09:00 CET",
                "2026-12-07 Mon 09:00 CET"
            ]
        );
    }

    #[test]
    fn weekday_numbers_are_aws_not_unix() {
        // 2 is Monday in EventBridge (1 = SUN).
        assert_eq!(
            next_n("cron(0 9 ? * 2 *)", UTC, "2026-11-18T00:00:00Z", 1),
            ["2026-11-23 Mon 09:00 UTC"]
        );
        assert_eq!(
            next_n("cron(0 9 ? * 1 *)", UTC, "2026-11-18T00:00:00Z", 1),
            ["2026-11-22 Sun 09:00 UTC"]
        );
    }

    #[test]
    fn last_day_of_month_and_last_weekday() {
        assert_eq!(
            next_n("cron(30 18 L * ? *)", UTC, "2027-01-15T00:00:00Z", 3),
            [
                "2027-01-31 Sun 18:30 UTC",
                "2027-02-28 Sun 18:30 UTC",
                "2027-03-31 Wed 18:30 UTC"
            ]
        );
        // January 2027 ends on a Sunday, so the last weekday is Friday the 29th.
        assert_eq!(
            next_n("cron(0 12 LW * ? *)", UTC, "2027-01-15T00:00:00Z", 2),
            ["2027-01-29 Fri 12:00 UTC", "2027-02-26 Fri 12:00 UTC"]
        );
        // Leap year.
        assert_eq!(
            next_n("cron(0 0 L 2 ? *)", UTC, "2028-01-01T00:00:00Z", 1),
            ["2028-02-29 Tue 00:00 UTC"]
        );
    }

    #[test]
    fn nearest_weekday_never_leaves_the_month() {
        // 2027-05-01 is a Saturday: 1W is Monday the 3rd, not Friday in April.
        assert_eq!(
            next_n("cron(0 9 1W * ? *)", UTC, "2027-04-15T00:00:00Z", 1),
            ["2027-05-03 Mon 09:00 UTC"]
        );
        // 2027-05-15 is a Saturday: 15W is Friday the 14th.
        assert_eq!(
            next_n("cron(0 9 15W * ? *)", UTC, "2027-05-02T00:00:00Z", 1),
            ["2027-05-14 Fri 09:00 UTC"]
        );
        // 2027-05-16 is a Sunday: 16W is Monday the 17th.
        assert_eq!(
            next_n("cron(0 9 16W * ? *)", UTC, "2027-05-02T00:00:00Z", 1),
            ["2027-05-17 Mon 09:00 UTC"]
        );
        // 2027-10-31 is a Sunday and the month's last day: 31W is Friday the 29th.
        assert_eq!(
            next_n("cron(0 9 31W 10 ? *)", UTC, "2027-01-01T00:00:00Z", 1),
            ["2027-10-29 Fri 09:00 UTC"]
        );
    }

    #[test]
    fn nth_and_last_weekday_of_month() {
        // 3#2: the second Tuesday.
        assert_eq!(
            next_n("cron(0 10 ? * 3#2 *)", UTC, "2026-11-01T00:00:00Z", 3),
            [
                "2026-11-10 Tue 10:00 UTC",
                "2026-12-08 Tue 10:00 UTC",
                "2027-01-12 Tue 10:00 UTC"
            ]
        );
        // 6L: the last Friday.
        assert_eq!(
            next_n("cron(0 16 ? * 6L *)", UTC, "2026-11-01T00:00:00Z", 2),
            ["2026-11-27 Fri 16:00 UTC", "2026-12-25 Fri 16:00 UTC"]
        );
        // FRI#5 exists only in months with five Fridays.
        assert_eq!(
            next_n("cron(0 9 ? * FRI#5 *)", UTC, "2026-11-01T00:00:00Z", 1),
            ["2027-01-29 Fri 09:00 UTC"]
        );
    }

    #[test]
    fn steps_ranges_lists_and_years() {
        assert_eq!(
            next_n(
                "cron(1/20 9-10 ? * MON-FRI *)",
                UTC,
                "2026-11-20T09:30:00Z",
                4
            ),
            [
                "2026-11-20 Fri 09:41 UTC",
                "2026-11-20 Fri 10:01 UTC",
                "2026-11-20 Fri 10:21 UTC",
                "2026-11-20 Fri 10:41 UTC"
            ]
        );
        assert_eq!(
            next_n(
                "cron(0 0 1 JAN,JUL ? 2027-2028)",
                UTC,
                "2026-01-01T00:00:00Z",
                5
            ),
            [
                "2027-01-01 Fri 00:00 UTC",
                "2027-07-01 Thu 00:00 UTC",
                "2028-01-01 Sat 00:00 UTC",
                "2028-07-01 Sat 00:00 UTC"
            ]
        );
    }

    #[test]
    fn spring_forward_skips_the_missing_time_in_berlin() {
        // 2027-03-28: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist that day.
        assert_eq!(
            next_n("cron(30 2 * * ? *)", Berlin, "2027-03-26T12:00:00Z", 3),
            [
                "2027-03-27 Sat 02:30 CET",
                "2027-03-29 Mon 02:30 CEST",
                "2027-03-30 Tue 02:30 CEST"
            ]
        );
        // A 09:00 schedule stays at 09:00 local across the change.
        let s = Schedule::parse("cron(0 9 ? * MON *)", Berlin).unwrap();
        let got: Vec<_> = s.upcoming(utc("2027-03-20T00:00:00Z")).take(2).collect();
        assert_eq!(
            got,
            [utc("2027-03-22T08:00:00Z"), utc("2027-03-29T07:00:00Z")]
        );
    }

    #[test]
    fn fall_back_runs_once_in_new_york() {
        // 2026-11-01: 01:59 EDT is followed by 01:00 EST; 01:30 happens twice, fires once.
        let s = Schedule::parse("cron(30 1 * * ? *)", New_York).unwrap();
        let got: Vec<_> = s.upcoming(utc("2026-10-31T12:00:00Z")).take(2).collect();
        assert_eq!(
            got,
            [utc("2026-11-01T05:30:00Z"), utc("2026-11-02T06:30:00Z")]
        );
        // Hourly through the change: 01:00 once, then 02:00 EST.
        let s = Schedule::parse("cron(0 * * * ? *)", New_York).unwrap();
        let got: Vec<_> = s.upcoming(utc("2026-11-01T04:30:00Z")).take(3).collect();
        assert_eq!(
            got,
            [
                utc("2026-11-01T05:00:00Z"),
                utc("2026-11-01T07:00:00Z"),
                utc("2026-11-01T08:00:00Z")
            ]
        );
    }

    #[test]
    fn spring_forward_in_new_york_skips_2_30() {
        // 2027-03-14: 02:00 EST jumps to 03:00 EDT.
        assert_eq!(
            next_n("cron(30 2 * * ? *)", New_York, "2027-03-13T12:00:00Z", 2),
            ["2027-03-15 Mon 02:30 EDT", "2027-03-16 Tue 02:30 EDT"]
        );
    }

    #[test]
    fn rate_and_at() {
        let s = Schedule::parse("rate(6 hours)", Berlin).unwrap();
        let got: Vec<_> = s.upcoming(utc("2026-11-22T07:00:00Z")).take(2).collect();
        assert_eq!(
            got,
            [utc("2026-11-22T12:00:00Z"), utc("2026-11-22T18:00:00Z")]
        );
        let s = Schedule::parse("at(2026-12-24T09:00:00)", Berlin).unwrap();
        assert_eq!(
            s.next_after(utc("2026-12-01T00:00:00Z")),
            Some(utc("2026-12-24T08:00:00Z"))
        );
        assert_eq!(s.next_after(utc("2026-12-25T00:00:00Z")), None);
    }

    #[test]
    fn a_schedule_past_its_last_year_ends() {
        let s = Schedule::parse("cron(0 0 1 1 ? 2027)", UTC).unwrap();
        assert_eq!(s.upcoming(utc("2026-06-01T00:00:00Z")).count(), 1);
    }

    #[test]
    fn mistakes_say_what_to_write() {
        let cases = [
            ("cron(0 9 * * MON *)", "'?' in one of them"),
            ("cron(0 9 ? * ? *)", "set one of them"),
            ("cron(0 9 * * *)", "needs 6"),
            ("cron(60 9 ? * MON *)", "minutes: \"60\" is out of range"),
            ("cron(0 9 ? * 0 *)", "1-7 or SUN-SAT"),
            ("cron(0 9 ? * MON/2 *)", "'/' is not allowed"),
            ("cron(0 9 ? * 3#1,6#3 *)", "one expression only"),
            ("cron(0 9 ? * 3#6 *)", "1 to 5"),
            ("cron(0 9 ? * FRI-MON *)", "runs backwards"),
            ("rate(1 days)", "rate(1 day)"),
            ("rate(5 minute)", "rate(5 minutes)"),
            ("rate(0 minutes)", "1 or more"),
            ("every monday", "not a schedule expression"),
        ];
        for (expr, want) in cases {
            let e = Expression::parse(expr).unwrap_err().to_string();
            assert!(e.contains(want), "{expr}: {e:?} should mention {want:?}");
        }
    }

    #[test]
    fn last_firing_within_a_window() {
        let s = Schedule::parse("cron(0 17 ? * FRI *)", Berlin).unwrap();
        // Saturday noon: the last Friday 17:00 is within 64 hours.
        let sat = utc("2026-11-28T11:00:00Z");
        assert_eq!(
            s.last_at_or_before(sat, Duration::hours(64)),
            Some(utc("2026-11-27T16:00:00Z"))
        );
        // Tuesday: more than 64 hours after Friday 17:00.
        let tue = utc("2026-12-01T11:00:00Z");
        assert_eq!(s.last_at_or_before(tue, Duration::hours(64)), None);
    }
}
