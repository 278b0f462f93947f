//! Access control, in one place. Every route is registered with the permission it needs and the
//! kind of resource its path names (see `routes.rs`); [`guard`] runs before every handler: it
//! authenticates the caller (bearer token or session cookie), checks the role's permission, and
//! checks that the org, filing or snapshot the path names lies within the caller's org subtree.
//! Handlers receive the [`Caller`]; list routes filter by [`Caller::org_path`], and org codes that
//! arrive in a request body go through [`Caller::require_org`] — also defined only here.

use crate::error::{ApiError, ApiResult};
use crate::App;
use axum::extract::{RawPathParams, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;
use std::sync::Arc;
use store::users::User;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    GroupAdmin,
    OrgAdmin,
    DataFiler,
    Reviewer,
    Auditor,
    Employee,
}

impl Role {
    pub const ALL: [Role; 6] =
        [Role::GroupAdmin, Role::OrgAdmin, Role::DataFiler, Role::Reviewer, Role::Auditor, Role::Employee];
    pub fn code(self) -> &'static str {
        match self {
            Role::GroupAdmin => "group_admin",
            Role::OrgAdmin => "org_admin",
            Role::DataFiler => "data_filer",
            Role::Reviewer => "reviewer",
            Role::Auditor => "auditor",
            Role::Employee => "employee",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.code() == s)
    }
}

/// What a route does, which decides who may call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perm {
    /// No login needed (login, health, the API document).
    Public,
    /// Any logged-in user: dashboard figures, own profile.
    Dashboard,
    /// Read filings, snapshots, quality, reference data: everyone but employees.
    Read,
    /// Create filings, upload, submit, restate.
    File,
    /// Approve or return filings.
    Review,
    /// Run inventories, recompute snapshots.
    Analyze,
    /// Create users.
    ManageUsers,
    /// Add or correct factor sets.
    ManageFactors,
    /// Add or update orgs and facilities.
    ManageReference,
    /// Read the audit log.
    Audit,
    /// Trade on the internal carbon market with one's own org's account.
    Trade,
    /// Administer the internal carbon market: plans, allocation, budgets, bands, corrections.
    MarketAdmin,
}

impl Perm {
    pub fn allows(self, role: Role) -> bool {
        use Role::*;
        match self {
            Perm::Public | Perm::Dashboard => true,
            Perm::Read => role != Employee,
            Perm::File => matches!(role, GroupAdmin | OrgAdmin | DataFiler),
            Perm::Review => matches!(role, GroupAdmin | OrgAdmin | Reviewer),
            Perm::Analyze => matches!(role, GroupAdmin | OrgAdmin | Reviewer),
            Perm::ManageUsers => matches!(role, GroupAdmin | OrgAdmin),
            Perm::ManageFactors | Perm::ManageReference => role == GroupAdmin,
            Perm::Audit => matches!(role, GroupAdmin | OrgAdmin | Auditor),
            Perm::Trade => matches!(role, GroupAdmin | OrgAdmin),
            Perm::MarketAdmin => role == GroupAdmin,
        }
    }
    pub fn describe(self) -> &'static str {
        match self {
            Perm::Public => "call this",
            Perm::Dashboard => "read dashboards",
            Perm::Read => "read platform data",
            Perm::File => "file data",
            Perm::Review => "review filings",
            Perm::Analyze => "run inventories",
            Perm::ManageUsers => "manage users",
            Perm::ManageFactors => "change factor sets",
            Perm::ManageReference => "change orgs and facilities",
            Perm::Audit => "read the audit log",
            Perm::Trade => "trade on the internal carbon market",
            Perm::MarketAdmin => "administer the internal carbon market",
        }
    }
    /// Roles allowed, for the API document.
    pub fn roles(self) -> Vec<&'static str> {
        Role::ALL.into_iter().filter(|r| self.allows(*r)).map(Role::code).collect()
    }
}

/// What the `{code}` or `{id}` segment of a route's path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    None,
    Org,
    Filing,
    Snapshot,
}

/// The authenticated user making a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub role: Role,
    /// The path of the caller's org: everything they may see lies at or below it.
    pub org_path: String,
    /// When the caller's token expires (RFC 3339).
    pub expires_at: String,
}

