//! Users, their role and org (their access is that org's subtree), and login tokens. Passwords
//! arrive already hashed (argon2, in the server); tokens are stored as SHA-256 hashes only, so a
//! copy of the database does not hold usable credentials.

use crate::audit::{append, Change};
use crate::{sha256_hex, Result, Store, StoreError};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub username: String,
    #[serde(skip)]
    pub password_hash: String,
    pub role: String,
    pub org_code: String,
    pub created_at: String,
}

fn user(r: &crate::Row) -> User {
    User {
        id: r.int(0),
        username: r.text(1),
        password_hash: r.text(2),
        role: r.text(3),
        org_code: r.text(4),
        created_at: r.text(5),
    }
}

const COLS: &str = "id, username, password_hash, role, org_code, created_at";

impl Store {
    pub fn create_user(
        &self,
        actor: &str,
        username: &str,
        password_hash: &str,
        role: &str,
        org_code: &str,
    ) -> Result<User> {
        let kind = self.kind();
        let id = self.tx(|c| {
            if c.query("SELECT code FROM orgs WHERE code = $1", &[org_code.into()])?.is_empty() {
                return Err(StoreError::Invalid(format!("unknown org {org_code:?}")));
            }
            if !c.query("SELECT id FROM users WHERE username = $1", &[username.into()])?.is_empty() {
                return Err(StoreError::Conflict(format!("user {username:?} exists already")));
            }
            let id = c.query(
                "INSERT INTO users (username, password_hash, role, org_code, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[username.into(), password_hash.into(), role.into(), org_code.into(), crate::now().into()],
            )?[0]
                .int(0);
            append(
                c,
                kind,
                Change {
                    actor,
                    action: "user.create",
                    entity: format!("user/{id}"),
                    org_code,
                    before: serde_json::Value::Null,
                    after: serde_json::json!({"username": username, "role": role, "org_code": org_code}),
                },
            )?;
            Ok(id)
        })?;
        self.user_by_id(id)?.ok_or_else(|| StoreError::NotFound(format!("user {id}")))
    }

    pub fn user_by_name(&self, username: &str) -> Result<Option<User>> {
        Ok(self
            .read(|c| c.query(&format!("SELECT {COLS} FROM users WHERE username = $1"), &[username.into()]))?
            .first()
            .map(user))
    }

    pub fn user_by_id(&self, id: i64) -> Result<Option<User>> {
        Ok(self.read(|c| c.query(&format!("SELECT {COLS} FROM users WHERE id = $1"), &[id.into()]))?.first().map(user))
    }

    /// Users whose org is within the subtree with root `path`.
    pub fn users_within(&self, path: &str) -> Result<Vec<User>> {
        let cols = COLS.split(", ").map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", ");
        Ok(self
            .read(|c| {
                c.query(
                    &format!("SELECT {cols} FROM users u JOIN orgs o ON o.code = u.org_code WHERE o.path LIKE $1 ESCAPE '\\' ORDER BY u.id"),
                    &[crate::like_prefix(path).into()],
                )
            })?
            .iter()
            .map(user)
            .collect())
    }

    /// Stores a new login token (its hash) valid until `expires_at` (RFC 3339).
    pub fn add_token(&self, user_id: i64, token: &str, expires_at: &str) -> Result<()> {
        self.tx(|c| {
            c.exec(
                "INSERT INTO tokens (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                &[sha256_hex(token.as_bytes()).into(), user_id.into(), crate::now().into(), expires_at.into()],
            )
            .map(|_| ())
        })
    }

    /// The user a token belongs to and when the token expires, if it exists and has not expired.
    pub fn user_by_token(&self, token: &str) -> Result<Option<(User, String)>> {
        let cols = COLS.split(", ").map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", ");
        Ok(self
            .read(|c| {
                c.query(
                    &format!("SELECT {cols}, t.expires_at FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 AND t.expires_at > $2"),
                    &[sha256_hex(token.as_bytes()).into(), crate::now().into()],
                )
            })?
            .first()
            .map(|r| (user(r), r.text(6))))
    }

    pub fn revoke_token(&self, token: &str) -> Result<()> {
        self.tx(|c| {
            c.exec("DELETE FROM tokens WHERE token_hash = $1", &[sha256_hex(token.as_bytes()).into()]).map(|_| ())
        })
    }
}
