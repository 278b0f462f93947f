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
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER, SET_COOKIE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use rand_core::{OsRng, RngCore};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// How long a login lasts.
const TOKEN_HOURS: i64 = 12;
/// The longest password (bytes): longer ones are refused before they are hashed.
pub const PASSWORD_MAX: usize = 1024;
/// The shortest new password (characters).
pub const PASSWORD_MIN: usize = 8;
/// The longest username a login looks up (bytes; new usernames follow `store::users::check_username`).
const LOGIN_USERNAME_MAX: usize = 128;
/// Requests waiting for a hashing worker, per worker, before a login answers 503 `busy`.
pub const HASH_QUEUE_PER_WORKER: usize = 16;

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

/// Password hashing with bounded concurrency and memory: `workers` hashes at a time (one per
/// core), each in one of `workers` reused buffers, and at most `queue` more requests waiting.
pub struct Hashing {
    running: Arc<Semaphore>,
    admitted: Arc<Semaphore>,
    buffers: Arc<Mutex<Vec<Vec<Block>>>>,
    pub workers: usize,
    pub queue: usize,
}

impl Hashing {
    pub fn new(workers: usize) -> Hashing {
        let workers = workers.max(1);
        let queue = workers * HASH_QUEUE_PER_WORKER;
        Hashing {
            running: Arc::new(Semaphore::new(workers)),
            admitted: Arc::new(Semaphore::new(workers + queue)),
            buffers: Default::default(),
            workers,
            queue,
        }
    }

    /// Runs `f` with a hashing buffer on a blocking thread once a worker is free; 503 `busy` when
    /// the queue is full. The permits travel with the work, so a client that goes away does not
    /// let more hashes run than there are workers.
    async fn run<T: Send + 'static>(&self, f: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static) -> AuthResult<T> {
        let admitted = self.admitted.clone().try_acquire_owned().map_err(|_| {
            AuthError::Later(
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    "too many logins are being checked at once: try again in a moment",
                ),
                1,
            )
        })?;
        let running = self.running.clone().acquire_owned().await.map_err(|e| ApiError::internal(e.to_string()))?;
        let buffers = self.buffers.clone();
        tokio::task::spawn_blocking(move || {
            let _permits = (admitted, running);
            let mut buf = buffers.lock().ok().and_then(|mut b| b.pop()).unwrap_or_default();
            let out = f(&mut buf);
            if let Ok(mut b) = buffers.lock() {
                b.push(buf);
            }
            out
        })
        .await
        .map_err(|e| AuthError::Api(ApiError::internal(e.to_string())))
    }

    pub async fn hash(&self, password: String) -> AuthResult<String> {
        self.run(move |buf| hash_with(password.as_bytes(), buf)).await?.map_err(AuthError::Api)
    }

    pub async fn verify(&self, password: String, hash: String) -> AuthResult<bool> {
        self.run(move |buf| verify_with(password.as_bytes(), &hash, buf)).await
    }
}

/// The memory of a hash with `params`: the reusable `buf` (grown to the default cost once), or a
/// buffer of its own for a stored hash with a larger cost (not kept).
fn with_blocks<T>(params: &Params, buf: &mut Vec<Block>, f: impl FnOnce(&mut [Block]) -> T) -> T {
    let need = params.block_count();
    if need <= Params::DEFAULT.block_count() {
        if buf.len() < Params::DEFAULT.block_count() {
            buf.resize(Params::DEFAULT.block_count(), Block::default());
        }
        f(&mut buf[..need])
    } else {
        f(&mut vec![Block::default(); need])
    }
}

fn hash_with(password: &[u8], buf: &mut Vec<Block>) -> ApiResult<String> {
    let err = |e: &dyn std::fmt::Display| ApiError::internal(format!("hashing the password: {e}"));
    let params = Params::DEFAULT;
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buf).map_err(|e| err(&e))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    with_blocks(&params, buf, |blocks| argon.hash_password_into_with_memory(password, salt_bytes, &mut out, blocks))
        .map_err(|e| err(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| err(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| err(&e))?),
    };
    Ok(phc.to_string())
}

