//! Login (argon2id password hashes; bearer tokens for the API and the same token as an HttpOnly
//! session cookie for the console), logout, password change, the caller's profile, and user
//! administration (create, disable, enable).
//!
//! Every password hash and verification goes through [`Hashing`]: at most one per core at a time,
//! each with a memory buffer that is reused (argon2id takes 19 MiB a hash), and a bounded queue
//! beyond which a login answers 503 `busy`. Wrong passwords are counted in the store per username
//! and per client address ([`store::users::LoginPolicy`]); a locked login answers 429 `locked_out`.

use crate::access::{Caller, Role, SESSION_COOKIE};
use crate::error::{ApiError, ApiResult};
use crate::App;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER, SET_COOKIE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
pub use platform::passwords::{hash_password, hash_passwords, verify_password, Hashing, HASH_QUEUE_PER_WORKER};
use rand_core::{OsRng, RngCore};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;

/// How long a login lasts.
const TOKEN_HOURS: i64 = 12;
/// The longest password (bytes): longer ones are refused before they are hashed.
pub const PASSWORD_MAX: usize = 1024;
/// The shortest new password (characters).
pub const PASSWORD_MIN: usize = 8;
/// The longest username a login looks up (bytes; new usernames follow `store::users::check_username`).
const LOGIN_USERNAME_MAX: usize = 128;

/// An error of the auth routes: an [`ApiError`], possibly with a `Retry-After` (seconds).
pub enum AuthError {
    Api(ApiError),
    Later(ApiError, u64),
}

impl From<ApiError> for AuthError {
    fn from(e: ApiError) -> Self {
        AuthError::Api(e)
    }
}

/// A platform error; a full hashing queue (`busy`) asks the client to come back in a second.
impl From<platform::Error> for AuthError {
    fn from(e: platform::Error) -> Self {
        if e.code == platform::passwords::BUSY {
            AuthError::Later(e.into(), 1)
        } else {
            AuthError::Api(e.into())
        }
    }
}

impl From<store::StoreError> for AuthError {
    fn from(e: store::StoreError) -> Self {
        AuthError::Api(e.into())
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        match self {
            AuthError::Api(e) => e.into_response(),
            AuthError::Later(e, secs) => {
                let mut r = e.into_response();
                r.headers_mut().insert(RETRY_AFTER, secs.into());
                r
            }
        }
    }
}

type AuthResult<T> = Result<T, AuthError>;

fn new_token() -> String {
    let mut b = [0u8; 32];
    OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs() as i64
}

/// The client's IP address, when the server knows it (`serve` records every connection's peer).
fn client_address(req: &Request) -> Option<String> {
    req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string())
}

/// A JSON body of at most `limit` bytes: a larger declared length is refused before reading, and
/// reading stops at the limit.
/// The JSON body of a credentials route; its size is bounded by the route's limit
/// (`transport::CREDENTIALS_BODY_BYTES`), so nothing large is read before a hash.
async fn credentials_json<T: DeserializeOwned>(req: Request) -> ApiResult<T> {
    let json = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/json"));
    if !json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with Content-Type: application/json",
        ));
    }
    let bytes = axum::body::to_bytes(req.into_body(), usize::MAX).await.map_err(crate::error::body_read_error)?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("the body is not the expected JSON: {e}")))
}

fn too_long(what: &str, max: usize) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "too_long", format!("the {what} is longer than {max} bytes"))
}

fn bad_credentials() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "bad_credentials", "unknown user or wrong password")
}

fn locked_out(wait: i64) -> AuthError {
    let minutes = (wait + 59) / 60;
    AuthError::Later(
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "locked_out",
            format!(
                "too many wrong passwords: logins for this user or address are locked for {minutes} more minute(s)"
            ),
        ),
        wait.max(1) as u64,
    )
}

/// The rule for new passwords: [`PASSWORD_MIN`] characters to [`PASSWORD_MAX`] bytes.
pub(crate) fn check_new_password(password: &str) -> ApiResult<()> {
    if password.chars().count() < PASSWORD_MIN || password.len() > PASSWORD_MAX {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "weak_password",
            format!("a password has at least {PASSWORD_MIN} characters and at most {PASSWORD_MAX} bytes"),
        ));
    }
    Ok(())
}

