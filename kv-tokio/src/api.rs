//! The client protocol: HTTP/1.1 with JSON answers.
//!
//! | request | answer |
//! | --- | --- |
//! | `PUT /kv/KEY` (body: the value) | `200 {"index": N, "retry": false}` once applied |
//! | `GET /kv/KEY` | `200` the value, or `404`; linearizable (ReadIndex, thesis §6.4) |
//! | `DELETE /kv/KEY` | `200 {"index": N, "retry": false, "existed": B}` once applied |
//! | `POST /kv/KEY/cas` (body: `{"expected": E, "new": V}`) | `200 {"index": N, "retry": false, "swapped": B}` once applied |
//! | `GET /kv?prefix=P&limit=N&after=K` | `200 {"pairs": [[key, value], ...], "truncated": B, "next": K, "more": B}`, linearizable |
//! | `GET /status` | role, term, leader, commit index, members, ... |
//! | `GET /health` | `200` if a leader is known and everything known committed is applied, else `503`; same JSON either way (see [`crate::health`]) |
//! | `GET /metrics` | Prometheus text format (see [`crate::metrics`]) |
//! | `POST /admin/learners/ID`, `POST /admin/voters/ID`, `DELETE /admin/members/ID` | membership change of one group (`?group=G`, 0 by default), `200 {"index": N}` once applied |
//! | `POST /admin/transfer/ID` | leadership transfer of one group (`?group=G`, 0 by default), `200 {"leader": ID}` when done |
//!
//! # Groups
//!
//! A node started with `--groups N` shards the keys into N Raft groups: a key's group is the
//! CRC-32C of the key modulo N (`kv::group_of`), and each group has its own leader, log and
//! snapshots. Clients see one store: a write at a node that does not lead the key's group is
//! redirected (`307`) to the node that does, reads are served by any node, and a scan reads
//! every group (each group's part is linearizable; the scan as a whole is not one atomic cut
//! across groups). `/status` shows group 0 at its top level, as with one group, and every group
//! under `"groups"`; `/health` is healthy when every group is. Membership changes and transfers
//! are per group (`?group=G`): to add a node to a cluster of N groups, add it to each, at each
//! group's leader.
//!
//! A scan answers at most `limit` pairs (at most 100,000; `limit` at least 1) and stops early
//! after 16 MiB of keys and values. When it stops before the end it says `"truncated": true` and
//! gives the cursor `"next"`: the last key answered, to send as `after=` for the next page
//! (`"next"` is absent otherwise; `"more"` is the same as `"truncated"`, kept for older clients).
//!
//! A compare-and-swap sets the key to the string `new` if its value is the string `expected`,
//! or, with `"expected": null`, if it is absent; `expected` must be given (`null` is not the
//! default) and no other field is accepted, so a misspelt field is a `400`, not a swap. It goes
//! through the log like a put, so it is linearizable with every other request; `"swapped"` says
//! whether it set the value (a comparison that fails is still a `200`). Values compared and set
//! this way are UTF-8 text; the JSON body counts against the 1 MiB limit of a value.
//!
//! A write at a follower is answered `307` with `Location` at the leader's HTTP address (and a
//! JSON body naming it); reads are served by any node. `503` means retry (no leader yet, or the
//! outcome of a write is unknown); `504` that no answer came in time. Every error answer,
//! including unknown routes (`404`), methods not allowed (`405`), bad parameters (`400`) and
//! bodies too large (`413`), is `{"error": {"code": C, "message": M}}` (see
//! [`crate::http_error`]).
//!
//! # Exactly-once writes
//!
//! A put, delete or compare-and-swap may carry a client session: `?client=ID&seq=N` (both or
//! neither, unsigned 64-bit numbers). A client picks an id unique in the cluster, numbers its
//! writes with `seq` growing, one at a time, and sends every retry of a write with the same `seq`.
//! A retry of a write already applied is not applied again: it is answered with the first result
//! and the first write's index, and `"retry": true`. A write older than the client's latest is
//! refused with `409`. The cluster keeps the sessions of the 4,096 clients most recently active in
//! the log (see `sansraft_kv::session`); without a session a write applies each time it commits.

use crate::answer::{Committed, Refusal};
use crate::http_error::{json_errors, no_route, ApiError};
use crate::kv::{Command, Read};
use crate::node::{GroupStatus, NodeStatus, Request};
use crate::roles::role_name;
use crate::transport::PeerPortStats;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use sansraft::{ConfChange, NodeId, TransferOutcome};
use sansraft_kv::{Op, Output, RequestId};
use sansraft_multi::GroupId;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Largest value accepted.
pub(crate) const MAX_VALUE_BYTES: usize = 1 << 20;
/// Longest key accepted.
pub(crate) const MAX_KEY_BYTES: usize = 1024;
/// Most pairs one scan returns.
const MAX_SCAN: usize = 100_000;

