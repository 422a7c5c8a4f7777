//! The SQLite database holds token hashes, sealed credentials, users and the audit log: its
//! directory is 0700 and the database with its `-wal`/`-shm`/`-journal` files 0600, owned by the
//! account the gateway runs as, checked (and narrowed) at every open. The attack test shows that
//! another local account cannot read it.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use gigmcp_store::{Role, SQLITE_FILE_NAME, Store, StoreError, StoreUrl};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().mode() & 0o7777
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Every file in the data dir, sorted by name.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    out.sort();
    out
}

fn side(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Every entry of the data dir is an owner-only file of ours, and the main files are there.
fn assert_private(dir: &Path, db: &Path) {
    assert_eq!(mode(dir), 0o700, "{}", dir.display());
    let found = files(dir);
    for f in [db.to_owned(), side(db, "-wal"), side(db, "-shm")] {
        assert!(found.contains(&f), "{} missing in {found:?}", f.display());
    }
    for f in &found {
        let m = std::fs::metadata(f).unwrap();
        assert!(m.is_file(), "{}", f.display());
        assert_eq!(m.mode() & 0o7777, 0o600, "{}", f.display());
        assert_eq!(m.uid(), euid(), "{}", f.display());
    }
}

#[tokio::test]
async fn a_new_database_and_the_files_sqlite_adds_are_owner_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let db = dir.join(SQLITE_FILE_NAME);
    let store = Store::connect(&StoreUrl::sqlite_in(&dir)).await.unwrap();
    // A write after open: SQLite grows the WAL (and may create files) now.
    for i in 0..20 {
        store
            .ensure_user(&format!("user{i}"), Role::User)
            .await
            .unwrap();
    }
    assert!(std::fs::metadata(side(&db, "-wal")).unwrap().len() > 0);
    assert_private(&dir, &db);
    store.close().await;
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(&dir), 0o700);
}

#[tokio::test]
async fn wider_modes_found_at_open_are_narrowed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let db = dir.join(SQLITE_FILE_NAME);
    let url = StoreUrl::sqlite_in(&dir);

    // A database left by an older version: 0644 in a 0755 data dir.
    let store = Store::connect(&url).await.unwrap();
    store.ensure_user("alice", Role::User).await.unwrap();
    store.close().await;
    chmod(&db, 0o644);
    chmod(&dir, 0o755);
    let store = Store::connect(&url).await.unwrap();
    store.ensure_user("bob", Role::User).await.unwrap();
    assert_private(&dir, &db);

    // Widened while another store has the WAL open: the next open narrows every file.
    for f in files(&dir) {
        chmod(&f, 0o666);
    }
    chmod(&dir, 0o777);
    let again = Store::connect(&url).await.unwrap();
    assert!(again.user_by_username("alice").await.unwrap().is_some());
    assert_private(&dir, &db);
    again.close().await;
    store.close().await;
}

#[tokio::test]
async fn a_shared_directory_is_refused_with_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    chmod(tmp.path(), 0o1777);
    let url: StoreUrl = format!("sqlite://{}/gig.db", tmp.path().display())
        .parse()
        .unwrap();
    let err = Store::connect(&url).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Permissions { .. }), "{err:?}");
    assert!(
        text.contains(&tmp.path().display().to_string()) && text.contains("install -d -m 700"),
        "{text}"
    );
    assert_eq!(mode(tmp.path()), 0o1777, "a shared directory is left alone");
}

fn require_root(what: &str) {
    assert_eq!(
        euid(),
        0,
        "{what} needs root (it hands files to, or drops a child to, another uid): run the tests \
         as root"
    );
}

#[tokio::test]
async fn a_database_owned_by_another_account_stops_the_start() {
    require_root("this test");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let db = dir.join(SQLITE_FILE_NAME);
    let url = StoreUrl::sqlite_in(&dir);
    Store::connect(&url).await.unwrap().close().await;
    std::os::unix::fs::chown(&db, Some(1000), Some(1000)).unwrap();
    let text = Store::connect(&url).await.unwrap_err().to_string();
    assert!(
        text.contains(&db.display().to_string())
            && text.contains("uid 1000")
            && text.contains(&format!("chown 0 {}", db.display())),
        "{text}"
    );
    // The data dir itself handed to another account.
    std::os::unix::fs::chown(&db, Some(0), Some(0)).unwrap();
    std::os::unix::fs::chown(&dir, Some(1000), Some(1000)).unwrap();
    let text = Store::connect(&url).await.unwrap_err().to_string();
    assert!(
        text.contains("uid 1000") && text.contains(&format!("chown -R 0 {}", dir.display())),
        "{text}"
    );
}

/// Runs `script` with `sh` as uid/gid 65534 (no supplementary groups): another local account.
fn as_other_user(script: &str) -> std::process::Output {
    std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir("/")
        // std drops the supplementary groups (setgroups) before setgid/setuid when run as root.
        .gid(65534)
        .uid(65534)
        .output()
        .expect("run /bin/sh as uid 65534")
}

/// ATTACK: another local account tries to read the database (token hashes, sealed credentials)
/// and its WAL, to list the data dir and to plant a file in it. The directory above the data dir
/// is traversable, so only the modes the store sets stand in the way; then even with a
/// traversable data dir the files themselves stay closed.
#[tokio::test]
async fn another_account_cannot_read_the_database() {
    require_root("this attack test");
    let tmp = tempfile::tempdir().unwrap();
    chmod(tmp.path(), 0o755);
    let control = tmp.path().join("control");
    std::fs::write(&control, b"reachable").unwrap();
    chmod(&control, 0o644);
    let dir = tmp.path().join("data");
    let db = dir.join(SQLITE_FILE_NAME);
    let store = Store::connect(&StoreUrl::sqlite_in(&dir)).await.unwrap();
    store.ensure_user("alice", Role::Admin).await.unwrap();

    // Control: the child really is uid 65534 and reaches files beside the data dir.
    let out = as_other_user(&format!("id -u && cat {}", control.display()));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "65534\nreachable");

    let (d, f) = (dir.display(), db.display());
    let attacks = |label: &str| {
        for attack in [
            format!("cat {f} > /dev/null"),
            format!("cat {f}-wal > /dev/null"),
            format!("cat {f}-shm > /dev/null"),
            format!("echo pwned > {f}"),
            format!("echo planted > {d}/planted"),
            format!("ls {d}"),
        ] {
            let out = as_other_user(&attack);
            assert!(
                !out.status.success(),
                "{label}: uid 65534 succeeded: {attack}\n{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
    };
    attacks("after connect");
    // Even if the data dir could be entered, the files are 0600.
    chmod(&dir, 0o711);
    let out = as_other_user(&format!("cat {f} > /dev/null"));
    assert!(!out.status.success(), "the 0600 file alone keeps it closed");
    chmod(&dir, 0o700);

    assert!(!dir.join("planted").exists());
    assert!(store.user_by_username("alice").await.unwrap().is_some());
    store.close().await;
}
