//! GraphiQL served wholly from the binary: the page, its vendored production assets
//! (`assets/graphiql/`, from the graphiql, react and react-dom npm packages), the example
//! documents opened as tabs, and the one rule for pre-filling the demo key.

use std::net::SocketAddr;

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::graphiql_examples::EXAMPLES;

/// Where the page loads its scripts and styles from (this server, never a CDN).
pub const ASSET_PREFIX: &str = "/graphiql";

/// Browsers may keep the assets this long: they change only with the binary.
const ASSET_CACHE_SECONDS: u32 = 86_400;

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSETS: [Asset; 4] = [
    Asset {
        name: "react.production.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/graphiql/react.production.min.js"),
    },
    Asset {
        name: "react-dom.production.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/graphiql/react-dom.production.min.js"),
    },
    Asset {
        name: "graphiql.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/graphiql/graphiql.min.js"),
    },
    Asset {
        name: "graphiql.min.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../assets/graphiql/graphiql.min.css"),
    },
];

/// The names of the embedded assets, as served under [`ASSET_PREFIX`].
pub fn asset_names() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|asset| asset.name)
}

/// The one decision on whether GraphiQL shows the demo platform's key: only in demo mode
/// and only when the server listens on a loopback address, so a key is never handed to
/// whoever can reach a server exposed on a network.
pub fn demo_key_for_graphiql(listen: SocketAddr, demo_secret_key: Option<&str>) -> Option<&str> {
    demo_secret_key.filter(|_| listen.ip().is_loopback())
}

/// Serves one embedded asset; anything else is 404.
pub async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|asset| asset.name == name) {
        Some(asset) => (
            [
                (header::CONTENT_TYPE, asset.content_type.to_owned()),
                (
                    header::CACHE_CONTROL,
                    format!("public, max-age={ASSET_CACHE_SECONDS}"),
                ),
            ],
            asset.bytes,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The GraphiQL page: the example tabs, and the key in the Headers tab when one is given.
pub fn page(prefilled_secret_key: Option<&str>) -> String {
    let mut headers = serde_json::Map::new();
    if let Some(key) = prefilled_secret_key {
        headers.insert("Authorization".into(), json!(format!("Bearer {key}")));
    }
    let tabs: Vec<serde_json::Value> = EXAMPLES
        .iter()
        .map(|example| {
            let mut tab_headers = headers.clone();
            for (name, value) in example.extra_headers {
                tab_headers.insert((*name).into(), json!(value));
            }
            json!({
                "query": example.document,
                "variables": example.variables,
                "headers": pretty(&serde_json::Value::Object(tab_headers)),
            })
        })
        .collect();
    let config = json!({
        "tabs": tabs,
        "headers": pretty(&serde_json::Value::Object(headers.clone())),
        "showHeaders": prefilled_secret_key.is_some(),
    });
    // `<` is escaped so no string in the configuration can close the script element.
    let config = config.to_string().replace('<', "\\u003c");
    PAGE_TEMPLATE
        .replace("{ASSETS}", ASSET_PREFIX)
        .replace("{CONFIG}", &config)
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// Every URL in the page is a path on this server; the configuration is read from a JSON
/// script element, not interpolated into code.
const PAGE_TEMPLATE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="robots" content="noindex">
  <title>tollgate · GraphiQL</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="{ASSETS}/graphiql.min.css">
  <style>body { margin: 0; height: 100%; overflow: hidden; } #graphiql { height: 100vh; }</style>
  <script src="{ASSETS}/react.production.min.js"></script>
  <script src="{ASSETS}/react-dom.production.min.js"></script>
  <script src="{ASSETS}/graphiql.min.js"></script>
</head>
<body>
  <div id="graphiql">Loading GraphiQL…</div>
  <script id="tollgate-config" type="application/json">{CONFIG}</script>
  <script>
    const config = JSON.parse(document.getElementById("tollgate-config").textContent);
    const endpoint = new URL("/graphql", window.location.origin);
    const subscriptions = new URL("/graphql/ws", window.location.origin);
    subscriptions.protocol = endpoint.protocol === "https:" ? "wss:" : "ws:";
    const fetcher = GraphiQL.createFetcher({
      url: endpoint.toString(),
      subscriptionUrl: subscriptions.toString(),
      // The Headers tab is sent with every request and as the websocket's connection
      // parameters, so subscriptions authenticate with the same key.
      wsConnectionParams: JSON.parse(config.headers),
    });
    ReactDOM.createRoot(document.getElementById("graphiql")).render(
      React.createElement(GraphiQL, {
        fetcher,
        defaultTabs: config.tabs,
        defaultHeaders: config.headers,
        shouldPersistHeaders: true,
        defaultEditorToolsVisibility: config.showHeaders ? "headers" : "variables",
      })
    );
  </script>
</body>
</html>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_key_is_shown_only_on_loopback() {
        let loopback: SocketAddr = "127.0.0.1:8080".parse().expect("address");
        let loopback_v6: SocketAddr = "[::1]:8080".parse().expect("address");
        let everywhere: SocketAddr = "0.0.0.0:8080".parse().expect("address");
        let lan: SocketAddr = "192.168.1.20:8080".parse().expect("address");
        assert_eq!(demo_key_for_graphiql(loopback, Some("sk_1")), Some("sk_1"));
        assert_eq!(
            demo_key_for_graphiql(loopback_v6, Some("sk_1")),
            Some("sk_1")
        );
        assert_eq!(demo_key_for_graphiql(everywhere, Some("sk_1")), None);
        assert_eq!(demo_key_for_graphiql(lan, Some("sk_1")), None);
        assert_eq!(demo_key_for_graphiql(loopback, None), None);
    }

    #[test]
    fn the_page_escapes_its_configuration() {
        let page = page(Some("sk_</script><script>alert(1)</script>"));
        assert_eq!(page.matches("</script>").count(), 5, "only the page's own");
        assert!(page.contains("Bearer sk_\\u003c/script>"));
    }

    #[test]
    fn every_example_is_a_tab_and_the_key_is_in_each_tab() {
        let page = page(Some("sk_test_1"));
        assert_eq!(page.matches("Bearer sk_test_1").count(), EXAMPLES.len() + 1);
        assert!(!page.contains("{CONFIG}") && !page.contains("{ASSETS}"));
    }
}
