//! The operator endpoints: `/operator/graphql` (create platforms, verify the ledger) and
//! `/operator/backup` (a consistent snapshot of the store, streamed), both answering only
//! to the operator key, and absent (404) when the server runs without one.

use std::io::Write;

use async_graphql_axum::GraphQLRequest;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;
use tokio::io::AsyncReadExt;

use super::{auth, HttpState};

/// The shortest operator key accepted: it guards every platform.
pub const MIN_OPERATOR_KEY_CHARS: usize = 16;
/// How much of a backup is sent per chunk.
const BACKUP_CHUNK_BYTES: usize = 64 * 1024;

/// Checks an operator key given at startup.
pub fn check_operator_key(key: &str) -> Result<(), String> {
    if key.chars().count() < MIN_OPERATOR_KEY_CHARS {
        return Err(format!(
            "the operator key must be at least {MIN_OPERATOR_KEY_CHARS} characters"
        ));
    }
    Ok(())
}

/// Refuses the request (with its status and message) unless it carries the operator key.
fn authorize(state: &HttpState, headers: &HeaderMap) -> Result<(), (StatusCode, &'static str)> {
    let Some(expected) = state.services.settings.operator_key.as_deref() else {
        return Err((
            StatusCode::NOT_FOUND,
            "the operator API is off: start the server with --operator-key\n",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(auth::api_key)
        .unwrap_or_default();
    if bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err((
            StatusCode::UNAUTHORIZED,
            "send 'Authorization: Bearer <operator key>'\n",
        ))
    }
}

pub(super) async fn graphql(
    State(state): State<HttpState>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> Response {
    if let Err(refused) = authorize(&state, &headers) {
        return refused.into_response();
    }
    let response = state.operator.execute(request.into_inner()).await;
    async_graphql_axum::GraphQLResponse::from(response).into_response()
}

/// Streams a snapshot: written to a temporary file with writes paused (so it is one
/// consistent state), then sent while the server carries on.
pub(super) async fn backup(State(state): State<HttpState>, headers: HeaderMap) -> Response {
    if let Err(refused) = authorize(&state, &headers) {
        return refused.into_response();
    }
    let services = state.services.clone();
    let path = std::env::temp_dir().join(format!("tollgate-backup-{}", services.ids.body()));
    let snapshot_path = path.clone();
    let written = tokio::task::spawn_blocking(move || -> Result<u64, String> {
        let file = std::fs::File::create(&snapshot_path).map_err(|error| error.to_string())?;
        let mut out = std::io::BufWriter::new(file);
        let records = services
            .write_backup(&mut out)
            .map_err(|error| error.to_string())?;
        out.flush().map_err(|error| error.to_string())?;
        Ok(records)
    })
    .await
    .map_err(|error| error.to_string())
    .and_then(|written| written);
    let opened = match written {
        Ok(records) => {
            tracing::info!(records, "backup written");
            tokio::fs::File::open(&path)
                .await
                .map_err(|error| error.to_string())
        }
        Err(error) => Err(error),
    };
    // The open file keeps its data; the name is not needed any more.
    let _ = tokio::fs::remove_file(&path).await;
    let file = match opened {
        Ok(file) => file,
        Err(error) => {
            tracing::error!(%error, "the backup could not be made");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the backup could not be made\n",
            )
                .into_response();
        }
    };
    // A read error ends the stream (the client sees a cut-off body and refuses it).
    let chunks = futures::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buffer = vec![0u8; BACKUP_CHUNK_BYTES];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(read) => {
                buffer.truncate(read);
                Some((Ok::<Vec<u8>, std::io::Error>(buffer), Some(file)))
            }
            Err(error) => Some((Err(error), None)),
        }
    });
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"tollgate.backup\"",
            ),
        ],
        Body::from_stream(chunks),
    )
        .into_response()
}
