//! Weather series: NREL TMY3 files (the format pvlib ships, e.g. `pvlib/data/723170TYA.CSV`), EnergyPlus
//! weather files (EPW, the format of the shipped typical year, `crate::shipped_weather`) and a plain CSV
//! (`time,ghi,dni,dhi,temp_air,wind_speed`). Every bad field of every row is reported at once.

use std::fmt;
use std::path::Path;

/// One record; irradiance in W/m², temperature in °C, wind in m/s. Values are averages over the
/// interval that ends at `unix_end` (seconds, UTC), the TMY convention.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeatherRecord {
    pub unix_end: f64,
    pub ghi: f64,
    pub dni: f64,
    pub dhi: f64,
    pub temp_air: f64,
    pub wind_speed: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Weather {
    pub name: String,
    pub latitude: f64,
    pub longitude: f64,
    pub elevation_m: f64,
    /// Offset of the file's local standard time from UTC, hours.
    pub tz_hours: f64,
    /// Length of each record's interval, seconds.
    pub interval_s: u32,
    pub records: Vec<WeatherRecord>,
}

/// A problem in a weather file: where and why.
#[derive(Debug, Clone, PartialEq)]
pub struct WeatherError {
    pub file: String,
    pub line: usize,
    pub field: String,
    pub reason: String,
}

impl fmt::Display for WeatherError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}: {}", self.file, self.line, self.field, self.reason)
    }
}

/// Where the site is, for weather files that do not say (the plain CSV).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Place {
    pub latitude: f64,
    pub longitude: f64,
    pub elevation_m: f64,
    pub tz_hours: f64,
}

pub use model::calendar::{civil_from_days, days_from_civil};

/// UTC (year, month) of a Unix time.
pub fn year_month(unix: i64) -> (i32, u32) {
    let (y, m, _) = civil_from_days(unix.div_euclid(86400));
    (y, m)
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

struct Errors {
    file: String,
    list: Vec<WeatherError>,
}

impl Errors {
    fn push(&mut self, line: usize, field: &str, reason: impl Into<String>) {
        self.list.push(WeatherError { file: self.file.clone(), line, field: field.to_string(), reason: reason.into() });
    }
    /// An EPW value, where `missing` is the format's mark for "no observation" (9999 for irradiance):
    /// said as such rather than as a number out of range.
    fn epw_number(&mut self, line: usize, field: &str, text: Option<&str>, min: f64, max: f64, missing: f64) -> f64 {
        if text.and_then(|t| t.trim().parse::<f64>().ok()) == Some(missing) {
            self.push(line, field, format!("{missing} is EPW's mark for a missing value"));
            return f64::NAN;
        }
        self.number(line, field, text, min, max)
    }
    fn number(&mut self, line: usize, field: &str, text: Option<&str>, min: f64, max: f64) -> f64 {
        match text.map(str::trim) {
            None | Some("") => {
                self.push(line, field, "missing value");
                f64::NAN
            }
            Some(t) => match t.parse::<f64>() {
                Ok(v) if v.is_finite() && v >= min && v <= max => v,
                Ok(v) => {
                    self.push(line, field, format!("{v} is outside [{min}, {max}]"));
                    f64::NAN
                }
                Err(_) => {
                    self.push(line, field, format!("'{t}' is not a number"));
                    f64::NAN
                }
            },
        }
    }
}

/// The layouts a weather text can be in, told apart by its first lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeatherFormat {
    /// NREL TMY3: the second line starts `Date (MM/DD/YYYY)`.
    Tmy3,
    /// EnergyPlus weather: the first line starts `LOCATION,`.
    Epw,
    /// The plain CSV, which carries no location.
    Plain,
}

impl WeatherFormat {
    pub fn of(text: &str) -> WeatherFormat {
        let mut lines = text.lines();
        let first = lines.next().unwrap_or("");
        if first.trim_start_matches('\u{feff}').starts_with("LOCATION,") {
            WeatherFormat::Epw
        } else if lines.next().unwrap_or("").starts_with("Date (MM/DD/YYYY)") {
            WeatherFormat::Tmy3
        } else {
            WeatherFormat::Plain
        }
    }

