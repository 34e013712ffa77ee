//! `fiber_local!`: values with one instance per fiber, like `thread_local!` per thread.

use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::engine::scheduler::Scheduler;

/// Declares fiber-local statics, mirroring `thread_local!`.
///
/// Each fiber sees its own value, created by the initializer on first access in that fiber and
/// dropped when the fiber finishes. Accessed from a plain thread (no runtime), the value is
/// per thread and dropped when the thread exits.
///
/// # Examples
///
/// ```
/// # extern crate spindle_core as spindle;
/// use std::cell::Cell;
/// spindle::fiber_local! {
///     static COUNT: Cell<u32> = Cell::new(0);
/// }
///
/// spindle::run(|| {
///     COUNT.with(|c| c.set(7));
///     let other = spindle::fiber::spawn(|| COUNT.with(Cell::get)).join().unwrap();
///     assert_eq!(other, 0);
///     assert_eq!(COUNT.with(Cell::get), 7);
/// });
/// ```
#[macro_export]
macro_rules! fiber_local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr; $($rest:tt)*) => {
        $crate::fiber_local!($(#[$attr])* $vis static $name: $t = $init);
        $crate::fiber_local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr) => {
        $(#[$attr])*
        $vis static $name: $crate::fiber::LocalKey<$t> = {
            fn __init() -> $t {
                $init
            }
            $crate::__private::new_local_key(__init)
        };
    };
}

/// A fiber-local key made by [`fiber_local!`](crate::fiber_local).
pub struct LocalKey<T: 'static> {
    init: fn() -> T,
    /// Index into each fiber's table of values, plus one; 0 until first use.
    index: AtomicUsize,
}

impl<T: 'static> fmt::Debug for LocalKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKey").finish_non_exhaustive()
    }
}

type Table = RefCell<Vec<Option<Box<dyn Any>>>>;

thread_local! {
    /// Values for code that runs on a plain thread.
    static THREAD_TABLE: Table = const { RefCell::new(Vec::new()) };
}

/// A key whose value starts as `init()` on each fiber (what [`fiber_local!`](crate::fiber_local)
/// expands to; reached as `__private::new_local_key`).
pub const fn new_local_key<T: 'static>(init: fn() -> T) -> LocalKey<T> {
    LocalKey {
        init,
        index: AtomicUsize::new(0),
    }
}

impl<T: 'static> LocalKey<T> {
    fn index(&'static self) -> usize {
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        match self.index.load(Ordering::Acquire) {
            0 => {
                let fresh = NEXT.fetch_add(1, Ordering::Relaxed);
                match self
                    .index
                    .compare_exchange(0, fresh, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => fresh - 1,
                    Err(won) => won - 1,
                }
            }
            n => n - 1,
        }
    }

    /// Calls `f` with a reference to this fiber's value, creating it first if needed.
    ///
    /// # Panics
    ///
    /// If the initializer panics, or on a plain thread whose thread-locals are being
    /// destroyed (see [`try_with`](Self::try_with)).
    pub fn with<F, R>(&'static self, f: F) -> R
    where
        F: FnOnce(&T) -> R,
    {
        self.try_with(f).expect(
            "cannot access a fiber-local value on a thread whose thread-locals are being destroyed",
        )
    }

    /// Calls `f` with a reference to this fiber's value, creating it first if needed, mirroring
    /// `std::thread::LocalKey::try_with`.
    ///
    /// # Errors
    ///
    /// [`AccessError`] when the value cannot be reached: on a plain thread (no runtime) whose
    /// thread-locals are being destroyed.
    ///
    /// # Notes
    ///
    /// On a fiber this never fails: a value touched by another value's destructor while the
    /// fiber ends is created again and dropped in a later round.
    pub fn try_with<F, R>(&'static self, f: F) -> Result<R, AccessError>
    where
        F: FnOnce(&T) -> R,
    {
        self.try_with_table(|table, index| f(self.get_or_init_with(table, index, self.init)))
    }

    /// Calls `f` with the caller's table of values and this key's index in it.
    fn try_with_table<F, R>(&'static self, f: F) -> Result<R, AccessError>
    where
        F: FnOnce(&Table, usize) -> R,
    {
        let index = self.index();
        Scheduler::with_on_fiber(|current| match current {
            Some(sched) => Ok(f(&sched.current_fiber().owned(sched).locals, index)),
            _ => THREAD_TABLE
                .try_with(|table| f(table, index))
                .map_err(|_| AccessError(())),
        })
    }

    /// Initializes the value with `value` unless it exists (the initializer does not run),
    /// then calls `apply` with the value and `value` back if it was not used.
    fn init_with(&'static self, value: T, apply: impl FnOnce(&T, Option<T>)) {
        let mut value = Some(value);
        self.try_with_table(|table, index| {
            let found = self.get_or_init_with(table, index, || {
                value.take().expect("the value is taken once")
            });
            apply(found, value.take())
        })
        .expect(
            "cannot access a fiber-local value on a thread whose thread-locals are being destroyed",
        )
    }

    /// Returns the value in `table`, inserting `init()` first if there is none. The value is
    /// boxed, so the reference stays valid when the table grows; entries are only
    /// removed when the owner ends.
    fn get_or_init_with<'a>(
        &'static self,
        table: &'a Table,
        index: usize,
        init: impl FnOnce() -> T,
    ) -> &'a T {
        let existing = table.borrow().get(index).and_then(|v| v.as_ref()).map(|b| {
            let ptr: *const dyn Any = &**b;
            ptr
        });
        let ptr = match existing {
            Some(ptr) => ptr,
            None => {
                // The initializer may itself use other fiber-locals: no borrow is held here.
                let value: Box<dyn Any> = Box::new(init());
                let mut table = table.borrow_mut();
                if table.len() <= index {
                    table.resize_with(index + 1, || None);
                }
                let slot = table[index].insert(value);
                let ptr: *const dyn Any = &**slot;
                ptr
            }
        };
        // SAFETY: the box behind `ptr` lives until the table's owner (a fiber or a thread)
        // finishes, which outlives `'a` (the borrow of the table); its type is T because only
        // this key, of type LocalKey<T>, uses `index`.
        unsafe { &*ptr.cast::<T>() }
    }
}

