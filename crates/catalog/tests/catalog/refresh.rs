//! Refresh from `file://` and `https://`, browsing the catalogue, the last good copy through an
//! outage and a restart, and the audit trail of refreshes.

use std::collections::BTreeSet;

use gigmcp_catalog::{CatalogError, Refreshed, RegistrySettings};
use gigmcp_registry::sign_index;
use gigmcp_store::testing::{TestDb, for_each_driver};
use sha2::{Digest as _, Sha256};

use crate::common::{
    self, HttpsServer, Published, base_index, corpus_manifests, corpus_names, loopback, registry,
    registry_with, sign, updated_index,
};

#[tokio::test]
async fn file_index_is_accepted_and_browsed() {
    let names = &corpus_names();
    let manifests = &corpus_manifests();
    let bytes = &base_index(3);
    let published = &Published::signed(bytes);
    for_each_driver(|driver, db| async move {
        let store = db.store().await;
        let url = published.url();
        let registry = registry(&store, &url);
        assert!(
            matches!(registry.catalogue().await, Err(CatalogError::NoIndex)),
            "{driver:?}: no catalogue before the first refresh"
        );

        assert_eq!(
            registry.refresh().await.unwrap(),
            Refreshed::Accepted {
                sequence: 3,
                entries: manifests.len()
            },
            "{driver:?}"
        );
        let state = store.registry_state().await.unwrap().unwrap();
        assert_eq!(state.url, url);
        assert_eq!(state.sequence, 3);
        assert_eq!(
            &state.index_bytes, bytes,
            "the exact bytes verified are kept"
        );
        assert_eq!(state.signature, sign(bytes));
        assert_eq!(state.sha256, hex::encode(Sha256::digest(bytes)));
        assert_eq!(state.last_error, None);
        // the same index again is no change
        assert_eq!(
            registry.refresh().await.unwrap(),
            Refreshed::Unchanged { sequence: 3 }
        );

        let catalogue = registry.catalogue().await.unwrap();
        assert_eq!(catalogue.freshness.url, url);
        assert_eq!(catalogue.freshness.sequence, 3);
        assert!(!catalogue.freshness.stale);
        assert_eq!(catalogue.freshness.last_error, None);

        // one card per server name of the corpus
        let cards = catalogue.cards(None, None);
        let card_names: BTreeSet<String> = cards.iter().map(|c| c.name.clone()).collect();
        assert_eq!(
            cards.len(),
            card_names.len(),
            "{driver:?}: one card per name"
        );
        assert_eq!(cards.len(), names.len(), "{driver:?}");
        assert_eq!(&card_names, names);

        // search: every word must match, case-insensitive
        let zendesk = catalogue.cards(Some("zendesk"), None);
        assert!(
            zendesk.iter().any(|c| c.name == "zendesk"),
            "{:?}",
            zendesk.iter().map(|c| &c.name).collect::<Vec<_>>()
        );
        for c in &zendesk {
            let text = format!(
                "{} {} {} {}",
                c.name,
                c.display_name,
                c.category,
                c.description.as_deref().unwrap_or("")
            )
            .to_lowercase();
            assert!(text.contains("zendesk"), "{c:?} does not match the search");
        }
        assert_eq!(catalogue.cards(Some("ZenDesk"), None), zendesk);
        let card = zendesk.iter().find(|c| c.name == "zendesk").unwrap();
        assert_eq!(card.version, "0.1.0");
        assert_eq!(card.category, "support");
        assert_eq!(card.tier, "sealed");
        assert_eq!(card.auth, ["oauth2"]);
        assert_eq!(card.egress, ["*.zendesk.com"]);
        assert_eq!(card.not_installable, None);
        let hn: Vec<String> = catalogue
            .cards(Some("hacker news"), None)
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert!(hn.contains(&"hackernews".to_owned()), "{hn:?}");
        assert!(
            catalogue
                .cards(Some("zendesk no-such-word-anywhere"), None)
                .is_empty()
        );

        // category: exactly, case-insensitive, counted from the corpus itself
        let support: BTreeSet<String> = catalogue
            .cards(None, Some("support"))
            .into_iter()
            .map(|c| c.name)
            .collect();
        let expected: BTreeSet<String> = manifests
            .values()
            .filter(|m| m.category.eq_ignore_ascii_case("support"))
            .map(|m| m.name.clone())
            .collect();
        assert!(support.contains("zendesk"));
        assert_eq!(support, expected);
        let crm = catalogue.cards(None, Some("crm"));
        assert!(!crm.is_empty());
        assert_eq!(crm, catalogue.cards(None, Some("CRM")));
        assert_eq!(
            catalogue.cards(Some("zendesk"), Some("support")).len(),
            catalogue
                .cards(Some("zendesk"), None)
                .iter()
                .filter(|c| c.category == "support")
                .count()
        );
        assert!(catalogue.cards(Some("zendesk"), Some("finance")).is_empty());

        // the four placeholder digests are listed, marked not installable
        let placeholders: BTreeSet<String> = common::corpus()
            .files
            .iter()
            .filter(|f| {
                String::from_utf8_lossy(&f.bytes).contains(&format!("sha256:{}", "0".repeat(64)))
            })
            .map(|f| f.path.split('/').nth(1).unwrap().to_owned())
            .collect();
        assert_eq!(placeholders.len(), 4);
        let not_installable: BTreeSet<String> = cards
            .iter()
            .filter(|c| c.not_installable.is_some())
            .map(|c| c.name.clone())
            .collect();
        assert_eq!(not_installable, placeholders);

        // entries
        assert_eq!(catalogue.entry("zendesk", None).unwrap().version, "0.1.0");
        let err = catalogue.entry("no-such-server", None).unwrap_err();
        assert!(matches!(err, CatalogError::UnknownServer { .. }), "{err:?}");
        assert!(err.to_string().contains("gigmcp registry list"), "{err}");
        let err = catalogue.entry("zendes", None).unwrap_err().to_string();
        assert!(
            err.contains("gigmcp registry list") && err.contains("did you mean zendesk"),
            "{err}"
        );
        let err = catalogue.entry("zendesk", Some("9.9.9")).unwrap_err();
        assert!(
            matches!(err, CatalogError::UnknownVersion { .. }),
            "{err:?}"
        );
        let err = err.to_string();
        assert!(err.contains("9.9.9") && err.contains("0.1.0"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn https_index_passes_the_ssrf_guard_only_when_allowed() {
    let bytes = &base_index(2);
    for_each_driver(|driver, db| async move {
        let server = HttpsServer::start().await;
        server.publish(bytes, Some(&sign(bytes)));
        let store = db.store().await;

        // loopback is refused by default: nothing is even requested
        let guarded = server.registry(&store, &[]);
        let err = guarded.refresh().await.unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("SSRF guard") && msg.contains("GIG_REGISTRY_ALLOW_RANGES"),
            "{driver:?}: {msg}"
        );
        assert!(!err.is_untrusted(), "{msg}");
        assert!(
            msg.contains("localhost resolves to 127.0.0.1 is a loopback address, which"),
            "{msg}"
        );
        assert!(server.requests().is_empty(), "{:?}", server.requests());
        assert_eq!(store.registry_state().await.unwrap(), None);

        // without the CA bundle the server is not trusted: nothing kept either
        let keys = common::pubkey_hex();
        let url = server.url();
        let allow = loopback();
        let no_ca = registry_with(
            &store,
            &RegistrySettings {
                index_url: Some(&url),
                pubkeys: Some(&keys),
                allow_ranges: &allow,
                ..Default::default()
            },
        );
        let err = no_ca.refresh().await.unwrap_err();
        assert!(err.to_string().contains("UnknownIssuer"), "{err}");
        assert!(matches!(err, CatalogError::Fetch { .. }), "{err:?}");
        assert_eq!(store.registry_state().await.unwrap(), None);

        // with the loopback range allowed and the CA trusted
        let registry = server.registry(&store, &loopback());
        assert_eq!(
            registry.refresh().await.unwrap(),
            Refreshed::Accepted {
                sequence: 2,
                entries: common::corpus().base.entries.len()
            },
            "{driver:?}"
        );
        assert_eq!(
            server.requests(),
            ["/index.json", "/index.json.sig"],
            "the index, then its signature"
        );
        let catalogue = registry.catalogue().await.unwrap();
        assert_eq!(catalogue.freshness.url, url);
        assert_eq!(catalogue.freshness.sequence, 2);
        assert_eq!(catalogue.cards(None, None).len(), corpus_names().len());
        assert_eq!(
            store.registry_state().await.unwrap().unwrap().index_bytes,
            *bytes
        );
    })
    .await;
}

#[tokio::test]
async fn last_good_index_is_served_stale_after_a_restart_with_the_source_gone() {
    let bytes = &base_index(4);
    let published = &Published::signed(bytes);
    let count = corpus_names().len();
    for_each_driver(|driver, db| async move {
        {
            let store = db.store().await;
            registry(&store, &published.url()).refresh().await.unwrap();
        }
        // restart: a new connection, and the index URL now points nowhere
        let store = db.store().await;
        let gone = format!("file://{}/gone/index.json", db.dir.path().display());
        let registry = registry(&store, &gone);
        let err = registry.refresh().await.unwrap_err();
        assert!(!err.is_untrusted(), "{err}");
        assert!(
            matches!(err, CatalogError::Fetch { .. })
                && err.to_string().contains("gone/index.json"),
            "{driver:?}: {err}"
        );
        let catalogue = registry.catalogue().await.unwrap();
        assert_eq!(catalogue.cards(None, None).len(), count, "{driver:?}");
        assert!(catalogue.freshness.stale);
        assert_eq!(catalogue.freshness.sequence, 4);
        assert_eq!(
            catalogue.freshness.url,
            published.url(),
            "where the copy came from"
        );
        assert_eq!(catalogue.freshness.last_error, Some(err.to_string()));

        // an HTTPS mirror on a closed port
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let closed_url = format!("https://localhost:{port}/index.json");
        let keys = common::pubkey_hex();
        let allow = loopback();
        let closed = registry_with(
            &store,
            &RegistrySettings {
                index_url: Some(&closed_url),
                pubkeys: Some(&keys),
                allow_ranges: &allow,
                ..Default::default()
            },
        );
        let err = closed.refresh().await.unwrap_err();
        assert!(matches!(err, CatalogError::Fetch { .. }), "{err:?}");
        let catalogue = closed.catalogue().await.unwrap();
        assert_eq!(catalogue.cards(None, None).len(), count);
        assert!(catalogue.freshness.stale);
        assert!(
            catalogue
                .freshness
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains(&closed_url)),
            "{:?}",
            catalogue.freshness.last_error
        );

        // the source is back: fresh again
        let back = common::registry(&store, &published.url());
        assert_eq!(
            back.refresh().await.unwrap(),
            Refreshed::Unchanged { sequence: 4 }
        );
        let catalogue = back.catalogue().await.unwrap();
        assert!(!catalogue.freshness.stale);
        assert_eq!(catalogue.freshness.last_error, None);
    })
    .await;
}

#[tokio::test]
async fn refreshes_and_imports_are_audited() {
    let good = &base_index(2);
    let published = &Published::signed(good);
    let forged = &updated_index(3);
    let refused = &Published::with(forged, Some(&sign_index(forged, &common::other_key())));
    for_each_driver(|driver, db| async move {
        let store = db.store().await;
        registry(&store, &published.url()).refresh().await.unwrap();
        let events = common::audit(&store, "registry_refresh").await;
        assert_eq!(events.len(), 1, "{driver:?}: {events:?}");
        assert_eq!(events[0].target, published.url());
        assert_eq!(events[0].actor, "system");
        let detail = common::detail(&events[0]);
        assert_eq!(detail["sequence"], 2);
        assert_eq!(detail["entries"], common::corpus().base.entries.len());
        assert_eq!(detail["sha256"], hex::encode(Sha256::digest(good)));

        let err = registry(&store, &refused.url())
            .refresh()
            .await
            .unwrap_err();
        assert!(err.is_untrusted(), "{err}");
        let events = common::audit(&store, "registry_refresh").await;
        assert_eq!(events.len(), 2, "{driver:?}: {events:?}");
        assert_eq!(events[1].target, refused.url());
        assert_eq!(common::detail(&events[1])["error"], err.to_string());

        // a refusal is recorded even when no index was ever accepted
        let fresh_db = TestDb::new(driver).await;
        let fresh = fresh_db.store().await;
        let err = registry(&fresh, &refused.url())
            .refresh()
            .await
            .unwrap_err();
        let events = common::audit(&fresh, "registry_refresh").await;
        assert_eq!(events.len(), 1, "{driver:?}: {events:?}");
        assert_eq!(common::detail(&events[0])["error"], err.to_string());

        // an import (air-gapped) is audited as such, refused or accepted
        let registry = registry(&store, &published.url());
        let err = registry
            .import(forged, &sign_index(forged, &common::other_key()))
            .await
            .unwrap_err();
        assert!(err.is_untrusted(), "{err}");
        assert_eq!(
            registry.import(forged, &sign(forged)).await.unwrap(),
            Refreshed::Accepted {
                sequence: 3,
                entries: common::corpus().updated.entries.len()
            }
        );
        let imports = common::audit(&store, "registry_import").await;
        assert_eq!(imports.len(), 2, "{driver:?}: {imports:?}");
        assert_eq!(common::detail(&imports[0])["error"], err.to_string());
        assert_eq!(imports[1].target, "import:");
        assert_eq!(common::detail(&imports[1])["sequence"], 3);
        assert_eq!(store.registry_state().await.unwrap().unwrap().sequence, 3);
    })
    .await;
}

#[tokio::test]
async fn concurrent_refreshes_share_one_refusal_still_untrusted() {
    let forged = &updated_index(2);
    let refused = &Published::with(forged, Some(&sign_index(forged, &common::other_key())));
    for_each_driver(|driver, db| async move {
        let store = db.store().await;
        let registry = registry(&store, &refused.url());
        let (a, b) = tokio::join!(registry.refresh(), registry.refresh());
        let (a, b) = (a.unwrap_err(), b.unwrap_err());
        for err in [&a, &b] {
            assert!(err.is_untrusted(), "{driver:?}: {err}");
            assert!(err.to_string().starts_with("UNTRUSTED"), "{err}");
        }
        assert_eq!(a.to_string(), b.to_string());
        // one fetch answered both
        assert_eq!(common::audit(&store, "registry_refresh").await.len(), 1);
        assert_eq!(store.registry_state().await.unwrap(), None);
    })
    .await;
}
