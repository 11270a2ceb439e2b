//! Definitions of every kind, settings documents, and the holds inhibition rules put on
//! alerts (`DefinitionStore`, with `RoutingStore`'s holds).

use std::sync::Arc;

use oncall::domain::alert::Alert;
use oncall::domain::holder::Holder;
use oncall::domain::lifecycle::AlertWrite;
use oncall::store::{Kind, Store, StoreError, StoredDefinition};
use uuid::Uuid;

use super::{alert, at, reference, service};

pub(super) async fn definitions_round_trip(store: Arc<dyn Store>) {
    for kind in [
        Kind::MaintenanceWindow,
        Kind::Schedule,
        Kind::Team,
        Kind::Site,
        Kind::CustomerTier,
        Kind::EquipmentType,
        Kind::Carrier,
    ] {
        let definition = StoredDefinition {
            id: Uuid::new_v4(),
            name: "IAD1".into(),
            body: vec![1, 2, 3],
            created_at: at(0),
            updated_at: at(0),
        };
        store.insert_definition(kind, &definition).await.unwrap();
        assert!(matches!(
            store.insert_definition(kind, &definition).await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(
            store.get_definition(kind, definition.id).await.unwrap(),
            Some(definition.clone())
        );
        let mut changed = definition.clone();
        changed.body = vec![4];
        changed.updated_at = at(5);
        assert!(store.update_definition(kind, &changed).await.unwrap());
        assert_eq!(
            store.list_definitions(kind).await.unwrap(),
            vec![changed.clone()],
            "{kind:?}"
        );
        assert!(store.delete_definition(kind, definition.id).await.unwrap());
        assert!(store.list_definitions(kind).await.unwrap().is_empty());
        assert!(!store.update_definition(kind, &changed).await.unwrap());
    }
}

pub(super) async fn inhibition_rules_documents_and_holds(store: Arc<dyn Store>) {
    let rule = |name: &str, minute| StoredDefinition {
        id: Uuid::new_v4(),
        name: name.into(),
        body: vec![7],
        created_at: at(minute),
        updated_at: at(minute),
    };
    let (later, earlier) = (rule("later", 9), rule("earlier", 1));
    store
        .insert_definition(Kind::InhibitionRule, &later)
        .await
        .unwrap();
    store
        .insert_definition(Kind::InhibitionRule, &earlier)
        .await
        .unwrap();
    assert_eq!(
        store.list_definitions(Kind::InhibitionRule).await.unwrap(),
        vec![earlier.clone(), later.clone()],
        "oldest first"
    );
    assert!(
        store
            .delete_definition(Kind::InhibitionRule, later.id)
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_definition(Kind::InhibitionRule, later.id)
            .await
            .unwrap()
    );

    assert_eq!(store.get_document("routing_defaults").await.unwrap(), None);
    store
        .put_document("routing_defaults", &[1, 2], at(1))
        .await
        .unwrap();
    store
        .put_document("routing_defaults", &[3], at(2))
        .await
        .unwrap();
    assert_eq!(
        store.get_document("routing_defaults").await.unwrap(),
        Some(vec![3])
    );

    let svc = service("core");
    store.insert_service(&svc).await.unwrap();
    let inhibited = alert(svc.id, 1, "fp-1", &[]);
    let in_window = alert(svc.id, 2, "fp-2", &[]);
    let suppress = |alert: &Alert, holder: Holder| AlertWrite::Suppress {
        alert: reference(alert),
        by: "routing".into(),
        at: at(31),
        reason: "held".into(),
        held_by: Some(holder),
    };
    let source = Holder::Inhibitor(Uuid::from_u128(7));
    store
        .commit(&[
            AlertWrite::Open(Box::new(inhibited.clone())),
            AlertWrite::Open(Box::new(in_window.clone())),
            suppress(&inhibited, source),
            suppress(&in_window, Holder::Window(Uuid::from_u128(8))),
        ])
        .await
        .unwrap();
    assert_eq!(
        store.holders(Holder::INHIBITOR_PREFIX).await.unwrap(),
        vec![source.to_string()]
    );
    assert_eq!(
        store.held_by(&source.to_string()).await.unwrap(),
        vec![inhibited.id]
    );
}
