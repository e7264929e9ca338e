//! Instants to local calendar buckets (days, Monday weeks, months) of one time zone, fast enough to
//! bucket every event of a scan: a fixed offset when the zone has one over the query's range,
//! otherwise a table of local midnights searched per instant. The table never holds more than
//! [`MAX_TABLE_DAYS`] days, whatever range it is asked for, and any `i64` instant maps to a day
//! without overflowing (instants past jiff's range, years ±9999, map to its ends).

use crate::DAY_US;
use jiff::civil::Date;
use jiff::tz::TimeZone;

/// The size of a calendar bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    /// A local day.
    Day,
    /// A local week, Monday to Sunday.
    Week,
    /// A local calendar month.
    Month,
}

impl Granularity {
    /// Parses `day`, `week` or `month`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "day" => Some(Self::Day),
            "week" => Some(Self::Week),
            "month" => Some(Self::Month),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
enum Mapping {
    /// The zone's offset is the same over the whole range.
    Fixed { offset_us: i64 },
    /// `midnights[i]` is the instant local day `first_day + i` starts.
    Table { first_day: i64, midnights: Vec<i64> },
}

/// Buckets instants in one time zone; days are numbered from 1970-01-01 (local).
#[derive(Clone, Debug)]
pub struct Calendar {
    tz: TimeZone,
    mapping: Mapping,
}

/// The most days a calendar's table of midnights holds (about 110 years).
pub const MAX_TABLE_DAYS: i64 = 40_000;

/// Returns `ts_us` moved into the range jiff can represent.
fn representable(ts_us: i64) -> i64 {
    ts_us.clamp(jiff::Timestamp::MIN.as_microsecond(), jiff::Timestamp::MAX.as_microsecond())
}

fn epoch() -> Date {
    jiff::civil::date(1970, 1, 1)
}

fn day_number(date: Date) -> i64 {
    i64::from(epoch().until(date).map(|span| span.get_days()).unwrap_or(0))
}

fn date_of_day(day: i64) -> Date {
    // Days past jiff's range (years ±9999) fall back to the epoch instead of panicking.
    jiff::Span::new().try_days(day).ok().and_then(|span| epoch().checked_add(span).ok()).unwrap_or(epoch())
}

impl Calendar {
    /// Returns a calendar for `tz`, tuned for instants between `from_us` and `to_us` (at most
    /// [`MAX_TABLE_DAYS`] from `from_us`); instants outside still map correctly, only more slowly.
    pub fn new(tz: TimeZone, from_us: i64, to_us: i64) -> Self {
        let local_day = |ts_us: i64| -> i64 {
            jiff::Timestamp::from_microsecond(representable(ts_us))
                .map(|t| day_number(t.to_zoned(tz.clone()).date()))
                .unwrap_or(0)
        };
        let first_day = local_day(from_us) - 1;
        let last_day = (local_day(to_us) + 1).clamp(first_day, first_day + MAX_TABLE_DAYS);
        let mut midnights = Vec::with_capacity((last_day - first_day + 1).max(0) as usize);
        for day in first_day..=last_day {
            let start = date_of_day(day)
                .to_zoned(tz.clone())
                .map(|z| z.start_of_day().map(|s| s.timestamp()).unwrap_or(z.timestamp()))
                .map(|t| t.as_microsecond())
                .unwrap_or(day * DAY_US);
            midnights.push(start);
        }
        let offsets: Vec<i64> =
            midnights.iter().enumerate().map(|(i, m)| (first_day + i as i64) * DAY_US - m).collect();
        let mapping = if offsets.windows(2).all(|w| w[0] == w[1]) && !offsets.is_empty() {
            Mapping::Fixed { offset_us: offsets[0] }
        } else {
            Mapping::Table { first_day, midnights }
        };
        Self { tz, mapping }
    }

    /// Returns the time zone.
    pub fn tz(&self) -> &TimeZone {
        &self.tz
    }

    /// Returns the local day (days since 1970-01-01) that contains `ts_us`.
    #[inline]
    pub fn day(&self, ts_us: i64) -> i64 {
        match &self.mapping {
            Mapping::Fixed { offset_us } => ts_us.saturating_add(*offset_us).div_euclid(DAY_US),
            Mapping::Table { first_day, midnights } => {
                let i = midnights.partition_point(|m| *m <= ts_us);
                if i == 0 || i == midnights.len() {
                    jiff::Timestamp::from_microsecond(representable(ts_us))
                        .map(|t| day_number(t.to_zoned(self.tz.clone()).date()))
                        .unwrap_or(0)
                } else {
                    first_day + i as i64 - 1
                }
            }
        }
    }

