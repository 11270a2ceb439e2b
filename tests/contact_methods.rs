//! Contact methods over gRPC: a user adds a way to be reached, receives a code on it and
//! sends it back; nobody else may touch their methods.

mod common;

use common::{ADMIN_TOKEN, Db, Server, authed, eventually, webhook_sink};

use oncall::pb::directory::v1 as dir;
use tonic::Code;

#[tokio::test]
async fn a_user_verifies_a_webhook_contact_method_with_the_code_it_received() {
    let (sink, received) = webhook_sink().await;
    let db = Db::sqlite();
    let server = Server::start_with(&db, &["--allow-private-destinations"]).await;
    let (bob, bob_token) = server.user_with_token("bob", dir::Role::Responder).await;
    let (_, alice_token) = server.user_with_token("alice", dir::Role::Responder).await;
    let mut users = server.users().await;
    let add = |kind: dir::ContactMethodType, address: &str| dir::AddContactMethodRequest {
        user_id: bob.clone(),
        method: Some(dir::ContactMethod {
            r#type: kind as i32,
            address: address.into(),
            ..Default::default()
        }),
    };

    let bad = users
        .add_contact_method(authed(
            add(dir::ContactMethodType::Sms, "555-0100"),
            &bob_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(
        bad.message().starts_with("method.address"),
        "{}",
        bad.message()
    );

    let hook = users
        .add_contact_method(authed(
            add(dir::ContactMethodType::Webhook, &format!("{sink}/bob")),
            &bob_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!hook.verified);
    assert!(hook.code_sent, "{}", hook.code_detail);
    let code = eventually("the verification code", async || {
        let posts = received.lock().unwrap().clone();
        posts
            .iter()
            .find(|(_, body)| body["method_id"] == hook.id.as_str())
            .and_then(|(_, body)| body["code"].as_str().map(str::to_string))
    })
    .await;
    let verify = |code: &str| dir::VerifyContactMethodRequest {
        user_id: bob.clone(),
        method_id: hook.id.clone(),
        code: code.into(),
    };
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let refused = users
        .verify_contact_method(authed(verify(wrong), &bob_token))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let verified = users
        .verify_contact_method(authed(verify(&code), &bob_token))
        .await
        .unwrap()
        .into_inner();
    assert!(verified.verified);

    // Email cannot carry the code while no SMTP server is configured, and says so.
    let email = users
        .add_contact_method(authed(
            add(dir::ContactMethodType::Email, "bob@example.net"),
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!email.code_sent);
    assert!(
        email.code_detail.starts_with("not sent: email"),
        "{}",
        email.code_detail
    );
    let again = users
        .add_contact_method(authed(
            add(dir::ContactMethodType::Email, "bob@example.net"),
            &bob_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists);

    let not_hers = users
        .list_contact_methods(authed(
            dir::ListContactMethodsRequest {
                user_id: bob.clone(),
            },
            &alice_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(not_hers.code(), Code::PermissionDenied);
    users
        .delete_contact_method(authed(
            dir::DeleteContactMethodRequest {
                user_id: bob.clone(),
                method_id: email.id,
            },
            &bob_token,
        ))
        .await
        .unwrap();
    let left = users
        .list_contact_methods(authed(
            dir::ListContactMethodsRequest {
                user_id: bob.clone(),
            },
            &bob_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .methods;
    assert_eq!(left, vec![verified]);

    // An admin may vouch for a method; a user may not vouch for their own.
    let mut vouched = add(dir::ContactMethodType::Sms, "+14155550100");
    if let Some(method) = vouched.method.as_mut() {
        method.verified = true;
    }
    let refused = users
        .add_contact_method(authed(vouched.clone(), &bob_token))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let added = users
        .add_contact_method(authed(vouched, ADMIN_TOKEN))
        .await
        .unwrap()
        .into_inner();
    assert!(added.verified);
    assert!(!added.code_sent);
}
