//! Services, integration keys (rotation with a grace period, revocation), users and API
//! tokens, and the CLI's way back in.

mod common;

use common::{ADMIN_TOKEN, Db, Server, authed, binary};
use oncall::pb::alerting::v1 as pb;
use oncall::pb::directory::v1 as dir;
use tonic::Code;

#[tokio::test]
async fn services_and_keys() {
    let db = Db::sqlite();
    let server = Server::start(&db).await;
    let mut catalog = server.catalog().await;
    let (service, key) = server.service_with_key("transit").await;
    assert!(key.starts_with("oik_"));

    let err = catalog
        .create_service(authed(
            pb::CreateServiceRequest {
                name: "transit".into(),
                description: String::new(),
                ..Default::default()
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    let err = catalog
        .create_service(authed(pb::CreateServiceRequest::default(), ADMIN_TOKEN))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    let updated = catalog
        .update_service(authed(
            pb::UpdateServiceRequest {
                id: service.clone(),
                update_mask: vec!["description".into()],
                name: String::new(),
                description: "IP transit edge".into(),
                ..Default::default()
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (updated.name.as_str(), updated.description.as_str()),
        ("transit", "IP transit edge")
    );
    let listed = catalog
        .list_services(authed(
            pb::ListServicesRequest {
                name_contains: "TRANS".into(),
                ..Default::default()
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.services.len(), 1);

    // Keys are listed without their secret.
    let keys = catalog
        .list_integration_keys(authed(
            pb::ListIntegrationKeysRequest {
                service_id: service.clone(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner()
        .keys;
    assert_eq!(keys.len(), 1);
    assert!(keys[0].key.is_empty());
    assert!(key.starts_with(&keys[0].key_prefix));

    // Rotation: the new key works and so does the old one, until its grace ends.
    let post = |key: &str| {
        let key = key.to_string();
        let url = server.http(&format!("/api/v1/webhook/generic/{key}"));
        async move {
            reqwest::Client::new()
                .post(url)
                .header("content-type", "application/json")
                .body(r#"{"summary": "rotation check"}"#)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let rotated = catalog
        .rotate_integration_key(authed(
            pb::RotateIntegrationKeyRequest {
                id: keys[0].id.clone(),
                grace_period: Some(prost_types::Duration {
                    seconds: 3600,
                    nanos: 0,
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(rotated.key, key);
    assert_eq!(post(&rotated.key).await, 200);
    assert_eq!(
        post(&key).await,
        200,
        "the old key works during its grace period"
    );
    let rotated_now = catalog
        .rotate_integration_key(authed(
            pb::RotateIntegrationKeyRequest {
                id: rotated.id.clone(),
                grace_period: Some(prost_types::Duration {
                    seconds: 0,
                    nanos: 0,
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        post(&rotated.key).await,
        401,
        "no grace: the old key stops at once"
    );
    assert_eq!(post(&rotated_now.key).await, 200);

    // Revocation stops a key at once.
    catalog
        .revoke_integration_key(authed(
            pb::RevokeIntegrationKeyRequest {
                id: rotated_now.id.clone(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    assert_eq!(post(&rotated_now.key).await, 401);

    // A service with open alerts cannot be deleted.
    let err = catalog
        .delete_service(authed(
            pb::DeleteServiceRequest {
                id: service.clone(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    let (empty, empty_key) = server.service_with_key("empty").await;
    catalog
        .delete_service(authed(
            pb::DeleteServiceRequest { id: empty.clone() },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    assert_eq!(
        post(&empty_key).await,
        401,
        "a deleted service's keys stop working"
    );
    let err = catalog
        .get_service(authed(pb::GetServiceRequest { id: empty }, ADMIN_TOKEN))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn users_tokens_and_the_cli_way_back_in() {
    let db = Db::sqlite();
    let mut server = Server::start(&db).await;
    let mut users = server.users().await;
    let (alice, token) = server.user_with_token("alice", dir::Role::Viewer).await;
    assert!(token.starts_with("oct_"));

    let err = users
        .create_user(authed(
            dir::CreateUserRequest {
                user: Some(dir::User {
                    name: "bob".into(),
                    timezone: "Mars/Olympus".into(),
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("user.timezone"));
    let err = users
        .create_user(authed(
            dir::CreateUserRequest {
                user: Some(dir::User {
                    name: "bob".into(),
                    ..Default::default()
                }),
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::PermissionDenied,
        "viewers do not make users"
    );
    let got = users
        .get_user(authed(dir::GetUserRequest { id: alice.clone() }, &token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.timezone, "Europe/London");

    let listed = users
        .list_api_tokens(authed(
            dir::ListApiTokensRequest {
                user_id: alice.clone(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner()
        .tokens;
    assert_eq!(listed.len(), 1);
    assert!(listed[0].token.is_empty(), "secrets are shown once");
    users
        .revoke_api_token(authed(
            dir::RevokeApiTokenRequest {
                id: listed[0].id.clone(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    let err = users
        .get_user(authed(dir::GetUserRequest { id: alice }, &token))
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::Unauthenticated,
        "a revoked token stops at once"
    );

    // `oncall admin token` writes a working admin token straight to the database.
    server.kill_9();
    let output = std::process::Command::new(binary())
        .args([
            "admin",
            "token",
            "--role",
            "admin",
            "--name",
            "recovery",
            "--database-url",
        ])
        .arg(&server.database_url)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let recovered = String::from_utf8(output.stdout).unwrap().trim().to_string();
    assert!(recovered.starts_with("oct_"));
    server.restart().await;
    let mut users = server.users().await;
    users
        .create_user(authed(
            dir::CreateUserRequest {
                user: Some(dir::User {
                    name: "carol".into(),
                    ..Default::default()
                }),
            },
            &recovered,
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn migrate_and_help_work_on_a_fresh_database() {
    let db = Db::sqlite();
    let output = std::process::Command::new(binary())
        .args(["migrate", "--database-url"])
        .arg(db.url())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(db.dir().unwrap().join("oncall.db").exists());
    let help = std::process::Command::new(binary())
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for flag in [
        "--grpc-addr",
        "--http-addr",
        "--database-url",
        "--admin-token",
        "--config",
    ] {
        assert!(help.contains(flag), "{flag} missing from serve --help");
    }
    let bad = std::process::Command::new(binary())
        .args(["serve", "--database-url", "mysql://nope"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("database_url"));
}
