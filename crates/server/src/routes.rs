//! The route table: every API route with its method, path, permission, the resource its path names
//! (checked against the caller's subtree by `access::guard`) and a summary. The same table builds
//! the axum router and the OpenAPI document, so the document always matches the real routes. To
//! add routes (e.g. the web console), add lines here or merge another router in `crate::router`.

use crate::access::{guard, Caller, Perm, Target};
use crate::error::{ApiError, ApiResult};
use crate::inclusive_api as inclusive;
use crate::openapi::RouteSpec;
use crate::supply_api as supply;
use crate::transport::{limit_body, BodyKind};
use crate::{
    auth, console_api, filing, indicators_api, inventory, market_api, monitoring, quality, reference, reports_api,
    scenario_api, site_api, site_saving, App,
};
use axum::extract::{Query, State};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use std::sync::Arc;

macro_rules! routes {
    ($( $method:ident $path:literal => $handler:path, $perm:ident, $target:ident, $body:literal -> $returns:literal, $summary:literal; )*) => {
        pub const ROUTES: &[RouteSpec] = &[ $( RouteSpec {
            method: stringify!($method),
            path: $path,
            perm: Perm::$perm,
            target: Target::$target,
            summary: $summary,
            body: $body,
            returns: $returns,
        } ),* ];

        /// The API router: each route wrapped in the access guard with its permission and target,
        /// and in the body limit of its kind.
        pub fn api_router(app: Arc<App>) -> Router {
            let mut r: Router<Arc<App>> = Router::new();
            $(
                r = r.route(
                    $path,
                    axum::routing::$method($handler)
                        .route_layer(axum::middleware::from_fn_with_state(
                            (app.clone(), Perm::$perm, Target::$target),
                            guard,
                        ))
                        .route_layer(axum::middleware::from_fn_with_state(
                            (app.clone(), BodyKind::of(Perm::$perm, $path, $body)),
                            limit_body,
                        )),
                );
            )*
            // Every route's limit is its own (`limit_body`, outermost so that it runs first).
            r.layer(axum::extract::DefaultBodyLimit::disable()).with_state(app)
        }
    };
}

