//! Backtraces of fibers: return addresses captured cheaply, symbolised later, trimmed to the
//! program's own frames.
//!
//! Capturing and symbolising are kept apart. Capturing walks the stack with the DWARF unwind
//! tables (`backtrace::trace`, the unwinder std itself uses), so it needs no frame pointers and
//! works in release builds; it only records addresses. Symbolising reads debug info and is
//! slow the first time, so it is done once per distinct address (a [`Symbolizer`] caches
//! them): a dump of ten thousand fibers parked at the same few lines resolves a few dozen
//! addresses.
//!
//! A frame is *internal* when its function belongs to spindle's own crates, to the
//! `backtrace` crate, or to std's panic and closure-call plumbing between a fiber's entry and
//! its body. [`Backtrace`]'s `Display` folds each run of internal frames into one line, so a
//! report points at the user's code.

use std::collections::HashMap;
use std::ffi::c_void;
use std::fmt;

/// At most this many frames are kept per backtrace (the innermost ones).
pub(crate) const MAX_FRAMES: usize = 64;

/// Return addresses of one stack, innermost first, not yet symbolised.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawTrace {
    /// Instruction addresses; all but the first are return addresses.
    pub(crate) ips: Vec<usize>,
    /// Whether `ips[0]` is the exact address of an interrupted instruction (a signal's), not a
    /// return address.
    pub(crate) exact_first: bool,
}

impl RawTrace {
    /// Walks the calling stack.
    #[inline(never)]
    pub(crate) fn capture_here() -> RawTrace {
        let mut ips = Vec::with_capacity(MAX_FRAMES);
        backtrace::trace(|frame| {
            // The outermost frame of a fiber (its entry trampoline) has no return address.
            let ip = frame.ip() as usize;
            if ip != 0 {
                ips.push(ip);
            }
            ips.len() < MAX_FRAMES
        });
        RawTrace {
            ips,
            exact_first: false,
        }
    }
}

/// One frame of a [`Backtrace`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Frame {
    /// The function, demangled without its hash, if debug info or the symbol table names it.
    pub function: Option<String>,
    /// The source file, relative to the current directory when it lies below it.
    pub file: Option<String>,
    /// The line in `file`.
    pub line: Option<u32>,
    /// Whether the frame belongs to spindle or to the plumbing between a fiber's entry and
    /// its body, rather than to the program.
    pub internal: bool,
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "at {file}:{line}")?,
            (Some(file), None) => write!(f, "at {file}")?,
            _ => f.write_str("at <unknown>")?,
        }
        write!(f, " in {}", self.function.as_deref().unwrap_or("<unknown>"))
    }
}

/// The symbolised stack of a fiber, innermost frame first.
///
/// `Display` prints one frame per line, indented. Below the program's innermost frame it
/// keeps only the spindle call the program made (such as `Mutex::lock`) and any std frames
/// between that call and the program; above it, it folds each run of internal frames
/// (spindle's own and std's call plumbing, see [`Frame::internal`]) into one line and stops
/// at the program's outermost frame. `{:#}` prints every frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backtrace {
    frames: Vec<Frame>,
}

impl Backtrace {
    /// Every frame, innermost first, internal ones included.
    pub fn frames(&self) -> &[Frame] {
        &self.frames
    }

    /// Whether some frame's function name contains `name`.
    pub fn contains_function(&self, name: &str) -> bool {
        self.frames
            .iter()
            .any(|f| f.function.as_deref().is_some_and(|n| n.contains(name)))
    }
}

impl fmt::Display for Backtrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.frames.is_empty() {
            return f.write_str("      <no frames>");
        }
        let shown = if f.alternate() {
            vec![true; self.frames.len()]
        } else {
            self.shown()
        };
        let mut folded = 0;
        let mut first = true;
        for (frame, shown) in self.frames.iter().zip(shown) {
            if !shown {
                folded += 1;
                continue;
            }
            if !std::mem::take(&mut first) {
                f.write_str("\n")?;
            }
            match folded {
                0 => {}
                1 => f.write_str("      (1 frame folded)\n")?,
                n => writeln!(f, "      ({n} frames folded)")?,
            }
            folded = 0;
            write!(f, "      {frame}")?;
        }
        Ok(())
    }
}

