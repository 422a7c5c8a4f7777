//! Throwaway databases for tests, on both drivers (feature `testing`).
//!
//! PostgreSQL: if `GIG_TEST_DATABASE_URL` (`postgres://…`, a role allowed to `CREATE DATABASE`)
//! is set, each [`TestDb`] is a fresh database on that server. Otherwise the first call starts a
//! private cluster (`initdb` + `pg_ctl` from `/usr/lib/postgresql/<newest>/bin`, or
//! `GIG_TEST_PG_BIN`) in a temp dir on a free loopback port, owned by the `postgres` unix user
//! when running as root; a watcher process stops it and deletes it when the test process exits.
//! Missing PostgreSQL binaries make the test panic with instructions: it never skips silently.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::{Connection, PgConnection};

use crate::{Store, StoreUrl};

/// Environment variable naming an existing PostgreSQL server for tests.
pub const TEST_DATABASE_URL_ENV: &str = "GIG_TEST_DATABASE_URL";

/// The drivers every store test runs against.
pub const DRIVERS: [Driver; 2] = [Driver::Sqlite, Driver::Postgres];

/// A database engine under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// SQLite file in a temp dir.
    Sqlite,
    /// Fresh database on the test PostgreSQL server.
    Postgres,
}

/// A fresh, empty database; removed on drop.
pub struct TestDb {
    /// Where it lives (hand to [`Store::connect`] or to a gateway under test).
    pub url: StoreUrl,
    /// The data dir (SQLite file lives inside; also usable as the gateway's data dir).
    pub dir: tempfile::TempDir,
    pg: Option<(String, String)>,
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDb")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl TestDb {
    /// A fresh database for `driver`.
    pub async fn new(driver: Driver) -> Self {
        let dir = tempfile::tempdir().expect("create temp dir for test database");
        match driver {
            Driver::Sqlite => Self {
                url: StoreUrl::sqlite_in(dir.path()),
                dir,
                pg: None,
            },
            Driver::Postgres => {
                let admin = admin_url();
                let name = format!(
                    "gigtest_{}_{}_{}",
                    std::process::id(),
                    NEXT_DB.fetch_add(1, Ordering::Relaxed),
                    crate::now_millis() % 1_000_000
                );
                let mut conn = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
                    panic!(
                        "cannot connect to test PostgreSQL {}: {e}",
                        crate::url::redact(&admin)
                    )
                });
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("CREATE DATABASE for test");
                conn.close().await.ok();
                let url = with_database(&admin, &name);
                Self {
                    url: StoreUrl::Postgres { url },
                    dir,
                    pg: Some((admin, name)),
                }
            }
        }
    }

    /// Connects a store (running migrations).
    pub async fn store(&self) -> Store {
        Store::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("connect test store {}: {e}", self.url))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = self.pg.take() else {
            return;
        };
        // Drop may run inside a tokio runtime: do the async cleanup on a thread of its own.
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = PgConnection::connect(&admin).await.ok()?;
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await
                    .ok()?;
                conn.close().await.ok()
            })
        });
        let _ = cleanup.join();
    }
}

/// Runs `test` once per driver, each with a fresh database, naming the driver on failure.
pub async fn for_each_driver<F, Fut>(test: F)
where
    F: Fn(Driver, TestDb) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for driver in DRIVERS {
        let db = TestDb::new(driver).await;
        test(driver, db).await;
    }
}

static NEXT_DB: AtomicU64 = AtomicU64::new(0);
static ADMIN_URL: OnceLock<String> = OnceLock::new();

/// URL of the maintenance database of the test server (starting the server if needed).
pub fn admin_url() -> String {
    ADMIN_URL
        .get_or_init(|| match std::env::var(TEST_DATABASE_URL_ENV) {
            Ok(url) if !url.trim().is_empty() => url.trim().to_owned(),
            _ => start_private_cluster(),
        })
        .clone()
}

fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let (scheme, rest) = base.split_once("://").expect("postgres URL has a scheme");
    let authority = rest.split('/').next().unwrap_or(rest);
    match query {
        Some(q) => format!("{scheme}://{authority}/{db}?{q}"),
        None => format!("{scheme}://{authority}/{db}"),
    }
}

