//! Every index the pinned key does not vouch for, or that rolls back, is refused as UNTRUSTED,
//! and nothing of it is kept or installable: on a fresh store, and on one that already holds a
//! good index (which stays in use, marked stale).

use gigmcp_catalog::{CatalogError, Registry, install, plan_install};
use gigmcp_registry::sign_index;
use gigmcp_store::testing::{TestDb, for_each_driver};
use gigmcp_store::{RegistryState, Store};

use crate::common::{
    self, HttpsServer, Published, base_index, install_options, loopback, registry, sign,
    updated_index,
};

/// An index as a hostile or mistaken source serves it.
struct Bad {
    what: &'static str,
    index: Vec<u8>,
    signature: Option<String>,
    /// What the error says besides `UNTRUSTED`.
    says: &'static str,
    /// Refused only against a stored index (on a fresh store it would be the first one).
    needs_history: bool,
}

/// The refused indexes offered to a store that holds `base_index(5)`: each would bring
/// `hackernews@0.2.0` and `zendesk@0.2.0` if it were accepted.
fn bad_indexes() -> Vec<Bad> {
    let newer = updated_index(6);
    let mut flipped = newer.clone();
    // one byte of a host name: still valid JSON, no longer what was signed
    let at = flipped
        .windows(16)
        .position(|w| w == b"\"hn.algolia.com\"")
        .expect("hackernews' egress is in the index")
        + 14;
    flipped[at] ^= 0x01;
    vec![
        Bad {
            what: "a flipped byte",
            index: flipped,
            signature: Some(sign(&newer)),
            says: "does not match these bytes",
            needs_history: false,
        },
        Bad {
            what: "another publisher's key",
            signature: Some(sign_index(&newer, &common::other_key())),
            index: newer.clone(),
            says: "does not match these bytes",
            needs_history: false,
        },
        Bad {
            what: "no .sig file",
            index: newer.clone(),
            signature: None,
            says: "index.json.sig",
            needs_history: false,
        },
        Bad {
            what: "an empty .sig file",
            index: newer,
            signature: Some(String::new()),
            says: "signature is missing",
            needs_history: false,
        },
        Bad {
            what: "a lower sequence",
            index: base_index(4),
            signature: Some(sign(&base_index(4))),
            says: "older than the last accepted sequence 5",
            needs_history: true,
        },
        Bad {
            what: "the same sequence with other content",
            index: updated_index(5),
            signature: Some(sign(&updated_index(5))),
            says: "already accepted with different content",
            needs_history: true,
        },
    ]
}

fn assert_untrusted(err: &CatalogError, what: &str, says: &str) {
    let msg = err.to_string();
    assert!(msg.starts_with("UNTRUSTED"), "{what}: {msg}");
    assert!(err.is_untrusted(), "{what}: {msg}");
    assert!(msg.contains(says), "{what}: {msg:?} does not say {says:?}");
}

/// What the store holds is still `kept`, now marked stale with `err`; the catalogue is the old
/// one; what only the refused index offers cannot be installed.
async fn nothing_new(store: &Store, registry: &Registry, kept: &RegistryState, err: &str) {
    let state = store.registry_state().await.unwrap().unwrap();
    assert_eq!(
        (&state.url, state.sequence, &state.sha256, &state.signature),
        (&kept.url, kept.sequence, &kept.sha256, &kept.signature)
    );
    assert!(
        state.index_bytes == kept.index_bytes,
        "the kept bytes changed"
    );
    assert_eq!(state.accepted_at, kept.accepted_at);
    assert_eq!(state.last_error.as_deref(), Some(err));
    let catalogue = registry.catalogue().await.unwrap();
    assert!(catalogue.freshness.stale);
    assert_eq!(catalogue.freshness.sequence, kept.sequence);
    assert_eq!(
        catalogue.index.entries.len(),
        common::corpus().base.entries.len()
    );
    for name in ["hackernews", "zendesk"] {
        let err = plan_install(store, &catalogue, &format!("{name}@0.2.0"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, CatalogError::UnknownVersion { .. }),
            "{err:?}"
        );
        assert_eq!(catalogue.entry(name, None).unwrap().version, "0.1.0");
    }
    assert!(store.list_servers().await.unwrap().is_empty());
    assert!(store.consents("hackernews").await.unwrap().is_empty());
}

async fn nothing_at_all(store: &Store, registry: &Registry) {
    assert_eq!(store.registry_state().await.unwrap(), None);
    assert!(matches!(
        registry.catalogue().await,
        Err(CatalogError::NoIndex)
    ));
    assert!(store.list_servers().await.unwrap().is_empty());
}

