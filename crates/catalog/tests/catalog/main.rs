//! Integration tests of the catalogue, on SQLite and PostgreSQL alike (PostgreSQL from
//! `GIG_TEST_DATABASE_URL`, or a private server the store's test helpers start).
//!
//! The index is the real registry corpus (`<repo>/../shared/corpus/gigmcp-registry`), built and
//! signed here as a publisher would (`registryctl build-index` + `sign`), and served from a
//! temp dir (`file://`) or a local HTTPS server with its own CA.

mod common;
mod install;
mod refresh;
mod uninstall;
mod untrusted;
mod update;
