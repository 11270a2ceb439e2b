//! Carriers: the networks BGP sessions run to, and how to reach their NOC.

use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relationship {
    Transit,
    Peering,
    Customer,
}

impl Relationship {
    pub fn as_str(self) -> &'static str {
        match self {
            Relationship::Transit => "transit",
            Relationship::Peering => "peering",
            Relationship::Customer => "customer",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Carrier {
    pub id: Uuid,
    /// Unique.
    pub name: String,
    pub asn: u32,
    pub relationship: Relationship,
    pub noc_email: String,
    pub noc_phone: String,
    pub noc_portal: String,
    pub team: Option<Uuid>,
    pub auto_ticket: bool,
    pub ticket_provider: String,
}

/// An AS number as people write it: `3356`, `AS3356`, `as 3356`. `None` for anything
/// else, including 0 (reserved).
pub fn parse_asn(text: &str) -> Option<u32> {
    let text = text.trim();
    let digits = text
        .strip_prefix("AS")
        .or_else(|| text.strip_prefix("as"))
        .or_else(|| text.strip_prefix("As"))
        .unwrap_or(text)
        .trim();
    digits.parse::<u32>().ok().filter(|asn| *asn != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asns_parse_as_people_write_them() {
        assert_eq!(parse_asn("3356"), Some(3356));
        assert_eq!(parse_asn("AS3356"), Some(3356));
        assert_eq!(parse_asn(" as 64500 "), Some(64500));
        assert_eq!(parse_asn("4200000000"), Some(4_200_000_000));
        assert_eq!(parse_asn("0"), None);
        assert_eq!(parse_asn("AS-LEVEL3"), None);
        assert_eq!(parse_asn(""), None);
    }
}