fn pg_bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("GIG_TEST_PG_BIN") {
        return PathBuf::from(dir);
    }
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .max();
    match newest {
        Some(v) => PathBuf::from(format!("/usr/lib/postgresql/{v}/bin")),
        None => panic!(
            "PostgreSQL tests need a server: set {TEST_DATABASE_URL_ENV}=postgres://USER@HOST:PORT/postgres \
             or install the server binaries (`apt-get install postgresql`) so the tests can start \
             a private one (or point GIG_TEST_PG_BIN at a directory with initdb and pg_ctl)"
        ),
    }
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// Runs a PostgreSQL tool, as the `postgres` user when we are root (initdb refuses root).
fn pg_command(bin: &Path, tool: &str, args: &[String], as_postgres: bool) -> Command {
    let exe = bin.join(tool);
    if as_postgres {
        let mut line = shell_quote(&exe.to_string_lossy());
        for a in args {
            line.push(' ');
            line.push_str(&shell_quote(a));
        }
        let mut cmd = Command::new("su");
        cmd.args(["postgres", "-s", "/bin/sh", "-c", &line]);
        cmd
    } else {
        let mut cmd = Command::new(exe);
        cmd.args(args);
        cmd
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free loopback port for the test PostgreSQL")
}

fn run(mut cmd: Command, what: &str) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn start_private_cluster() -> String {
    let bin = pg_bin_dir();
    let as_postgres = running_as_root();
    // Not a TempDir: the watcher removes it after this process exits.
    let root = tempfile::Builder::new()
        .prefix("gigmcp-testpg-")
        .tempdir()
        .expect("temp dir for test PostgreSQL")
        .keep();
    let data = root.join("data");
    if as_postgres {
        std::os::unix::fs::chown(&root, Some(uid_of("postgres")), None)
            .expect("chown test PostgreSQL dir to the postgres user");
    }
    let data_s = data.to_string_lossy().into_owned();
    let root_s = root.to_string_lossy().into_owned();
    run(
        pg_command(
            &bin,
            "initdb",
            &[
                "-D".into(),
                data_s.clone(),
                "-A".into(),
                "trust".into(),
                "-U".into(),
                "postgres".into(),
                "-E".into(),
                "UTF8".into(),
                "--no-sync".into(),
            ],
            as_postgres,
        ),
        "initdb for the test PostgreSQL",
    );
    let port = free_port();
    let options = format!(
        "-p {port} -k {root_s} -c listen_addresses=127.0.0.1 -c max_connections=300 \
         -c shared_buffers=32MB"
    );
    run(
        pg_command(
            &bin,
            "pg_ctl",
            &[
                "-D".into(),
                data_s.clone(),
                "-l".into(),
                format!("{root_s}/postgres.log"),
                "-o".into(),
                options,
                "-w".into(),
                "start".into(),
            ],
            as_postgres,
        ),
        "pg_ctl start for the test PostgreSQL",
    );
    spawn_reaper(&bin, &root_s, &data_s, as_postgres);
    format!("postgres://postgres@127.0.0.1:{port}/postgres")
}

/// A detached shell that waits for this process to exit, then stops the cluster and deletes it.
fn spawn_reaper(bin: &Path, root: &str, data: &str, as_postgres: bool) {
    let stop = pg_command(
        bin,
        "pg_ctl",
        &[
            "-D".into(),
            data.into(),
            "-m".into(),
            "immediate".into(),
            "stop".into(),
        ],
        as_postgres,
    );
    let mut stop_line = shell_quote(&stop.get_program().to_string_lossy());
    for a in stop.get_args() {
        stop_line.push(' ');
        stop_line.push_str(&shell_quote(&a.to_string_lossy()));
    }
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop_line} >/dev/null 2>&1; rm -rf {root}",
        pid = std::process::id(),
        root = shell_quote(root),
    );
    // `setsid -f` forks the watcher into its own session and returns at once.
    let status = Command::new("setsid")
        .args(["-f", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("spawn the test PostgreSQL reaper");
    assert!(
        status.success(),
        "setsid for the test PostgreSQL reaper failed: {status}"
    );
}

fn uid_of(user: &str) -> u32 {
    let passwd = std::fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    passwd
        .lines()
        .find_map(|l| {
            let mut f = l.split(':');
            (f.next() == Some(user)).then(|| f.nth(1)?.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no `{user}` unix user: install Debian's postgresql package"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_is_swapped_in_url() {
        assert_eq!(
            with_database("postgres://u:p@h:5/postgres?sslmode=disable", "x"),
            "postgres://u:p@h:5/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}
