//! The scope catalog: what each scope means to a person and to the MCP server.
//!
//! Each entry carries the description shown on the consent page and the
//! internal permissions it maps to (the flows document's `scopePermissionMap`),
//! which access tokens carry as a `permissions` claim. A requested scope is
//! *known* when a catalog entry covers it (see [`tessera_resource::scope::covers`]).

use tessera_resource::scope::{ScopeSet, covers};

#[derive(Debug, Clone)]
pub struct ScopeEntry {
    pub name: String,
    pub description: String,
    pub permissions: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ScopeCatalog {
    entries: Vec<ScopeEntry>,
}

impl ScopeCatalog {
    pub fn new(entries: Vec<ScopeEntry>) -> Self {
        Self { entries }
    }

    pub fn is_known(&self, scope: &str) -> bool {
        self.entries.iter().any(|e| covers(&e.name, scope))
    }

    pub fn entry(&self, scope: &str) -> Option<&ScopeEntry> {
        self.entries.iter().find(|e| e.name == scope)
    }

    pub fn iter(&self) -> impl Iterator<Item = &ScopeEntry> {
        self.entries.iter()
    }

    /// The permissions of every catalog entry the granted scopes cover,
    /// de-duplicated, in catalog order.
    pub fn permissions_for(&self, granted: &ScopeSet) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for entry in self.entries.iter().filter(|e| granted.covers(&e.name)) {
            for p in &entry.permissions {
                if !out.contains(&p.as_str()) {
                    out.push(p);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> ScopeCatalog {
        let e = |n: &str, p: &[&str]| ScopeEntry {
            name: n.into(),
            description: String::new(),
            permissions: p.iter().map(|s| s.to_string()).collect(),
        };
        ScopeCatalog::new(vec![
            e("mcp:tools:calendar:read", &["calendar:events:read"]),
            e(
                "mcp:tools:calendar:write",
                &["calendar:events:read", "calendar:events:write"],
            ),
            e("mcp:tools:*", &[]),
        ])
    }

    #[test]
    fn permissions_follow_the_flows_document_map_without_duplicates() {
        let c = catalog();
        let write = ScopeSet::parse("mcp:tools:calendar:write mcp:tools:calendar:read").unwrap();
        assert_eq!(
            c.permissions_for(&write),
            ["calendar:events:read", "calendar:events:write"]
        );
        let all = ScopeSet::parse("mcp:tools:*").unwrap();
        assert_eq!(c.permissions_for(&all).len(), 2);
    }

    #[test]
    fn a_catalog_wildcard_makes_scopes_beneath_it_known() {
        let c = catalog();
        assert!(c.is_known("mcp:tools:weather"));
        assert!(!c.is_known("mcp:resources:store-data"));
    }
}
