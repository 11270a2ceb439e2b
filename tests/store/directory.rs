//! The directory: users, API tokens and contact methods (`DirectoryStore`).

use std::sync::Arc;

use oncall::domain::access::Role;
use oncall::domain::directory::{ApiToken, ContactKind, ContactMethod, User};
use oncall::domain::notify::quiet::QuietHours;
use oncall::store::{Store, StoreError};
use uuid::Uuid;

use super::at;

pub(super) async fn users_and_tokens(store: Arc<dyn Store>) {
    let user = User {
        id: Uuid::new_v4(),
        name: "alice".into(),
        email: "alice@example.net".into(),
        timezone: "Europe/London".into(),
        quiet_hours: None,
        created_at: at(0),
    };
    store.insert_user(&user).await.unwrap();
    assert_eq!(store.get_user(user.id).await.unwrap(), Some(user.clone()));
    let quiet = User {
        quiet_hours: Some(QuietHours::parse("22:00", "07:30").unwrap()),
        timezone: "Europe/Paris".into(),
        ..user.clone()
    };
    assert!(store.update_user(&quiet).await.unwrap());
    assert_eq!(store.get_user(user.id).await.unwrap(), Some(quiet));
    assert!(store.update_user(&user).await.unwrap());
    assert!(
        !store
            .update_user(&User {
                id: Uuid::new_v4(),
                ..user.clone()
            })
            .await
            .unwrap()
    );
    assert_eq!(store.get_user(user.id).await.unwrap(), Some(user.clone()));
    assert_eq!(
        store.find_user_by_name("alice").await.unwrap(),
        Some(user.clone())
    );
    assert_eq!(store.list_users(10, 0).await.unwrap().total, 1);
    let token = ApiToken {
        id: Uuid::new_v4(),
        user_id: user.id,
        name: "laptop".into(),
        role: Role::Responder,
        token_hash: "token-hash".into(),
        created_at: at(0),
        revoked_at: None,
    };
    store.insert_api_token(&token).await.unwrap();
    assert!(matches!(
        store.insert_api_token(&token).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.find_api_token("token-hash").await.unwrap(),
        Some(token.clone())
    );
    store.revoke_api_token(token.id, at(3)).await.unwrap();
    store.revoke_api_token(token.id, at(9)).await.unwrap();
    let revoked = store.get_api_token(token.id).await.unwrap().unwrap();
    assert_eq!(
        revoked.revoked_at,
        Some(at(3)),
        "the first revocation time stays"
    );
    assert_eq!(store.list_api_tokens(Some(user.id)).await.unwrap().len(), 1);
    assert_eq!(
        store
            .list_api_tokens(Some(Uuid::new_v4()))
            .await
            .unwrap()
            .len(),
        0
    );
}

pub(super) async fn contact_methods_round_trip(store: Arc<dyn Store>) {
    let user = User {
        id: Uuid::new_v4(),
        name: "erin".into(),
        email: "erin@example.net".into(),
        timezone: "UTC".into(),
        quiet_hours: None,
        created_at: at(0),
    };
    store.insert_user(&user).await.unwrap();
    let method = ContactMethod {
        id: Uuid::new_v4(),
        user_id: user.id,
        kind: ContactKind::Sms,
        address: "+14155550100".into(),
        verified: false,
        code_hash: Some("hash".into()),
        code_sent: false,
        code_detail: "pending".into(),
        created_at: at(1),
    };
    store.insert_contact_method(&method).await.unwrap();
    let twin = ContactMethod {
        id: Uuid::new_v4(),
        ..method.clone()
    };
    assert!(matches!(
        store.insert_contact_method(&twin).await,
        Err(StoreError::Conflict(_))
    ));
    let mut verified = method.clone();
    verified.verified = true;
    verified.code_hash = None;
    assert!(store.update_contact_method(&verified).await.unwrap());
    assert_eq!(
        store.list_contact_methods(user.id).await.unwrap(),
        vec![verified.clone()]
    );
    assert_eq!(
        store.get_contact_method(method.id).await.unwrap(),
        Some(verified.clone())
    );
    assert_eq!(
        store
            .find_contact_methods(ContactKind::Sms, "+14155550100")
            .await
            .unwrap(),
        vec![verified]
    );
    assert!(
        store
            .find_contact_methods(ContactKind::Voice, "+14155550100")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.delete_contact_method(method.id).await.unwrap());
    assert!(
        store
            .list_contact_methods(user.id)
            .await
            .unwrap()
            .is_empty()
    );
}
