//! The master keys never reach the database, the logs, error messages or panic messages.

use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use gigmcp_store::testing::{Driver, TestDb};
use gigmcp_store::{AuditEvent, NewServer, Role, ServerSource};
use gigmcp_vault::{Keyring, MasterKeySources, Zeroizing, get_secret, put_secret, rotate};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Key {
    raw: [u8; 32],
    hex: String,
}

fn random_key() -> Key {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).unwrap();
    Key {
        hex: hex::encode(raw),
        raw,
    }
}

/// Every form a key could leak in.
fn forms(k: &Key) -> Vec<Vec<u8>> {
    vec![
        k.raw.to_vec(),
        k.raw[..16].to_vec(),
        k.hex.as_bytes().to_vec(),
        k.hex.to_uppercase().into_bytes(),
        k.hex.as_bytes()[..24].to_vec(),
        format!("{:?}", k.raw).into_bytes(),
        format!("{:?}", &k.raw[..8])
            .trim_end_matches(']')
            .as_bytes()
            .to_vec(),
    ]
}

fn assert_clean(what: &str, haystack: &[u8], keys: &[&Key]) {
    for k in keys {
        for form in forms(k) {
            assert!(
                !haystack.windows(form.len()).any(|w| w == form.as_slice()),
                "key material found in {what}"
            );
        }
    }
}

fn files_under(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    out
}

/// Stands in for any fallible call whose error carries a keyring.
fn load_that_fails(ring: Keyring) -> Result<(), Keyring> {
    Err(ring)
}

#[test]
fn kek_never_leaks() {
    let logs = Captured::default();
    let sink = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .init();
    let panics = Captured::default();
    let panic_sink = Mutex::new(panics.clone());
    std::panic::set_hook(Box::new(move |info| {
        let _ = writeln!(panic_sink.lock().unwrap(), "{info}");
    }));

    let old = random_key();
    let new = random_key();
    let sources = MasterKeySources {
        key: Some(Zeroizing::new(new.hex.clone())),
        previous: Some(Zeroizing::new(format!("{},{}", old.hex, new.hex))),
        ..Default::default()
    };
    let old_ring = Keyring::from_sources(MasterKeySources {
        key: Some(Zeroizing::new(old.hex.to_uppercase())),
        ..Default::default()
    })
    .unwrap();
    let ring = Keyring::from_sources(sources.clone()).unwrap();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for driver in [Driver::Sqlite, Driver::Postgres] {
        rt.block_on(async {
            let db = TestDb::new(driver).await;
            let store = db.store().await;
            let user = store.ensure_user("alice", Role::User).await.unwrap().id;
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
            for i in 0..200 {
                let r = if i % 2 == 0 { &old_ring } else { &ring };
                put_secret(
                    &store,
                    r,
                    user,
                    server,
                    &format!("S{i}"),
                    b"plain-secret-value",
                )
                .await
                .unwrap();
            }
            let report = rotate(&store, &ring, 64).await.unwrap();
            assert_eq!(report.rewrapped, 100);
            tracing::info!(?ring, ?sources, ?report, "state after rotation");
            let wrong = get_secret(&store, &old_ring, user, server, "S1")
                .await
                .unwrap_err();
            tracing::error!(error = %wrong, debug = ?wrong, "expected failure");
            store
                .append_audit(AuditEvent {
                    actor: "admin".into(),
                    action: "vault.rotate".into(),
                    target: format!("{report:?}"),
                    detail: "{}".into(),
                })
                .await
                .unwrap();

            // Everything the database holds for the credentials and the audit log.
            let mut dumped = Vec::new();
            let mut after = None;
            loop {
                let page = store.credentials_page(after, 1000).await.unwrap();
                let Some(last) = page.last() else { break };
                after = Some(last.id);
                for row in page {
                    dumped.extend_from_slice(&row.ciphertext);
                    dumped.extend_from_slice(row.kek_id.as_bytes());
                    assert!(!row.ciphertext.windows(12).any(|w| w == b"plain-secret"));
                }
            }
            for a in store.list_audit(100).await.unwrap() {
                dumped.extend_from_slice(format!("{a:?}").as_bytes());
            }
            assert_clean(&format!("{driver:?} rows"), &dumped, &[&old, &new]);
            store.close().await;
            drop(store);
            if driver == Driver::Sqlite {
                let files = files_under(db.dir.path());
                assert!(files.iter().any(|(n, _)| n.ends_with("gigmcp.sqlite3")));
                for (name, bytes) in files {
                    assert_clean(&name, &bytes, &[&old, &new]);
                    assert!(
                        !bytes.windows(12).any(|w| w == b"plain-secret"),
                        "plaintext in {name}"
                    );
                }
            }
        });
    }

    // Panic messages that format the keyring or its sources.
    let r = catch_unwind(AssertUnwindSafe(|| load_that_fails(ring.clone()).unwrap()));
    assert!(r.is_err());
    let r = catch_unwind(AssertUnwindSafe(|| {
        panic!("bad state: {sources:?} {ring:#?}")
    }));
    assert!(r.is_err());
    // Errors from malformed keys do not echo the input either.
    let typo = format!("{}x", &new.hex[..63]);
    let err = Keyring::from_sources(MasterKeySources {
        key: Some(Zeroizing::new(typo)),
        ..Default::default()
    })
    .unwrap_err();
    tracing::error!(%err, ?err, "bad key");
    assert_clean("key error", format!("{err} {err:?}").as_bytes(), &[&new]);

    let panics = panics.0.lock().unwrap().clone();
    assert!(
        String::from_utf8_lossy(&panics).contains("Keyring"),
        "panic hook saw the panics"
    );
    assert_clean("panic messages", &panics, &[&old, &new]);
    let logs = logs.0.lock().unwrap().clone();
    let text = String::from_utf8_lossy(&logs);
    assert!(
        text.contains("rotation batch committed") && text.contains("Keyring"),
        "{text}"
    );
    assert_clean("logs", &logs, &[&old, &new]);
}