/// What every handler needs.
#[derive(Clone, Debug)]
pub(crate) struct Api {
    pub(crate) node: mpsc::Sender<Request>,
    /// Every node's HTTP address, for redirects.
    pub(crate) http_addrs: Arc<BTreeMap<NodeId, String>>,
    pub(crate) timeout: Duration,
    /// What the peer port refused.
    pub(crate) peer_stats: Arc<PeerPortStats>,
    /// The number of groups (`--groups`).
    pub(crate) groups: u64,
}

/// The routes.
pub(crate) fn router(api: Api) -> Router {
    Router::new()
        .route("/kv", get(scan))
        .route("/kv/{key}", get(read).put(put).delete(delete))
        .route("/kv/{key}/cas", post(cas))
        .route("/status", get(status))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/admin/learners/{id}", post(add_learner))
        .route("/admin/voters/{id}", post(promote))
        .route("/admin/members/{id}", axum::routing::delete(remove))
        .route("/admin/transfer/{id}", post(transfer))
        .fallback(no_route)
        .layer(DefaultBodyLimit::max(MAX_VALUE_BYTES))
        .layer(axum::middleware::map_response(json_errors))
        .with_state(api)
}

impl Api {
    /// Sends a request to the node loop and waits, bounded, for its answer.
    async fn ask<T>(
        &self,
        request: impl FnOnce(oneshot::Sender<T>) -> Request,
    ) -> Result<T, ApiError> {
        let (tx, rx) = oneshot::channel();
        self.node
            .send(request(tx))
            .await
            .map_err(|_| ApiError::Unavailable("the node is stopping".into()))?;
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err(ApiError::Unavailable("the node is stopping".into())),
            Err(_) => Err(ApiError::TimedOut),
        }
    }

    fn refused(&self, refusal: Refusal, uri: &Uri) -> ApiError {
        match refusal {
            Refusal::NotLeader {
                leader: Some(leader),
            } => match self.http_addrs.get(&leader) {
                Some(addr) => ApiError::Redirect {
                    leader,
                    location: format!(
                        "http://{addr}{}",
                        uri.path_and_query().map_or("/", |p| p.as_str())
                    ),
                },
                None => {
                    ApiError::Unavailable(format!("the leader is node {leader}, address unknown"))
                }
            },
            Refusal::NotLeader { leader: None } => ApiError::NoLeader,
            Refusal::Retry(why) => ApiError::Unavailable(why),
            Refusal::Invalid(why) => ApiError::Conflict(why),
        }
    }

    async fn write(
        &self,
        command: Command,
        uri: &Uri,
    ) -> Result<Json<serde_json::Value>, ApiError> {
        match self.ask(|tx| Request::Write(command, tx)).await? {
            Ok(Committed {
                index,
                output,
                retry,
            }) => {
                let mut body = json!({ "index": index, "retry": retry });
                match output {
                    Some(Output::Deleted(existed)) => body["existed"] = existed.into(),
                    Some(Output::Swapped(swapped)) => body["swapped"] = swapped.into(),
                    _ => {}
                }
                Ok(Json(body))
            }
            Err(refusal) => Err(self.refused(refusal, uri)),
        }
    }

    async fn change(
        &self,
        group: GroupId,
        change: ConfChange,
        uri: &Uri,
    ) -> Result<Json<serde_json::Value>, ApiError> {
        match self
            .ask(|tx| Request::ChangeMembership(group, change, tx))
            .await?
        {
            Ok(Committed { index, .. }) => Ok(Json(json!({ "index": index }))),
            Err(refusal) => Err(self.refused(refusal, uri)),
        }
    }
}

fn check_key(key: &str) -> Result<(), ApiError> {
    if key.len() > MAX_KEY_BYTES {
        return Err(ApiError::BadRequest(format!(
            "key longer than {MAX_KEY_BYTES} bytes"
        )));
    }
    Ok(())
}

/// A write's optional client session.
#[derive(Debug, Deserialize)]
struct SessionParams {
    client: Option<u64>,
    seq: Option<u64>,
}

impl SessionParams {
    fn request(
        params: Result<Query<SessionParams>, QueryRejection>,
    ) -> Result<Option<RequestId>, ApiError> {
        let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
        match (params.client, params.seq) {
            (Some(client), Some(seq)) => Ok(Some(RequestId { client, seq })),
            (None, None) => Ok(None),
            _ => Err(ApiError::BadRequest(
                "a client session needs both `client` and `seq`".into(),
            )),
        }
    }
}

