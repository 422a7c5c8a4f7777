//! Where the egress CA comes from (`GIG_EGRESS_CA`): new at every start, or kept sealed in the
//! vault so a gateway restarted on the same data and master key presents the same CA; a stored
//! CA that cannot be opened stops the start instead of being replaced.

use gigmcp_gateway::egress::{EGRESS_CA_SECRET, Egress, EgressCaMode, EgressSettings};
use gigmcp_store::{Store, StoreUrl};
use gigmcp_vault::{Keyring, MasterKey};
use std::path::Path;
use std::sync::Arc;

const KEY: [u8; 32] = [0x5a; 32];
const OLD_KEY: [u8; 32] = [0x11; 32];

fn settings(ca: EgressCaMode) -> EgressSettings {
    EgressSettings {
        ca,
        ..EgressSettings::default()
    }
}

fn ring(current: [u8; 32], previous: &[[u8; 32]]) -> Arc<Keyring> {
    Arc::new(Keyring::new(
        MasterKey::from_bytes(current),
        previous.iter().map(|k| MasterKey::from_bytes(*k)).collect(),
    ))
}

async fn store_in(dir: &Path) -> Store {
    Store::connect(&StoreUrl::sqlite_in(dir)).await.unwrap()
}

/// The CA pem a gateway on `dir` with `keyring` presents (the store is closed afterwards, as
/// when the gateway stops).
async fn ca_of(dir: &Path, keyring: Arc<Keyring>, mode: EgressCaMode) -> String {
    let store = store_in(dir).await;
    let egress = Egress::start(settings(mode), store.clone(), keyring).unwrap();
    let pem = egress.ca_pem().to_string();
    drop(egress);
    store.close().await;
    pem
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_mode_presents_the_same_ca_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = ca_of(dir.path(), ring(KEY, &[]), EgressCaMode::Vault).await;
    assert!(first.starts_with("-----BEGIN CERTIFICATE-----"), "{first}");
    // A restart: new store handle, new keyring object from the same key.
    let second = ca_of(dir.path(), ring(KEY, &[]), EgressCaMode::Vault).await;
    assert_eq!(first, second, "the restarted gateway presents the same CA");

    // Sealed under the current key, bound to its name, never in clear in the database.
    let store = store_in(dir.path()).await;
    let row = store
        .gateway_secret(EGRESS_CA_SECRET)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.kek_id, ring(KEY, &[]).current_kek_id().to_string());
    assert!(!row.ciphertext.windows(10).any(|w| w == b"BEGIN EC P"));
    assert!(!row.ciphertext.windows(11).any(|w| w == b"PRIVATE KEY"));

    // The async path reads the same one.
    let opened = Egress::open(settings(EgressCaMode::Vault), store.clone(), ring(KEY, &[]))
        .await
        .unwrap();
    assert_eq!(opened.ca_pem(), first);

    // Ephemeral (the default) ignores the stored CA and makes a new one each start.
    let a = ca_of(dir.path(), ring(KEY, &[]), EgressCaMode::default()).await;
    let b = ca_of(dir.path(), ring(KEY, &[]), EgressCaMode::Ephemeral).await;
    assert!(a != b && a != first && b != first);
    assert_eq!(
        store
            .gateway_secret(EGRESS_CA_SECRET)
            .await
            .unwrap()
            .unwrap(),
        row,
        "ephemeral starts leave the stored CA alone"
    );
}

/// The operator rotates the master key and drops the old one: the CA sealed under the old key
/// was rewrapped by `vault rotate`, so the gateway still presents it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stored_ca_survives_a_master_key_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let before = ca_of(dir.path(), ring(OLD_KEY, &[]), EgressCaMode::Vault).await;
    let store = store_in(dir.path()).await;
    let report = gigmcp_vault::rotate(&store, &ring(KEY, &[OLD_KEY]), 100)
        .await
        .unwrap();
    assert_eq!((report.rewrapped, report.complete), (1, true), "{report:?}");
    store.close().await;
    let after = ca_of(dir.path(), ring(KEY, &[]), EgressCaMode::Vault).await;
    assert_eq!(before, after);
}

fn start_error(store: &Store, keyring: Arc<Keyring>) -> String {
    match Egress::start(settings(EgressCaMode::Vault), store.clone(), keyring) {
        Ok(_) => panic!("the gateway started despite an unusable stored CA"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_stored_ca_stops_the_start_and_is_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    ca_of(dir.path(), ring(KEY, &[]), EgressCaMode::Vault).await;
    let store = store_in(dir.path()).await;
    let good = store
        .gateway_secret(EGRESS_CA_SECRET)
        .await
        .unwrap()
        .unwrap();

    // One flipped byte in the sealed body.
    let mut tampered = good.ciphertext.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    store
        .put_gateway_secret(EGRESS_CA_SECRET, tampered.clone(), &good.kek_id)
        .await
        .unwrap();
    let e = start_error(&store, ring(KEY, &[]));
    assert!(
        e.contains("egress-ca")
            && e.contains("failed authentication")
            && e.contains("not replaced")
            && e.contains("GIG_EGRESS_CA=ephemeral"),
        "{e}"
    );
    let row = store
        .gateway_secret(EGRESS_CA_SECRET)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.ciphertext, tampered, "the stored CA was left as it was");

    // The master key that sealed it is gone: the error says which variable to give it in.
    store
        .put_gateway_secret(EGRESS_CA_SECRET, good.ciphertext.clone(), &good.kek_id)
        .await
        .unwrap();
    let e = start_error(&store, ring(OLD_KEY, &[]));
    assert!(
        e.contains("egress-ca") && e.contains("GIG_MASTER_KEY_PREVIOUS"),
        "{e}"
    );

    // Sealed correctly but not a CA document.
    gigmcp_vault::put_gateway_secret(&store, &ring(KEY, &[]), EGRESS_CA_SECRET, b"{\"x\":1}")
        .await
        .unwrap();
    let e = start_error(&store, ring(KEY, &[]));
    assert!(
        e.contains("egress-ca") && e.contains("not a certificate"),
        "{e}"
    );
}

/// `Egress::start` is synchronous: on a current-thread runtime it cannot read the vault and
/// says so instead of panicking; `Egress::open` works there.
#[tokio::test]
async fn vault_mode_on_a_current_thread_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path()).await;
    let e = start_error(&store, ring(KEY, &[]));
    assert!(e.contains("Egress::open"), "{e}");
    assert_eq!(store.gateway_secret(EGRESS_CA_SECRET).await.unwrap(), None);
    let egress = Egress::open(settings(EgressCaMode::Vault), store.clone(), ring(KEY, &[]))
        .await
        .unwrap();
    let again = Egress::open(settings(EgressCaMode::Vault), store.clone(), ring(KEY, &[]))
        .await
        .unwrap();
    assert_eq!(egress.ca_pem(), again.ca_pem());
}