impl Backtrace {
    /// Which frames `Display` shows: below the program's innermost frame, only the outermost
    /// spindle frame (the spindle call the program made, such as `Mutex::lock`) and the std
    /// frames between it and the program; above it, every frame but internal ones; nothing
    /// after the program's outermost frame.
    fn shown(&self) -> Vec<bool> {
        let frames = &self.frames;
        let Some(program) = frames.iter().position(|f| !f.internal && !f.is_std()) else {
            return vec![true; frames.len()];
        };
        let api = frames[..program]
            .iter()
            .rposition(|f| f.internal)
            .unwrap_or(0);
        let last = frames.iter().rposition(|f| !f.internal).unwrap_or(program);
        (0..frames.len())
            .map(|i| match i {
                i if i < program => i >= api,
                i => i <= last && !frames[i].internal,
            })
            .collect()
    }
}

impl Frame {
    /// Whether the frame is std's, core's or alloc's code.
    fn is_std(&self) -> bool {
        const STD: &[&str] = &[
            "std::", "core::", "alloc::", "<std::", "<core::", "<alloc::",
        ];
        self.file
            .as_deref()
            .is_some_and(|f| f.starts_with("/rustc/"))
            || self
                .function
                .as_deref()
                .is_some_and(|n| STD.iter().any(|p| n.starts_with(p)))
    }
}

/// Function-name prefixes of internal frames (see the module docs).
const INTERNAL: &[&str] = &[
    "spindle_core::",
    "spindle_sync::",
    "spindle_io::",
    "<spindle_core::",
    "<spindle_sync::",
    "<spindle_io::",
    "<&spindle_core::",
    "<&spindle_sync::",
    "<&spindle_io::",
    "backtrace::",
    "std::panicking::",
    "std::panic::catch_unwind",
    "std::panic::AssertUnwindSafe",
    "<core::panic::unwind_safe::AssertUnwindSafe",
    "core::ops::function::FnOnce::call_once",
    "<alloc::boxed::Box<F,A> as core::ops::function::FnOnce",
    "__rust_try",
];

/// Source files of internal frames, for functions whose debug info gives no path (see
/// [`is_internal`]): the `backtrace` crate and spindle's crates as published (their directories
/// are named `<crate>-<version>`), and the std files of the call plumbing.
const INTERNAL_FILES: &[&str] = &[
    "/backtrace-0.",
    "/spindle-core-",
    "/spindle-sync-",
    "/spindle-io-",
    "/library/std/src/panicking.rs",
    "/library/std/src/panic.rs",
    "/library/core/src/panic/unwind_safe.rs",
    "/library/core/src/ops/function.rs",
    "/library/alloc/src/boxed.rs",
];

/// Whether a frame is internal (see the module docs), by its function's path when debug info
/// gives one, else by its source file (absolute, as debug info has it).
///
/// Builds with `debug = "line-tables-only"` name functions without their module path
/// (`park`, not `spindle_core::fiber::park`); their frames are then told by the file: spindle's
/// own source directories (this crate's, and its workspace siblings `sync` and `io`) or one of
/// [`INTERNAL_FILES`].
fn is_internal(function: Option<&str>, file: Option<&str>) -> bool {
    if let Some(name) = function {
        let qualified = name.starts_with('<')
            || name
                .split('<')
                .next()
                .is_some_and(|head| head.contains("::"));
        if qualified || file.is_none() {
            return INTERNAL.iter().any(|prefix| name.starts_with(prefix));
        }
    }
    let Some(file) = file else {
        return false;
    };
    // This crate's directory, and in spindle's workspace its siblings `sync` and `io`.
    let below = |dir: &str, sub: &str| file.strip_prefix(dir).is_some_and(|r| r.starts_with(sub));
    let core = env!("CARGO_MANIFEST_DIR");
    below(core, "/src/")
        || core
            .strip_suffix("/core")
            .is_some_and(|workspace| below(workspace, "/sync/src/") || below(workspace, "/io/src/"))
        || INTERNAL_FILES.iter().any(|part| file.contains(part))
}

/// Resolves addresses to frames, each distinct address once.
#[derive(Debug, Default)]
pub(crate) struct Symbolizer {
    cache: HashMap<usize, Vec<Frame>>,
    cwd: Option<String>,
}

impl Symbolizer {
    pub(crate) fn new() -> Symbolizer {
        let cwd = std::env::current_dir()
            .ok()
            .and_then(|d| d.to_str().map(|s| format!("{s}/")));
        Symbolizer {
            cache: HashMap::new(),
            cwd,
        }
    }

