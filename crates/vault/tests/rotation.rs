//! Credentials in the store: row swaps, key rotation with crashes, concurrent writers.
//! Every test runs on SQLite and PostgreSQL.

use std::collections::HashMap;
use std::time::Duration;

use gigmcp_store::testing::{Driver, for_each_driver};
use gigmcp_store::{
    CredentialRowId, NewCredential, NewServer, Role, ServerId, ServerSource, Store, UserId,
};
use gigmcp_vault::{
    Aad, Keyring, MasterKey, RotateOptions, SecretError, VaultError, get_secret, put_secret,
    rotate, rotate_with,
};

const SECRETS: usize = 10_000;

fn old_key() -> MasterKey {
    MasterKey::from_bytes([0x11; 32])
}
fn new_key() -> MasterKey {
    MasterKey::from_bytes([0x22; 32])
}

async fn setup(store: &Store) -> (UserId, UserId, ServerId) {
    let alice = store.ensure_user("alice", Role::User).await.unwrap().id;
    let bob = store.ensure_user("bob", Role::User).await.unwrap().id;
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
    (alice, bob, server)
}

fn secret_of(i: usize) -> Vec<u8> {
    format!("secret-number-{i:05}").into_bytes()
}

/// Seals and bulk-inserts `n` credentials under `ring`'s current key.
async fn fill(store: &Store, ring: &Keyring, owner: UserId, server: ServerId, n: usize) {
    let kek = ring.current_kek_id().to_string();
    let all: Vec<NewCredential> = (0..n)
        .map(|i| {
            let id = format!("C{i:05}");
            NewCredential {
                owner,
                server,
                ciphertext: ring
                    .seal(&secret_of(i), &Aad::credential(owner, server, &id))
                    .unwrap(),
                credential_id: id,
                kek_id: kek.clone(),
            }
        })
        .collect();
    for chunk in all.chunks(2_000) {
        store.put_credentials(chunk).await.unwrap();
    }
}

/// Opens every credential with `ring`; returns how many are under each KEK id.
async fn verify_all(store: &Store, ring: &Keyring, n: usize) -> HashMap<String, usize> {
    let mut by_kek = HashMap::new();
    let mut seen = 0;
    let mut after: Option<CredentialRowId> = None;
    loop {
        let page = store.credentials_page(after, 2_000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for row in page {
            let i: usize = row.credential_id[1..].parse().unwrap();
            let aad = Aad::credential(row.owner, row.server, &row.credential_id);
            let plain = ring
                .open(&row.ciphertext, &aad)
                .unwrap_or_else(|e| panic!("{} unreadable: {e}", row.credential_id));
            assert_eq!(plain.as_slice(), secret_of(i).as_slice());
            assert_eq!(
                gigmcp_vault::kek_id_of(&row.ciphertext)
                    .unwrap()
                    .to_string(),
                row.kek_id
            );
            *by_kek.entry(row.kek_id).or_insert(0) += 1;
            seen += 1;
        }
    }
    assert_eq!(seen, n, "every secret is still there");
    by_kek
}

#[tokio::test]
async fn secrets_round_trip_through_the_store() {
    for_each_driver(|_driver, db| async move {
        let store = db.store().await;
        let (alice, _bob, server) = setup(&store).await;
        let ring = Keyring::new(old_key(), vec![]);
        put_secret(&store, &ring, alice, server, "TOKEN", b"ghp_123")
            .await
            .unwrap();
        let got = get_secret(&store, &ring, alice, server, "TOKEN")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.as_slice(), b"ghp_123");
        assert!(
            get_secret(&store, &ring, alice, server, "OTHER")
                .await
                .unwrap()
                .is_none()
        );
        let meta = store.list_credentials(Some(alice)).await.unwrap();
        assert_eq!(meta.len(), 1);
        assert_eq!(meta[0].kek_id, ring.current_kek_id().to_string());
        assert_eq!(
            (meta[0].owner_name.as_str(), meta[0].server_name.as_str()),
            ("alice", "gh")
        );
    })
    .await;
}

