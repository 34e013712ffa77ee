//! [`OpenOptions`] and [`DirBuilder`]: builders whose final call runs on the blocking pool.

use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use super::{File, with_path};

/// Options for opening a file, mirroring [`std::fs::OpenOptions`]; [`open`](OpenOptions::open)
/// runs on the blocking pool.
///
/// `std::os::unix::fs::OpenOptionsExt` (`mode`, `custom_flags`) is implemented too.
///
/// # Examples
///
/// ```
/// use spindle_io::fs::OpenOptions;
/// use std::io::Write;
///
/// # fn main() -> std::io::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("log");
/// # let p = path.clone();
/// spindle_core::run(move || -> std::io::Result<()> {
///     let mut log = OpenOptions::new().append(true).create(true).open(&p)?;
///     log.write_all(b"one line\n")?;
///     Ok(())
/// })?;
/// # assert_eq!(std::fs::read(&path)?, b"one line\n");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct OpenOptions {
    inner: std::fs::OpenOptions,
}

impl OpenOptions {
    /// All options off, mirroring [`std::fs::OpenOptions::new`].
    #[must_use]
    pub fn new() -> OpenOptions {
        OpenOptions {
            inner: std::fs::OpenOptions::new(),
        }
    }

    /// Sets read access.
    pub fn read(&mut self, read: bool) -> &mut OpenOptions {
        self.inner.read(read);
        self
    }

    /// Sets write access.
    pub fn write(&mut self, write: bool) -> &mut OpenOptions {
        self.inner.write(write);
        self
    }

    /// Sets append mode: writes go to the end of the file.
    pub fn append(&mut self, append: bool) -> &mut OpenOptions {
        self.inner.append(append);
        self
    }

    /// Truncates an existing file to length 0 when opening.
    pub fn truncate(&mut self, truncate: bool) -> &mut OpenOptions {
        self.inner.truncate(truncate);
        self
    }

    /// Creates the file if it does not exist.
    pub fn create(&mut self, create: bool) -> &mut OpenOptions {
        self.inner.create(create);
        self
    }

    /// Creates the file, failing if it exists.
    pub fn create_new(&mut self, create_new: bool) -> &mut OpenOptions {
        self.inner.create_new(create_new);
        self
    }

    /// Opens `path` with these options, on the blocking pool.
    ///
    /// # Errors
    ///
    /// As [`std::fs::OpenOptions::open`]: `NotFound`, `AlreadyExists` (with `create_new`),
    /// `PermissionDenied`, `InvalidInput` for an invalid combination of options, …
    pub fn open<P: AsRef<Path>>(&self, path: P) -> io::Result<File> {
        let options = self.inner.clone();
        with_path(path.as_ref(), move |p| options.open(p)).map(File::from)
    }
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions::new()
    }
}

impl OpenOptionsExt for OpenOptions {
    fn mode(&mut self, mode: u32) -> &mut OpenOptions {
        self.inner.mode(mode);
        self
    }

    fn custom_flags(&mut self, flags: i32) -> &mut OpenOptions {
        self.inner.custom_flags(flags);
        self
    }
}

/// A builder for creating directories, mirroring [`std::fs::DirBuilder`];
/// [`create`](DirBuilder::create) runs on the blocking pool.
///
/// `std::os::unix::fs::DirBuilderExt` (`mode`) is implemented too.
#[derive(Clone, Debug)]
pub struct DirBuilder {
    recursive: bool,
    mode: u32,
}

impl DirBuilder {
    /// A builder for a non-recursive creation with mode `0o777` (before the umask).
    #[must_use]
    pub fn new() -> DirBuilder {
        DirBuilder {
            recursive: false,
            mode: 0o777,
        }
    }

    /// Also creates missing parents, and succeeds if the directory exists.
    pub fn recursive(&mut self, recursive: bool) -> &mut DirBuilder {
        self.recursive = recursive;
        self
    }

    /// Creates the directory `path`, on the blocking pool.
    ///
    /// # Errors
    ///
    /// As [`std::fs::DirBuilder::create`].
    pub fn create<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        let (recursive, mode) = (self.recursive, self.mode);
        with_path(path.as_ref(), move |p| {
            std::fs::DirBuilder::new()
                .recursive(recursive)
                .mode(mode)
                .create(p)
        })
    }
}

impl Default for DirBuilder {
    fn default() -> DirBuilder {
        DirBuilder::new()
    }
}

impl DirBuilderExt for DirBuilder {
    fn mode(&mut self, mode: u32) -> &mut DirBuilder {
        self.mode = mode;
        self
    }
}
