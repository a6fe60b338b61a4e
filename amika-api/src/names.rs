//! The naming rule for sandboxes, images and snapshots, shared so the client can reject a bad
//! name before it uploads anything.

/// The longest name a DNS label allows.
pub const MAX_NAME_LEN: usize = 63;

/// Checks `name` against the DNS-label rule `^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`.
///
/// Returns a sentence naming what is wrong, suitable for an error message.
pub fn check(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a name cannot be empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "name '{name}' is {} characters long; at most {MAX_NAME_LEN} are allowed",
            name.len()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "name '{name}' contains {bad:?}; use lower-case letters, digits and '-' only"
        ));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(format!(
            "name '{name}' must start and end with a letter or digit"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn accepts_dns_labels() {
        for good in ["a", "base-box", "0", "a1-b2", &"x".repeat(63)] {
            assert!(check(good).is_ok(), "{good} should be accepted");
        }
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            "",
            "-a",
            "a-",
            "Abc",
            "a_b",
            "a.b",
            "a/b",
            "..",
            &"x".repeat(64),
        ] {
            assert!(check(bad).is_err(), "{bad} should be refused");
        }
    }
}