#[tokio::test]
async fn untrusted_file_indexes_change_nothing() {
    let good = &Published::signed(&base_index(5));
    let cases = &bad_indexes()
        .into_iter()
        .map(|b| {
            let published = Published::with(&b.index, b.signature.as_deref());
            (b, published)
        })
        .collect::<Vec<_>>();
    for_each_driver(|driver, db| async move {
        let fresh_db = TestDb::new(driver).await;
        let fresh = fresh_db.store().await;
        let store = db.store().await;
        registry(&store, &good.url()).refresh().await.unwrap();
        let kept = store.registry_state().await.unwrap().unwrap();

        for (bad, published) in cases {
            let what = format!("{driver:?}, {}", bad.what);
            if !bad.needs_history {
                let registry = registry(&fresh, &published.url());
                let err = registry.refresh().await.unwrap_err();
                assert_untrusted(&err, &format!("{what}, fresh store"), bad.says);
                nothing_at_all(&fresh, &registry).await;
            }
            let registry = registry(&store, &published.url());
            let err = registry.refresh().await.unwrap_err();
            assert_untrusted(&err, &what, bad.says);
            nothing_new(&store, &registry, &kept, &err.to_string()).await;
        }

        // installing afterwards takes the version of the kept index
        let registry = registry(&store, &good.url());
        let catalogue = registry.catalogue().await.unwrap();
        let plan = plan_install(&store, &catalogue, "hackernews")
            .await
            .unwrap();
        assert_eq!(plan.entry.version, "0.1.0");
        let server = install(&store, &install_options(db.dir.path()), &plan, "admin")
            .await
            .unwrap();
        assert_eq!(
            server.origin,
            gigmcp_store::ServerOrigin::Registry {
                version: "0.1.0".into()
            }
        );
    })
    .await;
}

#[tokio::test]
async fn untrusted_https_indexes_change_nothing() {
    let good = &base_index(5);
    let newer = &updated_index(6);
    for_each_driver(|driver, db| async move {
        let server = HttpsServer::start().await;
        let fresh_db = TestDb::new(driver).await;
        let fresh = fresh_db.store().await;
        let store = db.store().await;

        // a 404 for the signature
        server.publish(newer, None);
        let registry = server.registry(&fresh, &loopback());
        let err = registry.refresh().await.unwrap_err();
        assert_untrusted(&err, &format!("{driver:?}, 404 for .sig"), "404");
        assert!(err.to_string().contains("/index.json.sig"), "{err}");
        nothing_at_all(&fresh, &registry).await;

        // a store holding a good index from this server
        server.publish(good, Some(&sign(good)));
        let registry = server.registry(&store, &loopback());
        registry.refresh().await.unwrap();
        let kept = store.registry_state().await.unwrap().unwrap();

        server.publish(newer, None);
        let err = registry.refresh().await.unwrap_err();
        assert_untrusted(&err, &format!("{driver:?}, 404 for .sig"), "404");
        nothing_new(&store, &registry, &kept, &err.to_string()).await;

        server.publish(newer, Some(&sign_index(newer, &common::other_key())));
        let err = registry.refresh().await.unwrap_err();
        assert_untrusted(&err, &format!("{driver:?}, wrong key"), "does not match");
        nothing_new(&store, &registry, &kept, &err.to_string()).await;

        let older = base_index(4);
        server.publish(&older, Some(&sign(&older)));
        let err = registry.refresh().await.unwrap_err();
        assert_untrusted(&err, &format!("{driver:?}, rollback"), "older");
        nothing_new(&store, &registry, &kept, &err.to_string()).await;
    })
    .await;
}

#[tokio::test]
async fn a_kept_index_is_not_served_once_its_key_is_unpinned() {
    let good = &Published::signed(&base_index(1));
    for_each_driver(|driver, db| async move {
        let store = db.store().await;
        registry(&store, &good.url()).refresh().await.unwrap();
        // the publisher's key was replaced in GIG_REGISTRY_PUBKEY
        let other =
            gigmcp_registry::sign::verifying_key_to_hex(&common::other_key().verifying_key());
        let url = good.url();
        let rotated = common::registry_with(
            &store,
            &gigmcp_catalog::RegistrySettings {
                index_url: Some(&url),
                pubkeys: Some(&other),
                ..Default::default()
            },
        );
        let err = rotated.catalogue().await.unwrap_err();
        assert!(err.is_untrusted(), "{driver:?}: {err}");
    })
    .await;
}
