//! spindle-io: fiber-aware I/O types mirroring `std::net`, `std::os::unix::net`, `std::fs`,
//! `std::io` and `std::process`.
