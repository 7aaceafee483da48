//! Load generator (built out below).
fn main() {}
