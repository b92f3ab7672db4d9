//! The repository README (outside every published crate, so checked here, in an unpublished one).

/// The first `rust` code block of a markdown file.
fn first_rust_block(path: &str) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let start = text
        .find("```rust\n")
        .unwrap_or_else(|| panic!("{path}: no rust block"))
        + 8;
    let len = text[start..].find("```").expect("the block ends");
    text[start..start + len].to_owned()
}

/// The repository README's embedding program is the one sansraft's README holds, which
/// `cargo test -p sansraft --doc` compiles: so it handles every `Action` and keeps up with the API.
#[test]
fn the_repository_readme_embeds_the_compiled_program() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    let crate_readme = concat!(env!("CARGO_MANIFEST_DIR"), "/../sansraft/README.md");
    assert_eq!(first_rust_block(root), first_rust_block(crate_readme));
}
