//! Owner-only access to a SQLite database: the directory holding it is 0700, the database and its
//! `-wal`, `-shm` and `-journal` files are 0600, and all of them belong to the effective uid the
//! gateway runs as. They hold token hashes, sealed credentials, users and the audit log.
//!
//! Contract, checked at every [`crate::Store::connect`]:
//! - [`prepare`] runs before SQLite opens the file: it creates a missing directory 0700 (missing
//!   parents too), creates a missing database file 0600 (SQLite gives the `-wal`, `-shm` and
//!   `-journal` files it creates the mode and owner of the database file), and checks what exists;
//! - [`recheck`] runs after the store is open (the `-wal`/`-shm` files exist then) and checks again;
//! - a symlinked database is checked where it points (SQLite keeps the side files there); a
//!   dangling one is refused (SQLite would create its target with its default mode);
//! - a wider mode is narrowed (`chmod`) with a warning naming the path, the old and the new mode;
//! - an entry owned by another uid, a mode that cannot be changed, a shared directory (sticky bit,
//!   `/`) or a wide directory that is not gigmcp's (it holds other files but no database yet) stops
//!   the start with a [`StoreError::Permissions`] naming the path and the command that fixes it.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::StoreError;

/// Mode of the directory holding the database.
pub(crate) const DIR_MODE: u32 = 0o700;
/// Mode of the database and of its `-wal`, `-shm` and `-journal` files.
pub(crate) const FILE_MODE: u32 = 0o600;
/// Suffixes of the files SQLite keeps beside the database.
pub(crate) const SIDE_FILE_SUFFIXES: [&str; 3] = ["-wal", "-shm", "-journal"];

/// A mode that was narrowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Narrowed {
    pub path: PathBuf,
    pub old: u32,
    pub new: u32,
}

/// The database file and the files SQLite keeps beside it.
pub(crate) fn database_files(db: &Path) -> Vec<PathBuf> {
    let mut files = vec![db.to_owned()];
    for suffix in SIDE_FILE_SUFFIXES {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        files.push(PathBuf::from(name));
    }
    files
}

/// The directory holding `db` (`.` for a bare file name).
fn database_dir(db: &Path) -> PathBuf {
    match db.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Before SQLite opens `db`: creates what is missing with owner-only modes and secures what exists.
pub(crate) fn prepare(db: &Path) -> Result<Vec<Narrowed>, StoreError> {
    let dir = database_dir(db);
    let created_dir = match fs::metadata(&dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(&dir)
                .map_err(|e| StoreError::Permissions {
                    path: dir.display().to_string(),
                    problem: format!("cannot create the directory: {e}"),
                    fix: format!(
                        "create it as the user gigmcp runs as: `install -d -m 700 {}`",
                        dir.display()
                    ),
                })?;
            true
        }
        _ => false,
    };
    let mut narrowed = Vec::new();
    narrowed.extend(secure_dir(&dir, db, created_dir)?);
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .custom_flags(o_nofollow())
        .open(db)
    {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(StoreError::Permissions {
                path: db.display().to_string(),
                problem: format!("cannot create the database file: {e}"),
                fix: format!(
                    "make {} writable by the user gigmcp runs as (`chown` it to that user, \
                     `chmod 700` it)",
                    dir.display()
                ),
            });
        }
    }
    narrowed.extend(secure_files(db, &dir)?);
    Ok(narrowed)
}

/// After the store is open: the same checks on the directory and every database file that exists.
pub(crate) fn recheck(db: &Path) -> Result<Vec<Narrowed>, StoreError> {
    let dir = database_dir(db);
    let mut narrowed = Vec::new();
    narrowed.extend(secure_dir(&dir, db, false)?);
    narrowed.extend(secure_files(db, &dir)?);
    Ok(narrowed)
}

/// Checks the existing database `db` (in the already checked `dir`) and its side files. SQLite
/// resolves a symlinked database and keeps its side files beside the target, so those are checked
/// there, together with the target's directory.
fn secure_files(db: &Path, dir: &Path) -> Result<Vec<Narrowed>, StoreError> {
    let real = fs::canonicalize(db).map_err(|e| StoreError::Permissions {
        path: db.display().to_string(),
        problem: format!("cannot resolve the database path ({e}); is it a dangling symlink?"),
        fix: "remove the symlink, or point it at an existing database file".into(),
    })?;
    let mut narrowed = Vec::new();
    let real_dir = database_dir(&real);
    if fs::canonicalize(dir).is_ok_and(|d| d != real_dir) {
        narrowed.extend(secure_dir(&real_dir, &real, false)?);
    }
    for file in database_files(&real) {
        narrowed.extend(secure_file(&file)?);
    }
    Ok(narrowed)
}

/// `O_NOFOLLOW` keeps the new database file from being created through a symlink at its name; an
/// existing symlink the operator made is opened by SQLite, and checked where it points.
fn o_nofollow() -> i32 {
    rustix::fs::OFlags::NOFOLLOW.bits() as i32
}

fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