#[tokio::test]
async fn ciphertext_swapped_between_users_fails_to_open() {
    for_each_driver(|driver, db| async move {
        let store = db.store().await;
        let (alice, bob, server) = setup(&store).await;
        let ring = Keyring::new(old_key(), vec![]);
        put_secret(&store, &ring, alice, server, "TOKEN", b"alice-secret")
            .await
            .unwrap();
        put_secret(&store, &ring, bob, server, "TOKEN", b"bob-secret")
            .await
            .unwrap();
        put_secret(&store, &ring, alice, server, "OTHER", b"alice-other")
            .await
            .unwrap();
        let a = store
            .credential(alice, server, "TOKEN")
            .await
            .unwrap()
            .unwrap();
        let b = store
            .credential(bob, server, "TOKEN")
            .await
            .unwrap()
            .unwrap();
        let kek = ring.current_kek_id().to_string();
        // An attacker with database access swaps the two users' rows...
        store
            .put_credential(alice, server, "TOKEN", b.ciphertext.clone(), &kek)
            .await
            .unwrap();
        store
            .put_credential(bob, server, "TOKEN", a.ciphertext.clone(), &kek)
            .await
            .unwrap();
        // ...and moves a row to another credential of the same user.
        store
            .put_credential(alice, server, "OTHER", a.ciphertext, &kek)
            .await
            .unwrap();
        for (owner, id) in [(alice, "TOKEN"), (bob, "TOKEN"), (alice, "OTHER")] {
            match get_secret(&store, &ring, owner, server, id).await {
                Err(SecretError::Vault(VaultError::OpenFailed)) => {}
                other => panic!("{driver:?}: swapped row {owner}/{id} gave {other:?}"),
            }
        }
    })
    .await;
}

/// Rotation over 10,000 secrets stopped half-way (after N batches), then resumed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_stopped_half_way_then_resumed() {
    for_each_driver(|driver, db| async move {
        let store = db.store().await;
        let (alice, _bob, server) = setup(&store).await;
        let before = Keyring::new(old_key(), vec![]);
        fill(&store, &before, alice, server, SECRETS).await;

        let after = Keyring::new(new_key(), vec![old_key()]);
        let first = rotate_with(
            &store,
            &after,
            RotateOptions {
                batch_size: 500,
                max_batches: Some(10),
            },
        )
        .await
        .unwrap();
        assert!(!first.complete);
        assert_eq!(first.rewrapped, 5_000, "{driver:?}");
        // The "crash": the process is gone; a fresh one opens the same database.
        store.close().await;
        drop(store);
        let store = db.store().await;
        let mixed = verify_all(&store, &after, SECRETS).await;
        assert_eq!(mixed.len(), 2, "{driver:?}: half old, half new: {mixed:?}");
        let counts = store.count_credentials_by_kek().await.unwrap();
        assert_eq!(counts.iter().map(|(_, n)| n).sum::<u64>(), SECRETS as u64);

        let rest = rotate(&store, &after, 500).await.unwrap();
        assert!(
            rest.complete && rest.failed.is_empty(),
            "{driver:?}: {rest:?}"
        );
        assert_eq!(rest.rewrapped, 5_000);
        let only_new = Keyring::new(new_key(), vec![]);
        let done = verify_all(&store, &only_new, SECRETS).await;
        assert_eq!(
            done.get(&new_key().id().to_string()),
            Some(&SECRETS),
            "{driver:?}"
        );
        let again = rotate(&store, &after, 500).await.unwrap();
        assert_eq!(again.rewrapped, 0, "nothing left to do");
    })
    .await;
}

/// Rotation killed at an arbitrary point (its task aborted mid-batch), then resumed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_killed_mid_batch_then_resumed() {
    for_each_driver(|driver, db| async move {
        let store = db.store().await;
        let (alice, _bob, server) = setup(&store).await;
        fill(
            &store,
            &Keyring::new(old_key(), vec![]),
            alice,
            server,
            SECRETS,
        )
        .await;
        let after = Keyring::new(new_key(), vec![old_key()]);
        let target = new_key().id().to_string();

        let task = {
            let (store, after) = (store.clone(), after.clone());
            tokio::spawn(async move { rotate(&store, &after, 250).await })
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            let counts = store.count_credentials_by_kek().await.unwrap();
            let moved = counts
                .iter()
                .find(|(k, _)| *k == target)
                .map_or(0, |(_, n)| *n);
            if moved >= 3_000 {
                break;
            }
            assert!(
                !task.is_finished(),
                "{driver:?}: rotation finished before the kill"
            );
            assert!(
                tokio::time::Instant::now() < deadline,
                "{driver:?}: rotation stalled"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());

        let mixed = verify_all(&store, &after, SECRETS).await;
        let moved = mixed.get(&target).copied().unwrap_or(0);
        assert!(
            (3_000..SECRETS).contains(&moved),
            "{driver:?}: killed half-way: {mixed:?}"
        );
        let rest = rotate(&store, &after, 250).await.unwrap();
        assert_eq!(rest.rewrapped as usize, SECRETS - moved, "{driver:?}");
        let done = verify_all(&store, &Keyring::new(new_key(), vec![]), SECRETS).await;
        assert_eq!(done.len(), 1);
    })
    .await;
}

