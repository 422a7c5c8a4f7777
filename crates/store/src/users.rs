//! Users: the CLI acts as the built-in local `admin`.

use sqlx::FromRow;

use crate::error::bounded;
use crate::{MAX_NAME_LEN, Store, StoreError, UserId, now_millis};

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Manages servers, profiles and other users.
    Admin,
    /// Uses the profiles they own.
    User,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::User => "user",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "admin" => Ok(Self::Admin),
            "user" => Ok(Self::User),
            other => Err(StoreError::Invalid {
                field: "users.role",
                reason: format!("unknown role {other:?} stored in the database"),
            }),
        }
    }
}

/// A row of `users`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Primary key.
    pub id: UserId,
    /// Unique login name.
    pub username: String,
    /// Permissions.
    pub role: Role,
    /// Creation time (unix ms).
    pub created_at: i64,
}

#[derive(FromRow)]
struct UserRow {
    id: i64,
    username: String,
    role: String,
    created_at: i64,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(row: UserRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: UserId(row.id),
            username: row.username,
            role: Role::parse(&row.role)?,
            created_at: row.created_at,
        })
    }
}

impl Store {
    /// Returns the user called `username`, creating it with `role` if it does not exist yet
    /// (an existing user keeps its role). Safe under concurrent calls.
    pub async fn ensure_user(&self, username: &str, role: Role) -> Result<User, StoreError> {
        bounded("username", username, MAX_NAME_LEN)?;
        self.write(|| async {
            sqlx::query(
                "INSERT INTO users (username, role, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (username) DO NOTHING",
            )
            .bind(username)
            .bind(role.as_str())
            .bind(now_millis())
            .execute(self.pool())
            .await?;
            Ok(())
        })
        .await?;
        self.user_by_username(username)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("user {username:?}")))
    }

    /// Looks a user up by name.
    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        let row: Option<UserRow> =
            sqlx::query_as("SELECT id, username, role, created_at FROM users WHERE username = $1")
                .bind(username)
                .fetch_optional(self.pool())
                .await?;
        row.map(User::try_from).transpose()
    }

    /// Looks a user up by id.
    pub async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let row: Option<UserRow> =
            sqlx::query_as("SELECT id, username, role, created_at FROM users WHERE id = $1")
                .bind(id.0)
                .fetch_optional(self.pool())
                .await?;
        row.map(User::try_from).transpose()
    }

    /// Every user, by name.
    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let rows: Vec<UserRow> =
            sqlx::query_as("SELECT id, username, role, created_at FROM users ORDER BY username")
                .fetch_all(self.pool())
                .await?;
        rows.into_iter().map(User::try_from).collect()
    }
}
