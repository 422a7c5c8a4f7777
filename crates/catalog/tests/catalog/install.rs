//! Installing from the catalogue: the consent document spells out every permission, the
//! install keeps the server with its consent and audit trail, and refused installs write
//! nothing.

use gigmcp_catalog::{CatalogError, install, plan_install};
use gigmcp_registry::{Manifest, Toolspec};
use gigmcp_store::testing::for_each_driver;
use gigmcp_store::{ServerOrigin, ServerSource};

use crate::common::{self, Published, base_index, corpus_manifests, install_options, registry};

#[tokio::test]
async fn install_a_toolpack_server_with_its_consent() {
    let published = &Published::signed(&base_index(1));
    let manifests = &corpus_manifests();
    for_each_driver(|driver, db| async move {
        let store = db.store().await;
        let registry = registry(&store, &published.url());
        registry.refresh().await.unwrap();
        let catalogue = registry.catalogue().await.unwrap();
        let options = install_options(db.dir.path());

        let plan = plan_install(&store, &catalogue, "zendesk").await.unwrap();
        assert_eq!(plan.name.as_str(), "zendesk");
        assert_eq!(plan.entry.version, "0.1.0");
        let manifest = &manifests["manifests/zendesk/0.1.0.yaml"];
        let doc = plan.document.render();
        assert!(
            doc.contains("*.zendesk.com (any subdomain of zendesk.com, not zendesk.com itself)"),
            "{doc}"
        );
        assert_eq!(manifest.entitlements.egress, ["*.zendesk.com"]);
        for c in &manifest.credentials {
            assert!(
                doc.contains(&c.id),
                "{driver:?}: {} missing from\n{doc}",
                c.id
            );
        }
        assert!(doc.contains("zendesk_token (oauth2, zendesk)"), "{doc}");
        assert!(
            doc.contains("header Authorization: Bearer {token}"),
            "{doc}"
        );
        assert!(doc.contains("tier: sealed"), "{doc}");
        // the tenant host each user sets
        assert!(doc.contains("yoursubdomain.zendesk.com"), "{doc}");
        for t in &manifest.tools {
            let line = format!("{} [{}]", t.name, if t.default { "on" } else { "off" });
            assert!(doc.contains(&line), "{line} missing from\n{doc}");
        }
        assert!(
            doc.contains(&format!("tools ({},", manifest.tools.len())),
            "{doc}"
        );
        assert!(doc.contains(&plan.entry.runtime_hash), "{doc}");
        assert!(doc.contains("toolpack engine"), "{doc}");
        // planning writes nothing
        assert!(store.list_servers().await.unwrap().is_empty());
        assert!(store.consents("zendesk").await.unwrap().is_empty());

        let installed = install(&store, &options, &plan, "admin").await.unwrap();
        let server = store.server_by_name("zendesk").await.unwrap().unwrap();
        assert_eq!(
            server, installed,
            "{driver:?}: what install returned is what is kept"
        );
        assert_eq!(server.source, ServerSource::Toolpack);
        assert_eq!(
            server.origin,
            ServerOrigin::Registry {
                version: "0.1.0".into()
            }
        );
        assert_eq!(
            server.runtime_hash.as_deref(),
            Some(plan.entry.runtime_hash.as_str())
        );
        assert_eq!(server.consented_hash, server.runtime_hash);
        assert_eq!(
            server.consent.as_ref().map(|c| c.by.as_str()),
            Some("admin")
        );
        let stored_manifest: Manifest =
            serde_json::from_str(server.manifest.as_deref().unwrap()).unwrap();
        assert_eq!(&stored_manifest, manifest);
        let stored_spec: Toolspec =
            serde_json::from_str(server.toolspec.as_deref().expect("toolspec stored")).unwrap();
        assert_eq!(Some(&stored_spec), plan.entry.toolspec.as_ref());

        let consents = store.consents("zendesk").await.unwrap();
        assert_eq!(consents.len(), 1, "{driver:?}: {consents:?}");
        let c = &consents[0];
        assert_eq!(
            (c.decision.as_str(), c.actor.as_str(), c.version.as_str()),
            ("install", "admin", "0.1.0")
        );
        assert_eq!(c.runtime_hash, plan.entry.runtime_hash);
        assert_eq!(c.document, doc, "the document shown is the one kept");
        let events = common::audit(&store, "server_install").await;
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(
            (events[0].target.as_str(), events[0].actor.as_str()),
            ("zendesk", "admin")
        );
        assert_eq!(common::detail(&events[0])["version"], "0.1.0");

        // once is enough
        let err = plan_install(&store, &catalogue, "zendesk")
            .await
            .unwrap_err();
        assert!(
            matches!(err, CatalogError::AlreadyInstalled { .. }),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("gigmcp server update zendesk"),
            "{err}"
        );
        let err = install(&store, &options, &plan, "admin").await.unwrap_err();
        assert!(
            matches!(err, CatalogError::AlreadyInstalled { .. }),
            "{err:?}"
        );
        assert_eq!(store.consents("zendesk").await.unwrap().len(), 1);
        assert_eq!(common::audit(&store, "server_install").await.len(), 1);
        assert_eq!(
            store.server_by_name("zendesk").await.unwrap().unwrap(),
            server
        );

        // a server without credentials, by explicit version
        let plan = plan_install(&store, &catalogue, "hackernews@0.1.0")
            .await
            .unwrap();
        let doc = plan.document.render();
        for host in ["hacker-news.firebaseio.com", "hn.algolia.com"] {
            assert!(doc.contains(&format!("{host} (this host only)")), "{doc}");
        }
        assert!(doc.contains("credentials: none"), "{doc}");
        install(&store, &options, &plan, "ops").await.unwrap();
        let names: Vec<String> = store
            .list_servers()
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["hackernews", "zendesk"]);
        assert_eq!(store.consents("hackernews").await.unwrap()[0].actor, "ops");
    })
    .await;
}