    /// Whether the file says where it is (TMY3 and EPW do; a plain CSV takes the site's `[location]`).
    pub fn has_location(self) -> bool {
        self != WeatherFormat::Plain
    }
}

/// Reads a weather file: TMY3 (recognised by its two header lines), EPW (its `LOCATION` line) or the
/// plain CSV. A TMY3 or EPW file is a typical year assembled from several years; it is placed in
/// `year` (which must not be a leap year, as a typical year has 8760 hours) so the sun is computed for
/// one consistent calendar.
pub fn read_weather(path: &Path, place: Option<Place>, year: i32) -> Result<Weather, Vec<WeatherError>> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![WeatherError { file: file.clone(), line: 0, field: String::new(), reason: format!("cannot read: {e}") }]
    })?;
    parse_weather(&file, &text, place, year)
}

/// [`read_weather`] on a text already in memory (`file` names it in the problems).
pub fn parse_weather(file: &str, text: &str, place: Option<Place>, year: i32) -> Result<Weather, Vec<WeatherError>> {
    match WeatherFormat::of(text) {
        WeatherFormat::Tmy3 => parse_tmy3(file, text, year),
        WeatherFormat::Epw => parse_epw(file, text, year),
        WeatherFormat::Plain => match place {
            Some(place) => parse_plain(file, text, place),
            None => Err(vec![WeatherError {
                file: file.to_string(),
                line: 1,
                field: String::new(),
                reason: "a plain weather CSV has no location: give [location] in the site file".into(),
            }]),
        },
    }
}

/// The end of hour `index` (0-based) of a typical year placed in `year`, as Unix seconds, and the same
/// instant as the typical year's local standard (month, day, hour ending 1..=24) that a TMY3 or EPW
/// row must carry there: hour-ending stamps, so the last hour of a day is 24:00 of that day, not 00:00
/// of the next.
fn typical_hour(year: i32, tz_hours: f64, index: usize) -> (f64, u32, u32, i64) {
    let start = (days_from_civil(year, 1, 1) * 86400) as f64 - tz_hours * 3600.0;
    let end = start + (index as f64 + 1.0) * 3600.0;
    let local = end + tz_hours * 3600.0;
    let (_, m, d) = civil_from_days(((local - 1.0) / 86400.0).floor() as i64);
    let hour_end = (local as i64).rem_euclid(86400) / 3600;
    (end, m, d, if hour_end == 0 { 24 } else { hour_end })
}

