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

/// README.md's usage blocks are `--help` as the binary prints it, so no option or default drifts.
#[test]
fn the_usage_blocks_are_the_help_text() {
    let text = readme();
    for command in ["sweep", "run"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sansraft-sim"))
            .args([command, "--help"])
            .output()
            .expect("the simulator runs");
        let help = String::from_utf8(out.stdout).expect("utf-8 help");
        let block = format!("```text\n$ sansraft-sim {command} --help\n{help}```");
        assert!(
            text.contains(&block),
            "README.md's usage block for `{command}` differs from --help; it should read:\n{block}"
        );
    }
}