async fn put(
    State(api): State<Api>,
    Path(key): Path<String>,
    session: Result<Query<SessionParams>, QueryRejection>,
    uri: Uri,
    value: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    check_key(&key)?;
    let request = SessionParams::request(session)?;
    let op = Op::Put { key, value };
    api.write(Command { request, op }, &uri).await
}

async fn delete(
    State(api): State<Api>,
    Path(key): Path<String>,
    session: Result<Query<SessionParams>, QueryRejection>,
    uri: Uri,
) -> Result<Json<serde_json::Value>, ApiError> {
    check_key(&key)?;
    let request = SessionParams::request(session)?;
    let op = Op::Delete { key };
    api.write(Command { request, op }, &uri).await
}

/// The body of a compare-and-swap.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CasBody {
    /// The value the key must have; `null`: it must be absent. Required, though nullable.
    #[serde(deserialize_with = "Option::deserialize")]
    expected: Option<String>,
    /// The value set if the comparison holds.
    new: String,
}

async fn cas(
    State(api): State<Api>,
    Path(key): Path<String>,
    session: Result<Query<SessionParams>, QueryRejection>,
    uri: Uri,
    body: Result<Json<CasBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    check_key(&key)?;
    let request = SessionParams::request(session)?;
    // A body that is not such JSON (or not declared as JSON) is a `400`; one too large, `413`.
    let Json(CasBody { expected, new }) = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::Other {
            status: e.status(),
            message: e.body_text(),
        },
        _ => ApiError::BadRequest(e.body_text()),
    })?;
    let op = Op::Cas {
        key,
        expected: expected.map(Bytes::from),
        new: Bytes::from(new),
    };
    api.write(Command { request, op }, &uri).await
}

async fn read(
    State(api): State<Api>,
    Path(key): Path<String>,
    uri: Uri,
) -> Result<Bytes, ApiError> {
    check_key(&key)?;
    let answer = api
        .ask(|reply| Request::Read(Read::Key(key), reply))
        .await?;
    match answer {
        Ok(mut page) => page.pairs.pop().map(|(_, v)| v).ok_or(ApiError::NoSuchKey),
        Err(refusal) => Err(api.refused(refusal, &uri)),
    }
}

#[derive(Debug, Deserialize)]
struct ScanParams {
    #[serde(default)]
    prefix: String,
    limit: Option<usize>,
    after: Option<String>,
}

async fn scan(
    State(api): State<Api>,
    params: Result<Query<ScanParams>, QueryRejection>,
    uri: Uri,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if params.limit == Some(0) {
        return Err(ApiError::BadRequest("`limit` must be at least 1".into()));
    }
    check_key(&params.prefix)?;
    if let Some(after) = &params.after {
        check_key(after)?;
    }
    let read = Read::Scan {
        prefix: params.prefix,
        after: params.after,
        limit: params.limit.unwrap_or(MAX_SCAN).min(MAX_SCAN),
    };
    let answer = api.ask(|reply| Request::Read(read, reply)).await?;
    match answer {
        Ok(page) => {
            // The cursor: the last key answered, if pairs remain after it.
            let next = page
                .more
                .then(|| page.pairs.last().map(|(k, _)| k.clone()))
                .flatten();
            // Values are shown as text (invalid UTF-8 replaced); GET one key for its bytes.
            let pairs: Vec<(String, String)> = page
                .pairs
                .into_iter()
                .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
                .collect();
            let mut body = json!({ "pairs": pairs, "truncated": page.more, "more": page.more });
            if let Some(next) = next {
                body["next"] = next.into();
            }
            Ok(Json(body))
        }
        Err(refusal) => Err(api.refused(refusal, &uri)),
    }
}

