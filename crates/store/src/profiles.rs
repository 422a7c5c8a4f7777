//! Profiles: a slug + bearer-token hash owned by a user, grouping installed servers.

use std::collections::BTreeMap;

use sqlx::FromRow;

use crate::error::{bounded, classify};
use crate::servers::{SERVER_COLUMNS, ServerRow};
use crate::{
    MAX_NAME_LEN, ProfileId, Server, ServerId, Store, StoreError, UserId, flag, now_millis,
};

/// What [`Store::create_profile`] needs.
#[derive(Debug, Clone)]
pub struct NewProfile {
    /// Unique slug; part of the profile's URL.
    pub slug: crate::Slug,
    /// Owning user.
    pub owner: UserId,
    /// SHA-256 of the profile's bearer token.
    pub token_hash: [u8; 32],
}

/// A row of `profiles`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Primary key.
    pub id: ProfileId,
    /// Unique slug.
    pub slug: String,
    /// Owning user.
    pub owner: UserId,
    /// SHA-256 of the bearer token.
    pub token_hash: [u8; 32],
    /// Whether the profile exposes meta-tools instead of every tool.
    pub meta_tools: bool,
    /// Whether names and URIs carry their server's name (`<server>_<tool>`); off only for a
    /// profile with at most one server.
    pub prefix_names: bool,
    /// Creation time (unix ms).
    pub created_at: i64,
}

/// A profile as listed: with its owner's name and its servers' names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileSummary {
    /// Primary key.
    pub id: ProfileId,
    /// Unique slug.
    pub slug: String,
    /// Owning user.
    pub owner: UserId,
    /// Owning user's name.
    pub owner_name: String,
    /// Meta-tools flag.
    pub meta_tools: bool,
    /// Name-prefixing flag.
    pub prefix_names: bool,
    /// Creation time (unix ms).
    pub created_at: i64,
    /// Names of the servers in the profile, sorted.
    pub servers: Vec<String>,
}

#[derive(FromRow)]
struct ProfileRow {
    id: i64,
    slug: String,
    owner_id: i64,
    token_hash: Vec<u8>,
    meta_tools: i64,
    prefix_names: i64,
    created_at: i64,
}

impl TryFrom<ProfileRow> for Profile {
    type Error = StoreError;
    fn try_from(row: ProfileRow) -> Result<Self, StoreError> {
        let token_hash =
            <[u8; 32]>::try_from(row.token_hash.as_slice()).map_err(|_| StoreError::Invalid {
                field: "profiles.token_hash",
                reason: format!("stored hash of profile {:?} is not 32 bytes", row.slug),
            })?;
        Ok(Self {
            id: ProfileId(row.id),
            slug: row.slug,
            owner: UserId(row.owner_id),
            token_hash,
            meta_tools: flag(row.meta_tools),
            prefix_names: flag(row.prefix_names),
            created_at: row.created_at,
        })
    }
}

const PROFILE_COLUMNS: &str =
    "id, slug, owner_id, token_hash, meta_tools, prefix_names, created_at";

impl Store {
    /// Creates a profile. `Conflict` if the slug is taken, `NotFound` if the owner is missing.
    pub async fn create_profile(&self, new: NewProfile) -> Result<Profile, StoreError> {
        bounded("profile slug", &new.slug, MAX_NAME_LEN)?;
        let now = now_millis();
        let id: i64 = self
            .write(|| async {
                sqlx::query_scalar(
                    "INSERT INTO profiles (slug, owner_id, token_hash, meta_tools, created_at) \
                     VALUES ($1, $2, $3, 0, $4) RETURNING id",
                )
                .bind(new.slug.as_str())
                .bind(new.owner.0)
                .bind(new.token_hash.to_vec())
                .bind(now)
                .fetch_one(self.pool())
                .await
                .map_err(|e| {
                    classify(
                        e,
                        || format!("profile {:?}", new.slug),
                        || format!("user id {}", new.owner),
                    )
                })
            })
            .await?;
        Ok(Profile {
            id: ProfileId(id),
            slug: new.slug.into(),
            owner: new.owner,
            token_hash: new.token_hash,
            meta_tools: false,
            prefix_names: true,
            created_at: now,
        })
    }