routes! {
    get "/api/v1/health" => health, Public, None, "" -> "json", "Liveness and the database backend";
    get "/api/v1/openapi.json" => openapi, Public, None, "" -> "json", "This API's OpenAPI 3 document";
    post "/api/v1/auth/login" => auth::login, Public, None, "json" -> "json", "Log in with username and password: a bearer token and the session cookie";
    post "/api/v1/auth/logout" => auth::logout, Public, None, "" -> "json", "Revoke the credentials the request carries (bearer token and session cookie) and clear the cookie";
    post "/api/v1/auth/password" => auth::change_password, Session, None, "json" -> "json", "Change the caller's password ({current_password, new_password}); the caller's other tokens are revoked";
    get "/api/v1/me" => auth::me, Session, None, "" -> "json", "The caller, their role and org";
    get "/api/v1/users" => auth::list_users, ManageUsers, None, "" -> "json", "Users within the caller's subtree";
    post "/api/v1/users" => auth::create_user, ManageUsers, None, "json" -> "json", "Create a user (username, password, role, org_code) in the caller's subtree";
    post "/api/v1/users/{username}/disable" => auth::disable_user, ManageUsers, None, "" -> "json", "Disable a user of the caller's subtree (not a group admin unless the caller is one, not oneself): login refused, tokens revoked at once";
    post "/api/v1/users/{username}/enable" => auth::enable_user, ManageUsers, None, "" -> "json", "Enable a disabled user again (their lockout is lifted too)";
    get "/api/v1/orgs" => list_orgs, Dashboard, None, "" -> "json", "Orgs within the caller's subtree";
    get "/api/v1/orgs/{code}/facilities" => list_facilities, Read, Org, "" -> "json", "Facilities of an org's subtree";
    post "/api/v1/reference/orgs" => reference::put_orgs, ManageReference, None, "csv" -> "json", "Add or update the org tree from an orgs.csv body";
    post "/api/v1/reference/facilities" => reference::put_facilities, ManageReference, None, "csv" -> "json", "Add or update facilities from a facilities.csv body";
    get "/api/v1/meters" => monitoring::list_meters, ManageReference, None, "" -> "json", "The registered meters of facilities within the caller's subtree";
    post "/api/v1/meters" => monitoring::add_meters, ManageReference, None, "csv" -> "json", "Add meters or change meters by code from meters.csv rows; checked by the registry's rules, audited; monitoring follows without a restart";
    get "/api/v1/orgs/{code}/dashboard" => inventory::dashboard, Dashboard, Org, "" -> "json", "Headline figures of an org (?year=) from the newest snapshot covering it";
    get "/api/v1/orgs/{code}/quality" => quality::quality, Read, Org, "" -> "json", "Data quality per org and month (?year=): completeness, outliers, range, quarantine, score";
    get "/api/v1/filings" => filing::list, Read, None, "" -> "json", "Filings within the caller's subtree (?period=YYYY-MM)";
    post "/api/v1/filings" => filing::create, File, None, "json" -> "json", "Open a monthly filing (org_code, period) as a draft";
    get "/api/v1/filings/{id}" => filing::get, Read, Filing, "" -> "json", "A filing with its row and quarantine counts and uploads";
    get "/api/v1/filings/{id}/template.csv" => filing::template_csv, Read, Filing, "" -> "csv", "The filing's CSV template: one line per facility";
    get "/api/v1/filings/{id}/template.xlsx" => filing::template_xlsx, Read, Filing, "" -> "xlsx", "The same template as an XLSX workbook";
    post "/api/v1/filings/{id}/upload" => filing::upload, File, Filing, "csv_or_xlsx" -> "json", "Upload a CSV or XLSX file: accepted rows, and every rejected row with its reasons";
    get "/api/v1/filings/{id}/rows" => filing::rows, Read, Filing, "" -> "json", "The filing's accepted rows (?offset=&limit=)";
    get "/api/v1/filings/{id}/replaced" => filing::replaced, Read, Filing, "" -> "json", "Values that later uploads replaced in the draft, with the replacing upload";
    get "/api/v1/filings/{id}/quarantine.csv" => filing::quarantine_csv, Read, Filing, "" -> "csv", "Rejected rows with reasons, to fix and upload again";
    post "/api/v1/filings/{id}/submit" => filing::submit, File, Filing, "" -> "json", "Submit a draft or returned filing for review";
    post "/api/v1/filings/{id}/approve" => filing::approve, Review, Filing, "" -> "json", "Approve a submitted filing (it is locked)";
    post "/api/v1/filings/{id}/return" => filing::return_filing, Review, Filing, "json" -> "json", "Return a submitted filing with a comment";
    post "/api/v1/filings/{id}/restate" => filing::restate, File, Filing, "json" -> "json", "Restate an approved filing: a new draft version with a reason";
    post "/api/v1/inventories" => inventory::run, Analyze, None, "json" -> "json", "Run an inventory (org_code, year, options) into a new snapshot";
    get "/api/v1/snapshots" => inventory::list, Read, None, "" -> "json", "Snapshots within the caller's subtree";
    get "/api/v1/snapshots/affected" => inventory::affected, Read, None, "" -> "json", "Current snapshots whose figures change with the current factor sets";
    get "/api/v1/snapshots/{id}" => inventory::get, Read, Snapshot, "" -> "json", "A snapshot: inputs (filing and factor-set versions, library version) and result";
    post "/api/v1/snapshots/{id}/rerun" => inventory::rerun, Read, Snapshot, "" -> "json", "Compute a snapshot again from its recorded inputs and compare";
    get "/api/v1/snapshots/{id}/explain" => inventory::explain, Read, Snapshot, "" -> "json", "Records × factors behind a figure (?org=&scope=1|2|3|energy&limit=)";
    post "/api/v1/snapshots/{id}/recompute" => inventory::recompute, Analyze, Snapshot, "json" -> "json", "Recompute with the current factor sets as a new version; differences line by line";
    get "/api/v1/snapshots/approvals" => market_api::approvals, Read, None, "" -> "json", "Every approved (verified) snapshot, with who approved it and when";
    post "/api/v1/snapshots/{id}/approve" => market_api::approve_snapshot, Review, Snapshot, "json" -> "json", "Approve (verify) a snapshot once ({note}): what the internal market's allocations and obligations read";
    get "/api/v1/market" => market_api::overview, Read, None, "" -> "json", "The internal carbon market: per vintage best bid and ask, depth, last price, recent trades, rules";
    get "/api/v1/market/account" => market_api::account, Read, None, "" -> "json", "An account (the caller's org, or ?org= of the caller's subtree): balances by asset, open orders, transfers, history (?limit=)";
    post "/api/v1/market/orders" => market_api::place, Trade, None, "json" -> "json", "Place an order on the caller's org's account ({request_id, vintage, side, type: limit|market, quantity_kg, price_fen | max_cost_fen})";
    post "/api/v1/market/orders/{id}/cancel" => market_api::cancel, Trade, None, "json" -> "json", "Cancel one of the caller's org's open orders ({request_id}); its reservation is released";
    post "/api/v1/market/transfers" => market_api::propose, Trade, None, "json" -> "json", "Propose a bilateral transfer from the caller's org ({request_id, buyer, vintage, quantity_kg, price_fen}); the allowances are held";
    post "/api/v1/market/transfers/{id}/confirm" => market_api::confirm, Trade, None, "json" -> "json", "The buyer confirms a transfer ({request_id}): allowances and payment move together";
    post "/api/v1/market/transfers/{id}/withdraw" => market_api::withdraw, Trade, None, "json" -> "json", "Either side withdraws a transfer before confirmation ({request_id})";
    get "/api/v1/market/plans" => market_api::plans, Read, None, "" -> "json", "Every version of every period's plan file";
    post "/api/v1/market/plans" => market_api::add_plan, MarketAdmin, None, "json" -> "json", "A new version of a period's plan file ({year, toml}), checked: every problem with its field";
    get "/api/v1/market/plans/{year}" => market_api::plan, Read, None, "" -> "json", "A period's plan file (?version=, else the newest)";
    post "/api/v1/market/periods/{year}/allocate" => market_api::allocate, MarketAdmin, None, "json" -> "json", "Allocate a period ({basis: pre|final, snapshots}) from its plan and approved snapshots; resumable";
    get "/api/v1/market/periods/{year}/allocations" => market_api::allocations, Read, None, "" -> "json", "A period's allocations, each with its explanation (inputs and sources, formula, result)";
    get "/api/v1/market/periods/{year}/compliance" => market_api::compliance, Read, None, "" -> "json", "A period's compliance: obligations, surrendered, offsets, borrowed, shortfall, penalty, make-good, non-compliance list";
    post "/api/v1/market/periods/{year}/surrender" => market_api::surrender, Trade, None, "json" -> "json", "Surrender towards the period's obligation ({request_id, org}: the caller's org, or any for group admins)";
    post "/api/v1/market/periods/{year}/settle" => market_api::settle, MarketAdmin, None, "" -> "json", "After the deadline: each short subsidiary pays its penalty from its budget, each compliant one with allowances left receives its reward; once";
    post "/api/v1/market/periods/{year}/borrow" => market_api::borrow, Trade, None, "json" -> "json", "Borrow from the next period's allocation by the plan's rule ({request_id, kg, org})";
    post "/api/v1/market/budget" => market_api::fund, MarketAdmin, None, "json" -> "json", "Grant a subsidiary internal budget to trade with ({request_id, org, fen})";
    post "/api/v1/market/offsets" => market_api::offsets, MarketAdmin, None, "json" -> "json", "Enter offset credits into a subsidiary's account ({request_id, org, kind: ccer|green_certificate|internal_project, vintage, kg, reference, inclusive_credits?: 碳普惠 credit ids claimed as this offset})";
    post "/api/v1/market/corrections" => market_api::correct, MarketAdmin, None, "json" -> "json", "Reverse a journal entry ({request_id, entry}); retirements are not reversible";
    post "/api/v1/market/config" => market_api::configure, MarketAdmin, None, "json" -> "json", "Trading windows, position limit, tick and lot of new vintages ({request_id, config})";
    post "/api/v1/market/vintages/{vintage}/band" => market_api::band, MarketAdmin, None, "json" -> "json", "A vintage's daily price band ({request_id, low_fen, high_fen}; neither lifts it)";
    get "/api/v1/market/journal" => market_api::journal, Audit, None, "" -> "json", "The market registry's journal, newest first (?before=SEQ&limit=)";
    get "/api/v1/reports/templates" => reports_api::templates, Read, None, "" -> "json", "The report templates (inventory, capital-market, government), languages (zh, en) and formats (pdf, xlsx, csv)";
    post "/api/v1/reports" => reports_api::start, Read, None, "json" -> "json", "Make a report ({snapshot, template, lang, format}) from an approved snapshot as a job (202; progress in /api/v1/console/jobs); unknown template 404 unknown_template, not approved 409 snapshot_not_approved, months without records 422 missing_months (in the job)";
    get "/api/v1/reports/jobs/{id}/file" => reports_api::file, Read, None, "" -> "file", "The file a finished report job made (its owner only): PDF, XLSX or CSV with its name; X-Report-Hash is the report's hash";
    get "/api/v1/reports" => reports_api::stored, Read, None, "" -> "json", "The reports made and stored for the orgs within the caller's subtree, newest first (?limit=): id, template (kind), snapshot, language, format, file name, size, SHA-256 of the file, the report's hash, who made it and when, download link";
    get "/api/v1/reports/{id}/file" => reports_api::stored_file, Read, None, "" -> "file", "A stored report's file (any instance, after a restart); 403 out_of_scope outside the caller's subtree; X-Report-Hash the report's hash, X-Content-SHA256 the file's";
    get "/api/v1/factor-sets" => inventory::factor_sets, Read, None, "" -> "json", "The current user factor sets";
    post "/api/v1/factor-sets" => inventory::add_factor_set, ManageFactors, None, "json" -> "json", "Add a factor set or a new version of one (toml, reason); lists affected snapshots";
    get "/api/v1/audit" => audit_log, Audit, None, "" -> "json", "Audit entries of the caller's subtree (?after=SEQ&limit=; ?order=desc&before=SEQ newest first; filters ?actor=&action=&org=&from=&to= days YYYY-MM-DD in China Standard Time); total counts the matching entries";
    get "/api/v1/audit/verify" => audit_verify, Audit, None, "" -> "json", "Check the audit log's hash chain and, with the platform's audit key, every entry's MAC (?anchor=SEQ:HASH: the log still holds that head)";
    get "/api/v1/console/orgs/{code}/overview" => console_api::overview, Dashboard, Org, "" -> "json", "Console overview of an org (?year=): figures, children ranked, months and facility types, from the newest snapshot covering it";
    get "/api/v1/console/orgs/{code}/facilities/{facility}" => console_api::facility, Read, Org, "" -> "json", "A facility of the org's subtree and its filed activity records (?year=), each with its filing and line";
    get "/api/v1/console/factors" => console_api::factor_library, Read, None, "" -> "json", "The factor library in use: shipped and current user sets, every factor with its source";
    post "/api/v1/console/inventory-jobs" => console_api::start_inventory_job, Analyze, None, "json" -> "json", "Start an inventory run (org_code, year, options) as a job; follow it in /api/v1/console/jobs";
    post "/api/v1/filings/{id}/import-job" => console_api::start_import_job, File, Filing, "csv" -> "json", "Start importing a CSV file into a filing as a job; the job's result is the upload report";
    get "/api/v1/console/jobs" => console_api::jobs, Dashboard, None, "" -> "json", "The caller's jobs, newest first, with stage and progress (?id= for one)";
    post "/api/v1/telemetry/readings" => monitoring::ingest, File, None, "json" -> "json", "A batch of meter readings (JSON, or CSV lines meter,timestamp,value with Content-Type text/csv): stored durably, then acknowledged with the batch report";
    get "/api/v1/telemetry/stream" => monitoring::stream, Dashboard, None, "" -> "text", "Live events (SSE): batches, facility and org power and PUE, alerts, within the caller's subtree";
    get "/api/v1/telemetry/rollup" => monitoring::rollup, Read, None, "" -> "json", "Energy of a facility's meters of one role per 15min/hour/day/month (?facility=&role=&period=&from=&to=) with coverage and flags";
    get "/api/v1/orgs/{code}/realtime" => monitoring::realtime, Dashboard, Org, "" -> "json", "Live power and trailing-hour PUE of an org and its metered facilities";
    get "/api/v1/alerts" => monitoring::list_alerts, Read, None, "" -> "json", "Alerts within the caller's subtree (?state=open|acknowledged|resolved) and webhook deliveries";
    post "/api/v1/alerts/acknowledge" => monitoring::acknowledge, Review, None, "json" -> "json", "Acknowledge an open alert ({id})";
    post "/api/v1/alerts/resolve" => monitoring::resolve, Review, None, "json" -> "json", "Resolve an open or acknowledged alert by hand ({id}); the rule's clock restarts, so a condition that still holds opens a new alert";
    get "/api/v1/indicators" => monitoring::list_indicators, Dashboard, None, "" -> "json", "The indicator registry: code, names, formula, unit, aggregation";
    post "/api/v1/indicator-data" => monitoring::add_indicator_data, File, None, "csv" -> "json", "Add indicator-data.csv rows (components per org or facility and period); a stored value is not added again, another value for a stored key is a conflict; audited";
    get "/api/v1/orgs/{code}/indicators" => monitoring::org_indicators, Dashboard, Org, "" -> "json", "Indicator values of an org's subtree (?year=), ratios of sums";
    get "/api/v1/orgs/{code}/targets" => monitoring::org_targets, Dashboard, Org, "" -> "json", "An org's targets (with its overrides), progress and trajectory (?year=)";
    put "/api/v1/orgs/{code}/targets" => monitoring::edit_target, Analyze, Org, "json" -> "json", "Override one target for an org and its subtree ({target, value, base_year, year, weight, reason}); only by a user of an org above it (the group's own by a group admin); checked and audited";
    get "/api/v1/orgs/{code}/scoreboard" => monitoring::scoreboard, Dashboard, Org, "" -> "json", "The 考核 scoreboard: an org's children ranked by progress towards their targets (?year=)";
    get "/api/v1/snapshots/{id}/scenario/baseline" => scenario_api::baseline, Read, Snapshot, "" -> "json", "Scenario baseline calibrated on a snapshot (market-based Scope 2 on the location residual), with the shipped drivers and measures";
    get "/api/v1/snapshots/{id}/scenario/lmdi" => scenario_api::lmdi, Read, Snapshot, "" -> "json", "LMDI decomposition of the change between this snapshot's year and another's (?to=ID)";
    get "/api/v1/orgs/{code}/scenario/trend" => scenario_api::trend, Read, Org, "" -> "json", "Monthly emissions and energy of an org from its snapshots: seasonal decomposition, forecast with intervals, backtest (?horizon=)";
    post "/api/v1/scenario/run" => scenario_api::run, Read, None, "json" -> "json", "Run a scenario (baseline, scenario, drivers, catalogue) deterministically; bands too when it asks for Monte Carlo";
    post "/api/v1/scenario/montecarlo" => scenario_api::montecarlo, Read, None, "json" -> "json", "Monte Carlo bands P10/P50/P90 and the probability of peaking by the target (?paths ≤ 20,000 in the body)";
    post "/api/v1/scenario/compare" => scenario_api::compare, Read, None, "json" -> "json", "Several scenarios on one baseline, side by side";
    post "/api/v1/scenario/macc" => scenario_api::macc, Read, None, "json" -> "json", "Marginal abatement cost curve of the measure catalogue, cheapest first";
    post "/api/v1/scenario/plan" => scenario_api::plan, Read, None, "json" -> "json", "Least-cost plan meeting the scenario's targets (MILP), explained in plain words";
    get "/api/v1/site/weather" => site_api::weather_years, Read, None, "" -> "json", "The typical weather years the platform ships (shipped_weather ids for simulate and size) with their sources: data set, producers, station, copy's origin and SHA-256, licence status, annual GHI, distance to the example site";
    post "/api/v1/site/simulate" => site_api::simulate, Read, None, "json" -> "json", "Simulate a PV + battery + fuel-cell site (site_toml, and weather_csv (TMY3, EPW or plain CSV) or shipped_weather): energy by source, hours by state, methanol, emissions avoided, daily series";
    post "/api/v1/site/size" => site_api::size, Read, None, "json" -> "json", "Cheapest PV / battery / fuel-cell size with zero unserved load over the weather (weather_csv or shipped_weather)";
    post "/api/v1/site/bs-saving" => site_api::bs_saving, Read, None, "json" -> "json", "Base-station saving report from per-cell traffic (cells_csv, policy, grid_factor): kWh and tCO2 per station";
    get "/api/v1/orgs/{code}/sites" => site_api::list_sites, Read, Org, "" -> "json", "The off-grid sites of an org's subtree (facilities with registered site meters) and each one's newest state";
    get "/api/v1/orgs/{code}/sites/{facility}/setpoints" => site_api::get_setpoints, Read, Org, "" -> "json", "A site's current set points and every change (from the audit log)";
    put "/api/v1/orgs/{code}/sites/{facility}/setpoints" => site_api::put_setpoints, Analyze, Org, "json" -> "json", "Change a site's set points (setpoints, reason): every broken rule at once; audited";
    post "/api/v1/orgs/{code}/sites/{facility}/state" => site_api::post_state, File, Org, "json" -> "json", "A site gateway reports its controller state (Telemetry JSON) as readings of the site's registered meters through the monitoring ingestion; the answer carries the ingestion report and the current set points";
    get "/api/v1/orgs/{code}/sites/{facility}/state" => site_api::get_state, Read, Org, "" -> "json", "A site's newest state rebuilt from its meters' newest readings, when it came, and ?hours= of history per meter";
    post "/api/v1/orgs/{code}/sites/bs-saving" => site_saving::record, File, Org, "json" -> "json", "Record a base-station saving run (cells_csv, policy, grid_factor, period) as indicator data of its stations: report, recorded rows, audit_seq";
    get "/api/v1/orgs/{code}/scenario/measured" => site_saving::measured, Read, Org, "" -> "json", "Measured results of scenario measures in an org's subtree (Σ saved / Σ reference from indicator data)";
    get "/api/v1/orgs/{code}/indicators/{indicator}" => indicators_api::indicator_detail, Dashboard, Org, "" -> "json", "One indicator of an org's subtree (?year=): definition, value, each component with its sources (snapshot, filing, meters, saving runs, attributes, hand entries), hand entries a feed overrode, value by year";
    get "/api/v1/snapshots/{id}/indicator-components" => indicators_api::snapshot_components, Read, Snapshot, "" -> "json", "The indicator components a snapshot gives (energy, Scope 1, Scope 2 location and market, electricity, green and PV electricity, 5G station electricity) per org and month, and whether indicators read it now";
    post "/api/v1/facility-attributes" => indicators_api::add_attributes, File, None, "csv" -> "json", "Add facility attributes from facility-attributes.csv rows (versioned from valid_from; every problem at once, all or nothing; audited)";
    get "/api/v1/orgs/{code}/facility-attributes" => indicators_api::list_attributes, Read, Org, "" -> "json", "Attribute versions of the facilities of an org's subtree, and each facility's latest attributes";
    // 碳普惠 (issue 17): apps post events with machine credentials; administrators run the programme; employees their own account.
    post "/api/v1/inclusive/events" => inclusive::post_events, Machine, None, "json" -> "json", "A batch of action events from an app (machine credentials: Authorization: Basic client_id:secret); each answered accepted / pending / rejected with a reason; at most 1,000 examined, the rest batch_too_large";
    get "/api/v1/inclusive/events" => inclusive::events, ManageInclusive, None, "" -> "json", "Kept events within the caller's subtree with their verdicts and reasons (?status=accepted|pending|rejected&limit=)";
    get "/api/v1/inclusive/clients" => inclusive::clients, ManageInclusive, None, "" -> "json", "Apps' machine credentials within the caller's subtree";
    post "/api/v1/inclusive/clients" => inclusive::create_client, ManageInclusive, None, "json" -> "json", "Create an app's machine credential ({name, org_code, audience: employee|customer, trust, delay_days}); the secret is shown once";
    post "/api/v1/inclusive/clients/{client_id}/revoke" => inclusive::revoke_client, ManageInclusive, None, "" -> "json", "Revoke an app's machine credential";
    get "/api/v1/inclusive/methodologies" => inclusive::methodologies, Dashboard, None, "" -> "json", "Every methodology version (shipped and added) with its actions, caps and sourced factors, and the action catalogue";
    post "/api/v1/inclusive/methodologies" => inclusive::add_methodology, ManageInclusive, None, "json" -> "json", "Add a methodology version ({toml}); checked with every problem listed; a new version never rewrites earlier credits";
    get "/api/v1/inclusive/accounts" => inclusive::accounts, ManageInclusive, None, "" -> "json", "Personal carbon accounts within the caller's subtree";
    post "/api/v1/inclusive/accounts" => inclusive::enrol, ManageInclusive, None, "json" -> "json", "Enrol an employee ({username, org_code, display_name?, opt_in})";
    get "/api/v1/inclusive/accounts/{id}/export" => inclusive::export, ManageInclusive, None, "" -> "json", "Everything stored about one person (account, credits explained, journal, orders, events)";
    post "/api/v1/inclusive/accounts/{id}/erase" => inclusive::erase, ManageInclusive, None, "" -> "json", "Erase a person: name and ids removed, open orders voided, points expired; the anonymised amounts stay so totals balance";
    get "/api/v1/inclusive/review" => inclusive::review, ManageInclusive, None, "" -> "json", "Credits held for review (risk score at or above the threshold) within the caller's subtree";
    post "/api/v1/inclusive/credits/{id}/decide" => inclusive::decide, ManageInclusive, None, "json" -> "json", "Approve or reject a held credit ({decision: approve|reject, note})";
    post "/api/v1/inclusive/credits/{id}/offset" => inclusive::offset, ManageInclusive, None, "json" -> "json", "Claim a reduction as an offset elsewhere ({programme}); refused when already claimed (one claim per reduction)";
    post "/api/v1/inclusive/credits/{id}/reverse" => inclusive::reverse, ManageInclusive, None, "json" -> "json", "Reverse a claimed credit's points ({decision, note}); refused when the points are spent";
    post "/api/v1/inclusive/expire" => inclusive::expire, ManageInclusive, None, "" -> "json", "Expire credits not claimed within their window; with ?points_issued_through=YYYY-MM-DD also the unspent points issued on or before that day (China Standard Time; first in, first out) within the caller's subtree";
    get "/api/v1/inclusive/catalogue" => inclusive::catalogue, ManageInclusive, None, "" -> "json", "Redemption catalogue items of the caller's orgs";
    post "/api/v1/inclusive/catalogue" => inclusive::add_item, ManageInclusive, None, "json" -> "json", "Add a catalogue item ({org_code, name, points, stock})";
    get "/api/v1/inclusive/orders" => inclusive::orders, ManageInclusive, None, "" -> "json", "Redemption orders within the caller's subtree";
    post "/api/v1/inclusive/orders/{id}/confirm" => inclusive::confirm, ManageInclusive, None, "" -> "json", "Confirm a reserved order (fulfilled: the points are redeemed)";
    post "/api/v1/inclusive/orders/{id}/void" => inclusive::void, ManageInclusive, None, "" -> "json", "Void a reserved order (the points and the stock return)";
    get "/api/v1/inclusive/totals" => inclusive::totals, Read, None, "" -> "json", "Programme totals by action type and month within the caller's subtree (?year=), the journal's check and the review queue's length";
    get "/api/v1/inclusive/leaderboard" => inclusive::leaderboard, Dashboard, None, "" -> "json", "Leaderboard of a month (?month=YYYY-MM&by=person|department&limit=): names only of people who opted in";
    get "/api/v1/inclusive/me" => inclusive::me, Dashboard, None, "" -> "json", "The caller's carbon account: points available and reserved, what can be claimed now";
    get "/api/v1/inclusive/me/history" => inclusive::history, Dashboard, None, "" -> "json", "The caller's credits, each explained (methodology version, factors, caps applied, risk), and journal entries";
    post "/api/v1/inclusive/me/claim" => inclusive::claim, Dashboard, None, "" -> "json", "Claim the caller's available credits as points";
    get "/api/v1/inclusive/me/catalogue" => inclusive::my_catalogue, Dashboard, None, "" -> "json", "Items the caller may redeem";
    post "/api/v1/inclusive/me/redeem" => inclusive::redeem, Dashboard, None, "json" -> "json", "Redeem points for an item ({item_id, request_id}): the points are reserved until the order is confirmed or voided";
    get "/api/v1/inclusive/me/orders" => inclusive::my_orders, Dashboard, None, "" -> "json", "The caller's redemption orders";
    post "/api/v1/inclusive/me/opt-in" => inclusive::opt_in, Dashboard, None, "json" -> "json", "Show or hide the caller's name on leaderboards ({opt_in, display_name})";
    get "/api/v1/inclusive/me/export" => inclusive::my_export, Dashboard, None, "" -> "json", "Everything stored about the caller";
    // issue 14: the filing cockpit
    post "/api/v1/orgs/{code}/filing-reminders" => filing::remind, Review, Org, "" -> "json", "Send a filing reminder (?year=): the subtree's org-months of the year's ended months without an approved filing, as one JSON notice posted to the webhook targets (DUALCARBON_WEBHOOKS); the notice and each delivery";
    get "/api/v1/orgs/{code}/filing-status" => filing::status_grid, Read, Org, "" -> "json", "The filing cockpit: an org's subtree × the months of ?year=, each cell the newest filing's status, what is missing (expected org-months without an approved filing)";
    // Supply chain (issue 18): buyers read within their subtree, administrators register suppliers; a supplier's users use the portal for their own company only.
    get "/api/v1/supply/suppliers" => supply::suppliers, Supply, None, "" -> "json", "Suppliers registered by orgs of the caller's subtree";
    post "/api/v1/supply/suppliers" => supply::register, SupplyAdmin, None, "json" -> "json", "Register a supplier ({org_code, uscc, name, categories, contacts}); the unified social credit code's check character is verified; every problem named by its field";
    get "/api/v1/supply/suppliers/{id}" => supply::supplier, Supply, None, "" -> "json", "A supplier of the caller's subtree: disclosures, footprints (every version), equipment with the white paper's checks, users";
    post "/api/v1/supply/suppliers/{id}/users" => supply::create_user, SupplyAdmin, None, "json" -> "json", "Create a login for a supplier ({username, password}): role supplier, scoped to that supplier";
    get "/api/v1/supply/footprints" => supply::library, Supply, None, "" -> "json", "The product footprint library (current versions) of the caller's subtree (?class=&q=), with each class's distribution";
    get "/api/v1/supply/footprints/{id}" => supply::footprint, Supply, None, "" -> "json", "A footprint version: the PACT record, every version of its entry, its lineage (the disclosure) and its place in its class (distribution, percentile)";
    post "/api/v1/supply/procurement" => supply::procurement, File, None, "csv" -> "json", "Procurement lines from procurement.csv (line, org, category, supplier, item, class, quantity, unit, spend, currency, date, sector): every problem at once, nothing stored unless none";
    post "/api/v1/supply/transport" => supply::transport, File, None, "csv" -> "json", "Transport legs from transport.csv (line, org, tonnes, km, mode, date) for category 4";
    post "/api/v1/supply/secondary" => supply::secondary, SupplyAdmin, None, "json" -> "json", "Secondary data of an org ({org_code, toml}): average product footprints by class and transport mode factors, each with its source";
    post "/api/v1/supply/scope3" => supply::run_scope3, Analyze, None, "json" -> "json", "Compute an org subtree's Scope 3 categories 1, 2 and 4 of a year ({org_code, year}) from its lines: method and data quality per line, coverage by supplier-specific data; stored as a run";
    get "/api/v1/supply/scope3" => supply::scope3, Supply, None, "" -> "json", "The newest Scope 3 run of an org and year (?org=&year=)";
    post "/api/v1/supply/tender" => supply::tender, Supply, None, "json" -> "json", "Rank tender bids ({model?, bids}) by weighted criteria and scoring curves, each part explained";
    get "/api/v1/supply/portal" => supply::portal, SupplierPortal, None, "" -> "json", "The supplier portal: the caller's company, its disclosures, footprints and equipment";
    post "/api/v1/supply/portal/disclosures" => supply::disclose_company, SupplierPortal, None, "json" -> "json", "Disclose the company's annual emissions ({year, scope1_t, scope2_t, scope3_t?, verification, verifier})";
    post "/api/v1/supply/portal/footprints" => supply::disclose_footprint, SupplierPortal, None, "json" -> "json", "Disclose a product footprint ({form} or {pact}: a PACT 3.0 ProductFootprint); stored as the next version of its library entry";
    get "/api/v1/supply/portal/template.csv" => supply::footprint_template, SupplierPortal, None, "" -> "csv", "The product footprint template (CSV): one product per row";
    post "/api/v1/supply/portal/footprints.csv" => supply::disclose_footprints_csv, SupplierPortal, None, "csv" -> "json", "Disclose footprints from a filled template (CSV): every problem of every row named by line and field; nothing stored unless none";
    get "/api/v1/supply/portal/footprints/{id}" => supply::portal_footprint, SupplierPortal, None, "" -> "json", "One of the caller's company's footprints with its PACT record";
    get "/api/v1/supply/pact/clients" => supply::pact_clients, Supply, None, "" -> "json", "PACT partners' credentials within the caller's subtree";
    post "/api/v1/supply/pact/clients" => supply::create_pact_client, SupplyAdmin, None, "json" -> "json", "Credentials for a PACT partner ({name, org_code, callback?}): it reads the footprints of the org's subtree at /3/footprints; the secret is shown once";
    post "/api/v1/supply/pact/pull" => supply::pull, SupplyAdmin, None, "json" -> "json", "Pull footprints from a supplier's PACT host into the library ({base_url, client_id, client_secret, org_code, supplier_id?, ca_pem?, query?}): each checked against the PACT schema; stored, skipped or rejected with its problems";
    post "/api/v1/supply/portal/equipment" => supply::disclose_equipment, SupplierPortal, None, "json" -> "json", "Disclose an equipment energy specification; answered with the white paper's checks";
    post "/api/v1/supply/scope3/{id}/record" => supply::record_scope3, Analyze, None, "json" -> "json", "Record a Scope 3 run into the group inventory for its org and year ({replace?}): snapshots from then on include its categories 1, 2, 4 with lineage; a second run is refused unless replace, an overlapping org's run is refused";
    get "/api/v1/supply/factor-sets" => supply::factor_sets, Supply, None, "" -> "json", "EEIO and transport factor set versions (shipped and uploaded) and the ones Scope 3 runs use now";
    post "/api/v1/supply/factor-sets" => supply::add_factor_set, ManageFactors, None, "json" -> "json", "Upload a version of an EEIO or transport factor set ({kind: eeio|transport, toml, reason}): every problem named by its key; runs keep the version they used";
    post "/api/v1/supply/packaging" => supply::packaging, File, None, "csv" -> "json", "Packaging records from packaging.csv (line, org, period, packages, green_packages): the green-packaging share indicator; every problem at once, nothing stored unless none";
    post "/api/v1/supply/deliveries" => supply::deliveries, File, None, "csv" -> "json", "Delivery records from deliveries.csv (line, org, city, period, vehicle: new_energy|conventional, deliveries): the number of cities with new-energy delivery";
    get "/api/v1/supply/portal/template.xlsx" => supply::disclosure_template_xlsx, SupplierPortal, None, "" -> "xlsx", "The disclosure workbook: sheets for product footprints, company emissions and equipment specifications with dropdowns, and instructions (zh, en)";
    post "/api/v1/supply/portal/disclosures.xlsx" => supply::disclose_xlsx, SupplierPortal, None, "xlsx" -> "json", "Disclose from a filled workbook (footprints, company, equipment sheets): every problem named by sheet, line and column; nothing stored unless none";
}

