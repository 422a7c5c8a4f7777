//! Gateway-wide secrets (the egress CA and the like): sealed and bound to their name, rewrapped
//! by key rotation together with the credentials, counted by `status`.
//! Every test runs on SQLite and PostgreSQL.

use gigmcp_store::testing::for_each_driver;
use gigmcp_store::{NewServer, Role, ServerSource, Store};
use gigmcp_vault::{
    Aad, KekRole, Keyring, MasterKey, RotateOptions, RotatedSecret, SecretError, VaultError,
    create_gateway_secret, get_gateway_secret, get_secret, put_gateway_secret, put_secret, rotate,
    rotate_with, status,
};

fn old_key() -> MasterKey {
    MasterKey::from_bytes([0x11; 32])
}
fn new_key() -> MasterKey {
    MasterKey::from_bytes([0x22; 32])
}

async fn open(store: &Store, ring: &Keyring, name: &str) -> Result<Option<Vec<u8>>, SecretError> {
    Ok(get_gateway_secret(store, ring, name)
        .await?
        .map(|s| s.to_vec()))
}

#[tokio::test]
async fn gateway_secrets_round_trip_and_are_bound_to_their_name() {
    for_each_driver(|driver, db| async move {
        let store = db.store().await;
        let ring = Keyring::new(old_key(), vec![]);
        assert_eq!(open(&store, &ring, "egress-ca").await.unwrap(), None);
        put_gateway_secret(&store, &ring, "egress-ca", b"ca-1")
            .await
            .unwrap();
        assert_eq!(
            open(&store, &ring, "egress-ca").await.unwrap().as_deref(),
            Some(&b"ca-1"[..]),
            "{driver:?}"
        );
        let row = store.gateway_secret("egress-ca").await.unwrap().unwrap();
        assert_eq!(row.kek_id, ring.current_kek_id().to_string());
        assert!(!row.ciphertext.windows(4).any(|w| w == b"ca-1"), "sealed");

        // create only writes when nothing is stored.
        assert!(
            !create_gateway_secret(&store, &ring, "egress-ca", b"ca-2")
                .await
                .unwrap()
        );
        assert_eq!(
            open(&store, &ring, "egress-ca").await.unwrap().as_deref(),
            Some(&b"ca-1"[..])
        );
        assert!(
            create_gateway_secret(&store, &ring, "other", b"x")
                .await
                .unwrap()
        );

        // The ciphertext copied under another name, or into a user's credential, fails to open.
        store
            .put_gateway_secret("copy", row.ciphertext.clone(), &row.kek_id)
            .await
            .unwrap();
        assert!(
            matches!(
                open(&store, &ring, "copy").await,
                Err(SecretError::Vault(VaultError::OpenFailed))
            ),
            "{driver:?}"
        );
        let alice = store.ensure_user("alice", Role::User).await.unwrap().id;
        let server = store
            .create_server(NewServer {
                name: "gh".parse().unwrap(),
                source: ServerSource::LocalBinary {
                    path: "/bin/gh".into(),
                },
            })
            .await
            .unwrap()
            .id;
        store
            .put_credential(alice, server, "egress-ca", row.ciphertext, &row.kek_id)
            .await
            .unwrap();
        assert!(
            get_secret(&store, &ring, alice, server, "egress-ca")
                .await
                .is_err()
        );

        // A user's credential copied into the gateway's table fails to open too.
        put_secret(&store, &ring, alice, server, "TOKEN", b"t")
            .await
            .unwrap();
        let cred = store
            .credential(alice, server, "TOKEN")
            .await
            .unwrap()
            .unwrap();
        store
            .put_gateway_secret("TOKEN", cred.ciphertext, &cred.kek_id)
            .await
            .unwrap();
        assert!(open(&store, &ring, "TOKEN").await.is_err());
        // And the gateway's binding is exactly this one.
        let sealed = ring.seal(b"z", &Aad::gateway_secret("z")).unwrap();
        store
            .put_gateway_secret("z", sealed, &ring.current_kek_id().to_string())
            .await
            .unwrap();
        assert_eq!(
            open(&store, &ring, "z").await.unwrap().as_deref(),
            Some(&b"z"[..])
        );
    })
    .await;
}

