//! The store's behaviour, run against SQLite and PostgreSQL alike.

use gigmcp_store::testing::{Driver, TestDb, for_each_driver};
use gigmcp_store::{
    AuditEvent, NewOAuthConnection, NewProfile, NewServer, NewSession, Role, ServerSource, Store,
    StoreError, now_millis,
};

fn binary(name: &str) -> NewServer {
    NewServer {
        name: name.parse().unwrap(),
        source: ServerSource::LocalBinary {
            path: format!("/data/servers/{name}/bin"),
        },
    }
}

async fn admin(store: &Store) -> gigmcp_store::User {
    store.ensure_user("admin", Role::Admin).await.unwrap()
}

#[tokio::test]
async fn users_are_created_once() {
    for_each_driver(|driver, db| async move {
        let store = db.store().await;
        let a = admin(&store).await;
        let again = store.ensure_user("admin", Role::User).await.unwrap();
        assert_eq!(a, again, "{driver:?}: existing user keeps id and role");
        assert_eq!(again.role, Role::Admin);
        assert_eq!(
            store.user_by_username("admin").await.unwrap(),
            Some(a.clone())
        );
        assert_eq!(store.user(a.id).await.unwrap(), Some(a));
        assert_eq!(store.user_by_username("nobody").await.unwrap(), None);
        store.ensure_user("bob", Role::User).await.unwrap();
        let names: Vec<_> = store
            .list_users()
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.username)
            .collect();
        assert_eq!(names, ["admin", "bob"]);
    })
    .await;
}