    /// Returns the bucket number that contains `ts_us`: the day, the Monday week or the month
    /// (`year * 12 + month - 1`).
    #[inline]
    pub fn bucket(&self, ts_us: i64, granularity: Granularity) -> i64 {
        let day = self.day(ts_us);
        match granularity {
            Granularity::Day => day,
            // 1970-01-01 was a Thursday: adding 3 puts Mondays at multiples of 7.
            Granularity::Week => (day + 3).div_euclid(7),
            Granularity::Month => {
                let date = date_of_day(day);
                i64::from(date.year()) * 12 + i64::from(date.month()) - 1
            }
        }
    }

    /// Returns the instant local day `day` starts (its first instant, in microseconds).
    pub fn day_start_us(&self, day: i64) -> i64 {
        if let Mapping::Table { first_day, midnights } = &self.mapping
            && let Some(start) = usize::try_from(day - first_day).ok().and_then(|i| midnights.get(i))
        {
            return *start;
        }
        date_of_day(day)
            .to_zoned(self.tz.clone())
            .map(|z| z.start_of_day().map(|s| s.timestamp()).unwrap_or(z.timestamp()))
            .map(|t| t.as_microsecond())
            .unwrap_or(day.saturating_mul(DAY_US))
    }

    /// Returns the instant bucket `bucket` starts.
    pub fn bucket_start_us(&self, bucket: i64, granularity: Granularity) -> i64 {
        self.day_start_us(day_number(self.bucket_start(bucket, granularity)))
    }

    /// Returns the local date a bucket starts on.
    pub fn bucket_start(&self, bucket: i64, granularity: Granularity) -> Date {
        match granularity {
            Granularity::Day => date_of_day(bucket),
            Granularity::Week => date_of_day(bucket.saturating_mul(7).saturating_sub(3)),
            Granularity::Month => i16::try_from(bucket.div_euclid(12))
                .ok()
                .and_then(|year| Date::new(year, (bucket.rem_euclid(12) + 1) as i8, 1).ok())
                .unwrap_or(epoch()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(text: &str) -> i64 {
        text.parse::<jiff::Timestamp>().expect("valid instant").as_microsecond()
    }

    #[test]
    fn weeks_start_on_monday_in_the_zone() {
        let utc = Calendar::new(TimeZone::UTC, us("2026-01-01T00:00:00Z"), us("2026-03-01T00:00:00Z"));
        let sunday_night = us("2026-01-11T23:59:59Z");
        let week = utc.bucket(sunday_night, Granularity::Week);
        assert_eq!(utc.bucket_start(week, Granularity::Week), jiff::civil::date(2026, 1, 5));
        let shanghai = Calendar::new(
            TimeZone::get("Asia/Shanghai").expect("bundled"),
            us("2026-01-01T00:00:00Z"),
            us("2026-03-01T00:00:00Z"),
        );
        // 23:59 UTC on Sunday is already Monday 07:59 in Shanghai.
        let week = shanghai.bucket(sunday_night, Granularity::Week);
        assert_eq!(shanghai.bucket_start(week, Granularity::Week), jiff::civil::date(2026, 1, 12));
        let month = shanghai.bucket(us("2026-01-31T16:00:00Z"), Granularity::Month);
        assert_eq!(shanghai.bucket_start(month, Granularity::Month), jiff::civil::date(2026, 2, 1));
    }

    #[test]
    fn days_follow_daylight_saving_changes() {
        let berlin = TimeZone::get("Europe/Berlin").expect("bundled");
        let calendar = Calendar::new(berlin, us("2026-03-20T00:00:00Z"), us("2026-04-10T00:00:00Z"));
        // 2026-03-29 is the spring-forward day: local midnight of the 30th is 22:00 UTC on the 29th.
        let before = calendar.day(us("2026-03-29T21:59:59Z"));
        let after = calendar.day(us("2026-03-29T22:00:00Z"));
        assert_eq!(calendar.bucket_start(before, Granularity::Day), jiff::civil::date(2026, 3, 29));
        assert_eq!(calendar.bucket_start(after, Granularity::Day), jiff::civil::date(2026, 3, 30));
        // Outside the tuned range the answer is the same, only slower.
        let far = calendar.day(us("2027-07-01T12:00:00Z"));
        assert_eq!(calendar.bucket_start(far, Granularity::Day), jiff::civil::date(2027, 7, 1));
    }
}