/// The error of [`LocalKey::try_with`], mirroring `std::thread::AccessError`: the value could
/// not be reached because its owner's locals are being destroyed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AccessError(());

impl fmt::Debug for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessError").finish()
    }
}

impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("already destroyed")
    }
}

impl std::error::Error for AccessError {}

impl<T: 'static> LocalKey<std::cell::Cell<T>> {
    /// Sets the value, mirroring `std::thread::LocalKey::set`: if it does not exist yet it is
    /// created from `value` directly, without running the initializer.
    pub fn set(&'static self, value: T) {
        self.init_with(std::cell::Cell::new(value), |cell, unused| {
            if let Some(unused) = unused {
                cell.set(unused.into_inner());
            }
        })
    }

    /// Returns a copy of the value.
    pub fn get(&'static self) -> T
    where
        T: Copy,
    {
        self.with(std::cell::Cell::get)
    }

    /// Takes the value, leaving `Default::default()` in its place.
    pub fn take(&'static self) -> T
    where
        T: Default,
    {
        self.with(std::cell::Cell::take)
    }

    /// Replaces the value, returning the old one.
    pub fn replace(&'static self, value: T) -> T {
        self.with(|cell| cell.replace(value))
    }
}

impl<T: 'static> LocalKey<RefCell<T>> {
    /// Calls `f` with a shared borrow of the value.
    ///
    /// # Panics
    ///
    /// If the value is mutably borrowed.
    pub fn with_borrow<F, R>(&'static self, f: F) -> R
    where
        F: FnOnce(&T) -> R,
    {
        self.with(|cell| f(&cell.borrow()))
    }

    /// Calls `f` with a mutable borrow of the value.
    ///
    /// # Panics
    ///
    /// If the value is borrowed.
    pub fn with_borrow_mut<F, R>(&'static self, f: F) -> R
    where
        F: FnOnce(&mut T) -> R,
    {
        self.with(|cell| f(&mut cell.borrow_mut()))
    }

    /// Sets the value, mirroring `std::thread::LocalKey::set`: if it does not exist yet it is
    /// created from `value` directly, without running the initializer.
    ///
    /// # Panics
    ///
    /// If the value is borrowed.
    pub fn set(&'static self, value: T) {
        self.init_with(RefCell::new(value), |cell, unused| {
            if let Some(unused) = unused {
                *cell.borrow_mut() = unused.into_inner();
            }
        })
    }

    /// Takes the value, leaving `Default::default()` in its place.
    ///
    /// # Panics
    ///
    /// If the value is borrowed.
    pub fn take(&'static self) -> T
    where
        T: Default,
    {
        self.with(RefCell::take)
    }

    /// Replaces the value, returning the old one.
    ///
    /// # Panics
    ///
    /// If the value is borrowed.
    pub fn replace(&'static self, value: T) -> T {
        self.with(|cell| cell.replace(value))
    }
}

/// Drops the running fiber's fiber-local values (once its result is published). Values that
/// destructors create meanwhile are dropped too, in further rounds, until none is left, so the
/// table is empty when the fiber's control block is freed (possibly on another thread).
pub(crate) fn drop_fiber_locals() {
    /// Rounds after which values that keep re-creating each other are leaked instead.
    const MAX_ROUNDS: usize = 64;
    Scheduler::with_on_fiber(|current| {
        let Some(sched) = current else {
            return;
        };
        let table = &sched.current_fiber().owned(sched).locals;
        for _ in 0..MAX_ROUNDS {
            let values = std::mem::take(&mut *table.borrow_mut());
            if values.iter().all(Option::is_none) {
                return;
            }
            for value in values.into_iter().flatten() {
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(value)))
                    .is_err()
                {
                    eprintln!("spindle: a fiber-local value panicked while being dropped");
                }
            }
        }
        let left = std::mem::take(&mut *table.borrow_mut());
        eprintln!(
            "spindle: fiber-local values kept re-creating each other in their destructors for \
         {MAX_ROUNDS} rounds; leaking the {} left",
            left.iter().flatten().count()
        );
        std::mem::forget(left);
    })
}
