//! Human units on the command line: `1GiB`, `512MiB`, `100Mbit/s`, `12.5MB/s`, `300ms`.

/// Parses a size in bytes: a number with an optional suffix `B`, `KiB`, `MiB`, `GiB`, `TiB`
/// (powers of 1024) or `kB`, `MB`, `GB` (powers of 1000).
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let (number, unit) = split_number(text)?;
    let scale = match unit {
        "" | "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TiB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        other => {
            return Err(format!("unknown size unit {other:?} in {text:?} (use B, KiB, MiB, GiB, TiB, kB, MB, GB)"));
        }
    };
    to_u64(number * scale, text)
}

/// Parses a rate in bytes per second from `Mbit/s`, `Gbit/s`, `kbit/s`, `bit/s` (bits) or
/// `B/s`, `kB/s`, `MB/s`, `GB/s`, `MiB/s` (bytes).
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let (number, unit) = split_number(text)?;
    let bytes_per_s = match unit {
        "bit/s" | "bps" => number / 8.0,
        "kbit/s" | "kbps" => number * 1e3 / 8.0,
        "Mbit/s" | "Mbps" => number * 1e6 / 8.0,
        "Gbit/s" | "Gbps" => number * 1e9 / 8.0,
        "" | "B/s" => number,
        "kB/s" | "KB/s" => number * 1e3,
        "MB/s" => number * 1e6,
        "GB/s" => number * 1e9,
        "MiB/s" => number * 1024.0 * 1024.0,
        other => return Err(format!("unknown rate unit {other:?} in {text:?} (use Mbit/s, Gbit/s, MB/s, ...)")),
    };
    to_u64(bytes_per_s, text)
}

/// Parses a duration in seconds from `ms`, `s`, `min` (a bare number is seconds).
pub fn parse_seconds(text: &str) -> Result<f64, String> {
    let (number, unit) = split_number(text)?;
    let seconds = match unit {
        "" | "s" => number,
        "ms" => number / 1e3,
        "us" => number / 1e6,
        "min" => number * 60.0,
        other => return Err(format!("unknown time unit {other:?} in {text:?} (use ms, s, min)")),
    };
    if seconds.is_finite() && seconds >= 0.0 { Ok(seconds) } else { Err(format!("{text:?} is not a duration")) }
}

fn split_number(text: &str) -> Result<(f64, &str), String> {
    let text = text.trim();
    let end = text.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_')).unwrap_or(text.len());
    let (number, unit) = text.split_at(end);
    let number: f64 = number.replace('_', "").parse().map_err(|_| format!("{text:?} does not start with a number"))?;
    Ok((number, unit.trim()))
}

fn to_u64(value: f64, text: &str) -> Result<u64, String> {
    if value.is_finite() && value >= 0.0 && value < u64::MAX as f64 {
        Ok(value.round() as u64)
    } else {
        Err(format!("{text:?} is out of range"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_rates_and_times() {
        assert_eq!(parse_bytes("1GiB"), Ok(1 << 30));
        assert_eq!(parse_bytes("512 MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert_eq!(parse_bytes("1.5kB"), Ok(1500));
        assert!(parse_bytes("1XB").is_err());
        assert!(parse_bytes("GiB").is_err());
        assert_eq!(parse_rate("100Mbit/s"), Ok(12_500_000));
        assert_eq!(parse_rate("1Gbit/s"), Ok(125_000_000));
        assert_eq!(parse_rate("12.5MB/s"), Ok(12_500_000));
        assert!(parse_rate("-1MB/s").is_err());
        assert_eq!(parse_seconds("300ms"), Ok(0.3));
        assert_eq!(parse_seconds("2min"), Ok(120.0));
    }
}
