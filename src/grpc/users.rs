//! `directory.v1.UserService` on the built-in directory: users, their API tokens and
//! their contact methods.

use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::contact_methods::ContactMethodApi;
use super::pb::directory::v1 as dir;
use super::pb::directory::v1::user_service_server::UserService;
use super::{Context, convert, next_token, page, parse_id, store_status};
use crate::auth::{API_TOKEN_PREFIX, hash_secret, new_secret};
use crate::domain::access::{self, Action, Owned};
use crate::domain::directory::{ApiToken, User};
use crate::domain::notify::quiet::QuietHours;
use crate::notify::notifier::Notifier;
use crate::notify::webhook::WebhookSender;

pub struct UserApi {
    ctx: Context,
    contact_methods: ContactMethodApi,
}

impl UserApi {
    pub fn new(ctx: Context, webhooks: WebhookSender, notifier: Notifier) -> UserApi {
        UserApi {
            contact_methods: ContactMethodApi {
                ctx: ctx.clone(),
                webhooks,
                notifier,
            },
            ctx,
        }
    }
}

/// Makes an API token for a user and stores its hash; returns the record and the
/// plaintext, which is shown once.
pub async fn issue_token(
    store: &dyn crate::store::Store,
    user_id: Uuid,
    role: crate::domain::access::Role,
    name: &str,
) -> Result<(ApiToken, String), crate::store::StoreError> {
    let plaintext = new_secret(API_TOKEN_PREFIX);
    let token = ApiToken {
        id: Uuid::new_v4(),
        user_id,
        name: name.to_string(),
        role,
        token_hash: hash_secret(&plaintext),
        created_at: crate::clock::now(),
        revoked_at: None,
    };
    store.insert_api_token(&token).await?;
    Ok((token, plaintext))
}

/// A user as written, checked: name, email, time zone, quiet hours. Errors name the
/// field.
fn checked(given: dir::User) -> Result<(String, String, String, Option<QuietHours>), Status> {
    let name = given.name.trim();
    if name.is_empty() {
        return Err(Status::invalid_argument("user.name: required"));
    }
    if !given.email.is_empty() && !given.email.contains('@') {
        return Err(Status::invalid_argument(format!(
            "user.email: not an address: {:?}",
            given.email
        )));
    }
    let timezone = if given.timezone.is_empty() {
        "UTC".to_string()
    } else {
        given.timezone.clone()
    };
    if !valid_timezone(&timezone) {
        return Err(Status::invalid_argument(format!(
            "user.timezone: not an IANA zone name: {timezone:?}"
        )));
    }
    let quiet_hours =
        match (
            given.quiet_hours_start.as_str(),
            given.quiet_hours_end.as_str(),
        ) {
            ("", "") => None,
            ("", _) | (_, "") => {
                return Err(Status::invalid_argument(
                    "user.quiet_hours_start: give both ends of the quiet hours, or neither",
                ));
            }
            (start, end) => Some(QuietHours::parse(start, end).map_err(|why| {
                Status::invalid_argument(format!("user.quiet_hours_start: {why}"))
            })?),
        };
    Ok((name.to_string(), given.email, timezone, quiet_hours))
}

#[tonic::async_trait]
impl UserService for UserApi {
    async fn create_user(
        &self,
        request: Request<dir::CreateUserRequest>,
    ) -> Result<Response<dir::User>, Status> {
        self.ctx.authorize(&request, Action::Administer).await?;
        let given = request
            .into_inner()
            .user
            .ok_or_else(|| Status::invalid_argument("user: required"))?;
        let (name, email, timezone, quiet_hours) = checked(given)?;
        let user = User {
            id: Uuid::new_v4(),
            name,
            email,
            timezone,
            quiet_hours,
            created_at: crate::clock::now(),
        };
        self.ctx
            .store
            .insert_user(&user)
            .await
            .map_err(store_status)?;
        Ok(Response::new(convert::user_to_pb(&user)))
    }

    async fn update_user(
        &self,
        request: Request<dir::UpdateUserRequest>,
    ) -> Result<Response<dir::User>, Status> {
        let principal = self.ctx.authorize(&request, Action::Read).await?;
        let given = request
            .into_inner()
            .user
            .ok_or_else(|| Status::invalid_argument("user: required"))?;
        let id = parse_id("user.id", &given.id)?;
        access::authorize_own(&principal, id, Owned::Profile)
            .map_err(|e| Status::permission_denied(e.to_string()))?;
        let mut user = self
            .ctx
            .store
            .get_user(id)
            .await
            .map_err(store_status)?
            .ok_or_else(|| Status::not_found(format!("user {id} not found")))?;
        (user.name, user.email, user.timezone, user.quiet_hours) = checked(given)?;
        self.ctx
            .store
            .update_user(&user)
            .await
            .map_err(store_status)?;
        Ok(Response::new(convert::user_to_pb(&user)))
    }