async fn status(State(api): State<Api>) -> Result<Json<serde_json::Value>, ApiError> {
    let NodeStatus {
        groups,
        dropped_messages,
    } = api.ask(Request::Status).await?;
    let Some(first) = groups.first() else {
        return Err(ApiError::Unavailable("no group".into()));
    };
    let GroupStatus {
        raft,
        membership,
        snapshot_index,
        first_index,
        keys,
        sessions,
        malformed_commands,
        ..
    } = first;
    let role = role_name(raft.role);
    let each: Vec<serde_json::Value> = groups
        .iter()
        .map(|g| {
            json!({
                "group": g.group,
                "role": role_name(g.raft.role),
                "term": g.raft.term,
                "leader": g.raft.leader,
                "leader_http": g.raft.leader.and_then(|l| api.http_addrs.get(&l)),
                "commit": g.raft.commit,
                "applied": g.raft.applied,
                "keys": g.keys,
                "quiet": g.quiet,
            })
        })
        .collect();
    Ok(Json(json!({
        "id": raft.id,
        "role": role,
        "term": raft.term,
        "leader": raft.leader,
        "leader_http": raft.leader.and_then(|l| api.http_addrs.get(&l)),
        "commit": raft.commit,
        "applied": raft.applied,
        "last_index": raft.last_index,
        "durable_index": raft.durable_index,
        "snapshot_index": snapshot_index,
        "first_index": first_index,
        "keys": keys,
        "sessions": sessions,
        "malformed_commands": malformed_commands,
        "members": {
            "voters": membership.voters,
            "outgoing": membership.outgoing,
            "learners": membership.learners,
        },
        "dropped_messages": dropped_messages,
        "peer_port": {
            "evicted_connections": api.peer_stats.evicted_connections.load(Ordering::Relaxed),
            "failed_handshakes": api.peer_stats.failed_handshakes.load(Ordering::Relaxed),
            "bad_frames": api.peer_stats.bad_frames.load(Ordering::Relaxed),
            "spoofed_messages": api.peer_stats.spoofed_messages.load(Ordering::Relaxed),
            "rate_limited_connections": api.peer_stats.rate_limited_connections.load(Ordering::Relaxed),
        },
        "groups": each,
    })))
}

async fn health(State(api): State<Api>) -> impl IntoResponse {
    let status = api.ask(Request::Status).await.ok();
    let statuses: Option<Vec<_>> = status.map(|s| s.groups.into_iter().map(|g| g.raft).collect());
    crate::health::answer(statuses.as_deref())
}

async fn metrics(State(api): State<Api>) -> Result<impl IntoResponse, ApiError> {
    let text = api.ask(Request::Metrics).await?;
    Ok(([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text))
}

/// The group an admin request is for: `?group=G`, 0 by default.
#[derive(Debug, Deserialize)]
struct GroupParam {
    group: Option<GroupId>,
}

impl GroupParam {
    fn group(
        api: &Api,
        params: Result<Query<GroupParam>, QueryRejection>,
    ) -> Result<GroupId, ApiError> {
        let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
        let group = params.group.unwrap_or(0);
        if group >= api.groups {
            return Err(ApiError::BadRequest(format!(
                "no group {group}: the groups are 0 to {} (--groups {})",
                api.groups - 1,
                api.groups
            )));
        }
        Ok(group)
    }
}

async fn add_learner(
    State(api): State<Api>,
    Path(id): Path<NodeId>,
    group: Result<Query<GroupParam>, QueryRejection>,
    uri: Uri,
) -> Result<Json<serde_json::Value>, ApiError> {
    let group = GroupParam::group(&api, group)?;
    api.change(group, ConfChange::add_learner(id), &uri).await
}

async fn promote(
    State(api): State<Api>,
    Path(id): Path<NodeId>,
    group: Result<Query<GroupParam>, QueryRejection>,
    uri: Uri,
) -> Result<Json<serde_json::Value>, ApiError> {
    let group = GroupParam::group(&api, group)?;
    api.change(group, ConfChange::promote(id), &uri).await
}

async fn remove(
    State(api): State<Api>,
    Path(id): Path<NodeId>,
    group: Result<Query<GroupParam>, QueryRejection>,
    uri: Uri,
) -> Result<Json<serde_json::Value>, ApiError> {
    let group = GroupParam::group(&api, group)?;
    api.change(group, ConfChange::remove(id), &uri).await
}

async fn transfer(
    State(api): State<Api>,
    Path(id): Path<NodeId>,
    group: Result<Query<GroupParam>, QueryRejection>,
    uri: Uri,
) -> Result<Json<serde_json::Value>, ApiError> {
    let group = GroupParam::group(&api, group)?;
    match api.ask(|tx| Request::Transfer(group, id, tx)).await? {
        TransferOutcome::Done { target } => Ok(Json(json!({ "leader": target }))),
        TransferOutcome::Aborted { target } => Err(ApiError::Unavailable(format!(
            "the transfer to node {target} did not complete in time"
        ))),
        TransferOutcome::Refused { reason, .. } => match reason {
            sansraft::TransferRefusal::NotLeader { leader } => {
                Err(api.refused(Refusal::NotLeader { leader }, &uri))
            }
            reason => Err(ApiError::Conflict(format!("transfer refused: {reason:?}"))),
        },
    }
}
