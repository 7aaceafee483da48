//! The committed schema.graphql is exactly what the code exports.

#[test]
fn schema_graphql_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    let exported = tollgate::graphql::sdl();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &exported).expect("write schema.graphql");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == exported,
        "schema.graphql is out of date: run `UPDATE_SCHEMA=1 cargo test schema_graphql` and commit it"
    );
}
