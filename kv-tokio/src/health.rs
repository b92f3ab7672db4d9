//! `GET /health`: whether this node can serve. Healthy means it knows a leader and has applied
//! everything it knows to be committed. The answer is `200` when healthy, else `503`, with the
//! same JSON body either way:
//!
//! ```json
//! {"healthy": false, "reason": "no leader known", "role": "candidate", "term": 3,
//!  "leader": null, "commit": 120, "applied": 120}
//! ```
//!
//! `reason` is `null` when healthy. A node loop that does not answer is unhealthy too, with the
//! engine's fields `null`. With several groups (`--groups`) the node is healthy when every
//! group is; the fields are those of the first group that is not (of group 0 if all are).

use crate::roles::role_name;
use axum::http::StatusCode;
use axum::Json;
use sansraft::Status;
use serde_json::{json, Value};

/// Why a node is not healthy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unhealthy {
    NoLeader,
    Behind,
    NotAnswering,
}

impl Unhealthy {
    fn reason(self) -> &'static str {
        match self {
            Unhealthy::NoLeader => "no leader known",
            Unhealthy::Behind => "has not applied everything it knows committed",
            Unhealthy::NotAnswering => "the node loop did not answer",
        }
    }
}

/// Judges the engine's status.
pub(crate) fn judge(status: &Status) -> Result<(), Unhealthy> {
    if status.leader.is_none() {
        Err(Unhealthy::NoLeader)
    } else if status.applied < status.commit {
        Err(Unhealthy::Behind)
    } else {
        Ok(())
    }
}

/// The answer, from every group's engine status if the node loop gave them.
pub(crate) fn answer(groups: Option<&[Status]>) -> (StatusCode, Json<Value>) {
    let status = groups.and_then(|groups| {
        groups
            .iter()
            .find(|s| judge(s).is_err())
            .or_else(|| groups.first())
    });
    let verdict = status.map_or(Err(Unhealthy::NotAnswering), judge);
    let code = match verdict {
        Ok(()) => StatusCode::OK,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    let body = json!({
        "healthy": verdict.is_ok(),
        "reason": verdict.err().map(Unhealthy::reason),
        "role": status.map(|s| role_name(s.role)),
        "term": status.map(|s| s.term),
        "leader": status.and_then(|s| s.leader),
        "commit": status.map(|s| s.commit),
        "applied": status.map(|s| s.applied),
    });
    (code, Json(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sansraft::{Config, DurableState, Membership, Node};

    fn status() -> Status {
        let state = DurableState::bootstrap(Membership::with_voters([1, 2, 3]));
        Node::new(Config::new(1, 7), state, 1)
            .expect("a valid node")
            .status()
    }

    #[test]
    fn healthy_only_with_a_leader_and_nothing_left_to_apply() {
        let mut s = status();
        assert_eq!(judge(&s), Err(Unhealthy::NoLeader));
        s.leader = Some(2);
        (s.commit, s.applied) = (5, 4);
        assert_eq!(judge(&s), Err(Unhealthy::Behind));
        s.applied = 5;
        assert_eq!(judge(&s), Ok(()));
    }

    #[test]
    fn unhealthy_and_healthy_answers_have_one_shape() {
        let mut s = status();
        let (code, Json(sick)) = answer(Some(&[s]));
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(sick["reason"], "no leader known");
        s.leader = Some(1);
        let (code, Json(well)) = answer(Some(&[s]));
        let mut other = s;
        other.leader = None;
        let (code_of_two, Json(one_sick)) = answer(Some(&[s, other]));
        assert_eq!(code_of_two, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(one_sick["reason"], "no leader known");
        assert_eq!(code, StatusCode::OK);
        assert_eq!(well["healthy"], true);
        assert_eq!(well["reason"], Value::Null);
        let keys = |v: &Value| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>());
        assert_eq!(keys(&sick), keys(&well));
        let (code, Json(silent)) = answer(None);
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(keys(&silent), keys(&well));
    }
}