/// Drops cached logins of `user_id` (all but `keep`), so that revoked tokens are refused at once
/// by this instance.
fn forget_sessions(app: &App, user_id: i64, keep: Option<&str>) {
    if let Ok(mut cache) = app.sessions.lock() {
        cache.retain(|token, (_, caller)| caller.user.id != user_id || Some(token.as_str()) == keep);
    }
}

#[derive(Deserialize)]
pub struct Login {
    pub username: String,
    pub password: String,
}

/// Logs in: returns a bearer token and sets the session cookie. Reads at most
/// `transport::CREDENTIALS_BODY_BYTES`; refused with 429 while the username or the client address is locked.
pub async fn login(State(app): State<Arc<App>>, req: Request) -> AuthResult<Response> {
    let address = client_address(&req);
    let body: Login = credentials_json(req).await?;
    if body.username.len() > LOGIN_USERNAME_MAX {
        return Err(too_long("username", LOGIN_USERNAME_MAX).into());
    }
    if body.password.len() > PASSWORD_MAX {
        return Err(too_long("password", PASSWORD_MAX).into());
    }
    let now = unix_now();
    let (name, addr) = (body.username.clone(), address.clone());
    if let Some(wait) = app.db(move |s| s.login_locked(&name, addr.as_deref(), now)).await? {
        return Err(locked_out(wait));
    }
    let name = body.username.clone();
    let user = app.db(move |s| s.user_by_name(&name)).await?;
    let hash = user.as_ref().map_or_else(platform::passwords::dummy_hash, |u| u.password_hash.clone());
    let ok = app.hashing.verify(body.password, hash).await? && user.is_some();
    let Some(user) = user.filter(|_| ok) else {
        let (policy, name) = (app.login_policy, body.username.clone());
        app.db(move |s| s.login_failed(&policy, &name, address.as_deref(), now)).await?;
        return Err(bad_credentials().into());
    };
    if user.disabled {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "account_disabled",
            "this account is disabled: ask an administrator of your organisation",
        )
        .into());
    }
    let name = user.username.clone();
    app.db(move |s| s.login_succeeded(&name)).await?;
    let token = new_token();
    let expires = store::format_time(unix_now() + TOKEN_HOURS * 3600, 0);
    let (t, id, e) = (token.clone(), user.id, expires.clone());
    app.db(move |s| s.add_token(id, &t, &e)).await?;
    let cookie = format!("{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}", TOKEN_HOURS * 3600);
    Ok(([(SET_COOKIE, cookie)], Json(serde_json::json!({"token": token, "expires_at": expires, "user": user})))
        .into_response())
}

