//! API keys: restricted keys read (as their account when bound to one) and every mutation
//! of the schema is refused with nothing written; a revoked key is refused like an unknown
//! one; a rotated secret key works until its overlap ends on the platform's clock.

use serde_json::{json, Value};

use crate::charges_support::create_charge;
use crate::helpers::{
    assert_no_errors, error_code, error_param, spawn_app, spawn_app_with, TestApp,
};
use crate::payouts_support::custom_account;

const CREATE_KEY: &str = "mutation($input: CreateRestrictedKeyInput!) {
  createRestrictedKey(input: $input) { id name secret permissions created account { id } } }";

async fn restricted_key(app: &TestApp, account: Option<&str>) -> (String, String) {
    let body = app
        .graphql(
            CREATE_KEY,
            json!({"input": {"name": "reporting", "account": account, "permissions": ["READ_ONLY"]}}),
        )
        .await;
    assert_no_errors(&body);
    let created = &body["data"]["createRestrictedKey"];
    assert_eq!(created["permissions"], json!(["READ_ONLY"]));
    assert_eq!(created["account"]["id"].as_str(), account);
    let id = created["id"].as_str().expect("id").to_owned();
    let secret = created["secret"].as_str().expect("secret").to_owned();
    assert!(id.starts_with("rkid_"), "{id}");
    assert!(secret.starts_with("rk_"), "{secret}");
    (id, secret)
}

/// The HTTP status and body of a request made with `key`.
async fn send(app: &TestApp, key: &str, account: Option<&str>, query: &str) -> (u16, Value) {
    let mut request = app
        .client
        .post(app.url())
        .bearer_auth(key)
        .json(&json!({ "query": query }));
    if let Some(account) = account {
        request = request.header("Connect-Account", account);
    }
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

/// A mutation field, its arguments and whether its result has fields to select.
struct MutationField {
    name: String,
    arguments: Vec<(String, String)>,
    object_result: bool,
}

/// The type as a variable declares it (`CreateChargeInput!`, `[CreateChargeInput!]!`).
fn type_text(ty: &Value) -> String {
    match ty["kind"].as_str() {
        Some("NON_NULL") => format!("{}!", type_text(&ty["ofType"])),
        Some("LIST") => format!("[{}]", type_text(&ty["ofType"])),
        _ => ty["name"].as_str().expect("named type").to_owned(),
    }
}

fn named_kind(ty: &Value) -> &str {
    match ty["kind"].as_str() {
        Some("NON_NULL" | "LIST") => named_kind(&ty["ofType"]),
        Some(kind) => kind,
        None => panic!("no kind in {ty}"),
    }
}

const TYPE_REF: &str = "kind name ofType { kind name ofType { kind name ofType { kind name } } }";

async fn mutation_fields(app: &TestApp) -> Vec<MutationField> {
    let body = app
        .graphql(
            &format!("{{ __schema {{ mutationType {{ fields {{ name args {{ name type {{ {TYPE_REF} }} }} type {{ {TYPE_REF} }} }} }} }} }}"),
            json!({}),
        )
        .await;
    assert_no_errors(&body);
    body["data"]["__schema"]["mutationType"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|field| MutationField {
            name: field["name"].as_str().expect("name").to_owned(),
            arguments: field["args"]
                .as_array()
                .expect("args")
                .iter()
                .map(|arg| {
                    (
                        arg["name"].as_str().expect("arg").to_owned(),
                        type_text(&arg["type"]),
                    )
                })
                .collect(),
            object_result: !matches!(named_kind(&field["type"]), "SCALAR" | "ENUM"),
        })
        .collect()
}

/// What the platform holds: refused mutations must leave all of it as it was.
async fn snapshot(app: &TestApp) -> Value {
    let body = app
        .graphql(
            "{ ledgerCheck { entries balanced } events(first: 100) { nodes { id } }
               accounts(first: 100) { nodes { id email externalAccounts { ... on BankAccount { id } } } }
               charges(first: 100) { nodes { id status amountRefunded { amount } } }
               restrictedKeys(first: 100) { nodes { id } } webhookEndpoints(first: 10) { nodes { id } }
               platform { name balance { available { amount } pending { amount } } } }",
            json!({}),
        )
        .await;
    assert_no_errors(&body);
    body
}

