//! Contact methods on `directory.v1.UserService`: how a user is reached. A new method
//! is unverified and is sent a six-digit code; the user proves they receive on it by
//! sending the code back. A user manages their own methods; an admin manages anyone's
//! and may add one as already verified.
//!
//! Webhook methods get their code by a signed POST at once; email, SMS, voice and Slack
//! through the notifier, ahead of everything else waiting for that destination. Teams
//! and push methods have no provider that reaches one person: the method says so, and
//! an admin may add them as verified.

use rand::Rng;
use serde_json::json;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::pb::directory::v1 as dir;
use super::{Context, convert, parse_id, store_status};
use crate::auth::hash_secret;
use crate::definitions::contact_method::kind_from_pb;
use crate::domain::access::{self, Action, Owned};
use crate::domain::directory::{ContactKind, ContactMethod};
use crate::domain::notify::message::{Kind, Priority};
use crate::notify::notifier::{Notifier, channel_of};
use crate::notify::webhook::WebhookSender;

pub struct ContactMethodApi {
    pub ctx: Context,
    pub webhooks: WebhookSender,
    pub notifier: Notifier,
}

fn to_pb(method: &ContactMethod) -> dir::ContactMethod {
    dir::ContactMethod {
        id: method.id.to_string(),
        user_id: method.user_id.to_string(),
        r#type: match method.kind {
            ContactKind::Email => dir::ContactMethodType::Email,
            ContactKind::Sms => dir::ContactMethodType::Sms,
            ContactKind::Voice => dir::ContactMethodType::Voice,
            ContactKind::Slack => dir::ContactMethodType::Slack,
            ContactKind::Webhook => dir::ContactMethodType::Webhook,
            ContactKind::Teams => dir::ContactMethodType::Teams,
            ContactKind::Push => dir::ContactMethodType::Push,
        } as i32,
        address: method.address.clone(),
        verified: method.verified,
        code_sent: method.code_sent,
        code_detail: method.code_detail.clone(),
        created_at: Some(convert::timestamp(method.created_at)),
    }
}

impl ContactMethodApi {
    /// The user whose methods the request touches, once the caller may touch them, and
    /// whether the caller is an admin.
    async fn owner<T>(&self, request: &Request<T>, user_id: &str) -> Result<(Uuid, bool), Status> {
        let principal = self.ctx.authorize(request, Action::Read).await?;
        let user = parse_id("user_id", user_id)?;
        access::authorize_own(&principal, user, Owned::ContactMethods)
            .map_err(|e| Status::permission_denied(e.to_string()))?;
        let admin = principal.is_admin();
        if self
            .ctx
            .store
            .get_user(user)
            .await
            .map_err(store_status)?
            .is_none()
        {
            return Err(Status::not_found(format!("user {user} not found")));
        }
        Ok((user, admin))
    }

    async fn method(&self, user: Uuid, id: &str) -> Result<ContactMethod, Status> {
        let id = parse_id("method_id", id)?;
        self.ctx
            .store
            .get_contact_method(id)
            .await
            .map_err(store_status)?
            .filter(|m| m.user_id == user)
            .ok_or_else(|| Status::not_found(format!("contact method {id} not found")))
    }

    /// Sends the code where it can go today; says where it went or why it did not.
    async fn send_code(&self, method: &ContactMethod, code: &str) -> (bool, String) {
        match method.kind {
            ContactKind::Webhook => {
                let body = json!({
                    "type": "contact_method.verification",
                    "user_id": method.user_id.to_string(),
                    "method_id": method.id.to_string(),
                    "code": code,
                });
                match self.webhooks.post(&method.address, &body).await {
                    Ok(status) => (true, format!("sent: HTTP {status}")),
                    Err(error) => (false, format!("not sent: {error}")),
                }
            }
            other => match channel_of(other).map(|c| (c, self.notifier.can_reach(c))) {
                Some((_, Err(why))) => (false, format!("not sent: {why}")),
                Some((channel, Ok(()))) => {
                    let text = format!(
                        "Your oncall verification code is {code}. Enter it to start receiving pages here."
                    );
                    let request = Notifier::text_request(
                        Kind::Verification,
                        Priority::Critical,
                        channel,
                        &method.address,
                        Some(method.user_id),
                        "Your oncall verification code",
                        &text,
                    );
                    let ids = self.notifier.submit(vec![request]).await;
                    let id = ids.first().map(Uuid::to_string).unwrap_or_default();
                    (true, format!("queued: {} delivery {id}", channel.as_str()))
                }
                None => (
                    false,
                    format!(
                        "not sent: no provider reaches a single {} user; an admin may add this method as verified",
                        other.as_str()
                    ),
                ),
            },
        }
    }

