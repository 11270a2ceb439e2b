//! Contact methods as the directory API writes them: which kind of address each is.

use super::Invalid;
use crate::domain::directory::ContactKind;
use crate::pb::directory::v1 as dir;

/// A method's kind; unspecified or unknown names `method.type`.
pub fn kind_from_pb(value: i32) -> Result<ContactKind, Invalid> {
    match dir::ContactMethodType::try_from(value) {
        Ok(dir::ContactMethodType::Email) => Ok(ContactKind::Email),
        Ok(dir::ContactMethodType::Sms) => Ok(ContactKind::Sms),
        Ok(dir::ContactMethodType::Voice) => Ok(ContactKind::Voice),
        Ok(dir::ContactMethodType::Slack) => Ok(ContactKind::Slack),
        Ok(dir::ContactMethodType::Webhook) => Ok(ContactKind::Webhook),
        Ok(dir::ContactMethodType::Teams) => Ok(ContactKind::Teams),
        Ok(dir::ContactMethodType::Push) => Ok(ContactKind::Push),
        _ => Err(Invalid::field("method.type", "required")),
    }
}
