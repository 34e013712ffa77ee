//! [`IsTerminal`]: std's trait is sealed (only std's types may implement it), so spindle has its
//! own, under the same name and with the same method.

use std::os::fd::AsFd;

/// Whether a descriptor refers to a terminal, mirroring [`std::io::IsTerminal`].
///
/// Implemented for every type with a descriptor ([`AsFd`]): spindle's [`Stdin`](super::Stdin),
/// [`Stdout`](super::Stdout), [`Stderr`](super::Stderr), files and sockets, and std's types too,
/// so `use spindle::io::IsTerminal` serves everywhere std's import did.
///
/// # Examples
///
/// ```
/// use spindle_io::io::IsTerminal;
///
/// let interactive = spindle_io::io::stdin().is_terminal();
/// # let _ = interactive;
/// ```
pub trait IsTerminal {
    /// Returns `true` if the descriptor refers to a terminal (`isatty`).
    fn is_terminal(&self) -> bool;
}

impl<T: AsFd + ?Sized> IsTerminal for T {
    fn is_terminal(&self) -> bool {
        std::io::IsTerminal::is_terminal(&self.as_fd())
    }
}