/// TMY3: line 1 is `USAF,name,state,TZ,latitude,longitude,elevation`; line 2 the 71 column names; then
/// 8760 hourly rows `MM/DD/YYYY,HH:MM,...` in local standard time, stamped at the end of the hour
/// (01:00 … 24:00). Rows must run hour by hour from 1 January 01:00 to 31 December 24:00.
pub fn parse_tmy3(file: &str, text: &str, year: i32) -> Result<Weather, Vec<WeatherError>> {
    let mut errors = Errors { file: file.to_string(), list: Vec::new() };
    if is_leap(year) {
        errors.push(0, "year", format!("{year} is a leap year; a TMY3 year has 8760 hours"));
        return Err(errors.list);
    }
    let mut lines = text.lines();
    let meta: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let tz_hours = errors.number(1, "TZ", meta.get(3).copied(), -12.0, 14.0);
    let latitude = errors.number(1, "latitude", meta.get(4).copied(), -90.0, 90.0);
    let longitude = errors.number(1, "longitude", meta.get(5).copied(), -180.0, 180.0);
    let elevation_m = errors.number(1, "elevation", meta.get(6).copied(), -500.0, 9000.0);
    let name = meta.get(1).map(|s| s.trim_matches('"').to_string()).unwrap_or_default();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let col = |name: &str, errors: &mut Errors| -> usize {
        header.iter().position(|h| *h == name).unwrap_or_else(|| {
            errors.push(2, name, "column missing");
            usize::MAX
        })
    };
    let c_ghi = col("GHI (W/m^2)", &mut errors);
    let c_dni = col("DNI (W/m^2)", &mut errors);
    let c_dhi = col("DHI (W/m^2)", &mut errors);
    let c_temp = col("Dry-bulb (C)", &mut errors);
    let c_wind = col("Wspd (m/s)", &mut errors);
    if !errors.list.is_empty() {
        return Err(errors.list);
    }
    let mut records = Vec::with_capacity(8760);
    for (i, row) in lines.enumerate() {
        let line = i + 3;
        if row.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = row.split(',').collect();
        // The stamp must be the next hour of the typical year (month, day and hour; the source year varies).
        let (expected_end, m, d, hour_end) = typical_hour(year, tz_hours, records.len());
        let want = (format!("{m:02}/{d:02}"), format!("{hour_end:02}:00"));
        let date = f.first().copied().unwrap_or("");
        let time = f.get(1).copied().unwrap_or("");
        if date.get(..5) != Some(want.0.as_str()) || time != want.1 {
            errors.push(
                line,
                "Date/Time",
                format!("'{date} {time}' is not the next hour (expected {} {})", want.0, want.1),
            );
        }
        let ghi = errors.number(line, "GHI", f.get(c_ghi).copied(), 0.0, 1500.0);
        let dni = errors.number(line, "DNI", f.get(c_dni).copied(), 0.0, 1500.0);
        let dhi = errors.number(line, "DHI", f.get(c_dhi).copied(), 0.0, 1500.0);
        let temp_air = errors.number(line, "Dry-bulb", f.get(c_temp).copied(), -90.0, 70.0);
        let wind_speed = errors.number(line, "Wspd", f.get(c_wind).copied(), 0.0, 100.0);
        records.push(WeatherRecord { unix_end: expected_end, ghi, dni, dhi, temp_air, wind_speed });
    }
    hourly_year(
        errors,
        "a TMY3",
        Weather { name, latitude, longitude, elevation_m, tz_hours, interval_s: 3600, records },
    )
}

