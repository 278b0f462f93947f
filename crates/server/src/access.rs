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
    /// A supplier's user (issue 18): the supplier portal and their session only, for their own company.
    Supplier,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::GroupAdmin,
        Role::OrgAdmin,
        Role::DataFiler,
        Role::Reviewer,
        Role::Auditor,
        Role::Employee,
        Role::Supplier,
    ];
    pub fn code(self) -> &'static str {
        match self {
            Role::GroupAdmin => "group_admin",
            Role::OrgAdmin => "org_admin",
            Role::DataFiler => "data_filer",
            Role::Reviewer => "reviewer",
            Role::Auditor => "auditor",
            Role::Employee => "employee",
            Role::Supplier => "supplier",
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
    /// 碳普惠 administration: machine credentials, methodologies, accounts, review, catalogue, orders.
    ManageInclusive,
    /// Apps with machine credentials (`Authorization: Basic` of client id and secret), never a person.
    Machine,
    /// Any logged-in user, suppliers' users included: their own session and profile.
    Session,
    /// Read supply-chain data (suppliers, disclosures, the footprint library, Scope 3): everyone but
    /// employees and suppliers.
    Supply,
    /// Administer supply: register suppliers and their users, secondary data, PACT partners.
    SupplyAdmin,
    /// A supplier's user in the supplier portal: their own company's disclosures only.
    SupplierPortal,
}

impl Perm {
    pub fn allows(self, role: Role) -> bool {
        use Role::*;
        // A supplier's user reaches the supplier portal and their own session, nothing else.
        if role == Supplier {
            return matches!(self, Perm::Public | Perm::Session | Perm::SupplierPortal);
        }
        match self {
            Perm::Public | Perm::Dashboard | Perm::Session => true,
            Perm::Read | Perm::Supply => role != Employee,
            Perm::SupplyAdmin => matches!(role, GroupAdmin | OrgAdmin),
            Perm::SupplierPortal => false,
            Perm::File => matches!(role, GroupAdmin | OrgAdmin | DataFiler),
            Perm::Review => matches!(role, GroupAdmin | OrgAdmin | Reviewer),
            Perm::Analyze => matches!(role, GroupAdmin | OrgAdmin | Reviewer),
            Perm::ManageUsers => matches!(role, GroupAdmin | OrgAdmin),
            Perm::ManageFactors | Perm::ManageReference => role == GroupAdmin,
            Perm::Audit => matches!(role, GroupAdmin | OrgAdmin | Auditor),
            Perm::Trade => matches!(role, GroupAdmin | OrgAdmin),
            Perm::MarketAdmin => role == GroupAdmin,
            Perm::ManageInclusive => matches!(role, GroupAdmin | OrgAdmin),
            Perm::Machine => false,
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
            Perm::ManageInclusive => "administer the carbon inclusive programme",
            Perm::Machine => "post events (apps with machine credentials only)",
            Perm::Session => "use a session",
            Perm::Supply => "read supply-chain data",
            Perm::SupplyAdmin => "administer suppliers",
            Perm::SupplierPortal => "use the supplier portal (suppliers' users only)",
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
    let dropped = app.sessions_dropped.load(std::sync::atomic::Ordering::SeqCst);
    let t = token.clone();
    let (user, expires_at) = app.db(move |s| s.user_by_token(&t)).await?.ok_or_else(ApiError::unauthenticated)?;
    let role =
        Role::parse(&user.role).ok_or_else(|| ApiError::internal(format!("user has unknown role {}", user.role)))?;
    let code = user.org_code.clone();
    let org = app.org(&code).await?.ok_or_else(|| ApiError::internal("user's org is missing"))?;
    let caller = Caller { user, role, org_path: org.path, expires_at };
    if let Ok(mut cache) = app.sessions.lock() {
        if app.sessions_dropped.load(std::sync::atomic::Ordering::SeqCst) != dropped {
            return Ok(caller);
        }
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
    if perm == Perm::Machine {
        let machine = authenticate_client(&app, req.headers()).await?;
        req.extensions_mut().insert(machine);
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

/// An app calling with machine credentials (碳普惠 events): its client and the path of its org.
#[derive(Debug, Clone)]
pub struct MachineCaller {
    pub client: store::inclusive::Client,
    pub org_path: String,
}

/// The machine credentials of a request: `Authorization: Basic base64(client_id:secret)`. A person's
/// bearer token or cookie is not one; a missing or malformed header is `unauthenticated`, wrong
/// credentials `bad_client_credentials` (401 both).
pub async fn authenticate_client(app: &Arc<App>, h: &axum::http::HeaderMap) -> ApiResult<MachineCaller> {
    let missing = || {
        ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "send the app's machine credentials: Authorization: Basic base64(client_id:secret)",
        )
    };
    let value = h.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).ok_or_else(missing)?;
    let encoded = value.strip_prefix("Basic ").ok_or_else(missing)?;
    let decoded = decode_base64(encoded.trim()).ok_or_else(missing)?;
    let text = String::from_utf8(decoded).map_err(|_| missing())?;
    let (id, secret) = text.split_once(':').ok_or_else(missing)?;
    if id.len() > 64 || secret.len() > 256 {
        return Err(missing());
    }
    let (platform, id, secret) = (app.platform.clone(), id.to_string(), secret.to_string());
    let (client, org_path) = app
        .blocking(move || {
            platform::inclusive::authenticate_client(&platform, &id, &secret).map_err(|e| {
                let mut a: ApiError = e.into();
                a.status = axum::http::StatusCode::UNAUTHORIZED;
                a
            })
        })
        .await?;
    Ok(MachineCaller { client, org_path })
}

/// Standard base64 (RFC 4648, with or without padding); `None` when it is not.
pub(crate) fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        acc = (acc << 6) | val(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod base64_tests {
    #[test]
    fn decodes_standard_base64() {
        assert_eq!(super::decode_base64("Y2lfYWJjOnNlY3JldA==").unwrap(), b"ci_abc:secret");
        assert_eq!(super::decode_base64("YQ").unwrap(), b"a");
        assert!(super::decode_base64("a*b").is_none());
    }
}
