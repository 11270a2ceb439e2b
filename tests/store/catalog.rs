//! The catalog: services and integration keys (`CatalogStore`).

use std::sync::Arc;

use oncall::domain::catalog::IntegrationKey;
use oncall::store::{Store, StoreError};
use uuid::Uuid;

use super::{at, service};

fn key(service_id: Uuid, hash: &str) -> IntegrationKey {
    IntegrationKey {
        id: Uuid::new_v4(),
        service_id,
        name: "am".into(),
        key_hash: hash.into(),
        key_prefix: "oik_abc".into(),
        created_at: at(0),
        expires_at: None,
        revoked_at: None,
    }
}

pub(super) async fn services_and_keys(store: Arc<dyn Store>) {
    let backbone = service("backbone");
    store.insert_service(&backbone).await.unwrap();
    assert!(matches!(
        store.insert_service(&service("backbone")).await,
        Err(StoreError::Conflict(_))
    ));
    store.insert_service(&service("edge")).await.unwrap();
    assert_eq!(
        store.get_service(backbone.id).await.unwrap(),
        Some(backbone.clone())
    );
    let page = store.list_services(Some("BACK"), 10, 0).await.unwrap();
    assert_eq!((page.items.len(), page.total), (1, 1));
    let page = store.list_services(None, 1, 1).await.unwrap();
    assert_eq!((page.items[0].name.as_str(), page.total), ("edge", 2));

    let mut renamed = backbone.clone();
    renamed.name = "core".into();
    assert!(store.update_service(&renamed).await.unwrap());
    renamed.name = "edge".into();
    assert!(matches!(
        store.update_service(&renamed).await,
        Err(StoreError::Conflict(_))
    ));

    let k = key(backbone.id, "hash-1");
    store.insert_integration_key(&k).await.unwrap();
    assert_eq!(
        store.find_integration_key("hash-1").await.unwrap(),
        Some(k.clone())
    );
    assert_eq!(store.find_integration_key("hash-2").await.unwrap(), None);
    store
        .retire_integration_key(k.id, Some(at(10)), None)
        .await
        .unwrap();
    store
        .retire_integration_key(k.id, None, Some(at(5)))
        .await
        .unwrap();
    let retired = store.get_integration_key(k.id).await.unwrap().unwrap();
    assert_eq!(
        (retired.expires_at, retired.revoked_at),
        (Some(at(10)), Some(at(5)))
    );
    assert_eq!(
        store
            .list_integration_keys(backbone.id)
            .await
            .unwrap()
            .len(),
        1
    );

    assert!(store.delete_service(backbone.id).await.unwrap());
    assert!(!store.delete_service(backbone.id).await.unwrap());
    assert_eq!(
        store.find_integration_key("hash-1").await.unwrap(),
        None,
        "keys go with it"
    );
}