/// EnergyPlus weather (EPW): line 1 is `LOCATION,city,state,country,source,WMO,latitude,longitude,
/// time zone (hours from UTC),elevation (m)`; then the header lines up to `DATA PERIODS` (one period,
/// one record an hour); then 8760 rows of 35 comma-separated fields `year,month,day,hour,minute,flags,
/// ...` in local standard time, the hour 1..=24 ending the interval (hour 1 is 00:00–01:00), the same
/// convention as TMY3, so the rows map to the same instants. Used: dry-bulb temperature (field 7, °C),
/// GHI (14), DNI (15), DHI (16) (W/m², averages over the hour) and wind speed (22, m/s), fields counted
/// from 1 as the EnergyPlus documentation counts them. The year of each row is the source year of that
/// month and is ignored: rows must run hour by hour from 1 January hour 1 to 31 December hour 24.
pub fn parse_epw(file: &str, text: &str, year: i32) -> Result<Weather, Vec<WeatherError>> {
    let mut errors = Errors { file: file.to_string(), list: Vec::new() };
    if is_leap(year) {
        errors.push(0, "year", format!("{year} is a leap year; a typical EPW year has 8760 hours"));
        return Err(errors.list);
    }
    let lines: Vec<&str> = text.lines().collect();
    let location: Vec<&str> = lines.first().map_or("", |l| l.trim_start_matches('\u{feff}')).split(',').collect();
    let latitude = errors.number(1, "LOCATION latitude (field 7)", location.get(6).copied(), -90.0, 90.0);
    let longitude = errors.number(1, "LOCATION longitude (field 8)", location.get(7).copied(), -180.0, 180.0);
    let tz_hours = errors.number(1, "LOCATION time zone (field 9)", location.get(8).copied(), -12.0, 14.0);
    let elevation_m = errors.number(1, "LOCATION elevation (field 10)", location.get(9).copied(), -500.0, 9000.0);
    let city = location.get(1).map_or("", |s| s.trim());
    let name = match (location.get(4).map(|s| s.trim()), location.get(5).map(|s| s.trim())) {
        (Some(src), Some(wmo)) if !src.is_empty() || !wmo.is_empty() => format!("{city} ({src} {wmo})"),
        _ => city.to_string(),
    };
    // The data rows follow the DATA PERIODS line (the eighth in every EPW, but found by name).
    let Some(periods_at) = lines.iter().take(50).position(|l| l.starts_with("DATA PERIODS")) else {
        errors.push(0, "DATA PERIODS", "header line missing: the data rows follow it");
        return Err(errors.list);
    };
    let periods: Vec<&str> = lines[periods_at].split(',').collect();
    if periods.get(1).map(|s| s.trim()) != Some("1") {
        errors.push(periods_at + 1, "DATA PERIODS (field 2)", "only a file with one data period is read");
    }
    if periods.get(2).map(|s| s.trim()) != Some("1") {
        errors.push(periods_at + 1, "DATA PERIODS (field 3)", "only one record an hour is read");
    }
    if !errors.list.is_empty() {
        return Err(errors.list);
    }
    let mut records = Vec::with_capacity(8760);
    for (i, row) in lines.iter().enumerate().skip(periods_at + 1) {
        let line = i + 1;
        if row.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = row.split(',').collect();
        let (expected_end, m, d, hour_end) = typical_hour(year, tz_hours, records.len());
        let stamp: Vec<Option<i64>> = (1..=3).map(|k| f.get(k).and_then(|v| v.trim().parse().ok())).collect();
        if stamp != [Some(m as i64), Some(d as i64), Some(hour_end)] {
            let shown: Vec<&str> = (1..=3).map(|k| f.get(k).copied().unwrap_or("")).collect();
            errors.push(
                line,
                "month/day/hour (fields 2-4)",
                format!("'{}' is not the next hour (expected {m}/{d} hour {hour_end})", shown.join("/")),
            );
        }
        let temp_air = errors.epw_number(line, "dry-bulb (field 7)", f.get(6).copied(), -90.0, 70.0, 99.9);
        let ghi = errors.epw_number(line, "GHI (field 14)", f.get(13).copied(), 0.0, 1500.0, 9999.0);
        let dni = errors.epw_number(line, "DNI (field 15)", f.get(14).copied(), 0.0, 1500.0, 9999.0);
        let dhi = errors.epw_number(line, "DHI (field 16)", f.get(15).copied(), 0.0, 1500.0, 9999.0);
        let wind_speed = errors.epw_number(line, "wind speed (field 22)", f.get(21).copied(), 0.0, 100.0, 999.0);
        records.push(WeatherRecord { unix_end: expected_end, ghi, dni, dhi, temp_air, wind_speed });
    }
    hourly_year(
        errors,
        "a typical EPW",
        Weather { name, latitude, longitude, elevation_m, tz_hours, interval_s: 3600, records },
    )
}

/// A typical year read hour by hour (TMY3, EPW): 8760 records, or the problem said with the
/// others; every problem, or the year.
fn hourly_year(mut errors: Errors, what: &str, w: Weather) -> Result<Weather, Vec<WeatherError>> {
    if w.records.len() != 8760 {
        errors.push(0, "rows", format!("{} hourly rows, {what} year has 8760", w.records.len()));
    }
    if !errors.list.is_empty() {
        return Err(errors.list);
    }
    Ok(w)
}

