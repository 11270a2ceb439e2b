//! Carriers: AS numbers, relationships and NOC contacts, checked as written and
//! compiled for enrichment.

use super::{Invalid, fields};
use crate::domain::enrich::{Carrier, Relationship, parse_asn};
use crate::pb::alerting::routing::v1 as pb;

/// A carrier as enrichment uses it; errors name the field.
pub fn compile(carrier: &pb::CarrierConfig) -> Result<Carrier, Invalid> {
    let id = fields::id("carrier.id", &carrier.id)?;
    if carrier.name.is_empty() {
        return Err(Invalid::field("carrier.name", "required"));
    }
    let asn = parse_asn(&carrier.asn).ok_or_else(|| {
        Invalid::field(
            "carrier.asn",
            format!("not an AS number: {:?}", carrier.asn),
        )
    })?;
    let relationship = match pb::CarrierRelationship::try_from(carrier.relationship) {
        Ok(pb::CarrierRelationship::Transit) => Relationship::Transit,
        Ok(pb::CarrierRelationship::Peering) => Relationship::Peering,
        Ok(pb::CarrierRelationship::Customer) => Relationship::Customer,
        Ok(pb::CarrierRelationship::Unspecified) => {
            return Err(Invalid::field("carrier.relationship", "required"));
        }
        Err(_) => {
            return Err(Invalid::field(
                "carrier.relationship",
                "unknown relationship",
            ));
        }
    };
    if !carrier.noc_email.is_empty() && !looks_like_email(&carrier.noc_email) {
        return Err(Invalid::field("carrier.noc_email", "not an email address"));
    }
    fields::optional_url("carrier.noc_portal", &carrier.noc_portal)?;
    Ok(Carrier {
        id,
        name: carrier.name.clone(),
        asn,
        relationship,
        noc_email: carrier.noc_email.clone(),
        noc_phone: carrier.noc_phone.clone(),
        noc_portal: carrier.noc_portal.clone(),
        team: fields::optional_id("carrier.team_id", &carrier.team_id)?,
        auto_ticket: carrier.auto_ticket,
        ticket_provider: carrier.ticket_provider.clone(),
    })
}

fn looks_like_email(address: &str) -> bool {
    address
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !address.chars().any(char::is_whitespace)
}
