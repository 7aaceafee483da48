//! The packaging files (no container runtime runs in the tests, so they are checked as
//! text against the binary they start) and `tollgate probe`, the container health check.

use std::path::PathBuf;

use crate::helpers::spawn_app;

fn read(name: &str) -> String {
    std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(name))
        .unwrap_or_else(|error| panic!("{name}: {error}"))
}

#[test]
fn the_dockerfile_builds_in_stages_and_runs_unprivileged_with_a_volume_and_health_check() {
    let dockerfile = read("Dockerfile");
    let stages: Vec<&str> = dockerfile
        .lines()
        .filter(|line| line.starts_with("FROM "))
        .collect();
    assert_eq!(stages.len(), 2, "{stages:?}");
    assert!(stages[0].ends_with(" AS build"));
    assert!(dockerfile.contains("COPY --from=build /src/target/release/tollgate"));
    let user = dockerfile
        .lines()
        .find_map(|line| line.strip_prefix("USER "))
        .expect("a USER line");
    assert_ne!(user.trim(), "root");
    assert!(dockerfile.contains("VOLUME [\"/var/lib/tollgate/data\"]"));
    assert!(dockerfile.contains("TOLLGATE_DATA=/var/lib/tollgate/data"));
    assert!(dockerfile.contains("HEALTHCHECK"));
    assert!(
        dockerfile.contains("\"tollgate\", \"probe\", \"--url\", \"http://127.0.0.1:8080/readyz\"")
    );
    // Everything the build copies exists.
    for line in dockerfile
        .lines()
        .filter(|line| line.starts_with("COPY ") && !line.contains("--from"))
    {
        let parts: Vec<&str> = line.split_whitespace().collect();
        for source in &parts[1..parts.len() - 1] {
            let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(source);
            assert!(
                path.exists(),
                "the Dockerfile copies {source}, which is missing"
            );
        }
    }
    let compose = read("compose.yaml");
    assert!(compose.contains("build: ."));
    assert!(compose.contains("tollgate-data:/var/lib/tollgate/data"));
    let unit = read("packaging/tollgate.service");
    for line in [
        "ExecStart=/usr/local/bin/tollgate serve",
        "User=tollgate",
        "StateDirectory=tollgate",
        "TimeoutStopSec=30",
    ] {
        assert!(unit.contains(line), "the unit lacks {line}");
    }
    // The variables the files set are ones the binary reads.
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["serve", "--help"])
        .output()
        .expect("help");
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    for text in [&dockerfile, &compose, &unit] {
        for word in text.split(|c: char| !(c.is_ascii_uppercase() || c == '_')) {
            if word.starts_with("TOLLGATE_") {
                assert!(help.contains(word), "{word} is not a serve variable");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_passes_on_a_ready_server_and_fails_without_one() {
    let app = spawn_app().await;
    let url = format!("http://{}/readyz", app.address);
    let ready = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(["probe", "--url", &url])
            .output()
            .expect("probe")
    })
    .await
    .expect("join");
    assert!(
        ready.status.success(),
        "{}",
        String::from_utf8_lossy(&ready.stderr)
    );
    let address = app.address;
    app.stop().await;
    let gone = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(["probe", "--url", &format!("http://{address}/readyz")])
            .output()
            .expect("probe")
    })
    .await
    .expect("join");
    assert!(!gone.status.success());
}
