//! Names and ids: validation of user-given names, generated `{color}-{city}` names, and
//! random ids for trees.

use rand::seq::SliceRandom;
use rand::Rng;

use crate::error::{Error, Result};

const COLORS: &[&str] = &[
    "amber", "azure", "beige", "black", "blue", "bronze", "coral", "crimson", "cyan", "ebony",
    "gold", "green", "grey", "indigo", "ivory", "jade", "lemon", "lilac", "lime", "magenta",
    "maroon", "mint", "navy", "ochre", "olive", "orange", "peach", "pink", "plum", "purple", "red",
    "rose", "ruby", "rust", "sage", "salmon", "sand", "scarlet", "silver", "tan", "teal", "violet",
    "white", "yellow",
];

const CITIES: &[&str] = &[
    "accra", "athens", "austin", "baku", "berlin", "bogota", "boston", "cairo", "dakar", "delhi",
    "denver", "dublin", "geneva", "hanoi", "havana", "helsinki", "kyoto", "lagos", "lima",
    "lisbon", "london", "lyon", "madrid", "malmo", "manila", "milan", "montreal", "mumbai",
    "nairobi", "naples", "oslo", "paris", "perth", "porto", "prague", "quito", "riga", "rome",
    "santiago", "seoul", "sofia", "sydney", "taipei", "tokyo", "toronto", "turin", "vienna",
    "vilnius", "warsaw", "zurich",
];

/// Checks a user-given name, turning the rule's complaint into an API error.
pub fn validate(kind: &str, name: &str) -> Result<()> {
    amika_api::names::check(name)
        .map_err(|why| Error::InvalidRequest(format!("invalid {kind} name: {why}")))
}

/// A random `{color}-{city}` name; the caller retries on a collision.
pub fn generate() -> String {
    let mut rng = rand::thread_rng();
    let color = COLORS.choose(&mut rng).unwrap_or(&"grey");
    let city = CITIES.choose(&mut rng).unwrap_or(&"oslo");
    format!("{color}-{city}")
}

/// A random 16-hex-digit id for an object and its tree.
pub fn new_id() -> String {
    format!("{:016x}", rand::thread_rng().gen::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_are_valid_dns_labels() {
        for _ in 0..200 {
            let name = generate();
            assert!(amika_api::names::check(&name).is_ok(), "{name}");
        }
    }

    #[test]
    fn ids_are_fixed_width_hex() {
        let id = new_id();
        assert_eq!(id.len(), 16);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
