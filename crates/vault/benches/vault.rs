//! Vault figures: seal/open of a 100-byte secret, and rotation throughput on both drivers.
//!
//! `cargo bench -p gigmcp-vault --bench vault`
//! PostgreSQL comes from `GIG_TEST_DATABASE_URL` or a private cluster (see gigmcp_store::testing).

use std::cell::Cell;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gigmcp_store::testing::{Driver, TestDb};
use gigmcp_store::{NewCredential, NewServer, Role, ServerSource};
use gigmcp_vault::{Aad, Keyring, MasterKey, rotate};

/// Secrets rewrapped per measured rotation.
const ROTATED: usize = 5_000;
const BATCH: u32 = 500;

fn seal_open(c: &mut Criterion) {
    let ring = Keyring::new(MasterKey::from_bytes([7; 32]), vec![]);
    let aad = Aad::new("user:1", "credential:1:API_KEY");
    let secret = [0x42u8; 100];
    let sealed = ring.seal(&secret, &aad).unwrap();
    let mut g = c.benchmark_group("vault_100B");
    g.bench_function("seal", |b| {
        b.iter(|| ring.seal(black_box(&secret), &aad).unwrap())
    });
    g.bench_function("open", |b| {
        b.iter(|| ring.open(black_box(&sealed), &aad).unwrap())
    });
    g.bench_function("seal_open", |b| {
        b.iter(|| {
            let ct = ring.seal(black_box(&secret), &aad).unwrap();
            ring.open(&ct, &aad).unwrap()
        })
    });
    g.finish();
}

fn rotation(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let a = MasterKey::from_bytes([0xa1; 32]);
    let b = MasterKey::from_bytes([0xb2; 32]);
    // Each measured run moves every secret to the other key, so no re-filling is needed.
    let a_to_b = Keyring::new(b.clone(), vec![a.clone()]);
    let b_to_a = Keyring::new(a.clone(), vec![b]);
    let mut g = c.benchmark_group("vault_rotation");
    g.throughput(Throughput::Elements(ROTATED as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    for driver in [Driver::Sqlite, Driver::Postgres] {
        let (db, store) = rt.block_on(async {
            let db = TestDb::new(driver).await;
            let store = db.store().await;
            let owner = store.ensure_user("bench", Role::User).await.unwrap().id;
            let server = store
                .create_server(NewServer {
                    name: "bench".parse().unwrap(),
                    source: ServerSource::LocalBinary {
                        path: "/bin/true".into(),
                    },
                })
                .await
                .unwrap()
                .id;
            let ring = Keyring::new(a.clone(), vec![]);
            let kek = ring.current_kek_id().to_string();
            let rows: Vec<NewCredential> = (0..ROTATED)
                .map(|i| {
                    let id = format!("C{i}");
                    NewCredential {
                        owner,
                        server,
                        ciphertext: ring
                            .seal(&[0x42; 100], &Aad::credential(owner, server, &id))
                            .unwrap(),
                        credential_id: id,
                        kek_id: kek.clone(),
                    }
                })
                .collect();
            for chunk in rows.chunks(2_500) {
                store.put_credentials(chunk).await.unwrap();
            }
            (db, store)
        });
        let flip = Cell::new(false);
        g.bench_function(format!("{driver:?}").to_lowercase(), |bench| {
            bench.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let ring = if flip.replace(!flip.get()) {
                        &b_to_a
                    } else {
                        &a_to_b
                    };
                    let start = Instant::now();
                    let report = rt.block_on(rotate(&store, ring, BATCH)).unwrap();
                    total += start.elapsed();
                    assert_eq!(report.rewrapped as usize, ROTATED);
                }
                total
            })
        });
        rt.block_on(store.close());
        drop(db);
    }
    g.finish();
}

criterion_group!(benches, seal_open, rotation);
criterion_main!(benches);
