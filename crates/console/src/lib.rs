//! The web console's built assets, embedded at compile time from `web/dist` (see build.rs), and
//! how to serve them: content type and caching by file, and the single-page-app fallback (any path
//! that is not a file is a console route, answered with `index.html`).

mod generated {
    include!(concat!(env!("OUT_DIR"), "/assets.rs"));
}

/// One file to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    pub bytes: &'static [u8],
    pub content_type: &'static str,
    pub cache_control: &'static str,
}

/// Whether the console was built before this binary (else `/` explains how to build it).
pub fn is_built() -> bool {
    generated::FILES.iter().any(|(p, _)| *p == "index.html")
}

/// Number of embedded files.
pub fn file_count() -> usize {
    generated::FILES.len()
}

fn file(path: &str) -> Option<&'static [u8]> {
    generated::FILES.binary_search_by(|(p, _)| (*p).cmp(path)).ok().map(|i| generated::FILES[i].1)
}

pub fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map_or("", |(_, ext)| ext) {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The file for a request path (`/`, `/assets/index-abc.js`, `/orgs/CT-GD`). Hashed files under
/// `assets/` never change, so browsers may keep them; `index.html` is always revalidated so that a
/// new binary's console is picked up at once.
pub fn lookup(request_path: &str) -> Option<Asset> {
    let path = request_path.trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    if let Some(bytes) = file(path) {
        let cache_control =
            if path.starts_with("assets/") { "public, max-age=31536000, immutable" } else { "no-cache" };
        return Some(Asset { bytes, content_type: content_type(path), cache_control });
    }
    // A path with a file extension that is not embedded is a missing file, not a console route.
    let last = path.rsplit('/').next().unwrap_or("");
    if last.contains('.') {
        return None;
    }
    file("index.html").map(|bytes| Asset { bytes, content_type: content_type("index.html"), cache_control: "no-cache" })
}

/// Served at `/` when the binary was built without the console.
pub const NOT_BUILT_PAGE: &str =
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>DualCarbon</title></head>\
<body style=\"font-family:sans-serif;max-width:40em;margin:4em auto\"><h1>DualCarbon platform</h1>\
<p>The API is running (<a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a>), but this binary was built \
without the web console.</p><p>Build it, then the binary: <code>cd web &amp;&amp; npm ci &amp;&amp; npm run build \
&amp;&amp; cd .. &amp;&amp; cargo build --release -p dualcarbon</code> (or run <code>scripts/demo</code>).</p>\
<p>控制台尚未构建：请在 web/ 目录执行 npm ci 与 npm run build，再重新编译 dualcarbon。</p></body></html>";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(content_type("assets/index-1a2b.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("a/b.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }

    #[test]
    fn console_routes_fall_back_to_index_and_missing_files_do_not() {
        assert!(lookup("/assets/definitely-missing-0000.js").is_none());
        assert!(lookup("/favicon-missing.png").is_none());
        let index = lookup("/");
        assert_eq!(index.is_some(), is_built());
        assert_eq!(lookup("/orgs/CT-GD"), index, "a console route is answered with index.html");
        if let Some(a) = index {
            assert_eq!(a.cache_control, "no-cache");
            assert!(std::str::from_utf8(a.bytes).unwrap().contains("<div id=\"app\">"));
        }
    }

    #[test]
    fn the_table_is_sorted_for_binary_search() {
        assert!(generated::FILES.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