#[tokio::test]
async fn a_restricted_key_reads_as_its_account_and_every_mutation_is_forbidden() {
    let app = spawn_app().await;
    let key = app.secret_key.clone();
    let x = custom_account(&app, &key, "US", "usd", "000123456789").await;
    let y = custom_account(&app, &key, "US", "usd", "000123456789").await;
    let charged = create_charge(
        &app,
        Some(&x),
        json!({"amount": 4000, "currency": "usd", "paymentMethod": "pm_card_visa"}),
    )
    .await;
    assert_no_errors(&charged);
    let (_, secret) = restricted_key(&app, Some(&x)).await;

    // Reads act as X, with or without Connect-Account naming X.
    let reads = "{ accounts(first: 100) { nodes { id } } charges(first: 100) { nodes { id } } }";
    for connect_account in [None, Some(x.as_str())] {
        let (status, body) = send(&app, &secret, connect_account, reads).await;
        assert_eq!(status, 200, "{body}");
        assert_no_errors(&body);
        assert_eq!(body["data"]["accounts"]["nodes"], json!([{"id": x}]));
        assert_eq!(
            body["data"]["charges"]["nodes"],
            json!([{"id": charged["data"]["createCharge"]["id"]}])
        );
    }
    // Another account in Connect-Account is refused, saying why.
    let (status, body) = send(&app, &secret, Some(&y), reads).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(error_code(&body), "FORBIDDEN");
    assert_eq!(error_param(&body), Some("Connect-Account"));
    let message = body["errors"][0]["message"].as_str().expect("message");
    assert!(message.contains(&format!("bound to {x}")), "{message}");

    // Every mutation of the schema, whatever its input, is refused before it runs.
    let before = snapshot(&app).await;
    let fields = mutation_fields(&app).await;
    assert!(fields.len() >= 29, "{} mutations", fields.len());
    let mut failures = Vec::new();
    for field in &fields {
        let declared: Vec<String> = field
            .arguments
            .iter()
            .map(|(name, ty)| format!("${name}: {ty}"))
            .collect();
        let passed: Vec<String> = field
            .arguments
            .iter()
            .map(|(name, _)| format!("{name}: ${name}"))
            .collect();
        let query = format!(
            "mutation{} {{ {}{} {} }}",
            if declared.is_empty() {
                String::new()
            } else {
                format!("({})", declared.join(", "))
            },
            field.name,
            if passed.is_empty() {
                String::new()
            } else {
                format!("({})", passed.join(", "))
            },
            if field.object_result {
                "{ __typename }"
            } else {
                ""
            },
        );
        let variables: serde_json::Map<String, Value> = field
            .arguments
            .iter()
            .map(|(name, ty)| {
                let value = if ty.starts_with('[') {
                    json!([{}])
                } else {
                    json!({})
                };
                (name.clone(), value)
            })
            .collect();
        let body = app
            .graphql_as(&secret, None, &query, Value::Object(variables))
            .await;
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        let refused = body["errors"][0]["extensions"]["code"] == json!("FORBIDDEN")
            && message.contains("read-only")
            && body["data"].is_null();
        if !refused {
            failures.push(format!("{}: {body}", field.name));
        }
    }
    assert!(failures.is_empty(), "not refused: {failures:#?}");
    assert_eq!(
        before,
        snapshot(&app).await,
        "a refused mutation wrote something"
    );

    // A document holding a mutation may still run its query operation.
    let body = app
        .client
        .post(app.url())
        .bearer_auth(&secret)
        .json(&json!({
            "query": "query Read { accounts { nodes { id } } } mutation Write { rotateSecretKey { secretKey } }",
            "operationName": "Read"
        }))
        .send()
        .await
        .expect("send")
        .json::<Value>()
        .await
        .expect("json");
    assert_no_errors(&body);
    assert_eq!(body["data"]["accounts"]["nodes"], json!([{"id": x}]));
    let body = app
        .client
        .post(app.url())
        .bearer_auth(&secret)
        .json(&json!({
            "query": "query Read { accounts { nodes { id } } } mutation Write { rotateSecretKey { secretKey } }",
            "operationName": "Write"
        }))
        .send()
        .await
        .expect("send")
        .json::<Value>()
        .await
        .expect("json");
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
}

