//! The documentation builder every function uses: the one doc section all
//! saasql functions share. The reference that lists them all is
//! [`crate::reference`].

use datafusion::logical_expr::{DocSection, Documentation, DocumentationBuilder};

/// The documentation section every saasql function belongs to.
pub const SECTION: DocSection = DocSection {
    include: true,
    label: "SaaS metrics",
    description: Some("Customer metrics for SaaS analytics (saasql)."),
};

/// Starts a function's documentation in the saasql section.
pub fn builder(description: &str, syntax: &str) -> DocumentationBuilder {
    Documentation::builder(SECTION, description.to_string(), syntax.to_string())
}