fn not_owner(path: &Path, owner: u32, recursive: bool) -> StoreError {
    let me = euid();
    StoreError::Permissions {
        path: path.display().to_string(),
        problem: format!(
            "owned by uid {owner}, but gigmcp runs as uid {me}: that account could read or replace \
             the database"
        ),
        fix: format!(
            "run gigmcp as uid {owner}, or give it to uid {me}: `chown {}{me} {}`",
            if recursive { "-R " } else { "" },
            path.display()
        ),
    }
}

/// Narrows `path` to `mode & want` when it has bits outside `want`.
fn narrow(path: &Path, old: u32, want: u32, fix: String) -> Result<Option<Narrowed>, StoreError> {
    if old & !want == 0 {
        return Ok(None);
    }
    let new = old & want;
    fs::set_permissions(path, fs::Permissions::from_mode(new)).map_err(|e| {
        StoreError::Permissions {
            path: path.display().to_string(),
            problem: format!(
                "mode {old:04o} lets other accounts in, and it cannot be changed: {e}"
            ),
            fix,
        }
    })?;
    tracing::warn!(
        path = %path.display(),
        old = %format!("{old:04o}"),
        new = %format!("{new:04o}"),
        "database permissions were wider than owner-only; narrowed"
    );
    Ok(Some(Narrowed {
        path: path.to_owned(),
        old,
        new,
    }))
}

/// The directory must be ours and 0700 (or narrower). A wider one is narrowed when it is gigmcp's:
/// just created, empty, or already holding the database; a shared directory (sticky bit, `/`) or
/// one holding other things is never changed, nor is one of another owner.
fn secure_dir(dir: &Path, db: &Path, created: bool) -> Result<Option<Narrowed>, StoreError> {
    let meta = fs::metadata(dir).map_err(|e| StoreError::Permissions {
        path: dir.display().to_string(),
        problem: format!("cannot inspect the database directory: {e}"),
        fix: "check that the path exists and is a directory gigmcp can enter".into(),
    })?;
    if !meta.is_dir() {
        return Err(StoreError::Permissions {
            path: dir.display().to_string(),
            problem: "not a directory".into(),
            fix: "point GIG_DATA_DIR (or GIG_DATABASE_URL=sqlite://PATH) at a directory".into(),
        });
    }
    let me = euid();
    let shown = dir.display().to_string();
    let own_dir_fix = format!(
        "keep the database in a directory of its own: `install -d -m 700 -o {me} \
         /var/lib/gigmcp` and GIG_DATA_DIR=/var/lib/gigmcp (or \
         GIG_DATABASE_URL=sqlite:///var/lib/gigmcp/{})",
        db.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    let holds_db = created || fs::symlink_metadata(db).is_ok();
    if meta.uid() != me {
        if holds_db {
            return Err(not_owner(dir, meta.uid(), true));
        }
        return Err(StoreError::Permissions {
            path: shown,
            problem: format!(
                "owned by uid {}, not by uid {me} that gigmcp runs as, and it holds no gigmcp \
                 database",
                meta.uid()
            ),
            fix: own_dir_fix,
        });
    }
    let old = meta.mode() & 0o7777;
    if old & !DIR_MODE == 0 {
        return Ok(None);
    }
    let sticky = old & 0o1000 != 0;
    if sticky || dir.canonicalize().is_ok_and(|c| c == Path::new("/")) {
        return Err(StoreError::Permissions {
            path: shown,
            problem: format!(
                "the database directory is shared (mode {old:04o}, {}), gigmcp does not change it",
                if sticky {
                    "sticky bit, like /tmp"
                } else {
                    "the root directory"
                }
            ),
            fix: own_dir_fix,
        });
    }
    let empty = || fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_none());
    if !holds_db && !empty() {
        return Err(StoreError::Permissions {
            path: shown.clone(),
            problem: format!(
                "mode {old:04o} lets other accounts in, and the directory holds other files but \
                 no gigmcp database, so gigmcp does not change it"
            ),
            fix: format!("`chmod 700 {shown}` if it is gigmcp's alone; otherwise {own_dir_fix}"),
        });
    }
    narrow(
        dir,
        old,
        DIR_MODE,
        format!("`chmod 700 {shown}` as its owner"),
    )
}