#[tokio::test]
async fn restricted_keys_are_listed_without_secrets_and_a_revoked_key_is_refused_like_an_unknown_one(
) {
    let app = spawn_app().await;
    let key = app.secret_key.clone();
    let x = custom_account(&app, &key, "US", "usd", "000123456789").await;
    let (bound, bound_secret) = restricted_key(&app, Some(&x)).await;
    let (platform_wide, platform_secret) = restricted_key(&app, None).await;

    let body = app
        .graphql(
            "{ restrictedKeys(first: 1) { nodes { id name secret account { id } } pageInfo { hasNextPage endCursor } } }",
            json!({}),
        )
        .await;
    assert_no_errors(&body);
    assert_eq!(
        body["data"]["restrictedKeys"]["nodes"],
        json!([{"id": platform_wide, "name": "reporting", "secret": null, "account": null}])
    );
    assert_eq!(
        body["data"]["restrictedKeys"]["pageInfo"]["hasNextPage"],
        json!(true)
    );
    let cursor = body["data"]["restrictedKeys"]["pageInfo"]["endCursor"].clone();
    let body = app
        .graphql(
            "query($after: String) { restrictedKeys(first: 1, after: $after) { nodes { id secret account { id } } pageInfo { hasNextPage } } }",
            json!({"after": cursor}),
        )
        .await;
    assert_no_errors(&body);
    assert_eq!(
        body["data"]["restrictedKeys"]["nodes"],
        json!([{"id": bound, "secret": null, "account": {"id": x}}])
    );
    assert_eq!(
        body["data"]["restrictedKeys"]["pageInfo"]["hasNextPage"],
        json!(false)
    );

    // A key not bound to an account reads the whole platform, and may act as an account.
    let (status, body) = send(
        &app,
        &platform_secret,
        None,
        "{ accounts { nodes { id } } }",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["accounts"]["nodes"], json!([{"id": x}]));
    let (status, _) = send(
        &app,
        &platform_secret,
        Some(&x),
        "{ balance { available { amount } } }",
    )
    .await;
    assert_eq!(status, 200);

    // Names and permissions are checked; a key is the platform's alone.
    for (input, param) in [
        (
            json!({"name": " ", "permissions": ["READ_ONLY"]}),
            "input.name",
        ),
        (
            json!({"name": "empty", "permissions": []}),
            "input.permissions",
        ),
        (
            json!({"name": "other", "account": "acct_001k1nph2ckt53sgb3ez8agvmd", "permissions": ["READ_ONLY"]}),
            "input.account",
        ),
    ] {
        let body = app.graphql(CREATE_KEY, json!({"input": input})).await;
        assert_eq!(error_param(&body), Some(param), "{body}");
    }
    let body = app
        .graphql_as(
            &key,
            Some(&x),
            CREATE_KEY,
            json!({"input": {"name": "mine", "permissions": ["READ_ONLY"]}}),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");

    // Revoked: the same 401 as a key that never existed.
    let revoke = "mutation($id: ID!) { revokeRestrictedKey(input: {id: $id}) { id name secret } }";
    let body = app.graphql(revoke, json!({"id": bound})).await;
    assert_no_errors(&body);
    assert_eq!(
        body["data"]["revokeRestrictedKey"],
        json!({"id": bound, "name": "reporting", "secret": null})
    );
    let (status, refused) = send(&app, &bound_secret, None, "{ accounts { nodes { id } } }").await;
    assert_eq!(status, 401, "{refused}");
    assert_eq!(error_code(&refused), "UNAUTHENTICATED");
    let unknown = format!("{}0", &bound_secret[..bound_secret.len() - 1]);
    let (status, never) = send(&app, &unknown, None, "{ accounts { nodes { id } } }").await;
    assert_eq!(status, 401);
    assert_eq!(
        refused["errors"][0]["message"],
        never["errors"][0]["message"]
    );
    let body = app.graphql(revoke, json!({"id": bound})).await;
    assert_eq!(error_code(&body), "NOT_FOUND", "{body}");
    let body = app
        .graphql("{ restrictedKeys { nodes { id } } }", json!({}))
        .await;
    assert_eq!(
        body["data"]["restrictedKeys"]["nodes"],
        json!([{"id": platform_wide}])
    );
}

const ROTATE: &str = "mutation { rotateSecretKey { secretKey previousKeyExpiresAt } }";
const WHO: &str = "{ platform { id } }";

async fn works(app: &TestApp, key: &str) -> bool {
    let (status, body) = send(app, key, None, WHO).await;
    match status {
        200 => {
            assert_eq!(body["data"]["platform"]["id"], json!(app.platform_id));
            true
        }
        401 => {
            assert_eq!(error_code(&body), "UNAUTHENTICATED");
            false
        }
        other => panic!("status {other}: {body}"),
    }
}

async fn rotate(app: &TestApp, key: &str) -> (String, String) {
    let body = app.graphql_as(key, None, ROTATE, json!({})).await;
    assert_no_errors(&body);
    let rotation = &body["data"]["rotateSecretKey"];
    (
        rotation["secretKey"].as_str().expect("key").to_owned(),
        rotation["previousKeyExpiresAt"]
            .as_str()
            .expect("time")
            .to_owned(),
    )
}

async fn advance(app: &TestApp, key: &str, seconds: i64) {
    let body = app
        .graphql_as(
            key,
            None,
            "mutation($s: Int!) { advanceClock(input: {seconds: $s}) }",
            json!({"s": seconds}),
        )
        .await;
    assert_no_errors(&body);
}

#[tokio::test]
async fn a_rotated_secret_key_works_until_its_overlap_ends_on_the_platform_clock() {
    let app = spawn_app_with(|settings| {
        settings.key_rotation_overlap =
            tollgate::domain::api_keys::RotationOverlap::from_hours(2).expect("overlap");
    })
    .await;
    let old = app.secret_key.clone();
    let rotated_at = app.now();
    let (new, expires) = rotate(&app, &old).await;
    assert!(new.starts_with("sk_") && new != old);
    let expected = (rotated_at + chrono::Duration::hours(2))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(expires, expected);

    assert!(works(&app, &old).await);
    assert!(works(&app, &new).await);
    advance(&app, &new, 2 * 3600 - 1).await;
    assert!(works(&app, &old).await, "one second before the end");
    advance(&app, &new, 1).await;
    assert!(!works(&app, &old).await, "refused once the overlap is over");
    assert!(works(&app, &new).await);

    // Only the platform itself rotates; a restricted key cannot.
    let x = custom_account(&app, &new, "US", "usd", "000123456789").await;
    let body = app.graphql_as(&new, Some(&x), ROTATE, json!({})).await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    assert_eq!(error_param(&body), Some("Connect-Account"));
    assert!(works(&app, &new).await);
}

#[tokio::test]
async fn each_rotation_keeps_its_own_expiry_and_at_most_three_earlier_keys_stay_alive() {
    let app = spawn_app().await;
    let mut keys = vec![app.secret_key.clone()];
    let mut expiries = Vec::new();
    for hour in 0..4 {
        let current = keys.last().expect("key").clone();
        let (next, expires) = rotate(&app, &current).await;
        let expected = (app.now() + chrono::Duration::hours(24))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        assert_eq!(expires, expected, "rotation {hour}");
        keys.push(next);
        expiries.push(expires);
        advance(&app, keys.last().expect("key"), 3600).await;
    }
    // Four rotations: the first key was ended early by the fourth; the next three keep
    // their own 24 hours.
    let alive: Vec<bool> = {
        let mut alive = Vec::new();
        for key in &keys {
            alive.push(works(&app, key).await);
        }
        alive
    };
    assert_eq!(alive, vec![false, true, true, true, true]);
    // 24 hours after the second rotation (made at hour 1; now hour 4): that key ends, the
    // later ones stand.
    advance(&app, &keys[4], 21 * 3600).await;
    let mut alive = Vec::new();
    for key in &keys {
        alive.push(works(&app, key).await);
    }
    assert_eq!(alive, vec![false, false, true, true, true]);
}

#[tokio::test]
async fn a_restricted_key_may_subscribe_to_its_accounts_events() {
    use futures::StreamExt;
    use tollgate::service::Access;

    let app = spawn_app().await;
    let key = app.secret_key.clone();
    let x = custom_account(&app, &key, "US", "usd", "000123456789").await;
    let (_, secret) = restricted_key(&app, Some(&x)).await;
    let credential = app.services.authenticate_key(&secret).expect("credential");
    let caller = app
        .services
        .caller_for(credential, None, Access::Read)
        .expect("caller");
    assert!(caller.read_only);
    let schema = tollgate::graphql::build_schema(Some(app.services.clone()));
    let request =
        async_graphql::Request::new("subscription { events { type account { id } } }").data(caller);
    let listeners = app.services.event_stream.receiver_count();
    let first = tokio::spawn(async move { schema.execute_stream(request).next().await });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.services.event_stream.receiver_count() == listeners
        && std::time::Instant::now() < deadline
    {
        tokio::task::yield_now().await;
    }
    let charged = create_charge(
        &app,
        Some(&x),
        json!({"amount": 1000, "currency": "usd", "paymentMethod": "pm_card_visa"}),
    )
    .await;
    assert_no_errors(&charged);
    let first = tokio::time::timeout(std::time::Duration::from_secs(10), first)
        .await
        .expect("an event in time")
        .expect("the task")
        .expect("the stream is open");
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    let event = first.data.into_json().expect("json");
    assert_eq!(event["events"]["account"]["id"], json!(x), "{event}");
}
