//! Where webhooks may go: internal addresses in every spelling are refused when an
//! endpoint is created and again at connect time after DNS; redirects are not followed;
//! https endpoints are trusted through the web PKI or a CA given with `--webhooks-extra-ca`.

use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::routing::post;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_rustls::rustls;

use crate::helpers::{assert_no_errors, error_code, error_param, spawn_app, spawn_app_with, TOPUP};
use crate::webhooks_support::{
    create_endpoint, receiver, signed_by, wait_for_deliveries, CREATE_ENDPOINT,
};

#[tokio::test]
async fn every_spelling_of_an_internal_address_is_refused_at_creation() {
    let app = spawn_app_with(|settings| settings.webhooks_allow_private = false).await;
    for url in [
        "http://127.0.0.1/hooks",
        "http://127.1/hooks",
        "http://2130706433/hooks",
        "http://0x7f000001/hooks",
        "http://0x7f.0.0.1/hooks",
        "http://0177.0.0.1/hooks",
        "http://0.0.0.0/hooks",
        "http://0/hooks",
        "http://10.1.2.3/hooks",
        "http://172.16.0.1/hooks",
        "http://192.168.0.10/hooks",
        "http://100.64.0.1/hooks",
        "http://169.254.169.254/latest/meta-data/",
        "http://224.0.0.1/hooks",
        "http://255.255.255.255/hooks",
        "http://[::1]/hooks",
        "http://[::]/hooks",
        "http://[::ffff:127.0.0.1]/hooks",
        "http://[::ffff:169.254.169.254]/hooks",
        "http://[fe80::1]/hooks",
        "http://[fd00::1]/hooks",
        "http://[ff02::1]/hooks",
        "http://localhost:8080/hooks",
        "http://LocalHost./hooks",
        "https://internal.localhost/hooks",
    ] {
        let body = app
            .graphql(CREATE_ENDPOINT, json!({"url": url, "events": ["*"]}))
            .await;
        assert_eq!(error_code(&body), "INVALID_REQUEST", "{url}: {body}");
        assert_eq!(error_param(&body), Some("input.url"), "{url}");
    }
    let body = app
        .graphql(
            CREATE_ENDPOINT,
            json!({"url": "https://hooks.example.com/tollgate", "events": ["*"]}),
        )
        .await;
    assert_no_errors(&body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_and_addresses_inside_are_refused_at_connect_time() {
    use tollgate::service::webhook_client::resolve_public;
    assert!(resolve_public("localhost", false).await.is_err());
    let allowed = resolve_public("localhost", true).await.expect("resolves");
    assert!(allowed.iter().any(|address| address.ip().is_loopback()));

    // Endpoints made while private addresses were allowed, then the server restarts
    // without: the name is refused after DNS, the address before connecting.
    let hooks = receiver(&[], 200).await;
    let port = hooks
        .url
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/hooks")
        .to_owned();
    let by_name = format!("http://localhost:{port}/hooks");
    let app = spawn_app().await;
    let (named, _) = create_endpoint(&app, &by_name, &["topup.created"]).await;
    let (numbered, _) = create_endpoint(&app, &hooks.url, &["topup.created"]).await;
    let platform = (app.platform_id.clone(), app.secret_key.clone());
    let (data_dir, temp) = app.stop().await;
    let app = crate::helpers::start_with_settings(
        tollgate::config::Settings {
            webhooks_allow_private: false,
            ..crate::helpers::settings_in(data_dir)
        },
        Some(platform),
        None,
    )
    .await;
    assert_no_errors(
        &app.graphql(TOPUP, json!({"amount": 300, "currency": "usd"}))
            .await,
    );
    let by_name = wait_for_deliveries(&app, &named, "a refused attempt", |found| {
        found
            .first()
            .is_some_and(|delivery| delivery["attempts"] == 1)
    })
    .await;
    let error = by_name[0]["error"].as_str().expect("error");
    assert!(error.contains("resolves only to refused"), "{error}");
    let by_number = wait_for_deliveries(&app, &numbered, "a refused attempt", |found| {
        found
            .first()
            .is_some_and(|delivery| delivery["attempts"] == 1)
    })
    .await;
    assert_eq!(
        by_number[0]["error"],
        "127.0.0.1 is a refused (loopback, private, link-local, multicast or unspecified) address"
    );
    assert_eq!(by_number[0]["responseCode"], serde_json::Value::Null);
    assert_eq!(hooks.count(), 0);
    drop(temp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_not_followed() {
    let target = receiver(&[], 200).await;
    let location = target.url.clone();
    let app_router = axum::Router::new().route(
        "/hooks",
        post(move || {
            let location = location.clone();
            async move { (StatusCode::FOUND, [(header::LOCATION, location)]) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app_router).await;
    });
    let app = spawn_app().await;
    let (endpoint, _) =
        create_endpoint(&app, &format!("http://{address}/hooks"), &["topup.created"]).await;
    assert_no_errors(
        &app.graphql(TOPUP, json!({"amount": 300, "currency": "usd"}))
            .await,
    );
    let found = wait_for_deliveries(&app, &endpoint, "the redirected attempt", |found| {
        found
            .first()
            .is_some_and(|delivery| delivery["attempts"] == 1)
    })
    .await;
    assert_eq!(found[0]["status"], "PENDING");
    assert_eq!(found[0]["responseCode"], 302);
    assert_eq!(target.count(), 0);
}

/// A CA and a certificate for `localhost` and 127.0.0.1 signed by it.
fn test_ca() -> (String, rustls::pki_types::CertificateDer<'static>, Vec<u8>) {
    let ca_key = rcgen::KeyPair::generate().expect("ca key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "tollgate test CA");
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
    let leaf_params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("leaf params");
    let leaf = leaf_params
        .signed_by(&leaf_key, &ca, &ca_key)
        .expect("leaf");
    (ca.pem(), leaf.der().clone(), leaf_key.serialize_der())
}

/// An https receiver answering 200 to each POST; sends each body it gets.
async fn tls_receiver(
    certificate: rustls::pki_types::CertificateDer<'static>,
    key: Vec<u8>,
) -> (u16, mpsc::UnboundedReceiver<(String, String)>) {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(
        vec![certificate],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.into()),
    )
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    let (sender, received) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (acceptor, sender) = (acceptor.clone(), sender.clone());
            tokio::spawn(async move {
                let Ok(mut stream) = acceptor.accept(socket).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buffer = [0u8; 8192];
                loop {
                    let Ok(read) = stream.read(&mut buffer).await else {
                        return;
                    };
                    if read == 0 {
                        return;
                    }
                    request.extend_from_slice(&buffer[..read]);
                    let text = String::from_utf8_lossy(&request).to_string();
                    let Some((head, body)) = text.split_once("\r\n\r\n") else {
                        continue;
                    };
                    let length: usize = head
                        .lines()
                        .find_map(|line| {
                            line.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|value| value.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() < length {
                        continue;
                    }
                    let signature = head
                        .lines()
                        .find_map(|line| {
                            line.split_once(':')
                                .filter(|(name, _)| name.eq_ignore_ascii_case("tollgate-signature"))
                        })
                        .map(|(_, value)| value.trim().to_owned())
                        .unwrap_or_default();
                    let _ = sender.send((signature, body.to_owned()));
                    let _ = stream
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                        )
                        .await;
                    let _ = stream.shutdown().await;
                    return;
                }
            });
        }
    });
    (port, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_endpoints_are_trusted_through_an_extra_ca() {
    let (ca_pem, certificate, key) = test_ca();
    let (port, mut received) = tls_receiver(certificate, key).await;
    let temp = tempfile::tempdir().expect("temp");
    let ca_file = temp.path().join("test-ca.pem");
    std::fs::write(&ca_file, ca_pem).expect("write CA");
    let url = format!("https://localhost:{port}/hooks");

    // Without the CA, the certificate is not trusted and nothing is delivered.
    let untrusting = spawn_app().await;
    let (endpoint, _) = create_endpoint(&untrusting, &url, &["topup.created"]).await;
    assert_no_errors(
        &untrusting
            .graphql(TOPUP, json!({"amount": 300, "currency": "usd"}))
            .await,
    );
    let found = wait_for_deliveries(&untrusting, &endpoint, "an untrusted attempt", |found| {
        found
            .first()
            .is_some_and(|delivery| delivery["attempts"] == 1)
    })
    .await;
    let error = found[0]["error"]
        .as_str()
        .expect("error")
        .to_ascii_lowercase();
    assert!(error.contains("certificate"), "{error}");

    let app = spawn_app_with(|settings| {
        settings.webhooks_extra_ca = Some(ca_file.clone());
    })
    .await;
    let (endpoint, secret) = create_endpoint(&app, &url, &["topup.created"]).await;
    let topup = app
        .graphql(TOPUP, json!({"amount": 4242, "currency": "usd"}))
        .await;
    assert_no_errors(&topup);
    let (signature, body) = tokio::time::timeout(crate::webhooks_support::WAIT, received.recv())
        .await
        .expect("an https delivery")
        .expect("delivery");
    assert!(signed_by(&secret, &signature, &body), "{signature}");
    let event: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        event["data"]["object"]["id"],
        topup["data"]["createTopup"]["id"]
    );
    let found = wait_for_deliveries(&app, &endpoint, "the acknowledged delivery", |found| {
        found
            .first()
            .is_some_and(|delivery| delivery["status"] == "SUCCEEDED")
    })
    .await;
    assert_eq!(found[0]["responseCode"], 200);

    // A CA file that is not one stops the server from starting.
    let bad = temp.path().join("not-a-ca.pem");
    std::fs::write(&bad, "hello").expect("write");
    let settings = tollgate::config::Settings {
        webhooks_extra_ca: Some(bad),
        ..crate::helpers::settings_in(temp.path().join("other"))
    };
    assert!(tollgate::app::Application::build(settings).is_err());
}
