//! Users, their role and org (their access is that org's subtree), and login tokens. Passwords
//! arrive already hashed (argon2, in the server); tokens are stored as SHA-256 hashes only, so a
//! copy of the database does not hold usable credentials. A disabled user's tokens are refused.
//! Wrong passwords are counted per username and per client address in `login_throttle`, so that a
//! lockout holds across restarts and across instances on one database.

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
    /// A disabled user cannot log in and their tokens are refused.
    pub disabled: bool,
}

fn user(r: &crate::Row) -> User {
    User {
        id: r.int(0),
        username: r.text(1),
        password_hash: r.text(2),
        role: r.text(3),
        org_code: r.text(4),
        created_at: r.text(5),
        disabled: r.opt_text(6).is_some(),
    }
}

const COLS: &str = "id, username, password_hash, role, org_code, created_at, disabled_at";

/// The longest username (bytes).
pub const USERNAME_MAX: usize = 64;

/// The rule for new usernames: 1 to [`USERNAME_MAX`] characters, ASCII letters, digits and
/// `. _ - @`, starting with a letter or digit. (Usernames are shown in the console, the audit log
/// and file names; nothing else needs to be escaped for them.)
pub fn check_username(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() || name.len() > USERNAME_MAX {
        return Err(format!("a username has 1 to {USERNAME_MAX} characters"));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@')) {
        return Err("a username has only ASCII letters, digits and . _ - @".into());
    }
    if !name.as_bytes()[0].is_ascii_alphanumeric() {
        return Err("a username starts with a letter or a digit".into());
    }
    Ok(())
}

/// How wrong passwords lock logins (docs/security.md): `user_failures` wrong passwords for one
/// username, or `address_failures` from one client address, within `window_secs` lock that
/// username or address for `lock_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginPolicy {
    pub user_failures: i64,
    pub address_failures: i64,
    pub window_secs: i64,
    pub lock_secs: i64,
}

impl Default for LoginPolicy {
    fn default() -> Self {
        LoginPolicy { user_failures: 5, address_failures: 20, window_secs: 15 * 60, lock_secs: 15 * 60 }
    }
}

fn user_key(username: &str) -> String {
    format!("user:{username}")
}

fn address_key(address: &str) -> String {
    format!("addr:{address}")
}

