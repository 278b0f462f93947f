//! The OpenAPI 3 document, generated from the route table (so it lists exactly the real routes).

use crate::access::{Perm, Target};
use serde_json::{json, Map, Value};

pub use platform::xlsx::MEDIA_TYPE as XLSX_MEDIA;

/// One API route as the route table (`routes::ROUTES`) describes it.
pub struct RouteSpec {
    pub method: &'static str,
    pub path: &'static str,
    pub perm: Perm,
    pub target: Target,
    pub summary: &'static str,
    /// Request body: "json", "csv", "csv_or_xlsx" or "" for none.
    pub body: &'static str,
    /// Response body: "json", "csv", "xlsx" or "text".
    pub returns: &'static str,
}

/// The OpenAPI document of `routes` (the route table).
pub fn document(routes: &[RouteSpec]) -> Value {
    let mut paths = Map::new();
    for r in routes {
        let mut op = Map::new();
        op.insert("summary".into(), json!(r.summary));
        op.insert(
            "operationId".into(),
            json!(format!(
                "{}_{}",
                r.method,
                r.path.trim_start_matches("/api/v1/").replace(['/', '{', '}', '.', '-'], "_")
            )),
        );
        let params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| {
                let ty = if name == "id" { "integer" } else { "string" };
                json!({"name": name, "in": "path", "required": true, "schema": {"type": ty}})
            })
            .collect();
        if !params.is_empty() {
            op.insert("parameters".into(), json!(params));
        }
        match r.body {
            "json" => {
                op.insert(
                    "requestBody".into(),
                    json!({"required": true, "content": {"application/json": {"schema": {"type": "object"}}}}),
                );
            }
            "csv" => {
                op.insert(
                    "requestBody".into(),
                    json!({"required": true, "content": {"text/csv": {"schema": {"type": "string"}}}}),
                );
            }
            "xlsx" => {
                op.insert(
                    "requestBody".into(),
                    json!({"required": true, "content": {XLSX_MEDIA: {"schema": {"type": "string", "format": "binary"}}}}),
                );
            }
            "csv_or_xlsx" => {
                op.insert(
                    "requestBody".into(),
                    json!({"required": true, "content": {"text/csv": {"schema": {"type": "string"}}}}),
                );
            }
            _ => {}
        }
        if op.contains_key("requestBody") {
            // The route's body limit (uploads: the default of --max-upload-bytes); docs/security.md.
            let kind = crate::transport::BodyKind::of(r.perm, r.path, r.body);
            op.insert("x-max-body-bytes".into(), json!(crate::transport::Config::default().limit(kind)));
        }
        let media = match r.returns {
            "csv" => "text/csv",
            "xlsx" => XLSX_MEDIA,
            "text" => "text/plain",
            "file" => "application/octet-stream",
            _ => "application/json",
        };
        op.insert(
            "responses".into(),
            json!({
                "200": {"description": "success", "content": {media: {"schema": {"type": if media == "application/json" {"object"} else {"string"}}}}},
                "default": {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            }),
        );
        if r.perm == Perm::Public {
            op.insert("security".into(), json!([]));
        } else if r.perm == Perm::Machine {
            op.insert("security".into(), json!([{"client": []}]));
        } else {
            op.insert("x-roles".into(), json!(r.perm.roles()));
        }
        let entry = paths.entry(r.path.to_string()).or_insert_with(|| json!({}));
        entry[r.method] = Value::Object(op);
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "DualCarbon platform API",
            "version": "v1",
            "description": "Filing, import, data governance, inventory snapshots, audit and access control. See docs/platform.md."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "client": {"type": "http", "scheme": "basic", "description": "碳普惠 apps: client id and secret (machine credentials)"},
                "session": {"type": "apiKey", "in": "cookie", "name": crate::access::SESSION_COOKIE}
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {"error": {"type": "object", "properties": {
                        "code": {"type": "string"}, "message": {"type": "string"}, "detail": {}
                    }, "required": ["code", "message"]}}
                }
            }
        },
        "security": [{"bearer": []}, {"session": []}]
    })
}
