//! The query, mutation and subscription roots, merged from one root per domain.

pub mod core;
pub mod subscription;
