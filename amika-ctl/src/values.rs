//! Parsers for option values clap cannot check on its own: sizes, CPU counts and `KEY=VALUE`.
//!
//! They run inside clap, so a bad value is reported like any other usage error (exit code 2)
//! before anything is sent to the daemon.

/// Parses a memory size in bytes: a number with an optional binary unit.
///
/// `512M`, `512MiB`, `512mb` and `536870912` all mean 512 MiB: every unit is a power of 1024,
/// because that is how the kernel accounts memory. Fractions such as `1.5G` are allowed and
/// rounded down to a whole byte.
pub fn parse_memory(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let unit_at = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(unit_at);
    let shift = unit_shift(unit).ok_or_else(|| {
        format!("unknown unit in '{text}'; use a number with K, M, G or T, e.g. 512M or 2G")
    })?;
    let bytes = scaled(number, shift).ok_or_else(|| {
        format!("'{text}' is not a memory size; use a number with K, M, G or T, e.g. 512M")
    })?;
    if bytes == 0 {
        return Err(format!("memory size '{text}' must be more than 0 bytes"));
    }
    u64::try_from(bytes).map_err(|_| format!("memory size '{text}' is too large"))
}

/// The power of two a unit suffix stands for, ignoring case and an `i` or `B` after it.
fn unit_shift(unit: &str) -> Option<u32> {
    let lower = unit.trim_start().to_ascii_lowercase();
    let prefix = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('b'))
        .or_else(|| lower.strip_suffix('i'))
        .unwrap_or(&lower);
    match prefix {
        "" => Some(0),
        "k" => Some(10),
        "m" => Some(20),
        "g" => Some(30),
        "t" => Some(40),
        _ => None,
    }
}

/// `number * 2^shift`, computed on integers so `1.1G` does not pick up float error.
fn scaled(number: &str, shift: u32) -> Option<u128> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    // More digits than this cannot fit a u64 anyway and would overflow the arithmetic.
    if !digits_only(whole) || !digits_only(fraction) || whole.len() > 20 || fraction.len() > 18 {
        return None;
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let fraction_value: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().ok()?
    };
    let denominator = 10u128.pow(fraction.len() as u32);
    Some((whole << shift) + ((fraction_value << shift) / denominator))
}

/// Parses a CPU limit in cores: a positive, finite number such as `2` or `0.5`.
pub fn parse_cpus(text: &str) -> Result<f64, String> {
    let cpus: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a number of CPUs; use e.g. 2 or 0.5"))?;
    if !cpus.is_finite() || cpus <= 0.0 {
        return Err(format!("CPU limit '{text}' must be a number above 0"));
    }
    Ok(cpus)
}

/// Checks a `KEY=VALUE` environment assignment and returns it unchanged.
pub fn parse_env(text: &str) -> Result<String, String> {
    match text.split_once('=') {
        Some((key, _)) if !key.is_empty() && !key.contains('\0') => Ok(text.to_string()),
        _ => Err(format!(
            "'{text}' is not an environment assignment; use KEY=VALUE"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units_are_binary_and_case_blind() {
        assert_eq!(parse_memory("512M"), Ok(512 << 20));
        assert_eq!(parse_memory("512m"), Ok(512 << 20));
        assert_eq!(parse_memory("512MiB"), Ok(512 << 20));
        assert_eq!(parse_memory("512MB"), Ok(512 << 20));
        assert_eq!(parse_memory("2G"), Ok(2 << 30));
        assert_eq!(parse_memory("1t"), Ok(1 << 40));
        assert_eq!(parse_memory("64k"), Ok(64 << 10));
        assert_eq!(parse_memory("4096"), Ok(4096));
        assert_eq!(parse_memory("4096B"), Ok(4096));
        assert_eq!(parse_memory(" 1 G "), Ok(1 << 30));
    }

    #[test]
    fn memory_fractions_are_exact() {
        assert_eq!(parse_memory("1.5G"), Ok(3 << 29));
        assert_eq!(parse_memory("0.5k"), Ok(512));
        assert_eq!(parse_memory(".5M"), Ok(512 << 10));
        assert_eq!(parse_memory("1.1G"), Ok(1_181_116_006));
    }

    #[test]
    fn bad_memory_sizes_are_refused_with_an_example() {
        for bad in ["", "M", "-1G", "1.2.3G", "12X", "1GG", "ten", "1e9", "."] {
            let err = parse_memory(bad).unwrap_err();
            assert!(err.contains("512M"), "{bad}: {err}");
        }
        assert!(parse_memory("0").unwrap_err().contains("more than 0"));
        assert!(parse_memory("99999999999T")
            .unwrap_err()
            .contains("too large"));
        assert!(parse_memory("99999999999999999999999T").is_err());
    }

    #[test]
    fn cpus_must_be_positive_and_finite() {
        assert_eq!(parse_cpus("2"), Ok(2.0));
        assert_eq!(parse_cpus("0.5"), Ok(0.5));
        for bad in ["0", "-1", "inf", "NaN", "two", ""] {
            assert!(parse_cpus(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn env_needs_a_key_and_an_equals_sign() {
        assert_eq!(parse_env("A=1"), Ok("A=1".to_string()));
        assert_eq!(parse_env("EMPTY="), Ok("EMPTY=".to_string()));
        assert_eq!(parse_env("URL=a=b"), Ok("URL=a=b".to_string()));
        for bad in ["A", "=1", ""] {
            assert!(parse_env(bad).unwrap_err().contains("KEY=VALUE"), "{bad}");
        }
    }
}
