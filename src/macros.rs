//! `print!` and its family, writing through spindle's fiber-aware [`stdout`](crate::io::stdout)
//! and [`stderr`](crate::io::stderr): a full pipe parks the printing fiber, not its thread.
//!
//! Each call formats into one `write_fmt` under one lock, so the lines of two fibers never mix.
//! Output is separate from std's `print!` buffer: a program should use one family or the other.

/// Prints to the standard output, mirroring `std::print!`, through
/// [`spindle::io::stdout`](crate::io::stdout).
///
/// # Panics
///
/// If writing to stdout fails (a closed stdout is not a failure), as std's.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::io::_print(::core::format_args!($($arg)*))
    };
}

/// Prints to the standard output with a newline, mirroring `std::println!`, through
/// [`spindle::io::stdout`](crate::io::stdout) (line-buffered: each line is written when it
/// ends).
///
/// # Panics
///
/// If writing to stdout fails, as std's.
///
/// # Examples
///
/// ```
/// spindle::run(|| {
///     let handles: Vec<_> = (0..3)
///         .map(|i| spindle::thread::spawn(move || spindle::println!("fiber {i}")))
///         .collect();
///     handles.into_iter().for_each(|h| h.join().unwrap());
/// });
/// ```
#[macro_export]
macro_rules! println {
    () => {
        $crate::io::_print(::core::format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::io::_print(::core::format_args!("{}\n", ::core::format_args!($($arg)*)))
    };
}

/// Prints to the standard error, mirroring `std::eprint!`, through
/// [`spindle::io::stderr`](crate::io::stderr).
///
/// # Panics
///
/// If writing to stderr fails, as std's.
#[macro_export]
macro_rules! eprint {
    ($($arg:tt)*) => {
        $crate::io::_eprint(::core::format_args!($($arg)*))
    };
}

/// Prints to the standard error with a newline, mirroring `std::eprintln!`, through
/// [`spindle::io::stderr`](crate::io::stderr).
///
/// # Panics
///
/// If writing to stderr fails, as std's.
#[macro_export]
macro_rules! eprintln {
    () => {
        $crate::io::_eprint(::core::format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::io::_eprint(::core::format_args!("{}\n", ::core::format_args!($($arg)*)))
    };
}

/// Prints an expression and its value to the standard error and returns the value, mirroring
/// `std::dbg!`, through [`spindle::io::stderr`](crate::io::stderr).
///
/// # Examples
///
/// ```
/// let n = spindle::dbg!(6 * 7);
/// assert_eq!(n, 42);
/// ```
#[macro_export]
macro_rules! dbg {
    () => {
        $crate::eprintln!("[{}:{}:{}]", ::core::file!(), ::core::line!(), ::core::column!())
    };
    ($value:expr $(,)?) => {
        match $value {
            value => {
                $crate::eprintln!(
                    "[{}:{}:{}] {} = {:#?}",
                    ::core::file!(),
                    ::core::line!(),
                    ::core::column!(),
                    ::core::stringify!($value),
                    &value,
                );
                value
            }
        }
    };
    ($($value:expr),+ $(,)?) => {
        ($($crate::dbg!($value)),+,)
    };
}
