// `sqlx::migrate!` embeds migrations/ at compile time, but cargo does not know
// the macro reads that directory: without this, adding a migration leaves an
// already-built crate (and every test database) on the old set.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
