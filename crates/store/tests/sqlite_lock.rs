//! Another process holding SQLite's write lock longer than the busy timeout must not surface
//! "database is locked": the store keeps retrying until the lock is released.

use std::time::{Duration, Instant};

use gigmcp_store::testing::{Driver, TestDb};
use gigmcp_store::{NewServer, ServerSource};
use sqlx::{Connection, SqliteConnection};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_waits_out_a_foreign_exclusive_lock() {
    let db = TestDb::new(Driver::Sqlite).await;
    let store = db.store().await;
    let path = db.dir.path().join(gigmcp_store::SQLITE_FILE_NAME);

    // A second "process": its own connection taking the write lock for 6.5 s (> busy_timeout).
    let mut foreign = SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::raw_sql("BEGIN EXCLUSIVE")
        .execute(&mut foreign)
        .await
        .unwrap();

    let started = Instant::now();
    let writer = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .create_server(NewServer {
                    name: "late".parse().unwrap(),
                    source: ServerSource::LocalBinary {
                        path: "/bin/true".into(),
                    },
                })
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(6_500)).await;
    assert!(
        !writer.is_finished(),
        "the write cannot finish while the lock is held"
    );
    sqlx::raw_sql("COMMIT").execute(&mut foreign).await.unwrap();

    let created = writer
        .await
        .unwrap()
        .expect("no 'database is locked' reaches the caller");
    assert_eq!(created.name, "late");
    assert!(started.elapsed() >= Duration::from_millis(6_500));
    assert!(store.server_by_name("late").await.unwrap().is_some());
}