    /// Symbolises `raw`, innermost frame first; an address with inlined calls gives one frame
    /// per inlined function.
    pub(crate) fn resolve(&mut self, raw: &RawTrace) -> Backtrace {
        let mut frames = Vec::with_capacity(raw.ips.len());
        for (i, &ip) in raw.ips.iter().enumerate() {
            // A return address points after the call; look up the call itself.
            let lookup = if i == 0 && raw.exact_first {
                ip
            } else {
                ip.saturating_sub(1)
            };
            let cwd = self.cwd.as_deref();
            let resolved = self
                .cache
                .entry(lookup)
                .or_insert_with(|| symbolize(lookup, cwd));
            frames.extend(resolved.iter().cloned());
        }
        Backtrace { frames }
    }
}

fn symbolize(addr: usize, cwd: Option<&str>) -> Vec<Frame> {
    let mut out = Vec::new();
    backtrace::resolve(addr as *mut c_void, |symbol| {
        let function = symbol.name().map(|n| format!("{n:#}"));
        let path = symbol.filename().map(|p| p.to_string_lossy());
        let internal = is_internal(function.as_deref(), path.as_deref());
        let file = path.map(|p| match cwd.and_then(|cwd| p.strip_prefix(cwd)) {
            Some(relative) => relative.to_owned(),
            None => p.into_owned(),
        });
        out.push(Frame {
            function,
            file,
            line: symbol.lineno(),
            internal,
        });
    });
    if out.is_empty() {
        out.push(Frame {
            function: Some(format!("{addr:#x}")),
            file: None,
            line: None,
            internal: false,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::is_internal;

    /// Frames as a build with `debug = "line-tables-only"` names them: no module paths.
    #[test]
    fn unqualified_names_are_told_by_their_source_file() {
        let core = env!("CARGO_MANIFEST_DIR");
        let own = format!("{core}/src/fiber.rs");
        assert!(is_internal(Some("park"), Some(&own)));
        assert!(is_internal(Some("wait<u32>"), Some(&own)));
        if let Some(workspace) = core.strip_suffix("/core") {
            assert!(is_internal(
                Some("lock<u32>"),
                Some(&format!("{workspace}/sync/src/mutex.rs"))
            ));
            assert!(is_internal(
                Some("read"),
                Some(&format!("{workspace}/io/src/net/tcp.rs"))
            ));
            // The facade and the program's own files are not spindle's insides.
            assert!(!is_internal(
                Some("run<u32>"),
                Some(&format!("{workspace}/src/lib.rs"))
            ));
            assert!(!is_internal(
                Some("left_locker"),
                Some(&format!("{workspace}/tests/deadlock.rs"))
            ));
        }
        let registry = "/home/u/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f";
        assert!(is_internal(
            Some(
                "trace_unsynchronized<spindle_core::trace::{impl#0}::capture_here::{closure_env#0}>"
            ),
            Some(&format!("{registry}/backtrace-0.3.77/src/backtrace/mod.rs")),
        ));
        assert!(is_internal(
            Some("park"),
            Some(&format!("{registry}/spindle-core-0.1.0/src/fiber.rs"))
        ));
        assert!(is_internal(
            Some(
                "catch_unwind<u32, core::panic::unwind_safe::AssertUnwindSafe<x::{closure_env#0}>>"
            ),
            Some("/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/panicking.rs"),
        ));
        assert!(!is_internal(
            Some("{closure#0}"),
            Some("/home/u/app/src/main.rs")
        ));
        assert!(!is_internal(
            Some("read_to_end<std::fs::File>"),
            Some("/rustc/5980/library/std/src/io/mod.rs")
        ));
    }

    /// With full or limited debug info the path decides, whatever the file.
    #[test]
    fn qualified_names_are_told_by_their_path() {
        assert!(is_internal(
            Some("spindle_core::fiber::park"),
            Some("/anywhere/x.rs")
        ));
        assert!(is_internal(
            Some("<spindle_sync::mutex::Mutex<T>>::lock"),
            None
        ));
        assert!(is_internal(Some("std::panicking::try::do_call<u32>"), None));
        assert!(!is_internal(
            Some("app::handler"),
            Some(concat!(env!("CARGO_MANIFEST_DIR"), "/src/fiber.rs"))
        ));
        assert!(!is_internal(Some("main"), None));
        assert!(!is_internal(None, Some("/home/u/app/src/main.rs")));
        assert!(!is_internal(None, None));
    }
}