fn verify_with(password: &[u8], phc: &str, buf: &mut Vec<Block>) -> bool {
    let Ok(h) = PasswordHash::new(phc) else { return false };
    let (Ok(algorithm), Ok(params)) = (Algorithm::try_from(h.algorithm), Params::try_from(&h)) else {
        return false;
    };
    let version = match h.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let (Some(salt), Some(expected)) = (h.salt, h.hash) else { return false };
    let mut salt_buf = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_buf) else { return false };
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params.clone());
    let done = with_blocks(&params, buf, |blocks| {
        argon.hash_password_into_with_memory(password, salt_bytes, &mut out, blocks)
    });
    // `Output` compares in constant time.
    done.is_ok() && Output::new(&out).is_ok_and(|o| o == expected)
}

/// An argon2id hash of `password` (for the command line and tests; the routes use [`Hashing`]).
pub fn hash_password(password: &str) -> ApiResult<String> {
    hash_with(password.as_bytes(), &mut Vec::new())
}

/// Argon2id hashes of `passwords`, each with its own salt, on up to `threads` threads (each reusing
/// one buffer): e.g. the demo's users, without making the start `passwords.len()` hashes slower.
pub fn hash_passwords(passwords: &[&str], threads: usize) -> ApiResult<Vec<String>> {
    let per = passwords.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = passwords
            .chunks(per)
            .map(|chunk| {
                scope.spawn(move || {
                    let mut buf = Vec::new();
                    chunk.iter().map(|p| hash_with(p.as_bytes(), &mut buf)).collect::<ApiResult<Vec<_>>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(passwords.len());
        for w in workers {
            out.extend(w.join().map_err(|_| ApiError::internal("a hashing thread panicked"))??);
        }
        Ok(out)
    })
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    verify_with(password.as_bytes(), hash, &mut Vec::new())
}

/// A hash no password matches in practice: verified for an unknown username, so that the time
/// taken does not tell which usernames exist.
fn dummy_hash() -> String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not a password of anyone").unwrap_or_default()).clone()
}

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
    let bytes = axum::body::to_bytes(req.into_body(), usize::MAX).await.map_err(crate::transport::body_read_error)?;
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
fn check_new_password(password: &str) -> ApiResult<()> {
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
    let hash = user.as_ref().map_or_else(dummy_hash, |u| u.password_hash.clone());
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

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordHasher;
    use argon2::PasswordVerifier;

    #[test]
    fn hashes_are_standard_phc_strings_both_ways() {
        // Hashes stored before (argon2's own hasher) verify with the reused buffers, and ours verify
        // with argon2's own verifier.
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default().hash_password(b"old password", &salt).unwrap().to_string();
        let mut buf = Vec::new();
        assert!(verify_with(b"old password", &theirs, &mut buf));
        assert!(!verify_with(b"old passwore", &theirs, &mut buf));
        let ours = hash_with(b"new password", &mut buf).unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{ours}");
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"new password", &parsed).is_ok());
        assert_ne!(ours, hash_with(b"new password", &mut buf).unwrap(), "a salt of its own each time");
        // A stored hash with a larger cost gets memory of its own; the reused buffer stays the default size.
        let big = Params::new(4 * Params::DEFAULT_M_COST, 1, 1, None).unwrap();
        let costly = Argon2::new(Algorithm::Argon2id, Version::V0x13, big).hash_password(b"pw", &salt).unwrap();
        assert!(verify_with(b"pw", &costly.to_string(), &mut buf));
        assert_eq!(buf.len(), Params::DEFAULT.block_count());
        assert!(!verify_with(b"pw", "not a hash", &mut buf));
        let many = hash_passwords(&["a"; 5], 2).unwrap();
        assert_eq!(many.iter().collect::<std::collections::HashSet<_>>().len(), 5);
        assert!(many.iter().all(|h| verify_password("a", h)));
    }
}