impl Store {
    pub fn create_user(
        &self,
        actor: &str,
        username: &str,
        password_hash: &str,
        role: &str,
        org_code: &str,
    ) -> Result<User> {
        check_username(username).map_err(StoreError::Invalid)?;
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
                    &format!("SELECT {cols}, t.expires_at FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 AND t.expires_at > $2 AND u.disabled_at IS NULL"),
                    &[sha256_hex(token.as_bytes()).into(), crate::now().into()],
                )
            })?
            .first()
            .map(|r| (user(r), r.text(7))))
    }

    pub fn revoke_token(&self, token: &str) -> Result<()> {
        self.tx(|c| {
            c.exec("DELETE FROM tokens WHERE token_hash = $1", &[sha256_hex(token.as_bytes()).into()]).map(|_| ())
        })
    }

    /// Sets a user's password hash and revokes every token of the user but `keep` (the caller's
    /// own session), audited `user.password`. The number of tokens revoked.
    pub fn set_password(&self, actor: &str, user_id: i64, password_hash: &str, keep: Option<&str>) -> Result<u64> {
        let kind = self.kind();
        let keep = keep.map(|t| sha256_hex(t.as_bytes())).unwrap_or_default();
        self.tx(|c| {
            let u = c.query(&format!("SELECT {COLS} FROM users WHERE id = $1"), &[user_id.into()])?;
            let u = u.first().map(user).ok_or_else(|| StoreError::NotFound(format!("user {user_id}")))?;
            c.exec("UPDATE users SET password_hash = $1 WHERE id = $2", &[password_hash.into(), user_id.into()])?;
            let revoked = c.exec(
                "DELETE FROM tokens WHERE user_id = $1 AND token_hash <> $2",
                &[user_id.into(), keep.as_str().into()],
            )?;
            append(
                c,
                kind,
                Change {
                    actor,
                    action: "user.password",
                    entity: format!("user/{user_id}"),
                    org_code: &u.org_code,
                    before: serde_json::Value::Null,
                    after: serde_json::json!({"username": u.username, "tokens_revoked": revoked}),
                },
            )?;
            Ok(revoked)
        })
    }

    /// Disables (revoking every token of the user) or enables a user, audited `user.disable` or
    /// `user.enable`; enabling also lifts a login lockout of the username.
    pub fn set_user_disabled(&self, actor: &str, user_id: i64, disabled: bool) -> Result<User> {
        let kind = self.kind();
        self.tx(|c| {
            let u = c.query(&format!("SELECT {COLS} FROM users WHERE id = $1"), &[user_id.into()])?;
            let u = u.first().map(user).ok_or_else(|| StoreError::NotFound(format!("user {user_id}")))?;
            let at = disabled.then(crate::now);
            c.exec("UPDATE users SET disabled_at = $1 WHERE id = $2", &[at.into(), user_id.into()])?;
            let revoked = if disabled {
                c.exec("DELETE FROM tokens WHERE user_id = $1", &[user_id.into()])?
            } else {
                c.exec("DELETE FROM login_throttle WHERE throttle_key = $1", &[user_key(&u.username).into()])?;
                0
            };
            append(
                c,
                kind,
                Change {
                    actor,
                    action: if disabled { "user.disable" } else { "user.enable" },
                    entity: format!("user/{user_id}"),
                    org_code: &u.org_code,
                    before: serde_json::json!({"username": u.username, "disabled": u.disabled}),
                    after: serde_json::json!({"username": u.username, "disabled": disabled, "tokens_revoked": revoked}),
                },
            )?;
            Ok(())
        })?;
        self.user_by_id(user_id)?.ok_or_else(|| StoreError::NotFound(format!("user {user_id}")))
    }

    /// When the login of `username` from `address` is locked at `now` (Unix seconds): the seconds
    /// left, else `None`.
    pub fn login_locked(&self, username: &str, address: Option<&str>, now: i64) -> Result<Option<i64>> {
        let u = user_key(username);
        let a = address.map_or_else(|| u.clone(), address_key);
        let rows = self.read(|c| {
            c.query(
                "SELECT MAX(locked_until) FROM login_throttle WHERE throttle_key = $1 OR throttle_key = $2",
                &[u.into(), a.into()],
            )
        })?;
        let until = rows.first().and_then(|r| r.opt_int(0)).unwrap_or(0);
        Ok((until > now).then_some(until - now))
    }

    /// Counts a wrong password for `username` (and `address` when known) at `now` (Unix seconds).
    /// A username or address that reaches its limit within the window is locked for
    /// `policy.lock_secs`, with an `auth.lockout` audit entry in the same transaction. Returns the
    /// lock's seconds when this failure set one. Counters idle for a window are removed.
    pub fn login_failed(
        &self,
        policy: &LoginPolicy,
        username: &str,
        address: Option<&str>,
        now: i64,
    ) -> Result<Option<i64>> {
        let kind = self.kind();
        let lock = if kind == crate::Kind::Postgres { " FOR UPDATE" } else { "" };
        self.tx(|c| {
            c.exec(
                "DELETE FROM login_throttle WHERE locked_until < $1 AND window_start < $2",
                &[now.into(), (now - policy.window_secs).into()],
            )?;
            let mut keys = vec![(user_key(username), policy.user_failures)];
            if let Some(a) = address {
                keys.push((address_key(a), policy.address_failures));
            }
            let mut locked = None;
            for (key, limit) in keys {
                c.exec(
                    "INSERT INTO login_throttle (throttle_key, failures, window_start, locked_until) VALUES ($1, 0, $2, 0) ON CONFLICT (throttle_key) DO NOTHING",
                    &[key.as_str().into(), now.into()],
                )?;
                let row = c.query(
                    &format!("SELECT failures, window_start, locked_until FROM login_throttle WHERE throttle_key = $1{lock}"),
                    &[key.as_str().into()],
                )?;
                let (failures, start, until) = row.first().map_or((0, now, 0), |r| (r.int(0), r.int(1), r.int(2)));
                if until > now {
                    continue; // locked already (a concurrent attempt)
                }
                let (mut failures, mut start) =
                    if now - start >= policy.window_secs { (1, now) } else { (failures + 1, start) };
                let mut until = 0;
                if failures >= limit {
                    until = now + policy.lock_secs;
                    let counted = failures;
                    (failures, start) = (0, now);
                    locked = Some(policy.lock_secs);
                    // The entry belongs to the user's org (their admins see it), else to the root org.
                    let known = c.query("SELECT id, org_code FROM users WHERE username = $1", &[username.into()])?;
                    let root = c.query("SELECT code FROM orgs WHERE parent_code IS NULL ORDER BY code LIMIT 1", &[])?;
                    let root = root.first().map(|r| r.text(0)).unwrap_or_default();
                    let (entity, org) = match (key.starts_with("user:"), known.first()) {
                        (true, Some(u)) => (format!("user/{}", u.int(0)), u.text(1)),
                        (true, None) => (format!("login/{username}"), root),
                        (false, _) => (format!("address/{}", address.unwrap_or_default()), root),
                    };
                    append(
                        c,
                        kind,
                        Change {
                            actor: "login",
                            action: "auth.lockout",
                            entity,
                            org_code: &org,
                            before: serde_json::Value::Null,
                            after: serde_json::json!({
                                "username": username,
                                "address": address,
                                "locked": if key.starts_with("user:") { "username" } else { "address" },
                                "failures": counted,
                                "window_seconds": policy.window_secs,
                                "locked_until": crate::format_time(until, 0),
                            }),
                        },
                    )?;
                }
                c.exec(
                    "UPDATE login_throttle SET failures = $1, window_start = $2, locked_until = $3 WHERE throttle_key = $4",
                    &[failures.into(), start.into(), until.into(), key.as_str().into()],
                )?;
            }
            Ok(locked)
        })
    }

    /// A successful login of `username`: its count of wrong passwords starts again (the address's
    /// count does not, so one known password does not reset an address guessing others).
    pub fn login_succeeded(&self, username: &str) -> Result<()> {
        let key = user_key(username);
        let exists = !self
            .read(|c| c.query("SELECT failures FROM login_throttle WHERE throttle_key = $1", &[key.as_str().into()]))?
            .is_empty();
        if exists {
            self.tx(|c| c.exec("DELETE FROM login_throttle WHERE throttle_key = $1", &[key.into()]).map(|_| ()))?;
        }
        Ok(())
    }
}
