//! Uninstalling removes the server with everything that hangs off it (profile memberships,
//! credentials, install settings, its files) and keeps the history (consents, audit).

use gigmcp_catalog::install::profiles_using;
use gigmcp_catalog::{CatalogError, Uninstalled, install, plan_install, uninstall};
use gigmcp_store::testing::for_each_driver;
use gigmcp_store::{NewProfile, Role, SettingKey};

use crate::common::{self, Published, base_index, install_options, registry};

#[tokio::test]
async fn uninstall_cascades_and_keeps_the_history() {
    let published = &Published::signed(&base_index(1));
    for_each_driver(|driver, db| async move {
        let store = db.store().await;
        let data_dir = db.dir.path();
        let options = install_options(data_dir);
        let registry = registry(&store, &published.url());
        registry.refresh().await.unwrap();
        let catalogue = registry.catalogue().await.unwrap();
        let mut ids = Vec::new();
        for name in ["zendesk", "hackernews"] {
            let plan = plan_install(&store, &catalogue, name).await.unwrap();
            ids.push(install(&store, &options, &plan, "admin").await.unwrap().id);
        }
        let (zendesk, hackernews) = (ids[0], ids[1]);

        let alice = store.ensure_user("alice", Role::User).await.unwrap();
        let profile = store
            .create_profile(NewProfile {
                slug: "support-team".parse().unwrap(),
                owner: alice.id,
                token_hash: [1; 32],
            })
            .await
            .unwrap();
        store.add_profile_server(profile.id, zendesk).await.unwrap();
        store
            .add_profile_server(profile.id, hackernews)
            .await
            .unwrap();
        store
            .put_credential(
                alice.id,
                zendesk,
                "zendesk_token",
                b"sealed bytes".to_vec(),
                "kek-1",
            )
            .await
            .unwrap();
        let host = SettingKey::Host("yoursubdomain.zendesk.com".into());
        store
            .set_install_setting(zendesk, alice.id, &host, "acme.zendesk.com")
            .await
            .unwrap();
        let files = data_dir.join("servers").join("zendesk");
        std::fs::create_dir_all(&files).unwrap();
        std::fs::write(files.join("state"), b"x").unwrap();

        assert_eq!(
            profiles_using(&store, "zendesk").await.unwrap(),
            ["support-team"]
        );
        let gone = uninstall(&store, data_dir, "zendesk", "admin")
            .await
            .unwrap();
        assert_eq!(
            gone,
            Uninstalled {
                profiles: vec!["support-team".into()],
                image_files_removed: false,
            },
            "{driver:?}"
        );

        assert_eq!(store.server_by_name("zendesk").await.unwrap(), None);
        let left: Vec<String> = store
            .profile_servers(profile.id)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(left, ["hackernews"], "{driver:?}");
        assert!(
            store
                .profile_by_slug("support-team")
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(
            store
                .credential(alice.id, zendesk, "zendesk_token")
                .await
                .unwrap(),
            None
        );
        assert!(store.list_credentials(None).await.unwrap().is_empty());
        assert!(
            store
                .install_settings(zendesk, alice.id)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(!files.exists(), "the server's files are removed");
        assert!(store.server_by_name("hackernews").await.unwrap().is_some());

        // the history stays
        let consents = store.consents("zendesk").await.unwrap();
        assert_eq!(consents.len(), 1, "{driver:?}: {consents:?}");
        assert_eq!(consents[0].decision, "install");
        assert_eq!(common::audit(&store, "server_install").await.len(), 2);
        let events = common::audit(&store, "server_uninstall").await;
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(
            (events[0].target.as_str(), events[0].actor.as_str()),
            ("zendesk", "admin")
        );
        assert_eq!(
            common::detail(&events[0])["profiles"],
            serde_json::json!(["support-team"])
        );

        // twice is an error; the name is free again
        let err = uninstall(&store, data_dir, "zendesk", "admin")
            .await
            .unwrap_err();
        assert!(matches!(err, CatalogError::NotInstalled { .. }), "{err:?}");
        assert!(err.to_string().contains("gigmcp server list"), "{err}");
        let plan = plan_install(&store, &catalogue, "zendesk").await.unwrap();
        let again = install(&store, &options, &plan, "admin").await.unwrap();
        assert_ne!(again.id, zendesk);
        assert!(
            store
                .install_settings(again.id, alice.id)
                .await
                .unwrap()
                .is_empty()
        );
        let decisions: Vec<String> = store
            .consents("zendesk")
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.decision)
            .collect();
        assert_eq!(decisions, ["install", "install"]);
    })
    .await;
}
