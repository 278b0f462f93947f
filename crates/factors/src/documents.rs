//! The primary documents behind the shipped factors (`data/documents.toml`, docs/factor-files.md
//! "Primary documents"): for a factor id, the document its value comes from (issuer, title,
//! number, date, in the document's language and translated) and where in it. A factor's own
//! `source` and `url` say where the value was read; this names what an auditor checks it against.
//! It changes no factor, so the library's version and fingerprint, and every snapshot, stay as
//! they were.

use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// The shipped document list, compiled in.
pub const DOCUMENTS_FILE: &str = include_str!("../data/documents.toml");

/// A primary document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    pub id: String,
    /// The language the document is written in: `zh` or `en`.
    pub language: String,
    pub issuer_zh: String,
    pub issuer_en: String,
    pub title_zh: String,
    pub title_en: String,
    #[serde(default)]
    pub number_zh: String,
    #[serde(default)]
    pub number_en: String,
    pub date: String,
    /// The issuer's own page; empty when not known.
    #[serde(default)]
    pub url: String,
    /// Whether the number and title were seen in a retrieved text (else they say "not verified").
    pub verified: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cite {
    factors: Vec<String>,
    document: String,
    locator_zh: String,
    locator_en: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    version: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    meta: Meta,
    document: Vec<Document>,
    cite: Vec<Cite>,
}

/// A factor's primary document and the part of it (table, annex) the value is in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Primary {
    pub document: Document,
    pub locator_zh: String,
    pub locator_en: String,
}

/// The shipped documents and citations.
#[derive(Debug)]
pub struct Documents {
    pub version: String,
    pub documents: Vec<Document>,
    cites: Vec<Cite>,
}

impl Documents {
    /// Parses a document list; every citation must name a listed document.
    pub fn parse(text: &str) -> Result<Documents, String> {
        let f: File = toml::from_str(text).map_err(|e| e.to_string())?;
        for c in &f.cite {
            if !f.document.iter().any(|d| d.id == c.document) {
                return Err(format!("cite of {:?} names an unknown document {:?}", c.factors, c.document));
            }
        }
        for d in &f.document {
            if d.language != "zh" && d.language != "en" {
                return Err(format!("document {}: language must be zh or en", d.id));
            }
        }
        Ok(Documents { version: f.meta.version, documents: f.document, cites: f.cite })
    }

    /// The shipped list (parsed once; a shipped list that does not parse is a bug, tested).
    pub fn shipped() -> &'static Documents {
        static DOCS: OnceLock<Documents> = OnceLock::new();
        DOCS.get_or_init(|| Documents::parse(DOCUMENTS_FILE).expect("data/documents.toml"))
    }

    /// The primary document of the shipped factor `id`: the first citation whose pattern matches.
    pub fn primary(&self, id: &str) -> Option<Primary> {
        let c = self.cites.iter().find(|c| c.factors.iter().any(|p| glob(p, id)))?;
        let d = self.documents.iter().find(|d| d.id == c.document)?;
        Some(Primary { document: d.clone(), locator_zh: c.locator_zh.clone(), locator_en: c.locator_en.clone() })
    }
}

/// `*` matches any run of characters (none included); everything else itself.
fn glob(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || !s[first.len()..].ends_with(last) || s.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Library;

    #[test]
    fn glob_matches() {
        assert!(glob("elec.nbs_average.CN-*.2021", "elec.nbs_average.CN-GD.2021"));
        assert!(glob("elec.nbs_average.CN-GRID-*.2021", "elec.nbs_average.CN-GRID-SOUTH.2021"));
        assert!(!glob("elec.nbs_average.CN-*.2021", "elec.nbs_average.CN.2021"));
        assert!(glob("fuel.ipcc2006.*.ncv", "fuel.ipcc2006.diesel.ncv"));
        assert!(!glob("fuel.ipcc2006.*.ncv", "fuel.ipcc2006.diesel.carbon_content"));
        assert!(glob("a", "a") && !glob("a", "ab"));
    }

    /// Every shipped factor but the project's own assumptions (liquid-fuel densities) names its
    /// primary document; a Chinese document has its Chinese title and number; no primary document
    /// is a code repository or a newspaper.
    #[test]
    fn every_shipped_factor_cites_its_primary_document() {
        let docs = Documents::shipped();
        let lib = Library::shipped();
        let mut missing = Vec::new();
        for f in &lib.factors {
            if f.id().starts_with("fuel.density.") {
                assert!(docs.primary(f.id()).is_none());
                continue;
            }
            match docs.primary(f.id()) {
                None => missing.push(f.id().to_string()),
                Some(p) => {
                    let cjk = |s: &str| s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
                    assert!(cjk(&p.document.title_zh) && cjk(&p.locator_zh), "{}: zh title and locator", f.id());
                    assert!(!cjk(&p.document.title_en) && !cjk(&p.locator_en), "{}: en title and locator", f.id());
                    for bad in ["github.com", "163.com", "daydaynews", "tanpaifang", "reportify", "dev.to", "huatuo6"] {
                        assert!(
                            !p.document.url.contains(bad),
                            "{}: {} is not a primary document",
                            f.id(),
                            p.document.url
                        );
                    }
                }
            }
        }
        assert_eq!(missing, Vec::<String>::new(), "factors without a primary document");
        let p = docs.primary("elec.nbs_average.CN-GD.2021").expect("2021 provincial factor");
        assert_eq!(p.document.number_zh, "公告 2024年第12号");
        assert_eq!(p.document.issuer_zh, "生态环境部 国家统计局");
        assert_eq!(p.locator_zh, "省级电力平均二氧化碳排放因子表");
        assert_eq!(docs.primary("elec.nbs_average.CN-GRID-SOUTH.2021").unwrap().locator_en, "regional grid table");
    }

    #[test]
    fn a_citation_of_an_unknown_document_is_refused() {
        let text = "[meta]\nversion=\"1\"\n[[document]]\nid=\"a\"\nlanguage=\"zh\"\nissuer_zh=\"x\"\nissuer_en=\"x\"\ntitle_zh=\"x\"\ntitle_en=\"x\"\ndate=\"2024\"\nverified=true\n[[cite]]\nfactors=[\"f\"]\ndocument=\"b\"\nlocator_zh=\"\"\nlocator_en=\"\"\n";
        assert!(Documents::parse(text).unwrap_err().contains("unknown document"));
    }
}
