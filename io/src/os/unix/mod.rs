//! Unix-specific extensions, mirroring [`std::os::unix`].

pub mod net;