    async fn get_user(
        &self,
        request: Request<dir::GetUserRequest>,
    ) -> Result<Response<dir::User>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let id = parse_id("id", &request.get_ref().id)?;
        let user = self
            .ctx
            .store
            .get_user(id)
            .await
            .map_err(store_status)?
            .ok_or_else(|| Status::not_found(format!("user {id} not found")))?;
        Ok(Response::new(convert::user_to_pb(&user)))
    }

    async fn list_users(
        &self,
        request: Request<dir::ListUsersRequest>,
    ) -> Result<Response<dir::ListUsersResponse>, Status> {
        self.ctx.authorize(&request, Action::Read).await?;
        let body = request.into_inner();
        let (limit, offset) = page("", body.page_size, &body.page_token)?;
        let found = self
            .ctx
            .store
            .list_users(limit, offset)
            .await
            .map_err(store_status)?;
        Ok(Response::new(dir::ListUsersResponse {
            next_page_token: next_token(offset, found.items.len(), limit, found.total),
            users: found.items.iter().map(convert::user_to_pb).collect(),
        }))
    }

    async fn create_api_token(
        &self,
        request: Request<dir::CreateApiTokenRequest>,
    ) -> Result<Response<dir::ApiToken>, Status> {
        self.ctx.authorize(&request, Action::Administer).await?;
        let body = request.into_inner();
        let user_id = parse_id("user_id", &body.user_id)?;
        let role = convert::role_from_pb(body.role)?;
        self.ctx
            .store
            .get_user(user_id)
            .await
            .map_err(store_status)?
            .ok_or_else(|| Status::not_found(format!("user_id: no user {user_id}")))?;
        let name = if body.name.trim().is_empty() {
            "api".to_string()
        } else {
            body.name.trim().to_string()
        };
        let (token, plaintext) = issue_token(self.ctx.store.as_ref(), user_id, role, &name)
            .await
            .map_err(store_status)?;
        Ok(Response::new(convert::token_to_pb(
            &token,
            Some(&plaintext),
        )))
    }

    async fn list_api_tokens(
        &self,
        request: Request<dir::ListApiTokensRequest>,
    ) -> Result<Response<dir::ListApiTokensResponse>, Status> {
        self.ctx.authorize(&request, Action::Administer).await?;
        let user = match request.get_ref().user_id.as_str() {
            "" => None,
            id => Some(parse_id("user_id", id)?),
        };
        let tokens = self
            .ctx
            .store
            .list_api_tokens(user)
            .await
            .map_err(store_status)?;
        Ok(Response::new(dir::ListApiTokensResponse {
            tokens: tokens
                .iter()
                .map(|t| convert::token_to_pb(t, None))
                .collect(),
        }))
    }

    async fn revoke_api_token(
        &self,
        request: Request<dir::RevokeApiTokenRequest>,
    ) -> Result<Response<dir::ApiToken>, Status> {
        self.ctx.authorize(&request, Action::Administer).await?;
        let id = parse_id("id", &request.get_ref().id)?;
        let missing = || Status::not_found(format!("API token {id} not found"));
        self.ctx
            .store
            .get_api_token(id)
            .await
            .map_err(store_status)?
            .ok_or_else(missing)?;
        self.ctx
            .store
            .revoke_api_token(id, crate::clock::now())
            .await
            .map_err(store_status)?;
        self.ctx.auth.forget_all();
        let token = self
            .ctx
            .store
            .get_api_token(id)
            .await
            .map_err(store_status)?
            .ok_or_else(missing)?;
        Ok(Response::new(convert::token_to_pb(&token, None)))
    }

    async fn add_contact_method(
        &self,
        request: Request<dir::AddContactMethodRequest>,
    ) -> Result<Response<dir::ContactMethod>, Status> {
        self.contact_methods.add(request).await
    }

    async fn verify_contact_method(
        &self,
        request: Request<dir::VerifyContactMethodRequest>,
    ) -> Result<Response<dir::ContactMethod>, Status> {
        self.contact_methods.verify(request).await
    }

    async fn list_contact_methods(
        &self,
        request: Request<dir::ListContactMethodsRequest>,
    ) -> Result<Response<dir::ListContactMethodsResponse>, Status> {
        self.contact_methods.list(request).await
    }

    async fn delete_contact_method(
        &self,
        request: Request<dir::DeleteContactMethodRequest>,
    ) -> Result<Response<dir::DeleteContactMethodResponse>, Status> {
        self.contact_methods.delete(request).await
    }
}

/// Whether a name is an IANA time zone.
fn valid_timezone(name: &str) -> bool {
    name.parse::<chrono_tz::Tz>().is_ok()
}
