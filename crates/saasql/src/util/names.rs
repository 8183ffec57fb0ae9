//! "Did you mean …?": the known name closest to a mistyped one.

/// The name in `known` closest to `wanted` by edit distance (ignoring case;
/// two swapped letters count as one edit), if it is close enough to be a
/// typo: at most a third of its characters differ (at least one may). Ties
/// go to the first in `known`'s order.
pub fn closest<'a>(wanted: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let wanted = wanted.to_lowercase();
    known
        .into_iter()
        .map(|name| (strsim::osa_distance(&wanted, &name.to_lowercase()), name))
        .filter(|(distance, name)| *distance <= (name.chars().count() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_name_and_strangers_none() {
        let known = ["events", "customers", "nps", "csat"];
        assert_eq!(closest("evnets", known), Some("events"));
        assert_eq!(closest("Customer", known), Some("customers"));
        assert_eq!(closest("nsp", known), Some("nps"));
        assert_eq!(closest("xyz", known), None);
        assert_eq!(closest("np", known), Some("nps"));
        assert_eq!(closest("invoices", known), None);
    }
}