#[tokio::test]
async fn servers_round_trip_and_conflict() {
    for_each_driver(|driver, db| async move {
        let store = db.store().await;
        let s = store.create_server(binary("echo")).await.unwrap();
        assert_eq!(store.server_by_name("echo").await.unwrap(), Some(s.clone()));
        assert_eq!(store.server(s.id).await.unwrap(), Some(s.clone()));
        match store.create_server(binary("echo")).await {
            Err(StoreError::Conflict { what }) => assert!(what.contains("echo"), "{what}"),
            other => panic!("{driver:?}: expected Conflict, got {other:?}"),
        }
        store.create_server(binary("alpha")).await.unwrap();
        let names: Vec<_> = store
            .list_servers()
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["alpha", "echo"]);

        store
            .set_server_manifest(s.id, r#"{"name":"echo"}"#, "sha256:aa")
            .await
            .unwrap();
        store
            .set_server_consent(s.id, Some("sha256:bb"))
            .await
            .unwrap();
        let s2 = store.server(s.id).await.unwrap().unwrap();
        assert_eq!(s2.manifest.as_deref(), Some(r#"{"name":"echo"}"#));
        assert_eq!(s2.runtime_hash.as_deref(), Some("sha256:aa"));
        assert_eq!(s2.consented_hash.as_deref(), Some("sha256:bb"));
        store.set_server_consent(s.id, None).await.unwrap();
        assert_eq!(
            store.server(s.id).await.unwrap().unwrap().consented_hash,
            None
        );

        store.delete_server("echo").await.unwrap();
        assert!(matches!(
            store.delete_server("echo").await,
            Err(StoreError::NotFound { .. })
        ));
        assert_eq!(store.server_by_name("echo").await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn profiles_and_their_servers() {
    for_each_driver(|driver, db| async move {
        let store = db.store().await;
        let owner = admin(&store).await;
        let p = store
            .create_profile(NewProfile {
                slug: "work".parse().unwrap(),
                owner: owner.id,
                token_hash: [7; 32],
            })
            .await
            .unwrap();
        assert!(!p.meta_tools);
        assert_eq!(
            store.profile_by_slug("work").await.unwrap(),
            Some(p.clone())
        );
        assert_eq!(store.profile_by_slug("nope").await.unwrap(), None);
        let dup = store
            .create_profile(NewProfile {
                slug: "work".parse().unwrap(),
                owner: owner.id,
                token_hash: [1; 32],
            })
            .await;
        assert!(
            matches!(dup, Err(StoreError::Conflict { .. })),
            "{driver:?}: {dup:?}"
        );
        let orphan = store
            .create_profile(NewProfile {
                slug: "orphan".parse().unwrap(),
                owner: gigmcp_store::UserId(999_999),
                token_hash: [1; 32],
            })
            .await;
        assert!(
            matches!(orphan, Err(StoreError::NotFound { .. })),
            "{driver:?}: {orphan:?}"
        );

        let echo = store.create_server(binary("echo")).await.unwrap();
        let zed = store.create_server(binary("zed")).await.unwrap();
        store.add_profile_server(p.id, zed.id).await.unwrap();
        store.add_profile_server(p.id, echo.id).await.unwrap();
        store.add_profile_server(p.id, echo.id).await.unwrap(); // idempotent
        let missing = store
            .add_profile_server(p.id, gigmcp_store::ServerId(424_242))
            .await;
        assert!(
            matches!(missing, Err(StoreError::NotFound { .. })),
            "{driver:?}: {missing:?}"
        );
        let names: Vec<_> = store
            .profile_servers(p.id)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["echo", "zed"]);

        store.set_profile_token("work", [9; 32]).await.unwrap();
        store.set_profile_meta_tools("work", true).await.unwrap();
        let p2 = store.profile_by_slug("work").await.unwrap().unwrap();
        assert_eq!((p2.token_hash, p2.meta_tools), ([9; 32], true));
        assert!(matches!(
            store.set_profile_token("ghost", [0; 32]).await,
            Err(StoreError::NotFound { .. })
        ));

        let list = store.list_profiles().await.unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].owner_name, "admin");
        assert_eq!(list[0].servers, ["echo", "zed"]);

        // unprefixed names only while the profile has one server
        assert!(p.prefix_names && list[0].prefix_names);
        let refused = store.set_profile_prefix_names("work", false).await;
        assert!(
            matches!(refused, Err(StoreError::Invalid { .. })),
            "{driver:?}: {refused:?}"
        );
        assert!(matches!(
            store.set_profile_prefix_names("ghost", false).await,
            Err(StoreError::NotFound { .. })
        ));
        store.remove_profile_server(p.id, zed.id).await.unwrap();
        assert!(matches!(
            store.remove_profile_server(p.id, zed.id).await,
            Err(StoreError::NotFound { .. })
        ));
        store.set_profile_prefix_names("work", false).await.unwrap();
        assert!(
            !store
                .profile_by_slug("work")
                .await
                .unwrap()
                .unwrap()
                .prefix_names
        );
        store.add_profile_server(p.id, echo.id).await.unwrap(); // already in: fine
        let second = store.add_profile_server(p.id, zed.id).await;
        assert!(
            matches!(second, Err(StoreError::Invalid { .. })),
            "{driver:?}: {second:?}"
        );
        store.set_profile_prefix_names("work", true).await.unwrap();
        store.delete_server("echo").await.unwrap();
        assert!(
            store.profile_servers(p.id).await.unwrap().is_empty(),
            "membership cascades"
        );
        store.delete_profile("work").await.unwrap();
        assert!(store.list_profiles().await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn tool_selections_need_membership() {
    for_each_driver(|driver, db| async move {
        let store = db.store().await;
        let owner = admin(&store).await;
        let p = store
            .create_profile(NewProfile {
                slug: "p".parse().unwrap(),
                owner: owner.id,
                token_hash: [0; 32],
            })
            .await
            .unwrap();
        let s = store.create_server(binary("echo")).await.unwrap();
        let outside = store.set_tool_enabled(p.id, s.id, "echo", false).await;
        assert!(
            matches!(outside, Err(StoreError::NotFound { .. })),
            "{driver:?}: {outside:?}"
        );
        store.add_profile_server(p.id, s.id).await.unwrap();
        store
            .set_tool_enabled(p.id, s.id, "echo", false)
            .await
            .unwrap();
        store
            .set_tool_enabled(p.id, s.id, "add", true)
            .await
            .unwrap();
        store
            .set_tool_enabled(p.id, s.id, "echo", true)
            .await
            .unwrap();
        let sel = store.tool_selections(p.id).await.unwrap();
        let got: Vec<_> = sel.iter().map(|t| (t.tool.as_str(), t.enabled)).collect();
        assert_eq!(got, [("add", true), ("echo", true)]);
        store.clear_tool_selection(p.id, s.id, "add").await.unwrap();
        assert_eq!(store.tool_selections(p.id).await.unwrap().len(), 1);
        store.remove_profile_server(p.id, s.id).await.unwrap();
        assert!(
            store.tool_selections(p.id).await.unwrap().is_empty(),
            "selections cascade"
        );
    })
    .await;
}

#[tokio::test]
async fn sessions_oauth_auth_configs() {
    for_each_driver(|driver, db| async move {
        let store = db.store().await;
        let owner = admin(&store).await;
        let live = store
            .create_session(NewSession {
                id_hash: [1; 32],
                user: owner.id,
                expires_at: now_millis() + 60_000,
            })
            .await
            .unwrap();
        store
            .create_session(NewSession {
                id_hash: [2; 32],
                user: owner.id,
                expires_at: now_millis() - 1,
            })
            .await
            .unwrap();
        assert_eq!(store.session(&[1; 32]).await.unwrap(), Some(live));
        assert_eq!(
            store.session(&[2; 32]).await.unwrap(),
            None,
            "{driver:?}: expired hidden"
        );
        assert_eq!(store.purge_expired_sessions().await.unwrap(), 1);
        assert!(store.delete_session(&[1; 32]).await.unwrap());
        assert!(!store.delete_session(&[1; 32]).await.unwrap());

        let s = store.create_server(binary("gh")).await.unwrap();
        store
            .put_auth_config(s.id, "env", r#"{"vars":["GITHUB_TOKEN"]}"#)
            .await
            .unwrap();
        store
            .put_auth_config(s.id, "oauth", r#"{"issuer":"https://gh"}"#)
            .await
            .unwrap();
        let cfg = store.auth_config(s.id).await.unwrap().unwrap();
        assert_eq!(
            (cfg.kind.as_str(), cfg.config.as_str()),
            ("oauth", r#"{"issuer":"https://gh"}"#)
        );

        let mut conn = NewOAuthConnection {
            owner: owner.id,
            server: s.id,
            issuer: "https://gh".into(),
            subject: None,
            scopes: "repo".into(),
            credential_id: "oauth".into(),
            expires_at: None,
        };
        store.put_oauth_connection(&conn).await.unwrap();
        conn.subject = Some("octocat".into());
        conn.expires_at = Some(123);
        store.put_oauth_connection(&conn).await.unwrap();
        let got = store
            .oauth_connection(owner.id, s.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.connection, conn);
        assert_eq!(
            store.list_oauth_connections(owner.id).await.unwrap().len(),
            1
        );
        store.delete_server("gh").await.unwrap();
        assert_eq!(store.oauth_connection(owner.id, s.id).await.unwrap(), None);
        assert_eq!(store.auth_config(s.id).await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn audit_log_newest_first() {
    for_each_driver(|_driver, db| async move {
        let store = db.store().await;
        for i in 0..5 {
            store
                .append_audit(AuditEvent {
                    actor: "admin".into(),
                    action: "profile.create".into(),
                    target: format!("p{i}"),
                    detail: format!(r#"{{"n":{i}}}"#),
                })
                .await
                .unwrap();
        }
        let got = store.list_audit(3).await.unwrap();
        let targets: Vec<_> = got.iter().map(|a| a.target.as_str()).collect();
        assert_eq!(targets, ["p4", "p3", "p2"]);
        assert_eq!(got[0].detail, r#"{"n":4}"#);
    })
    .await;
}

#[tokio::test]
async fn hostile_input_is_stored_verbatim_or_refused() {
    // Names are refused by their type before they reach the store: an injection, an oversized
    // or a non-ASCII name cannot even be written.
    let nasty = "x'); DROP TABLE servers; --";
    for bad in [nasty.to_string(), "a".repeat(10_000), "ünï-cödé-😀".into()] {
        let err = bad.parse::<gigmcp_store::ServerName>().unwrap_err();
        assert!(err.to_string().contains("invalid server name"), "{err}");
    }
    for_each_driver(|driver, db| async move {
        let store = db.store().await;
        // Other text is bound, never spliced: stored and read back verbatim.
        let s = store
            .create_server(NewServer {
                name: "odd".parse().unwrap(),
                source: ServerSource::LocalBinary {
                    path: format!("/srv/{nasty}/ünï-cödé-😀"),
                },
            })
            .await
            .unwrap();
        let back = store.server_by_name("odd").await.unwrap().unwrap();
        assert_eq!(back.id, s.id);
        assert_eq!(
            back.source,
            ServerSource::LocalBinary {
                path: format!("/srv/{nasty}/ünï-cödé-😀")
            }
        );
        assert!(store.server_by_name(nasty).await.unwrap().is_none());
        assert_eq!(store.list_servers().await.unwrap().len(), 1, "{driver:?}");
    })
    .await;
}

#[tokio::test]
async fn restart_keeps_everything() {
    for_each_driver(|driver, db| async move {
        let store = db.store().await;
        let owner = admin(&store).await;
        let p = store
            .create_profile(NewProfile {
                slug: "keep".parse().unwrap(),
                owner: owner.id,
                token_hash: [5; 32],
            })
            .await
            .unwrap();
        let s = store.create_server(binary("echo")).await.unwrap();
        store.add_profile_server(p.id, s.id).await.unwrap();
        store
            .put_credential(owner.id, s.id, "API_KEY", vec![1, 2, 3], "kek1")
            .await
            .unwrap();
        store.close().await;
        drop(store);

        let reopened = db.store().await; // migrations are a no-op the second time
        let p2 = reopened.profile_by_slug("keep").await.unwrap().unwrap();
        assert_eq!(p2, p, "{driver:?}");
        assert_eq!(
            reopened.profile_servers(p.id).await.unwrap()[0].name,
            "echo"
        );
        let c = reopened
            .credential(owner.id, s.id, "API_KEY")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c.ciphertext, [1, 2, 3]);
    })
    .await;
}

/// 50 concurrent writers (each inserting servers, credentials and audit rows) on one store and
/// on a second store handle to the same database: nothing lost, no busy/locked error surfaces.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_parallel_writers() {
    for_each_driver(|driver, db| async move {
        let a = db.store().await;
        let b = db.store().await; // a second pool = another "process" fighting for the lock
        let owner = admin(&a).await;
        let mut tasks = Vec::new();
        for w in 0..50 {
            let store = if w % 2 == 0 { a.clone() } else { b.clone() };
            tasks.push(tokio::spawn(async move {
                for i in 0..10 {
                    let s = store.create_server(binary(&format!("w{w}-s{i}"))).await?;
                    store
                        .put_credential(owner.id, s.id, "TOKEN", vec![w as u8, i as u8], "kek")
                        .await?;
                    store
                        .append_audit(AuditEvent {
                            actor: format!("w{w}"),
                            action: "write".into(),
                            target: format!("{i}"),
                            detail: "{}".into(),
                        })
                        .await?;
                    store
                        .ensure_user(&format!("u{}", i % 3), Role::User)
                        .await?;
                }
                Ok::<_, StoreError>(())
            }));
        }
        for t in tasks {
            t.await
                .unwrap()
                .unwrap_or_else(|e| panic!("{driver:?}: writer failed: {e}"));
        }
        assert_eq!(a.list_servers().await.unwrap().len(), 500, "{driver:?}");
        assert_eq!(b.list_credentials(None).await.unwrap().len(), 500);
        assert_eq!(a.list_audit(1000).await.unwrap().len(), 500);
        assert_eq!(a.list_users().await.unwrap().len(), 4);
    })
    .await;
}

#[tokio::test]
async fn test_databases_are_isolated() {
    let one = TestDb::new(Driver::Postgres).await;
    let two = TestDb::new(Driver::Postgres).await;
    assert_ne!(one.url, two.url);
    one.store()
        .await
        .create_server(binary("only-in-one"))
        .await
        .unwrap();
    assert!(two.store().await.list_servers().await.unwrap().is_empty());
}

#[tokio::test]
async fn credentials_compare_and_swap() {
    use gigmcp_store::{CasUpdate, NewCredential};
    for_each_driver(|driver, db| async move {
        let store = db.store().await;
        let alice = admin(&store).await.id;
        let bob = store.ensure_user("bob", Role::User).await.unwrap().id;
        let s = store.create_server(binary("gh")).await.unwrap().id;
        let missing = store
            .put_credential(alice, gigmcp_store::ServerId(777), "X", vec![1], "k")
            .await;
        assert!(
            matches!(missing, Err(StoreError::NotFound { .. })),
            "{driver:?}: {missing:?}"
        );
        let rows: Vec<NewCredential> = (0..2500)
            .map(|i| NewCredential {
                owner: if i % 2 == 0 { alice } else { bob },
                server: s,
                credential_id: format!("C{i}"),
                ciphertext: vec![(i % 251) as u8; 40],
                kek_id: "old".into(),
            })
            .collect();
        store.put_credentials(&rows).await.unwrap();
        assert_eq!(
            store.count_credentials_by_kek().await.unwrap(),
            vec![("old".into(), 2500)]
        );
        assert_eq!(store.list_credentials(Some(bob)).await.unwrap().len(), 1250);
        assert_eq!(store.list_credentials(None).await.unwrap().len(), 2500);

        // Page through everything not under "new".
        let first = store
            .credentials_to_rewrap("new", None, 2000)
            .await
            .unwrap();
        assert_eq!(first.len(), 2000);
        let rest = store
            .credentials_to_rewrap("new", first.last().map(|c| c.id), 2000)
            .await
            .unwrap();
        assert_eq!(rest.len(), 500);

        // A writer replaces C0 after the rotation read it: its update must not be clobbered.
        store
            .put_credential(alice, s, "C0", vec![9, 9, 9], "new")
            .await
            .unwrap();
        let updates: Vec<CasUpdate> = first
            .iter()
            .chain(&rest)
            .map(|c| CasUpdate {
                id: c.id,
                expected_version: c.version,
                ciphertext: vec![0xee; 40],
                kek_id: "new".into(),
            })
            .collect();
        let stale = store.apply_rewraps(&updates).await.unwrap();
        assert_eq!(stale, vec![first[0].id], "{driver:?}");
        let c0 = store.credential(alice, s, "C0").await.unwrap().unwrap();
        assert_eq!(
            (c0.ciphertext.as_slice(), c0.version),
            (&[9u8, 9, 9][..], 2)
        );
        let c1 = store.credential(bob, s, "C1").await.unwrap().unwrap();
        assert_eq!(
            (c1.ciphertext, c1.kek_id, c1.version),
            (vec![0xee; 40], "new".into(), 2)
        );
        assert_eq!(
            store.count_credentials_by_kek().await.unwrap(),
            vec![("new".into(), 2500)]
        );
        assert!(
            store
                .credentials_to_rewrap("new", None, 10)
                .await
                .unwrap()
                .is_empty()
        );
        // Replaying the same updates changes nothing: every version has moved on.
        assert_eq!(store.apply_rewraps(&updates).await.unwrap().len(), 2500);

        assert!(store.delete_credential(alice, s, "C0").await.unwrap());
        assert!(!store.delete_credential(alice, s, "C0").await.unwrap());
        assert_eq!(store.server_credentials(bob, s).await.unwrap().len(), 1250);
        let too_many = vec![rows[0].clone(); 10_001];
        assert!(matches!(
            store.put_credentials(&too_many).await,
            Err(StoreError::Invalid { .. })
        ));
    })
    .await;
}

#[tokio::test]
async fn image_servers_keep_their_pinned_reference() {
    for_each_driver(|driver, db| async move {
        let store = db.store().await;
        let reference = format!("registry.example/mcp/everything@sha256:{}", "ab".repeat(32));
        let created = store
            .create_server(NewServer {
                name: "everything".parse().unwrap(),
                source: ServerSource::Image {
                    reference: reference.clone(),
                },
            })
            .await
            .unwrap();
        let read = store.server_by_name("everything").await.unwrap().unwrap();
        assert_eq!(read, created, "{driver:?}");
        assert_eq!(read.source, ServerSource::Image { reference }, "{driver:?}");
    })
    .await;
}

/// Gateway secrets: one row per name, every write bumps the version, insert-if-absent keeps the
/// first value, and rotation's helpers (page by KEK id, compare-and-swap, counts) behave like
/// the credentials' ones; the rows survive reopening the database.
#[tokio::test]
async fn gateway_secrets_compare_and_swap() {
    use gigmcp_store::GatewaySecretCas;
    for_each_driver(|driver, db| async move {
        let store = db.store().await;
        assert_eq!(store.gateway_secret("egress-ca").await.unwrap(), None);
        assert!(
            store
                .count_gateway_secrets_by_kek()
                .await
                .unwrap()
                .is_empty()
        );

        store
            .put_gateway_secret("egress-ca", vec![1, 2, 3], "old")
            .await
            .unwrap();
        let first = store.gateway_secret("egress-ca").await.unwrap().unwrap();
        assert_eq!(
            (
                first.ciphertext.as_slice(),
                first.kek_id.as_str(),
                first.version
            ),
            (&[1u8, 2, 3][..], "old", 1),
            "{driver:?}"
        );
        assert_eq!(first.created_at, first.updated_at);
        store
            .put_gateway_secret("egress-ca", vec![4, 5], "old")
            .await
            .unwrap();
        let second = store.gateway_secret("egress-ca").await.unwrap().unwrap();
        assert_eq!(
            (second.ciphertext.as_slice(), second.version),
            (&[4u8, 5][..], 2)
        );
        assert_eq!(
            second.created_at, first.created_at,
            "{driver:?}: creation time kept"
        );

        // Insert-if-absent: the existing value wins; a new name is written.
        assert!(
            !store
                .create_gateway_secret("egress-ca", vec![9], "new")
                .await
                .unwrap()
        );
        assert_eq!(
            store.gateway_secret("egress-ca").await.unwrap().unwrap(),
            second
        );
        assert!(
            store
                .create_gateway_secret("b", vec![7], "old")
                .await
                .unwrap()
        );
        store.put_gateway_secret("c", vec![8], "new").await.unwrap();
        assert_eq!(
            store.count_gateway_secrets_by_kek().await.unwrap(),
            vec![("new".into(), 1), ("old".into(), 2)]
        );

        // Paging: everything not under "new", by name.
        let page1 = store
            .gateway_secrets_to_rewrap("new", None, 1)
            .await
            .unwrap();
        let names: Vec<_> = page1.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["b"], "{driver:?}");
        let page2 = store
            .gateway_secrets_to_rewrap("new", Some("b"), 10)
            .await
            .unwrap();
        let names: Vec<_> = page2.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["egress-ca"], "{driver:?}");

        // A writer replaces "b" after rotation read it: the stale rewrap must not clobber it.
        store
            .put_gateway_secret("b", vec![0xbb], "new")
            .await
            .unwrap();
        let updates: Vec<GatewaySecretCas> = page1
            .iter()
            .chain(&page2)
            .map(|s| GatewaySecretCas {
                name: s.name.clone(),
                expected_version: s.version,
                ciphertext: vec![0xee],
                kek_id: "new".into(),
            })
            .collect();
        let stale = store.apply_gateway_secret_rewraps(&updates).await.unwrap();
        assert_eq!(stale, ["b"], "{driver:?}");
        let b = store.gateway_secret("b").await.unwrap().unwrap();
        assert_eq!((b.ciphertext, b.version), (vec![0xbb], 2));
        let ca = store.gateway_secret("egress-ca").await.unwrap().unwrap();
        assert_eq!(
            (ca.ciphertext, ca.kek_id, ca.version),
            (vec![0xee], "new".into(), 3)
        );
        assert!(
            store
                .gateway_secrets_to_rewrap("new", None, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store.count_gateway_secrets_by_kek().await.unwrap(),
            vec![("new".into(), 3)]
        );
        // Replaying changes nothing: every version has moved on.
        assert_eq!(
            store
                .apply_gateway_secret_rewraps(&updates)
                .await
                .unwrap()
                .len(),
            2
        );

        // Refused input; deletion.
        assert!(matches!(
            store.put_gateway_secret("", vec![1], "k").await,
            Err(StoreError::Invalid { .. })
        ));
        assert!(matches!(
            store
                .put_gateway_secret(&"n".repeat(257), vec![1], "k")
                .await,
            Err(StoreError::Invalid { .. })
        ));
        assert!(store.delete_gateway_secret("c").await.unwrap());
        assert!(!store.delete_gateway_secret("c").await.unwrap());

        store.close().await;
        drop(store);
        let reopened = db.store().await;
        let kept = reopened.gateway_secret("egress-ca").await.unwrap().unwrap();
        assert_eq!(kept.ciphertext, [0xee], "{driver:?}");
        assert_eq!(reopened.gateway_secret("c").await.unwrap(), None);
    })
    .await;
}
