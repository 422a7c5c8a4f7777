//! Updates: a newer index offers new versions; one that widens what the server may do needs
//! consent again, and until it is applied the consented version stays; one that narrows does
//! not.

use gigmcp_catalog::{
    CatalogError, PendingUpdate, Refreshed, apply_update, install, pending_updates, plan_install,
    plan_update,
};
use gigmcp_registry::{Manifest, Toolspec};
use gigmcp_store::testing::for_each_driver;
use gigmcp_store::{NewServer, ServerOrigin, ServerSource};

use crate::common::{
    self, ADDED_HOST, Published, REMOVED_TOOL, base_index, install_options, registry, sign,
    updated_index,
};

fn version(origin: &ServerOrigin) -> &str {
    match origin {
        ServerOrigin::Registry { version } => version,
        ServerOrigin::Local => "(local)",
    }
}

#[tokio::test]
async fn updates_widening_and_not() {
    for_each_driver(|driver, db| async move {
        let store = db.store().await;
        let options = install_options(db.dir.path());
        let published = Published::signed(&base_index(1));
        let registry = registry(&store, &published.url());
        registry.refresh().await.unwrap();
        let catalogue = registry.catalogue().await.unwrap();
        for name in ["hackernews", "zendesk"] {
            let plan = plan_install(&store, &catalogue, name).await.unwrap();
            install(&store, &options, &plan, "admin").await.unwrap();
        }
        store
            .create_server(NewServer {
                name: "handmade".parse().unwrap(),
                source: ServerSource::LocalBinary {
                    path: "/opt/handmade/server".into(),
                },
            })
            .await
            .unwrap();

        // up to date
        assert!(
            plan_update(&store, &catalogue, "hackernews", None)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(pending_updates(&store, &catalogue).await.unwrap(), []);
        let err = plan_update(&store, &catalogue, "handmade", None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, CatalogError::NotFromRegistry { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("added by hand"), "{err}");
        let err = plan_update(&store, &catalogue, "no-such-server", None)
            .await
            .unwrap_err();
        assert!(matches!(err, CatalogError::NotInstalled { .. }), "{err:?}");

        // the publisher releases hackernews 0.2.0 (one more host) and zendesk 0.2.0 (one tool
        // fewer)
        let old_hn = store.server_by_name("hackernews").await.unwrap().unwrap();
        let old_zd = store.server_by_name("zendesk").await.unwrap().unwrap();
        let next = updated_index(2);
        published.publish(&next, Some(&sign(&next)));
        assert_eq!(
            registry.refresh().await.unwrap(),
            Refreshed::Accepted {
                sequence: 2,
                entries: common::corpus().updated.entries.len()
            }
        );
        let catalogue = registry.catalogue().await.unwrap();
        assert_eq!(
            pending_updates(&store, &catalogue).await.unwrap(),
            [
                PendingUpdate {
                    name: "hackernews".into(),
                    from: "0.1.0".into(),
                    to: "0.2.0".into(),
                    needs_consent: true,
                },
                PendingUpdate {
                    name: "zendesk".into(),
                    from: "0.1.0".into(),
                    to: "0.2.0".into(),
                    needs_consent: false,
                },
            ],
            "{driver:?}"
        );

        // (a) widening: a host added
        let plan = plan_update(&store, &catalogue, "hackernews", None)
            .await
            .unwrap()
            .expect("an update is offered");
        assert_eq!(
            (plan.from.as_str(), plan.target.version.as_str()),
            ("0.1.0", "0.2.0")
        );
        assert!(plan.needs_consent());
        assert_eq!(plan.diff.egress_added, [ADDED_HOST]);
        assert!(plan.diff.egress_removed.is_empty());
        assert!(
            plan.diff
                .lines()
                .contains(&format!("+ egress: {ADDED_HOST} (this host only)")),
            "{:?}",
            plan.diff.lines()
        );
        let doc = plan.document.render();
        assert!(
            doc.contains(&format!("{ADDED_HOST} (this host only)")),
            "{doc}"
        );
        // nothing changes until it is applied
        let still = store.server_by_name("hackernews").await.unwrap().unwrap();
        assert_eq!(still, old_hn, "{driver:?}: planning changed the server");
        assert_eq!(version(&still.origin), "0.1.0");
        assert_ne!(
            still.runtime_hash.as_deref(),
            Some(plan.target.runtime_hash.as_str())
        );
        assert_eq!(store.consents("hackernews").await.unwrap().len(), 1);

        apply_update(&store, &options, &plan, "admin")
            .await
            .unwrap();
        let hn = store.server_by_name("hackernews").await.unwrap().unwrap();
        assert_eq!(hn.id, old_hn.id);
        assert_eq!(version(&hn.origin), "0.2.0");
        assert_eq!(
            hn.runtime_hash.as_deref(),
            Some(plan.target.runtime_hash.as_str())
        );
        assert_eq!(hn.consented_hash, hn.runtime_hash);
        assert_eq!(hn.consent.as_ref().map(|c| c.by.as_str()), Some("admin"));
        assert_eq!(hn.source, ServerSource::Toolpack);
        let manifest: Manifest = serde_json::from_str(hn.manifest.as_deref().unwrap()).unwrap();
        assert!(manifest.entitlements.egress.iter().any(|e| e == ADDED_HOST));
        let spec: Toolspec = serde_json::from_str(hn.toolspec.as_deref().unwrap()).unwrap();
        assert_eq!(Some(&spec), plan.target.toolspec.as_ref());
        assert_eq!(spec.version, "0.2.0");
        let consents = store.consents("hackernews").await.unwrap();
        let decisions: Vec<(&str, &str)> = consents
            .iter()
            .map(|c| (c.decision.as_str(), c.version.as_str()))
            .collect();
        assert_eq!(decisions, [("install", "0.1.0"), ("update", "0.2.0")]);
        assert_eq!(consents[1].document, doc);
        assert_eq!(consents[1].runtime_hash, plan.target.runtime_hash);
        let events = common::audit(&store, "server_update").await;
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].target, "hackernews");
        assert_eq!(common::detail(&events[0])["version"], "0.2.0");
        assert!(
            plan_update(&store, &catalogue, "hackernews", None)
                .await
                .unwrap()
                .is_none()
        );

        // (b) not widening: a tool removed
        let plan = plan_update(&store, &catalogue, "zendesk", None)
            .await
            .unwrap()
            .expect("an update is offered");
        assert!(!plan.needs_consent(), "{:?}", plan.diff);
        assert_eq!(plan.diff.tools_removed, [REMOVED_TOOL]);
        assert!(plan.diff.egress_added.is_empty() && plan.diff.credentials_added.is_empty());
        assert_eq!(
            store.server_by_name("zendesk").await.unwrap().unwrap(),
            old_zd
        );
        apply_update(&store, &options, &plan, "admin")
            .await
            .unwrap();
        let zd = store.server_by_name("zendesk").await.unwrap().unwrap();
        assert_eq!(version(&zd.origin), "0.2.0");
        assert_eq!(
            zd.runtime_hash.as_deref(),
            Some(plan.target.runtime_hash.as_str())
        );
        assert!(!zd.toolspec.as_deref().unwrap().contains(REMOVED_TOOL));

        // nothing more to offer; the hand-added server is left alone
        assert_eq!(pending_updates(&store, &catalogue).await.unwrap(), []);
        let handmade = store.server_by_name("handmade").await.unwrap().unwrap();
        assert_eq!(handmade.origin, ServerOrigin::Local);
        assert!(store.consents("handmade").await.unwrap().is_empty());
    })
    .await;
}
