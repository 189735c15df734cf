//! Migrations are embedded with `include_str!` by refinery; rebuild when they change.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
