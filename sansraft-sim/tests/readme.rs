//! sansraft-sim/README.md's tables are kept in step with the code: every exit code and every canary
//! has its row, so the documentation cannot drift from `sansraft-sim --help`.

use sansraft::Canary;
use sansraft_sim::ViolationKind;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md")
}

#[test]
fn every_exit_code_has_its_row() {
    let text = readme();
    for kind in ViolationKind::ALL {
        let row = format!("| {} | `{}`", kind.exit_code(), kind.name());
        assert!(text.contains(&row), "README.md lacks the row {row:?}");
    }
}

#[test]
fn every_canary_has_its_row() {
    let text = readme();
    for canary in Canary::ALL {
        let row = format!("| `{}` |", canary.name());
        assert!(
            text.contains(&row),
            "README.md lacks the canary row {row:?}"
        );
    }
}
