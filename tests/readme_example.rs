//! `examples/hello.rs` is the README's first example, word for word (CI runs it built with
//! `panic = "abort"`, so it must not drift from what the README shows).

#[test]
fn hello_is_the_readmes_first_example() {
    let readme = include_str!("../README.md");
    let hello = include_str!("../examples/hello.rs");
    let start = readme.find("```rust\n").expect("README has a rust example") + "```rust\n".len();
    let len = readme[start..].find("```").expect("the example ends");
    let example = &readme[start..start + len];
    assert!(
        hello.contains(example),
        "examples/hello.rs differs from the README's first example; copy it over:\n{example}"
    );
}