/// Liveness; in cluster mode also the instance's name and whether PostgreSQL and NATS answer
/// (503 when one does not, so the load balancer sends requests elsewhere).
async fn health(State(app): State<Arc<App>>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut body = serde_json::json!({"ok": true, "backend": app.store.kind(), "version": env!("CARGO_PKG_VERSION")});
    if let Some(name) = app.console.instance() {
        let database = app.db(|s| s.ping()).await.is_ok();
        let nats = platform::stream::current().is_none_or(|s| s.connected());
        body["instance"] = serde_json::json!(name);
        body["database"] = serde_json::json!(database);
        body["nats"] = serde_json::json!(nats);
        body["leader"] = serde_json::json!(
            platform::stream::current().is_some_and(|s| s.leader.load(std::sync::atomic::Ordering::SeqCst))
        );
        if let Some(s) = platform::stream::current() {
            body["partitions"] = serde_json::json!(s.owned_partitions());
            body["applying"] = serde_json::json!(s.applied_partitions());
            if let Some((sent, dropped)) = s.forwarded() {
                body["victoria_metrics"] = serde_json::json!({"sent": sent, "dropped": dropped});
            }
        }
        if !(database && nats) {
            body["ok"] = serde_json::json!(false);
            return (axum::http::StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
        }
    }
    Json(body).into_response()
}

async fn openapi() -> Json<serde_json::Value> {
    Json(crate::openapi::document(ROUTES))
}

async fn list_orgs(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<serde_json::Value>> {
    let path = caller.org_path.clone();
    let orgs = app.db(move |s| s.orgs_within(&path)).await?;
    Ok(Json(serde_json::json!({"orgs": orgs})))
}

async fn list_facilities(
    State(app): State<Arc<App>>,
    axum::extract::Path(code): axum::extract::Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let facs = app
        .db(move |s| {
            let org = s.org(&code)?.ok_or_else(|| store::StoreError::NotFound(format!("org {code}")))?;
            s.facilities_within(&org.path)
        })
        .await?;
    Ok(Json(serde_json::json!({"facilities": facs})))
}

#[derive(Deserialize)]
struct AuditQuery {
    after: Option<i64>,
    limit: Option<i64>,
    /// `asc` (default: oldest first, paged by `after`) or `desc` (newest first, paged by `before`).
    order: Option<String>,
    before: Option<i64>,
    actor: Option<String>,
    action: Option<String>,
    /// An org within the caller's subtree: only its subtree's entries.
    org: Option<String>,
    /// First and last day (`YYYY-MM-DD`, China Standard Time), both included.
    from: Option<String>,
    to: Option<String>,
}

/// The start of a China Standard Time day (UTC+8) as the audit log's UTC time text.
fn cst_day_start(y: i32, m: u32, d: u32) -> String {
    store::format_time(model::calendar::days_from_civil(y, m, d) * 86_400 - 8 * 3_600, 0)
}

async fn audit_log(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let limit = crate::bounds::count("limit", q.limit, 500, 1..=crate::bounds::MAX_LIMIT)?;
    let newest_first = match q.order.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(o) => return Err(ApiError::bad_request(format!("order must be asc or desc, not {o:?}"))),
    };
    let cursor = if newest_first {
        if q.after.is_some() {
            return Err(ApiError::bad_request("order=desc pages with before=SEQ, not after"));
        }
        q.before.map(|b| crate::bounds::within("before", b, 1..=i64::MAX)).transpose()?
    } else {
        if q.before.is_some() {
            return Err(ApiError::bad_request("before=SEQ pages the log with order=desc"));
        }
        Some(crate::bounds::count("after", q.after, 0, 0..=i64::MAX)?)
    };
    let from = q.from.as_deref().map(|d| crate::bounds::date("from", d)).transpose()?;
    let to = q.to.as_deref().map(|d| crate::bounds::date("to", d)).transpose()?;
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            return Err(ApiError::bad_request("from is after to"));
        }
    }
    let org_path = match crate::bounds::filter_text("org", q.org)? {
        Some(code) => caller.require_org(&app, &code).await?.path,
        None => caller.org_path.clone(),
    };
    let query = store::audit::AuditQuery {
        org_path,
        actor: crate::bounds::filter_text("actor", q.actor)?,
        action: crate::bounds::filter_text("action", q.action)?,
        from: from.map(|(y, m, d)| cst_day_start(y, m, d)),
        to: to.map(|(y, m, d)| {
            let next = model::calendar::days_from_civil(y, m, d) + 1;
            let (y, m, d) = model::calendar::civil_from_days(next);
            cst_day_start(y, m, d)
        }),
        newest_first,
        cursor,
        limit,
    };
    let page = app.db(move |s| s.audit_page(&query)).await?;
    let last = page.entries.last().map(|e| e.seq);
    let full = page.entries.len() as i64 == limit;
    let (next_after, next_before) = if newest_first { (None, last.filter(|_| full)) } else { (last, None) };
    Ok(Json(serde_json::json!({
        "entries": page.entries,
        "next_after": next_after,
        "next_before": next_before,
        "total": page.total,
    })))
}

#[derive(serde::Deserialize)]
struct VerifyQuery {
    /// A head recorded earlier, `SEQ:HASH` (as `dualcarbon audit head` prints it).
    anchor: Option<String>,
}

async fn audit_verify(State(app): State<Arc<App>>, Query(q): Query<VerifyQuery>) -> ApiResult<Json<serde_json::Value>> {
    let mut opts = store::audit::VerifyOptions::default();
    if let Some(a) = q.anchor {
        opts.anchors.push(a.parse().map_err(ApiError::bad_request)?);
    }
    let v = app.db(move |s| s.verify_audit_with(&opts)).await?;
    Ok(Json(serde_json::json!({"verification": v})))
}

#[cfg(test)]
mod tests {
    use super::ROUTES;
    use crate::transport::{BATCH_ROUTES, CREDENTIAL_ROUTES, FILE_IN_JSON_ROUTES};

    #[test]
    fn every_listed_route_exists_with_a_body() {
        for p in FILE_IN_JSON_ROUTES.iter().chain(BATCH_ROUTES).chain(CREDENTIAL_ROUTES) {
            assert!(ROUTES.iter().any(|r| r.path == *p && !r.body.is_empty()), "{p} is not a route with a body");
        }
    }
}