    pub async fn add(
        &self,
        request: Request<dir::AddContactMethodRequest>,
    ) -> Result<Response<dir::ContactMethod>, Status> {
        let (user, admin) = self.owner(&request, &request.get_ref().user_id).await?;
        let given = request
            .into_inner()
            .method
            .ok_or_else(|| Status::invalid_argument("method: required"))?;
        let kind = kind_from_pb(given.r#type)?;
        let address = given.address.trim().to_string();
        kind.check_address(&address)
            .map_err(|why| Status::invalid_argument(format!("method.address: {why}")))?;
        let code = format!("{:06}", rand::rng().random_range(0..1_000_000));
        let mut method = ContactMethod {
            id: Uuid::new_v4(),
            user_id: user,
            kind,
            address,
            verified: false,
            code_hash: Some(hash_secret(&code)),
            code_sent: false,
            code_detail: String::new(),
            created_at: crate::clock::now(),
        };
        if given.verified && !admin {
            return Err(Status::permission_denied(
                "method.verified: only an admin adds a method as already verified",
            ));
        }
        if given.verified {
            method.verified = true;
            method.code_hash = None;
            method.code_detail = "added as verified by an admin".into();
        }
        self.ctx
            .store
            .insert_contact_method(&method)
            .await
            .map_err(store_status)?;
        if method.verified {
            return Ok(Response::new(to_pb(&method)));
        }
        (method.code_sent, method.code_detail) = self.send_code(&method, &code).await;
        self.ctx
            .store
            .update_contact_method(&method)
            .await
            .map_err(store_status)?;
        Ok(Response::new(to_pb(&method)))
    }

    pub async fn verify(
        &self,
        request: Request<dir::VerifyContactMethodRequest>,
    ) -> Result<Response<dir::ContactMethod>, Status> {
        let (user, _) = self.owner(&request, &request.get_ref().user_id).await?;
        let body = request.into_inner();
        let mut method = self.method(user, &body.method_id).await?;
        if method.verified {
            return Ok(Response::new(to_pb(&method)));
        }
        if method.code_hash.as_deref() != Some(hash_secret(body.code.trim()).as_str()) {
            return Err(Status::invalid_argument(
                "code: does not match the code sent",
            ));
        }
        method.verified = true;
        method.code_hash = None;
        self.ctx
            .store
            .update_contact_method(&method)
            .await
            .map_err(store_status)?;
        Ok(Response::new(to_pb(&method)))
    }

    pub async fn list(
        &self,
        request: Request<dir::ListContactMethodsRequest>,
    ) -> Result<Response<dir::ListContactMethodsResponse>, Status> {
        let (user, _) = self.owner(&request, &request.get_ref().user_id).await?;
        let methods = self
            .ctx
            .store
            .list_contact_methods(user)
            .await
            .map_err(store_status)?
            .iter()
            .map(to_pb)
            .collect();
        Ok(Response::new(dir::ListContactMethodsResponse { methods }))
    }

    pub async fn delete(
        &self,
        request: Request<dir::DeleteContactMethodRequest>,
    ) -> Result<Response<dir::DeleteContactMethodResponse>, Status> {
        let (user, _) = self.owner(&request, &request.get_ref().user_id).await?;
        let method = self.method(user, &request.get_ref().method_id).await?;
        self.ctx
            .store
            .delete_contact_method(method.id)
            .await
            .map_err(store_status)?;
        Ok(Response::new(dir::DeleteContactMethodResponse {}))
    }
}