/// The operator's rotation story with a gateway secret in the vault: after `rotate` under
/// new + old keys, the old key can be dropped and the secret still opens; `status` counted it
/// under the old key before and shows nothing left there after.
#[tokio::test]
async fn rotation_rewraps_gateway_secrets_so_the_old_key_can_be_dropped() {
    for_each_driver(|driver, db| async move {
        let store = db.store().await;
        let old = Keyring::new(old_key(), vec![]);
        put_gateway_secret(&store, &old, "egress-ca", b"the CA")
            .await
            .unwrap();
        let ring = Keyring::new(new_key(), vec![old_key()]);
        let before = status(&store, Some(&ring)).await.unwrap();
        let summary: Vec<_> = before.iter().map(|u| (u.role, u.secrets)).collect();
        assert_eq!(
            summary,
            [(KekRole::Current, 0), (KekRole::Previous, 1)],
            "{driver:?}: {before:?}"
        );

        let report = rotate(&store, &ring, 10).await.unwrap();
        assert!(report.complete && report.failed.is_empty(), "{report:?}");
        assert_eq!(report.rewrapped, 1, "{driver:?}");
        let row = store.gateway_secret("egress-ca").await.unwrap().unwrap();
        assert_eq!(row.kek_id, ring.current_kek_id().to_string());
        assert_eq!(row.version, 2);

        let after = status(&store, Some(&ring)).await.unwrap();
        let summary: Vec<_> = after.iter().map(|u| (u.role, u.secrets)).collect();
        assert_eq!(summary, [(KekRole::Current, 1)], "{driver:?}: {after:?}");

        // The operator drops GIG_MASTER_KEY_PREVIOUS: the secret still opens.
        let only_new = Keyring::new(new_key(), vec![]);
        assert_eq!(
            open(&store, &only_new, "egress-ca")
                .await
                .unwrap()
                .as_deref(),
            Some(&b"the CA"[..]),
            "{driver:?}"
        );
        assert_eq!(rotate(&store, &ring, 10).await.unwrap().rewrapped, 0);
    })
    .await;
}

/// Gateway secrets come after the credentials, in the same batches: a run stopped at
/// `max_batches` leaves them for the next run, which finishes the job.
#[tokio::test]
async fn rotation_in_slices_reaches_the_gateway_secrets() {
    for_each_driver(|driver, db| async move {
        let store = db.store().await;
        let old = Keyring::new(old_key(), vec![]);
        let alice = store.ensure_user("alice", Role::User).await.unwrap().id;
        let server = store
            .create_server(NewServer {
                name: "gh".parse().unwrap(),
                source: ServerSource::LocalBinary {
                    path: "/bin/gh".into(),
                },
            })
            .await
            .unwrap()
            .id;
        for i in 0..3 {
            put_secret(&store, &old, alice, server, &format!("C{i}"), b"c")
                .await
                .unwrap();
        }
        for name in ["a", "b", "egress-ca"] {
            put_gateway_secret(&store, &old, name, name.as_bytes())
                .await
                .unwrap();
        }
        let ring = Keyring::new(new_key(), vec![old_key()]);
        let slice = |max| RotateOptions {
            batch_size: 2,
            max_batches: Some(max),
        };
        // 2 batches: the 3 credentials; the gateway secrets are untouched.
        let first = rotate_with(&store, &ring, slice(2)).await.unwrap();
        assert_eq!((first.rewrapped, first.complete), (3, false), "{driver:?}");
        assert_eq!(
            store.count_gateway_secrets_by_kek().await.unwrap(),
            [(old.current_kek_id().to_string(), 3)]
        );
        // 1 more batch: two gateway secrets.
        let second = rotate_with(&store, &ring, slice(1)).await.unwrap();
        assert_eq!(
            (second.rewrapped, second.complete),
            (2, false),
            "{driver:?}"
        );
        let rest = rotate(&store, &ring, 2).await.unwrap();
        assert_eq!((rest.rewrapped, rest.complete), (1, true), "{driver:?}");
        let only_new = Keyring::new(new_key(), vec![]);
        for name in ["a", "b", "egress-ca"] {
            assert_eq!(
                open(&store, &only_new, name).await.unwrap().as_deref(),
                Some(name.as_bytes())
            );
        }
    })
    .await;
}

#[tokio::test]
async fn a_gateway_secret_under_an_unknown_key_is_reported_and_left_alone() {
    for_each_driver(|driver, db| async move {
        let store = db.store().await;
        let lost = Keyring::new(MasterKey::from_bytes([0x33; 32]), vec![]);
        put_gateway_secret(&store, &lost, "egress-ca", b"x")
            .await
            .unwrap();
        let before = store.gateway_secret("egress-ca").await.unwrap().unwrap();
        let ring = Keyring::new(new_key(), vec![old_key()]);
        let report = rotate(&store, &ring, 10).await.unwrap();
        assert_eq!(report.rewrapped, 0);
        assert_eq!(report.failed.len(), 1, "{driver:?}: {report:?}");
        let failure = &report.failed[0];
        assert_eq!(failure.id, RotatedSecret::Gateway("egress-ca".into()));
        assert_eq!(failure.id.to_string(), "gateway secret \"egress-ca\"");
        assert_eq!(failure.kek_id, lost.current_kek_id().to_string());
        assert!(
            failure.reason.contains("GIG_MASTER_KEY_PREVIOUS"),
            "{report:?}"
        );
        assert_eq!(
            store.gateway_secret("egress-ca").await.unwrap().unwrap(),
            before,
            "unchanged"
        );
        let usage = status(&store, Some(&ring)).await.unwrap();
        assert!(
            usage
                .iter()
                .any(|u| u.role == KekRole::Unknown && u.secrets == 1),
            "{usage:?}"
        );
    })
    .await;
}
