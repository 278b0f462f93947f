//! Login (argon2id password hashes; bearer tokens for the API and the same token as an HttpOnly
//! session cookie for the console), the caller's profile, and user administration.

use crate::access::{Caller, Role, SESSION_COOKIE};
use crate::error::{ApiError, ApiResult};
use crate::App;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use rand_core::{OsRng, RngCore};
use serde::Deserialize;
use std::sync::Arc;

/// How long a login lasts.
const TOKEN_HOURS: i64 = 12;

pub fn hash_password(password: &str) -> ApiResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::internal(format!("hashing the password: {e}")))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

fn new_token() -> String {
    let mut b = [0u8; 32];
    OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[derive(Deserialize)]
pub struct Login {
    pub username: String,
    pub password: String,
}

/// Logs in: returns a bearer token and sets the session cookie.
pub async fn login(State(app): State<Arc<App>>, Json(body): Json<Login>) -> ApiResult<Response> {
    let name = body.username.clone();
    let user = app.db(move |s| s.user_by_name(&name)).await?;
    let password = body.password;
    // Verify even for an unknown user (against a hash made once), so that the time taken does not
    // tell which usernames exist.
    let (user, ok) = app
        .blocking(move || {
            static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
            let dummy = DUMMY.get_or_init(|| hash_password("not a password of anyone").unwrap_or_default());
            let ok = verify_password(&password, user.as_ref().map_or(dummy.as_str(), |u| u.password_hash.as_str()));
            let ok = ok && user.is_some();
            Ok((user, ok))
        })
        .await?;
    let Some(user) = user.filter(|_| ok) else {
        return Err(ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "bad_credentials",
            "unknown user or wrong password",
        ));
    };
    let token = new_token();
    let expires = {
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
        store::format_time(now + TOKEN_HOURS * 3600, 0)
    };
    let (t, id, e) = (token.clone(), user.id, expires.clone());
    app.db(move |s| s.add_token(id, &t, &e)).await?;
    let cookie = format!("{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}", TOKEN_HOURS * 3600);
    Ok(([(SET_COOKIE, cookie)], Json(serde_json::json!({"token": token, "expires_at": expires, "user": user})))
        .into_response())
}

pub async fn logout(State(app): State<Arc<App>>, req: axum::extract::Request) -> ApiResult<Response> {
    let token = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    if let Some(t) = token {
        if let Ok(mut cache) = app.sessions.lock() {
            cache.remove(&t);
        }
        app.db(move |s| s.revoke_token(&t)).await?;
    }
    Ok((
        [(SET_COOKIE, format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"))],
        Json(serde_json::json!({"ok": true})),
    )
        .into_response())
}

pub async fn me(Extension(caller): Extension<Caller>) -> Json<serde_json::Value> {
    Json(serde_json::json!({"user": caller.user, "role": caller.role, "org_path": caller.org_path}))
}

pub async fn list_users(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<serde_json::Value>> {
    let path = caller.org_path.clone();
    let users = app.db(move |s| s.users_within(&path)).await?;
    Ok(Json(serde_json::json!({"users": users})))
}

#[derive(Deserialize)]
pub struct NewUser {
    pub username: String,
    pub password: String,
    pub role: String,
    pub org_code: String,
}

/// Creates a user in the caller's subtree. Only a group admin makes group admins; an org admin
/// makes users of any other role within their subtree.
pub async fn create_user(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Json(body): Json<NewUser>,
) -> ApiResult<Json<serde_json::Value>> {
    let role = Role::parse(&body.role).ok_or_else(|| {
        ApiError::bad_request(format!("unknown role {:?}: one of {}", body.role, Role::ALL.map(Role::code).join(", ")))
    })?;
    if role == Role::GroupAdmin && caller.role != Role::GroupAdmin {
        return Err(ApiError::forbidden_role(caller.role.code(), "create group admins"));
    }
    if body.password.chars().count() < 8 {
        return Err(ApiError::bad_request("the password needs at least 8 characters"));
    }
    if body.username.trim().is_empty() {
        return Err(ApiError::bad_request("the username is empty"));
    }
    caller.require_org(&app, &body.org_code).await?;
    let password = body.password.clone();
    let hash = app.blocking(move || hash_password(&password)).await?;
    let actor = caller.user.username.clone();
    let user = app.db(move |s| s.create_user(&actor, &body.username, &hash, role.code(), &body.org_code)).await?;
    Ok(Json(serde_json::json!({"user": user})))
}