/// Plain CSV: header `time,ghi,dni,dhi,temp_air,wind_speed`; `time` is `YYYY-MM-DDTHH:MM` (or with a
/// space) in local standard time at the end of the interval; intervals must be equal and consecutive.
pub fn parse_plain(file: &str, text: &str, place: Place) -> Result<Weather, Vec<WeatherError>> {
    let mut errors = Errors { file: file.to_string(), list: Vec::new() };
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap_or("").split(',').map(|s| s.trim().to_string()).collect();
    let names = ["time", "ghi", "dni", "dhi", "temp_air", "wind_speed"];
    let mut cols = [0usize; 6];
    for (k, n) in names.iter().enumerate() {
        match header.iter().position(|h| h == n) {
            Some(c) => cols[k] = c,
            None => errors.push(1, n, "column missing"),
        }
    }
    if !errors.list.is_empty() {
        return Err(errors.list);
    }
    let mut records: Vec<WeatherRecord> = Vec::new();
    for (i, row) in lines.enumerate() {
        let line = i + 2;
        if row.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = row.split(',').collect();
        let time = f.get(cols[0]).copied().unwrap_or("").trim();
        let unix_end = match parse_local_time(time) {
            Some(local) => local - place.tz_hours * 3600.0,
            None => {
                errors.push(line, "time", format!("'{time}' is not YYYY-MM-DDTHH:MM"));
                f64::NAN
            }
        };
        let ghi = errors.number(line, "ghi", f.get(cols[1]).copied(), 0.0, 1500.0);
        let dni = errors.number(line, "dni", f.get(cols[2]).copied(), 0.0, 1500.0);
        let dhi = errors.number(line, "dhi", f.get(cols[3]).copied(), 0.0, 1500.0);
        let temp_air = errors.number(line, "temp_air", f.get(cols[4]).copied(), -90.0, 70.0);
        let wind_speed = errors.number(line, "wind_speed", f.get(cols[5]).copied(), 0.0, 100.0);
        records.push(WeatherRecord { unix_end, ghi, dni, dhi, temp_air, wind_speed });
    }
    let interval = if records.len() >= 2 { records[1].unix_end - records[0].unix_end } else { 3600.0 };
    if !((60.0..=3600.0).contains(&interval) && interval.fract() == 0.0) {
        errors.push(3, "time", format!("interval of {interval} s: must be whole seconds between 60 and 3600"));
    } else {
        for (i, w) in records.windows(2).enumerate() {
            if w[1].unix_end - w[0].unix_end != interval {
                errors.push(i + 3, "time", format!("not {interval} s after the previous row"));
            }
        }
    }
    if records.is_empty() {
        errors.push(2, "rows", "no data rows");
    }
    if !errors.list.is_empty() {
        return Err(errors.list);
    }
    Ok(Weather {
        name: file.to_string(),
        latitude: place.latitude,
        longitude: place.longitude,
        elevation_m: place.elevation_m,
        tz_hours: place.tz_hours,
        interval_s: interval as u32,
        records,
    })
}

