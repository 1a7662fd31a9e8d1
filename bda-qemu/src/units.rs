//! Human units on the command line: `100Mbit/s`, `12.5MB/s`, `300ms`, `2s`, `4.6%`.

use std::time::Duration;

fn split(text: &str) -> Result<(f64, &str), String> {
    let text = text.trim();
    let end = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(end);
    let number: f64 = number.parse().map_err(|_| format!("{text:?} does not start with a number"))?;
    Ok((number, unit.trim()))
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::as_conversions)] // range checked
fn to_u64(value: f64, text: &str) -> Result<u64, String> {
    if value.is_finite() && (0.0..1.8e19).contains(&value) {
        Ok(value.round() as u64)
    } else {
        Err(format!("{text:?} is out of range"))
    }
}

/// A rate in bytes per second from `bit/s`, `kbit/s`, `Mbit/s`, `Gbit/s` (bits) or `B/s`,
/// `kB/s`, `MB/s`, `GB/s`, `MiB/s` (bytes); a bare number is bytes per second.
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let (number, unit) = split(text)?;
    let bytes = match unit {
        "bit/s" => number / 8.0,
        "kbit/s" => number * 1e3 / 8.0,
        "Mbit/s" => number * 1e6 / 8.0,
        "Gbit/s" => number * 1e9 / 8.0,
        "" | "B/s" => number,
        "kB/s" => number * 1e3,
        "MB/s" => number * 1e6,
        "GB/s" => number * 1e9,
        "MiB/s" => number * 1_048_576.0,
        other => return Err(format!("unknown rate unit {other:?} in {text:?} (use Mbit/s, Gbit/s, MB/s, ...)")),
    };
    to_u64(bytes, text)
}

/// A duration from `ms`, `s` or `min`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = split(text)?;
    let seconds = match unit {
        "" | "s" => number,
        "ms" => number / 1e3,
        "min" => number * 60.0,
        other => return Err(format!("unknown time unit {other:?} in {text:?} (use ms, s, min)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("{text:?} is not a duration"))
}

/// A share in parts per million from a percentage: `4.56%` is 45,600 ppm.
pub fn parse_percent_ppm(text: &str) -> Result<u64, String> {
    let (number, unit) = split(text)?;
    if unit != "%" {
        return Err(format!("{text:?}: give a percentage, such as 4.6%"));
    }
    to_u64(number * 1e4, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_durations_and_percentages() {
        assert_eq!(parse_rate("100Mbit/s"), Ok(12_500_000));
        assert_eq!(parse_rate("12.5MB/s"), Ok(12_500_000));
        assert_eq!(parse_rate("1Gbit/s"), Ok(125_000_000));
        assert_eq!(parse_rate("2MiB/s"), Ok(2_097_152));
        assert!(parse_rate("100Mbps").is_err());
        assert!(parse_rate("-1B/s").is_err());
        assert_eq!(parse_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5min"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_percent_ppm("4.56%"), Ok(45_600));
        assert!(parse_percent_ppm("4.56").is_err());
    }
}
