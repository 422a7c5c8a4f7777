//! Toolpack servers and install settings, on SQLite and PostgreSQL alike: the toolspec kept
//! with the server, per-owner host overrides and install variables (set, replace, list,
//! delete, cascade), and rows written before the toolpack migration still read back.

use gigmcp_store::testing::{Driver, TestDb, for_each_driver};
use gigmcp_store::{
    InstallSetting, MAX_SETTING_VALUE_LEN, NewServer, Role, ServerSource, SettingKey, StoreError,
    StoreUrl,
};

fn keys(settings: &[InstallSetting]) -> Vec<(SettingKey, &str)> {
    settings
        .iter()
        .map(|s| (s.key.clone(), s.value.as_str()))
        .collect()
}

#[tokio::test]
async fn toolpack_servers_keep_their_toolspec() {
    for_each_driver(|driver, db| async move {
        let store = db.store().await;
        let created = store
            .create_server(NewServer {
                name: "zendesk".parse().unwrap(),
                source: ServerSource::Toolpack,
            })
            .await
            .unwrap();
        assert_eq!(created.toolspec, None);
        let spec = r#"{"schemaVersion":1,"name":"zendesk","version":"0.1.0"}"#;
        store.set_server_toolspec(created.id, spec).await.unwrap();
        let read = store.server_by_name("zendesk").await.unwrap().unwrap();
        assert_eq!(read.source, ServerSource::Toolpack, "{driver:?}");
        assert_eq!(read.toolspec.as_deref(), Some(spec), "{driver:?}");
        assert!(matches!(
            store
                .set_server_toolspec(gigmcp_store::ServerId(9999), spec)
                .await,
            Err(StoreError::NotFound { .. })
        ));
        let huge = "x".repeat((1 << 20) + 1);
        assert!(matches!(
            store.set_server_toolspec(created.id, &huge).await,
            Err(StoreError::Invalid { .. })
        ));
    })
    .await;
}

#[tokio::test]
async fn install_settings_are_per_server_and_owner() {
    for_each_driver(|driver, db| async move {
        let store = db.store().await;
        let alice = store.ensure_user("alice", Role::User).await.unwrap();
        let bob = store.ensure_user("bob", Role::User).await.unwrap();
        let zd = store
            .create_server(NewServer {
                name: "zendesk".parse().unwrap(),
                source: ServerSource::Toolpack,
            })
            .await
            .unwrap();
        let other = store
            .create_server(NewServer {
                name: "shopify".parse().unwrap(),
                source: ServerSource::Toolpack,
            })
            .await
            .unwrap();
        let host = SettingKey::Host("yoursubdomain.zendesk.com".into());
        let var = SettingKey::Var("account_id".into());
        store
            .set_install_setting(zd.id, alice.id, &var, "42")
            .await
            .unwrap();
        store
            .set_install_setting(zd.id, alice.id, &host, "acme.zendesk.com")
            .await
            .unwrap();
        store
            .set_install_setting(zd.id, bob.id, &host, "bobco.zendesk.com")
            .await
            .unwrap();
        // replacing keeps one row
        store
            .set_install_setting(zd.id, alice.id, &host, "acme-eu.zendesk.com")
            .await
            .unwrap();
        let mine = store.install_settings(zd.id, alice.id).await.unwrap();
        assert_eq!(
            keys(&mine),
            [(host.clone(), "acme-eu.zendesk.com"), (var.clone(), "42")],
            "{driver:?}: host overrides first, then variables"
        );
        assert!(mine.iter().all(|s| s.updated_at > 0));
        assert_eq!(
            keys(&store.install_settings(zd.id, bob.id).await.unwrap()),
            [(host.clone(), "bobco.zendesk.com")]
        );
        assert!(
            store
                .install_settings(other.id, alice.id)
                .await
                .unwrap()
                .is_empty()
        );

        // bounded, and only for rows that exist
        let long = "a".repeat(MAX_SETTING_VALUE_LEN + 1);
        assert!(matches!(
            store
                .set_install_setting(zd.id, alice.id, &var, &long)
                .await,
            Err(StoreError::Invalid { .. })
        ));
        assert!(matches!(
            store
                .set_install_setting(gigmcp_store::ServerId(9999), alice.id, &var, "1")
                .await,
            Err(StoreError::NotFound { .. })
        ));

        assert!(
            store
                .delete_install_setting(zd.id, alice.id, &var)
                .await
                .unwrap()
        );
        assert!(
            !store
                .delete_install_setting(zd.id, alice.id, &var)
                .await
                .unwrap()
        );
        assert_eq!(
            store.install_settings(zd.id, alice.id).await.unwrap().len(),
            1
        );

        // uninstalling the server takes its settings along
        store.delete_server("zendesk").await.unwrap();
        assert!(
            store
                .install_settings(zd.id, bob.id)
                .await
                .unwrap()
                .is_empty(),
            "{driver:?}"
        );
    })
    .await;
}

/// A database migrated by an older gigmcp (before `0004_toolpack`), with a server in it: the
/// current store applies the new migration and reads the old row unchanged.
#[tokio::test]
async fn servers_written_before_the_toolpack_migration_stay_readable() {
    sqlx::any::install_default_drivers();
    for driver in [Driver::Sqlite, Driver::Postgres] {
        let db = TestDb::new(driver).await;
        let (dialect, url) = match &db.url {
            StoreUrl::Sqlite { path } => {
                ("sqlite", format!("sqlite://{}?mode=rwc", path.display()))
            }
            StoreUrl::Postgres { url } => ("postgres", url.clone()),
        };
        let old = tempfile::tempdir().unwrap();
        let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(dialect);
        for entry in std::fs::read_dir(&source).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.as_str() < "0004" {
                std::fs::copy(entry.path(), old.path().join(&name)).unwrap();
            }
        }
        {
            let pool = sqlx::AnyPool::connect(&url).await.unwrap();
            sqlx::migrate::Migrator::new(old.path())
                .await
                .unwrap()
                .run(&pool)
                .await
                .unwrap();
            sqlx::query(
                "INSERT INTO servers (name, source_kind, source_location, manifest, created_at, \
                 updated_at) VALUES ('echo', 'local_binary', '/srv/echo', '{}', 1, 2)",
            )
            .execute(&pool)
            .await
            .unwrap();
            pool.close().await;
        }
        let store = db.store().await;
        let echo = store.server_by_name("echo").await.unwrap().unwrap();
        assert_eq!(
            echo.source,
            ServerSource::LocalBinary {
                path: "/srv/echo".into()
            },
            "{driver:?}"
        );
        assert_eq!(echo.manifest.as_deref(), Some("{}"));
        assert_eq!(echo.toolspec, None);
        assert_eq!((echo.created_at, echo.updated_at), (1, 2));
        let admin = store.ensure_user("admin", Role::Admin).await.unwrap();
        store
            .set_install_setting(echo.id, admin.id, &SettingKey::Var("x".into()), "1")
            .await
            .unwrap();
    }
}