    /// Looks a profile up by slug.
    pub async fn profile_by_slug(&self, slug: &str) -> Result<Option<Profile>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {PROFILE_COLUMNS} FROM profiles WHERE slug = $1"
        ));
        let row: Option<ProfileRow> = sqlx::query_as(sql)
            .bind(slug)
            .fetch_optional(self.pool())
            .await?;
        row.map(Profile::try_from).transpose()
    }

    /// Every profile with owner name and server names, by slug.
    pub async fn list_profiles(&self) -> Result<Vec<ProfileSummary>, StoreError> {
        #[derive(FromRow)]
        struct Row {
            id: i64,
            slug: String,
            owner_id: i64,
            username: String,
            meta_tools: i64,
            prefix_names: i64,
            created_at: i64,
        }
        #[derive(FromRow)]
        struct Member {
            profile_id: i64,
            name: String,
        }
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT p.id, p.slug, p.owner_id, u.username, p.meta_tools, p.prefix_names, p.created_at \
             FROM profiles p JOIN users u ON u.id = p.owner_id ORDER BY p.slug",
        )
        .fetch_all(self.pool())
        .await?;
        let members: Vec<Member> = sqlx::query_as(
            "SELECT ps.profile_id, s.name FROM profile_servers ps \
             JOIN servers s ON s.id = ps.server_id ORDER BY s.name",
        )
        .fetch_all(self.pool())
        .await?;
        let mut by_profile: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        for m in members {
            by_profile.entry(m.profile_id).or_default().push(m.name);
        }
        Ok(rows
            .into_iter()
            .map(|r| ProfileSummary {
                id: ProfileId(r.id),
                servers: by_profile.remove(&r.id).unwrap_or_default(),
                slug: r.slug,
                owner: UserId(r.owner_id),
                owner_name: r.username,
                meta_tools: flag(r.meta_tools),
                prefix_names: flag(r.prefix_names),
                created_at: r.created_at,
            })
            .collect())
    }

    /// Replaces the token hash of a profile (token rotation). `NotFound` if the slug is unknown.
    pub async fn set_profile_token(
        &self,
        slug: &str,
        token_hash: [u8; 32],
    ) -> Result<(), StoreError> {
        let changed = self
            .write(|| async {
                Ok(
                    sqlx::query("UPDATE profiles SET token_hash = $1 WHERE slug = $2")
                        .bind(token_hash.to_vec())
                        .bind(slug)
                        .execute(self.pool())
                        .await?
                        .rows_affected(),
                )
            })
            .await?;
        if changed == 0 {
            return Err(StoreError::not_found(format!("profile {slug:?}")));
        }
        Ok(())
    }

    /// Turns the meta-tools mode of a profile on or off. `NotFound` if the slug is unknown.
    pub async fn set_profile_meta_tools(
        &self,
        slug: &str,
        enabled: bool,
    ) -> Result<(), StoreError> {
        let changed = self
            .write(|| async {
                Ok(
                    sqlx::query("UPDATE profiles SET meta_tools = $1 WHERE slug = $2")
                        .bind(i64::from(enabled))
                        .bind(slug)
                        .execute(self.pool())
                        .await?
                        .rows_affected(),
                )
            })
            .await?;
        if changed == 0 {
            return Err(StoreError::not_found(format!("profile {slug:?}")));
        }
        Ok(())
    }

    /// Turns name prefixing of a profile on or off. `NotFound` if the slug is unknown;
    /// `Invalid` when turning it off for a profile with more than one server (their names
    /// could collide).
    pub async fn set_profile_prefix_names(
        &self,
        slug: &str,
        enabled: bool,
    ) -> Result<(), StoreError> {
        let changed = self
            .write(|| async {
                Ok(sqlx::query(
                    "UPDATE profiles SET prefix_names = $1 WHERE slug = $2 AND ($1 = 1 OR \
                     (SELECT COUNT(*) FROM profile_servers ps WHERE ps.profile_id = profiles.id) <= 1)",
                )
                .bind(i64::from(enabled))
                .bind(slug)
                .execute(self.pool())
                .await?
                .rows_affected())
            })
            .await?;
        if changed == 0 {
            if self.profile_by_slug(slug).await?.is_none() {
                return Err(StoreError::not_found(format!("profile {slug:?}")));
            }
            return Err(StoreError::Invalid {
                field: "profiles.prefix_names",
                reason: format!(
                    "profile {slug:?} has more than one server, whose names could collide \
                     without their prefixes"
                ),
            });
        }
        Ok(())
    }

    /// Deletes a profile and its server memberships and tool selections.
    pub async fn delete_profile(&self, slug: &str) -> Result<(), StoreError> {
        let changed = self
            .write(|| async {
                Ok(sqlx::query("DELETE FROM profiles WHERE slug = $1")
                    .bind(slug)
                    .execute(self.pool())
                    .await?
                    .rows_affected())
            })
            .await?;
        if changed == 0 {
            return Err(StoreError::not_found(format!("profile {slug:?}")));
        }
        Ok(())
    }

    /// Adds a server to a profile. Idempotent: adding it twice is not an error.
    /// `NotFound` if the profile or the server does not exist.
    pub async fn add_profile_server(
        &self,
        profile: ProfileId,
        server: ServerId,
    ) -> Result<(), StoreError> {
        // A profile without name prefixes holds one server at most (checked in the same
        // statement, so two concurrent adds cannot both pass).
        let added = self
            .write(|| async {
                sqlx::query(
                    "INSERT INTO profile_servers (profile_id, server_id, added_at) \
                     SELECT $1, $2, $3 WHERE \
                       (SELECT prefix_names FROM profiles WHERE id = $1) = 1 \
                       OR NOT EXISTS (SELECT 1 FROM profile_servers \
                                      WHERE profile_id = $1 AND server_id <> $2) \
                     ON CONFLICT (profile_id, server_id) DO NOTHING",
                )
                .bind(profile.0)
                .bind(server.0)
                .bind(now_millis())
                .execute(self.pool())
                .await
                .map_err(|e| {
                    classify(
                        e,
                        || format!("server {server} in profile {profile}"),
                        || format!("profile id {profile} or server id {server}"),
                    )
                })
                .map(|r| r.rows_affected())
            })
            .await?;
        if added == 0
            && !self
                .profile_servers(profile)
                .await?
                .iter()
                .any(|s| s.id == server)
        {
            return Err(StoreError::Invalid {
                field: "profile_servers",
                reason: format!(
                    "profile {profile} does not prefix names, so it holds one server at most; \
                     turn prefixes on first"
                ),
            });
        }
        Ok(())
    }

    /// Removes a server from a profile (and that server's tool selections in it).
    /// `NotFound` if the server was not in the profile.
    pub async fn remove_profile_server(
        &self,
        profile: ProfileId,
        server: ServerId,
    ) -> Result<(), StoreError> {
        let changed = self
            .write(|| async {
                Ok(sqlx::query(
                    "DELETE FROM profile_servers WHERE profile_id = $1 AND server_id = $2",
                )
                .bind(profile.0)
                .bind(server.0)
                .execute(self.pool())
                .await?
                .rows_affected())
            })
            .await?;
        if changed == 0 {
            return Err(StoreError::not_found(format!(
                "server id {server} in profile id {profile}"
            )));
        }
        Ok(())
    }

    /// The servers of a profile, by name.
    pub async fn profile_servers(&self, profile: ProfileId) -> Result<Vec<Server>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {SERVER_COLUMNS} FROM servers s JOIN profile_servers ps ON ps.server_id = s.id \
             WHERE ps.profile_id = $1 ORDER BY s.name"
        ));
        let rows: Vec<ServerRow> = sqlx::query_as(sql)
            .bind(profile.0)
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(Server::try_from).collect()
    }

    /// Every (profile, server) membership.
    pub async fn profile_server_pairs(&self) -> Result<Vec<(ProfileId, ServerId)>, StoreError> {
        let rows: Vec<(i64, i64)> =
            sqlx::query_as("SELECT profile_id, server_id FROM profile_servers")
                .fetch_all(self.pool())
                .await?;
        Ok(rows
            .into_iter()
            .map(|(p, s)| (ProfileId(p), ServerId(s)))
            .collect())
    }
}