/// Writers replace secrets while a rotation runs: no write is lost or clobbered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotation_never_clobbers_concurrent_writes() {
    for_each_driver(|driver, db| async move {
        let store = db.store().await;
        let (alice, _bob, server) = setup(&store).await;
        fill(
            &store,
            &Keyring::new(old_key(), vec![]),
            alice,
            server,
            2_000,
        )
        .await;
        let ring = Keyring::new(new_key(), vec![old_key()]);
        let mut writers = Vec::new();
        for w in 0..50usize {
            let (store, ring) = (store.clone(), ring.clone());
            writers.push(tokio::spawn(async move {
                for round in 0..4usize {
                    let i = w * 40 + round * 7;
                    let value = format!("rewritten-{w}-{round}");
                    put_secret(
                        &store,
                        &ring,
                        alice,
                        server,
                        &format!("C{i:05}"),
                        value.as_bytes(),
                    )
                    .await?;
                }
                Ok::<_, SecretError>(())
            }));
        }
        let rotation = rotate(&store, &ring, 100).await.unwrap();
        for w in writers {
            w.await
                .unwrap()
                .unwrap_or_else(|e| panic!("{driver:?}: writer failed: {e}"));
        }
        assert!(rotation.failed.is_empty());
        let leftover = rotate(&store, &ring, 100).await.unwrap();
        assert_eq!(leftover.rewrapped, 0, "writers already used the new key");
        for w in 0..50usize {
            for round in 0..4usize {
                let i = w * 40 + round * 7;
                let got = get_secret(&store, &ring, alice, server, &format!("C{i:05}"))
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(
                    got.as_slice(),
                    format!("rewritten-{w}-{round}").as_bytes(),
                    "{driver:?}"
                );
            }
        }
        let counts = store.count_credentials_by_kek().await.unwrap();
        assert_eq!(
            counts,
            vec![(new_key().id().to_string(), 2_000)],
            "{driver:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn rotation_reports_secrets_under_unknown_keys() {
    let db = gigmcp_store::testing::TestDb::new(Driver::Sqlite).await;
    let store = db.store().await;
    let (alice, _bob, server) = setup(&store).await;
    let lost = Keyring::new(MasterKey::from_bytes([0x33; 32]), vec![]);
    put_secret(&store, &lost, alice, server, "LOST", b"x")
        .await
        .unwrap();
    put_secret(
        &store,
        &Keyring::new(old_key(), vec![]),
        alice,
        server,
        "OK",
        b"y",
    )
    .await
    .unwrap();
    let ring = Keyring::new(new_key(), vec![old_key()]);
    let report = rotate(&store, &ring, 10).await.unwrap();
    assert_eq!(report.rewrapped, 1);
    assert_eq!(report.failed.len(), 1);
    assert!(
        report.failed[0].reason.contains("GIG_MASTER_KEY_PREVIOUS"),
        "{report:?}"
    );
    assert_eq!(
        get_secret(&store, &ring, alice, server, "OK")
            .await
            .unwrap()
            .unwrap()
            .as_slice(),
        b"y"
    );
}

#[tokio::test]
async fn status_counts_secrets_per_kek() {
    for_each_driver(|driver, db| async move {
        use gigmcp_vault::{KekRole, status};
        let store = db.store().await;
        let (alice, bob, server) = setup(&store).await;
        let ring = Keyring::new(new_key(), vec![old_key()]);
        let empty = status(&store, Some(&ring)).await.unwrap();
        assert_eq!(
            empty.len(),
            1,
            "{driver:?}: current key listed even when unused"
        );
        assert_eq!((empty[0].secrets, empty[0].role), (0, KekRole::Current));
        let old_ring = Keyring::new(old_key(), vec![]);
        put_secret(&store, &old_ring, alice, server, "A", b"1")
            .await
            .unwrap();
        put_secret(&store, &old_ring, bob, server, "A", b"2")
            .await
            .unwrap();
        put_secret(&store, &ring, alice, server, "B", b"3")
            .await
            .unwrap();
        let lost = Keyring::new(MasterKey::from_bytes([0x44; 32]), vec![]);
        put_secret(&store, &lost, bob, server, "C", b"4")
            .await
            .unwrap();
        let got = status(&store, Some(&ring)).await.unwrap();
        let summary: Vec<_> = got.iter().map(|u| (u.role, u.secrets)).collect();
        assert_eq!(summary[0], (KekRole::Current, 1), "{got:?}");
        assert!(summary.contains(&(KekRole::Previous, 2)), "{got:?}");
        assert!(summary.contains(&(KekRole::Unknown, 1)), "{got:?}");
        let blind = status(&store, None).await.unwrap();
        assert!(blind.iter().all(|u| u.role == KekRole::NoKeyring) && blind.len() == 3);
    })
    .await;
}