/// Logs out: revokes every credential the request carries (bearer token and session cookie) in the
/// store and in this instance's session cache, and clears the cookie.
pub async fn logout(State(app): State<Arc<App>>, req: Request) -> ApiResult<Response> {
    let mut tokens = Vec::new();
    tokens.extend(crate::access::bearer_token(req.headers()));
    tokens.extend(crate::access::session_cookie(req.headers()));
    tokens.dedup();
    for t in tokens {
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

#[derive(Deserialize)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// Changes the caller's password: needs the current one (wrong ones count towards the lockout),
/// revokes the caller's other tokens, audited `user.password`.
pub async fn change_password(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    req: Request,
) -> AuthResult<Json<serde_json::Value>> {
    let own_token = crate::access::token_of(&req);
    let address = client_address(&req);
    let body: PasswordChange = credentials_json(req).await?;
    if body.current_password.len() > PASSWORD_MAX {
        return Err(too_long("password", PASSWORD_MAX).into());
    }
    check_new_password(&body.new_password)?;
    if body.new_password == body.current_password {
        return Err(
            ApiError::new(StatusCode::BAD_REQUEST, "weak_password", "the new password is the current one").into()
        );
    }
    let now = unix_now();
    let (name, addr) = (caller.user.username.clone(), address.clone());
    if let Some(wait) = app.db(move |s| s.login_locked(&name, addr.as_deref(), now)).await? {
        return Err(locked_out(wait));
    }
    let id = caller.user.id;
    let current = app.db(move |s| s.user_by_id(id)).await?.ok_or_else(ApiError::unauthenticated)?;
    if !app.hashing.verify(body.current_password, current.password_hash).await? {
        let (policy, name) = (app.login_policy, caller.user.username.clone());
        app.db(move |s| s.login_failed(&policy, &name, address.as_deref(), now)).await?;
        return Err(ApiError::new(StatusCode::FORBIDDEN, "wrong_password", "the current password is wrong").into());
    }
    let hash = app.hashing.hash(body.new_password).await?;
    let (actor, keep) = (caller.user.username.clone(), own_token.clone());
    let revoked = app.db(move |s| s.set_password(&actor, id, &hash, keep.as_deref())).await?;
    forget_sessions(&app, id, own_token.as_deref());
    Ok(Json(serde_json::json!({"ok": true, "tokens_revoked": revoked})))
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
    req: Request,
) -> AuthResult<Json<serde_json::Value>> {
    let body: NewUser = credentials_json(req).await?;
    let role = Role::parse(&body.role).ok_or_else(|| {
        ApiError::bad_request(format!("unknown role {:?}: one of {}", body.role, Role::ALL.map(Role::code).join(", ")))
    })?;
    if role == Role::Supplier {
        return Err(ApiError::bad_request(
            "a supplier's user is made under its supplier: POST /api/v1/supply/suppliers/{id}/users",
        )
        .into());
    }
    if role == Role::GroupAdmin && caller.role != Role::GroupAdmin {
        return Err(ApiError::forbidden_role(caller.role.code(), "create group admins").into());
    }
    store::users::check_username(&body.username)
        .map_err(|m| ApiError::new(StatusCode::BAD_REQUEST, "invalid_username", m))?;
    check_new_password(&body.password)?;
    caller.require_org(&app, &body.org_code).await?;
    let hash = app.hashing.hash(body.password).await?;
    let actor = caller.user.username.clone();
    let user = app.db(move |s| s.create_user(&actor, &body.username, &hash, role.code(), &body.org_code)).await?;
    Ok(Json(serde_json::json!({"user": user})))
}

/// The user `username` if the caller may disable or enable them: within the caller's subtree (an
/// unknown user looks the same as one outside it, except to the root org's admins), not a group
/// admin unless the caller is one, and not the caller.
async fn managed_user(app: &App, caller: &Caller, username: String) -> ApiResult<store::users::User> {
    let name = username.clone();
    let user = app.db(move |s| s.user_by_name(&name)).await?;
    let outside = || ApiError::out_of_scope(&format!("user {username:?}"));
    let Some(user) = user else {
        return Err(if caller.org_path.matches('/').count() <= 2 {
            ApiError::not_found(format!("no user {username:?}"))
        } else {
            outside()
        });
    };
    let org = app.org(&user.org_code).await?.ok_or_else(|| ApiError::internal("user's org is missing"))?;
    if !caller.within(&org.path) {
        return Err(outside());
    }
    if user.role == Role::GroupAdmin.code() && caller.role != Role::GroupAdmin {
        return Err(ApiError::forbidden_role(caller.role.code(), "disable or enable group admins"));
    }
    if user.id == caller.user.id {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "own_account",
            "you cannot disable or enable your own account",
        ));
    }
    Ok(user)
}

async fn set_disabled(
    app: Arc<App>,
    caller: Caller,
    username: String,
    disabled: bool,
) -> ApiResult<Json<serde_json::Value>> {
    let user = managed_user(&app, &caller, username).await?;
    let (actor, id) = (caller.user.username.clone(), user.id);
    let user = app.db(move |s| s.set_user_disabled(&actor, id, disabled)).await?;
    forget_sessions(&app, id, None);
    Ok(Json(serde_json::json!({"user": user})))
}

/// Disables a user of the caller's subtree: their login is refused and every token of theirs is
/// revoked at once; audited `user.disable`.
pub async fn disable_user(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(username): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    set_disabled(app, caller, username, true).await
}

/// Enables a disabled user again (and lifts a lockout of the username); audited `user.enable`.
pub async fn enable_user(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(username): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    set_disabled(app, caller, username, false).await
}