/// An existing database file must be a regular file of ours, 0600 (or narrower).
fn secure_file(path: &Path) -> Result<Option<Narrowed>, StoreError> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(StoreError::Permissions {
                path: path.display().to_string(),
                problem: format!("cannot inspect the database file: {e}"),
                fix: "make it readable by the user gigmcp runs as".into(),
            });
        }
    };
    if !meta.is_file() {
        return Err(StoreError::Permissions {
            path: path.display().to_string(),
            problem: "not a regular file".into(),
            fix: "remove what is at that path, or choose another database path".into(),
        });
    }
    if meta.uid() != euid() {
        return Err(not_owner(path, meta.uid(), false));
    }
    let shown = path.display().to_string();
    narrow(
        path,
        meta.mode() & 0o7777,
        FILE_MODE,
        format!("`chmod 600 {shown}` as its owner"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn missing_directory_and_file_are_created_owner_only() {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("a/b/gigmcp.sqlite3");
        assert_eq!(prepare(&db).unwrap(), []);
        assert_eq!(mode(&tmp.path().join("a")), 0o700, "missing parents too");
        assert_eq!(mode(&tmp.path().join("a/b")), 0o700);
        assert_eq!(mode(&db), 0o600);
        assert_eq!(fs::metadata(&db).unwrap().len(), 0);
    }

    /// What `prepare` relies on: SQLite creates `-wal` and `-shm` with the database file's mode, so
    /// after `prepare` nothing SQLite adds is ever wider than 0600 (no narrowing needed).
    #[tokio::test]
    async fn sqlite_gives_its_side_files_the_database_mode() {
        use sqlx::Connection;
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("data/gigmcp.sqlite3");
        prepare(&db).unwrap();
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        for sql in [
            "PRAGMA journal_mode = WAL",
            "CREATE TABLE t (x BLOB)",
            "INSERT INTO t VALUES (randomblob(100000))",
        ] {
            sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        }
        for suffix in ["-wal", "-shm"] {
            let p = tmp.path().join(format!("data/gigmcp.sqlite3{suffix}"));
            assert_eq!(mode(&p), FILE_MODE, "{}", p.display());
        }
        assert_eq!(recheck(&db).unwrap(), []);
        conn.close().await.unwrap();
    }

    #[test]
    fn wider_modes_are_narrowed_and_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        fs::create_dir(&dir).unwrap();
        let db = dir.join("gigmcp.sqlite3");
        fs::write(&db, b"").unwrap();
        fs::write(dir.join("gigmcp.sqlite3-wal"), b"").unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(&db, fs::Permissions::from_mode(0o644)).unwrap();
        fs::set_permissions(
            dir.join("gigmcp.sqlite3-wal"),
            fs::Permissions::from_mode(0o4666),
        )
        .unwrap();
        let fixed = prepare(&db).unwrap();
        assert_eq!(
            fixed,
            [
                Narrowed {
                    path: dir.clone(),
                    old: 0o755,
                    new: 0o700
                },
                Narrowed {
                    path: db.clone(),
                    old: 0o644,
                    new: 0o600
                },
                Narrowed {
                    path: dir.join("gigmcp.sqlite3-wal"),
                    old: 0o4666,
                    new: 0o600
                },
            ]
        );
        assert_eq!(recheck(&db).unwrap(), [], "nothing left to fix");
        // Narrower than required is left alone.
        fs::set_permissions(&db, fs::Permissions::from_mode(0o400)).unwrap();
        assert_eq!(recheck(&db).unwrap(), []);
        assert_eq!(mode(&db), 0o400);
    }

    #[test]
    fn a_symlinked_database_is_checked_where_it_points() {
        let tmp = tempfile::tempdir().unwrap();
        let (link_dir, real_dir) = (tmp.path().join("link"), tmp.path().join("real"));
        fs::create_dir(&link_dir).unwrap();
        fs::create_dir(&real_dir).unwrap();
        fs::set_permissions(&link_dir, fs::Permissions::from_mode(0o700)).unwrap();
        let real = real_dir.join("gig.db");
        fs::write(&real, b"").unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o644)).unwrap();
        fs::set_permissions(&real_dir, fs::Permissions::from_mode(0o755)).unwrap();
        let link = link_dir.join("gig.db");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        prepare(&link).unwrap();
        assert_eq!(mode(&real), 0o600);
        assert_eq!(mode(&real_dir), 0o700);

        // A dangling symlink would let SQLite create the target with its default mode.
        fs::remove_file(&real).unwrap();
        let err = prepare(&link).unwrap_err().to_string();
        assert!(err.contains("dangling symlink"), "{err}");
        assert!(!real.exists());
    }

    #[test]
    fn shared_or_foreign_directories_are_not_changed() {
        let tmp = tempfile::tempdir().unwrap();
        // A sticky, world-writable directory (like /tmp).
        let shared = tmp.path().join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
        let err = prepare(&shared.join("x.db")).unwrap_err().to_string();
        assert!(err.contains(&shared.display().to_string()), "{err}");
        assert!(
            err.contains("sticky") && err.contains("install -d -m 700"),
            "{err}"
        );
        assert_eq!(mode(&shared), 0o1777);
        assert!(!shared.join("x.db").exists());

        // A wide directory holding other things and no database: not gigmcp's to change.
        let other = tmp.path().join("other");
        fs::create_dir(&other).unwrap();
        fs::write(other.join("someone-elses"), b"").unwrap();
        fs::set_permissions(&other, fs::Permissions::from_mode(0o755)).unwrap();
        let err = prepare(&other.join("x.db")).unwrap_err().to_string();
        assert!(
            err.contains(&format!("chmod 700 {}", other.display())),
            "{err}"
        );
        assert_eq!(mode(&other), 0o755);

        // Something other than a regular file at a database file's name.
        let dir = tmp.path().join("data");
        fs::create_dir_all(dir.join("gigmcp.sqlite3-shm")).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        let err = prepare(&dir.join("gigmcp.sqlite3"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }
}