#[tokio::test]
async fn refused_installs_write_nothing() {
    let published = &Published::signed(&base_index(1));
    for_each_driver(|driver, db| async move {
        let store = db.store().await;
        let registry = registry(&store, &published.url());
        registry.refresh().await.unwrap();
        let catalogue = registry.catalogue().await.unwrap();

        let err = plan_install(&store, &catalogue, "no-such-server")
            .await
            .unwrap_err();
        assert!(matches!(err, CatalogError::UnknownServer { .. }), "{err:?}");
        assert!(err.to_string().contains("gigmcp registry list"), "{err}");

        let err = plan_install(&store, &catalogue, "zendesk@9.9.9")
            .await
            .unwrap_err();
        assert!(
            matches!(err, CatalogError::UnknownVersion { .. }),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("9.9.9") && msg.contains("0.1.0"), "{msg}");

        let placeholders: Vec<String> = catalogue
            .cards(None, None)
            .into_iter()
            .filter(|c| c.not_installable.is_some())
            .map(|c| c.name)
            .collect();
        assert_eq!(placeholders.len(), 4, "{placeholders:?}");
        for name in &placeholders {
            let entry = catalogue.entry(name, None).unwrap();
            assert!(!entry.installable);
            assert_eq!(
                entry.manifest.image.digest,
                format!("sha256:{}", "0".repeat(64))
            );
            let err = plan_install(&store, &catalogue, name).await.unwrap_err();
            assert!(
                matches!(err, CatalogError::NotInstallable { .. }),
                "{err:?}"
            );
            let msg = err.to_string();
            assert!(
                msg.contains(name.as_str()) && msg.contains("placeholder"),
                "{driver:?}: {msg}"
            );
            assert!(store.consents(name).await.unwrap().is_empty());
        }

        assert!(store.list_servers().await.unwrap().is_empty());
        assert!(store.consents("zendesk").await.unwrap().is_empty());
        assert!(common::audit(&store, "server_install").await.is_empty());
        assert!(
            !db.dir.path().join("images").exists(),
            "no image was pulled for a refused install"
        );
    })
    .await;
}