fn parse_local_time(s: &str) -> Option<f64> {
    let (date, time) = s.split_once(['T', ' '])?;
    let mut d = date.split('-');
    let y: i32 = d.next()?.parse().ok()?;
    let m: u32 = d.next()?.parse().ok()?;
    let day: u32 = d.next()?.parse().ok()?;
    let (h, min) = time.split_once(':')?;
    let h: i64 = h.parse().ok()?;
    let min: i64 = min.get(..2)?.parse().ok()?;
    if !(1..=12).contains(&m) || day == 0 || day > 31 || h > 24 || min > 59 {
        return None;
    }
    Some((days_from_civil(y, m, day) * 86400 + h * 3600 + min * 60) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for days in [-1000, 0, 19000, 19723, 20000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_from_civil(2023, 1, 1), 19358);
    }

    #[test]
    fn plain_csv_reports_every_bad_field() {
        let text = "time,ghi,dni,dhi,temp_air,wind_speed\n2023-01-01T01:00,0,0,0,5,1\n2023-01-01T02:00,x,0,-3,5,1\n2023-01-01T04:00,0,0,0,5,1\n";
        let place = Place { latitude: 30.0, longitude: 110.0, elevation_m: 0.0, tz_hours: 8.0 };
        let errs = parse_plain("w.csv", text, place).unwrap_err();
        let fields: Vec<(usize, &str)> = errs.iter().map(|e| (e.line, e.field.as_str())).collect();
        assert!(fields.contains(&(3, "ghi")), "{errs:?}");
        assert!(fields.contains(&(3, "dhi")), "{errs:?}");
        assert!(fields.contains(&(4, "time")), "{errs:?}");
    }

    fn tmy3_text() -> String {
        let mut t = String::from("723170,\"TEST\",NC,-5.0,36.100,-79.950,273\n");
        t.push_str("Date (MM/DD/YYYY),Time (HH:MM),GHI (W/m^2),DNI (W/m^2),DHI (W/m^2),Dry-bulb (C),Wspd (m/s)\n");
        for d in 0..365 {
            let (_, m, day) = civil_from_days(days_from_civil(1999, 1, 1) + d);
            for h in 1..=24 {
                t.push_str(&format!("{m:02}/{day:02}/1988,{h:02}:00,100,200,50,10.5,3\n"));
            }
        }
        t
    }

    #[test]
    fn tmy3_reads_a_year_and_reports_every_bad_row() {
        let w = parse_tmy3("t.csv", &tmy3_text(), 2023).unwrap();
        assert_eq!(w.records.len(), 8760);
        assert_eq!((w.latitude, w.longitude, w.elevation_m, w.tz_hours), (36.1, -79.95, 273.0, -5.0));
        // 1 January 01:00 at UTC−5 ends at 06:00 UTC.
        assert_eq!(w.records[0].unix_end, (days_from_civil(2023, 1, 1) * 86400 + 6 * 3600) as f64);
        assert_eq!(w.records[8759].unix_end, (days_from_civil(2024, 1, 1) * 86400 + 5 * 3600) as f64);

        let bad = tmy3_text().replacen("01/01/1988,05:00,100", "01/01/1988,05:00,-7", 1).replacen(
            "03/02/1988,07:00",
            "03/02/1988,08:00",
            1,
        );
        let errors = parse_tmy3("t.csv", &bad, 2023).unwrap_err();
        let found: Vec<(usize, &str)> = errors.iter().map(|e| (e.line, e.field.as_str())).collect();
        assert_eq!(found, [(7, "GHI"), (3 + (31 + 28 + 1) * 24 + 6, "Date/Time")], "{errors:?}");
        assert!(parse_tmy3("t.csv", &tmy3_text(), 2024).is_err(), "a leap year cannot hold a TMY3 year");
    }

    /// A hand-made EPW year: the header lines of a real file (shortened) and 8760 rows with the 35
    /// fields, GHI 100, DNI 200, DHI 50, 10.5 °C, wind 3 m/s; source year 1990 on every row.
    fn epw_text() -> String {
        let mut t = String::from("LOCATION,Testville,Guangxi,CHN,CSWD,596320,21.95,108.62,8.0,4.5\n");
        t.push_str("DESIGN CONDITIONS,0\nTYPICAL/EXTREME PERIODS,0\nGROUND TEMPERATURES,0\n");
        t.push_str("HOLIDAYS/DAYLIGHT SAVINGS,No,0,0,0\nCOMMENTS 1,hand-made\nCOMMENTS 2,\n");
        t.push_str("DATA PERIODS,1,1,Data,Sunday, 1/ 1,12/31\n");
        for d in 0..365 {
            let (_, m, day) = civil_from_days(days_from_civil(1999, 1, 1) + d);
            for h in 1..=24 {
                t.push_str(&format!(
                    "1990,{m},{day},{h},0,?9?9,10.5,9.4,59,102070,9999,9999,335,100,200,50,999900,999900,999900,99990,68,3,1,1,999.0,999,9,999999999,0,0.0000,0,88,999.000,999.0,99.0\n"
                ));
            }
        }
        t
    }

    #[test]
    fn epw_reads_a_year_at_the_instants_tmy3_gives_them() {
        let text = epw_text();
        assert_eq!(WeatherFormat::of(&text), WeatherFormat::Epw);
        assert_eq!(WeatherFormat::of(&tmy3_text()), WeatherFormat::Tmy3);
        let w = parse_weather("w.epw", &text, None, 2023).unwrap();
        assert_eq!(w.name, "Testville (CSWD 596320)");
        assert_eq!((w.latitude, w.longitude, w.elevation_m, w.tz_hours), (21.95, 108.62, 4.5, 8.0));
        assert_eq!((w.records.len(), w.interval_s), (8760, 3600));
        // Hour 1 of 1 January at UTC+8 is 00:00-01:00 local, ending at 17:00 UTC on 31 December.
        assert_eq!(w.records[0].unix_end, (days_from_civil(2023, 1, 1) * 86400 - 7 * 3600) as f64);
        assert_eq!(w.records[8759].unix_end, (days_from_civil(2024, 1, 1) * 86400 - 8 * 3600) as f64);
        let r = w.records[4000];
        assert_eq!((r.ghi, r.dni, r.dhi, r.temp_air, r.wind_speed), (100.0, 200.0, 50.0, 10.5, 3.0));
        // The same hours as a TMY3 file in the same time zone.
        let tmy = parse_tmy3("t.csv", &tmy3_text().replacen("-5.0,36.100", "8.0,36.100", 1), 2023).unwrap();
        let ends = |w: &Weather| w.records.iter().map(|r| r.unix_end).collect::<Vec<_>>();
        assert_eq!(ends(&w), ends(&tmy));
    }

    #[test]
    fn epw_reports_every_bad_field_by_line_and_field() {
        // Line 9 is 1/1 hour 1; line 9 + 24·59 + 7 is 1 March hour 8 (after 31 + 28 days).
        let bad = epw_text()
            .replacen(
                "LOCATION,Testville,Guangxi,CHN,CSWD,596320,21.95,108.62,8.0",
                "LOCATION,Testville,Guangxi,CHN,CSWD,596320,91,108.62,x",
                1,
            )
            .replacen(
                "1990,1,1,1,0,?9?9,10.5,9.4,59,102070,9999,9999,335,100,200",
                "1990,1,1,1,0,?9?9,10.5,9.4,59,102070,9999,9999,335,9999,-2",
                1,
            )
            .replacen("1990,3,1,8,0,?9?9,10.5", "1990,3,1,9,0,?9?9,abc", 1)
            .replacen(",68,3,1,1,999.0", ",68,999,1,1,999.0", 1);
        let errors = parse_epw("w.epw", &bad, 2023).unwrap_err();
        let found: Vec<(usize, &str)> = errors.iter().map(|e| (e.line, e.field.as_str())).collect();
        assert_eq!(found, [(1, "LOCATION latitude (field 7)"), (1, "LOCATION time zone (field 9)")], "{errors:?}");

        let bad = epw_text()
            .replacen(
                "1990,1,1,1,0,?9?9,10.5,9.4,59,102070,9999,9999,335,100,200",
                "1990,1,1,1,0,?9?9,10.5,9.4,59,102070,9999,9999,335,9999,-2",
                1,
            )
            .replacen("1990,3,1,8,0,?9?9,10.5", "1990,3,1,9,0,?9?9,abc", 1)
            .replacen(",68,3,1,1,999.0", ",68,999,1,1,999.0", 1);
        let errors = parse_epw("w.epw", &bad, 2023).unwrap_err();
        let found: Vec<(usize, &str)> = errors.iter().map(|e| (e.line, e.field.as_str())).collect();
        let march = 9 + (31 + 28) * 24 + 7;
        assert_eq!(
            found,
            [
                (9, "GHI (field 14)"),
                (9, "DNI (field 15)"),
                (9, "wind speed (field 22)"),
                (march, "month/day/hour (fields 2-4)"),
                (march, "dry-bulb (field 7)"),
            ],
            "{errors:?}"
        );
        assert!(errors[0].reason.contains("missing"), "{}", errors[0]);
        assert!(errors[3].reason.contains("expected 3/1 hour 8"), "{}", errors[3]);

        let short: String = epw_text().lines().take(8 + 100).map(|l| format!("{l}\n")).collect();
        let errors = parse_epw("w.epw", &short, 2023).unwrap_err();
        assert_eq!(errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), ["rows"]);
        let no_periods = epw_text().replacen("DATA PERIODS", "DATA PERIOD", 1);
        assert_eq!(parse_epw("w.epw", &no_periods, 2023).unwrap_err()[0].field, "DATA PERIODS");
        assert!(parse_epw("w.epw", &epw_text(), 2024).is_err(), "a leap year cannot hold a typical year");
    }

    #[test]
    fn plain_csv_times_are_utc_end_of_interval() {
        let text = "time,ghi,dni,dhi,temp_air,wind_speed\n2023-01-01T09:00,0,0,0,5,1\n2023-01-01T10:00,100,0,100,5,1\n";
        let place = Place { latitude: 30.0, longitude: 110.0, elevation_m: 0.0, tz_hours: 8.0 };
        let w = parse_plain("w.csv", text, place).unwrap();
        assert_eq!(w.records[0].unix_end, (19358 * 86400 + 3600) as f64);
        assert_eq!(w.interval_s, 3600);
    }
}