impl Caller {
    /// The caller as the platform's services see them (name, org, subtree).
    pub fn actor(&self) -> platform::Actor {
        platform::Actor {
            username: self.user.username.clone(),
            org_code: self.user.org_code.clone(),
            org_path: self.org_path.clone(),
        }
    }
    pub fn within(&self, path: &str) -> bool {
        path.starts_with(&self.org_path)
    }
    /// The org named by a request (body or query), if it is within the caller's subtree.
    pub async fn require_org(&self, app: &App, code: &str) -> ApiResult<store::reference::Org> {
        let c = code.to_string();
        let org = app.org(&c).await?.ok_or_else(|| ApiError::not_found(format!("no org {code:?}")))?;
        if !self.within(&org.path) {
            return Err(ApiError::out_of_scope(&format!("org {code}")));
        }
        Ok(org)
    }
    pub fn require(&self, perm: Perm) -> ApiResult<()> {
        if perm.allows(self.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden_role(self.role.code(), perm.describe()))
        }
    }
}

pub const SESSION_COOKIE: &str = "dualcarbon_session";

/// The token of a request: `Authorization: Bearer T`, else the session cookie.
pub(crate) fn token_of(req: &Request) -> Option<String> {
    let h = req.headers();
    if h.contains_key(axum::http::header::AUTHORIZATION) {
        return bearer_token(h);
    }
    session_cookie(h)
}

/// The token of an `Authorization: Bearer T` header.
pub(crate) fn bearer_token(h: &axum::http::HeaderMap) -> Option<String> {
    let t = h.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok())?;
    t.strip_prefix("Bearer ").map(|t| t.trim().to_string())
}

/// The token of the session cookie.
pub fn session_cookie(h: &axum::http::HeaderMap) -> Option<String> {
    let cookies = h.get_all(axum::http::header::COOKIE);
    for c in cookies.iter().filter_map(|v| v.to_str().ok()) {
        for part in c.split(';') {
            if let Some((k, v)) = part.trim().split_once('=') {
                if k == SESSION_COOKIE {
                    return Some(v.to_string());
                }
            }
        }
    }
    None
}

pub async fn authenticate(app: &App, token: Option<String>) -> ApiResult<Caller> {
    let token = token.ok_or_else(ApiError::unauthenticated)?;
    if let Ok(cache) = app.sessions.lock() {
        if let Some((at, caller)) = cache.get(&token) {
            if at.elapsed().as_secs() < crate::CACHE_SECONDS && caller.expires_at > store::now() {
                return Ok(caller.clone());
            }
        }
    }
    let t = token.clone();
    let (user, expires_at) = app.db(move |s| s.user_by_token(&t)).await?.ok_or_else(ApiError::unauthenticated)?;
    let role =
        Role::parse(&user.role).ok_or_else(|| ApiError::internal(format!("user has unknown role {}", user.role)))?;
    let code = user.org_code.clone();
    let org = app.org(&code).await?.ok_or_else(|| ApiError::internal("user's org is missing"))?;
    let caller = Caller { user, role, org_path: org.path, expires_at };
    if let Ok(mut cache) = app.sessions.lock() {
        if cache.len() > 100_000 {
            cache.clear();
        }
        cache.insert(token, (std::time::Instant::now(), caller.clone()));
    }
    Ok(caller)
}

/// Runs before every route (see `routes.rs`): authentication, role permission, and the subtree
/// check of the org, filing or snapshot named in the path.
pub async fn guard(
    State((app, perm, target)): State<(Arc<App>, Perm, Target)>,
    params: RawPathParams,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if perm == Perm::Public {
        return Ok(next.run(req).await);
    }
    let caller = authenticate(&app, token_of(&req)).await?;
    caller.require(perm)?;
    let param = params.iter().next().map(|(_, v)| v.to_string());
    match (target, param) {
        (Target::None, _) | (_, None) => {}
        (Target::Org, Some(code)) => {
            let org = caller.require_org(&app, &code).await?;
            req.extensions_mut().insert(org);
        }
        (Target::Filing, Some(id)) => {
            let id: i64 = id.parse().map_err(|_| ApiError::bad_request(format!("filing id {id:?} is not a number")))?;
            let f = app.db(move |s| s.filing(id)).await?;
            if !caller.within(&f.org_path) {
                return Err(ApiError::out_of_scope(&format!("filing {id}")));
            }
        }
        (Target::Snapshot, Some(id)) => {
            let id: i64 =
                id.parse().map_err(|_| ApiError::bad_request(format!("snapshot id {id:?} is not a number")))?;
            let snap_org = app.db(move |s| s.snapshot_org(id)).await?;
            let org = app.org(&snap_org).await?.ok_or_else(|| ApiError::internal("snapshot org missing"))?;
            if !caller.within(&org.path) {
                return Err(ApiError::out_of_scope(&format!("snapshot {id}")));
            }
        }
    }
    req.extensions_mut().insert(caller);
    Ok(next.run(req).await)
}
