//! `spindle::Backtrace` and `spindle::Frame`, as `dump()` gives them for parked fibers: the
//! frames are innermost first, the function a fiber is parked in is named with its file and
//! line, spindle's own frames are marked internal, and `Display` folds them.
//!
//! (`tests/dump.rs` checks the dump's text; `tests/stall_backtrace.rs` and
//! `tests/deadlock_backtrace.rs` the backtraces of stall and deadlock reports.)

use std::rc::Rc;

use spindle::fiber;
use spindle::sync::Mutex;
use spindle::{Backtrace, Frame};

/// The line `parked_here` parks on, set when it runs.
static PARK_LINE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

#[inline(never)]
fn parked_here() {
    PARK_LINE.store(line!() + 1, std::sync::atomic::Ordering::Relaxed);
    fiber::park();
}

#[inline(never)]
fn calls_parked_here() {
    parked_here();
    std::hint::black_box(());
}

#[inline(never)]
fn locks(lock: &Mutex<u32>) -> u32 {
    *lock.lock().unwrap()
}

/// The backtrace `dump()` gives for the fiber named `name`.
fn backtrace_of(name: &str) -> Backtrace {
    let dump = spindle::dump();
    dump.fibers()
        .iter()
        .find(|f| f.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no fiber '{name}' in {dump}"))
        .backtrace
        .clone()
}

/// The index of the first frame whose function ends with `suffix`.
fn position(frames: &[Frame], suffix: &str) -> usize {
    frames
        .iter()
        .position(|f| f.function.as_deref().is_some_and(|n| n.ends_with(suffix)))
        .unwrap_or_else(|| panic!("no frame in {suffix}: {frames:#?}"))
}

/// Runs `f` in a runtime whose stall detector stays quiet: the first dump of a process reads
/// the debug info and holds the thread meanwhile.
fn quiet_run<T: 'static>(f: impl FnOnce() -> T + 'static) -> T {
    spindle::Runtime::builder()
        .stall_threshold(None)
        .build()
        .unwrap()
        .run(f)
}

#[test]
fn a_parked_fiber_s_frames_name_where_it_parked_innermost_first() {
    quiet_run(|| {
        let parked = fiber::Builder::new()
            .name("parked".into())
            .spawn(calls_parked_here)
            .unwrap();
        fiber::yield_now();
        let backtrace = backtrace_of("parked");
        let frames = backtrace.frames();
        assert!(backtrace.contains_function("parked_here"), "{backtrace:#}");
        let inner = position(frames, "fiber_backtrace::parked_here");
        let outer = position(frames, "fiber_backtrace::calls_parked_here");
        assert!(inner < outer, "not innermost first: {backtrace:#}");
        // Below the program's frames: spindle's park, marked internal.
        let park = position(frames, "fiber::park");
        assert!(park < inner, "{backtrace:#}");
        assert!(frames[park].internal, "{:?}", frames[park]);
        // The program's frame: not internal, with this file and the line of the call.
        let here = &frames[inner];
        assert!(!here.internal, "{here:?}");
        assert_eq!(here.file.as_deref(), Some(file!()), "{here:?}");
        assert_eq!(
            here.line,
            Some(PARK_LINE.load(std::sync::atomic::Ordering::Relaxed)),
            "{here:?}"
        );
        assert!(
            here.to_string()
                .starts_with(&format!("at {}:{}", file!(), here.line.unwrap())),
            "{here}"
        );
        parked.fiber().unpark();
        parked.join().unwrap();
    });
}

#[test]
fn display_folds_spindle_s_frames_and_keeps_the_call_the_program_made() {
    quiet_run(|| {
        let lock = Rc::new(Mutex::new(5));
        let guard = lock.lock().unwrap();
        let waiter = {
            let lock = Rc::clone(&lock);
            fiber::Builder::new()
                .name("waiter".into())
                .spawn(move || locks(&lock))
                .unwrap()
        };
        fiber::yield_now();
        let backtrace = backtrace_of("waiter");
        let short = backtrace.to_string();
        let full = format!("{backtrace:#}");
        let shown: Vec<&str> = short.lines().filter(|l| !l.contains("folded)")).collect();
        // The first frame shown is the spindle call the program made, then the program's
        // frame: spindle's frames below the call are folded away.
        assert!(
            shown[0].ends_with(" in spindle_sync::mutex::Mutex<T>::lock"),
            "{short}"
        );
        assert!(shown[1].ends_with(" in fiber_backtrace::locks"), "{short}");
        assert!(
            short.lines().next().unwrap().contains("frames folded)"),
            "{short}"
        );
        assert!(!short.contains("spindle_core::"), "{short}");
        // `{:#}` shows every frame, one per line, spindle's included.
        assert_eq!(full.lines().count(), backtrace.frames().len(), "{full}");
        assert!(full.contains("spindle_core::"), "{full}");
        drop(guard);
        assert_eq!(waiter.join().unwrap(), 5);
    });
}

#[test]
fn an_empty_backtrace_says_so_and_names_nothing() {
    let empty = Backtrace::default();
    assert!(empty.frames().is_empty());
    assert!(!empty.contains_function(""));
    assert_eq!(empty.to_string(), "      <no frames>");
}
