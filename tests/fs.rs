//! `spindle::fs`: contents equal std's, every operation, std's error kinds, and that a slow
//! filesystem call stalls only its fiber.

use spindle::fiber;
use spindle::fs::{self, DirBuilder, File, OpenOptions};
use std::cell::Cell;
use std::ffi::CString;
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::rc::Rc;
use std::thread;
use std::time::Duration;

/// Deterministic, non-repeating-looking bytes.
fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn run<T: 'static>(f: impl FnOnce() -> T + 'static) -> T {
    spindle::run(f)
}

#[test]
fn reading_a_large_file_equals_std() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("big");
    let data = pattern(8 << 20 | 12345);
    std::fs::write(&path, &data)?;
    let expected = std::fs::read(&path)?;
    let p = path.clone();
    let (whole, to_end, chunked, buffered_lines) = run(move || -> io::Result<_> {
        let whole = fs::read(&p)?;
        let mut to_end = Vec::new();
        File::open(&p)?.read_to_end(&mut to_end)?;
        let mut chunked = Vec::new();
        let mut file = File::open(&p)?;
        let mut buf = vec![0; 100_003];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            chunked.extend_from_slice(&buf[..n]);
        }
        let lines = BufReader::new(File::open(&p)?).split(b'\n').count();
        Ok((whole, to_end, chunked, lines))
    })?;
    assert!(whole == expected, "fs::read differs from std::fs::read");
    assert!(to_end == expected, "File::read_to_end differs");
    assert!(chunked == expected, "File::read in chunks differs");
    assert_eq!(
        buffered_lines,
        expected.split(|&b| b == b'\n').count() - usize::from(expected.ends_with(b"\n"))
    );
    Ok(())
}

#[test]
fn write_append_seek_set_len_and_metadata() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("f");
    let p = path.clone();
    run(move || -> io::Result<()> {
        fs::write(&p, b"hello world")?;
        assert_eq!(fs::read_to_string(&p)?, "hello world");

        let mut f = OpenOptions::new().append(true).open(&p)?;
        f.write_all(b"!!")?;
        f.flush()?;
        drop(f);
        assert_eq!(fs::read(&p)?, b"hello world!!");

        let mut f = OpenOptions::new().read(true).write(true).open(&p)?;
        assert_eq!(f.seek(SeekFrom::Start(6))?, 6);
        f.write_all(b"fiber")?;
        f.seek(SeekFrom::Start(0))?;
        let mut s = String::new();
        f.read_to_string(&mut s)?;
        assert_eq!(s, "hello fiber!!");
        let mut head = [0; 5];
        f.read_exact_at(&mut head, 0)?;
        assert_eq!(&head, b"hello");
        f.write_all_at(b"HELLO", 0)?;

        f.set_len(5)?;
        f.sync_all()?;
        f.sync_data()?;
        assert_eq!(f.metadata()?.len(), 5);
        assert_eq!(fs::metadata(&p)?.len(), 5);
        assert!(fs::metadata(&p)?.is_file());
        assert_eq!(fs::read(&p)?, b"HELLO");

        let mut perms = f.metadata()?.permissions();
        perms.set_mode(0o600);
        f.set_permissions(perms)?;
        assert_eq!(fs::metadata(&p)?.permissions().mode() & 0o777, 0o600);

        let clone = f.try_clone()?;
        (&clone).seek(SeekFrom::Start(1))?;
        let mut rest = String::new();
        f.read_to_string(&mut rest)?;
        assert_eq!(rest, "ELLO", "try_clone shares the cursor");
        Ok(())
    })?;
    assert_eq!(std::fs::read(&path)?, b"HELLO");
    Ok(())
}

#[test]
fn directory_operations() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().to_path_buf();
    run(move || -> io::Result<()> {
        let nested = root.join("a/b/c");
        fs::create_dir_all(&nested)?;
        assert!(fs::exists(&nested)?);
        DirBuilder::new().mode(0o700).create(root.join("d"))?;
        DirBuilder::new()
            .recursive(true)
            .create(root.join("d/e/f"))?;
        fs::create_dir(root.join("g"))?;
        fs::remove_dir(root.join("g"))?;
        assert!(!fs::exists(root.join("g"))?);

        // More entries than one batch of the listing.
        for i in 0..300 {
            fs::write(nested.join(format!("file{i:03}")), i.to_string())?;
        }
        let mut names: Vec<String> = fs::read_dir(&nested)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<io::Result<_>>()?;
        names.sort();
        assert_eq!(names.len(), 300);
        assert_eq!(names[0], "file000");
        assert_eq!(names[299], "file299");
        let entry = fs::read_dir(&root)?.next().unwrap()?;
        assert!(entry.file_type()?.is_dir());
        assert!(entry.metadata()?.is_dir());
        assert_eq!(entry.path(), root.join(entry.file_name()));

        let copied = fs::copy(nested.join("file042"), root.join("copy"))?;
        assert_eq!(copied, 2);
        fs::rename(root.join("copy"), root.join("moved"))?;
        assert_eq!(fs::read_to_string(root.join("moved"))?, "42");
        fs::hard_link(root.join("moved"), root.join("link"))?;
        std::os::unix::fs::symlink(root.join("moved"), root.join("sym"))?;
        assert_eq!(fs::read_link(root.join("sym"))?, root.join("moved"));
        assert!(
            fs::symlink_metadata(root.join("sym"))?
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            fs::canonicalize(root.join("a/b/../b/c"))?,
            fs::canonicalize(&nested)?
        );
        fs::remove_file(root.join("link"))?;
        fs::remove_dir_all(root.join("a"))?;
        assert!(!fs::exists(root.join("a"))?);
        Ok(())
    })
}

#[test]
fn bad_paths_give_std_error_kinds() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().to_path_buf();
    std::fs::write(root.join("file"), b"\xff\xfe not utf-8")?;
    let r = root.clone();
    let spindle_kinds = run(move || kinds(&r, Mode::Spindle));
    let std_kinds = kinds(&root, Mode::Std);
    assert_eq!(spindle_kinds, std_kinds);
    assert_eq!(
        spindle_kinds,
        [
            ErrorKind::NotFound,
            ErrorKind::NotFound,
            ErrorKind::AlreadyExists,
            ErrorKind::NotADirectory,
            ErrorKind::NotFound,
            ErrorKind::InvalidData,
            ErrorKind::IsADirectory,
            ErrorKind::DirectoryNotEmpty,
            ErrorKind::InvalidInput,
        ]
    );
    // The same calls from a plain thread, outside any runtime.
    assert_eq!(kinds(dir.path(), Mode::Spindle), std_kinds);
    Ok(())
}

#[derive(Clone, Copy)]
enum Mode {
    Spindle,
    Std,
}

fn kinds(root: &Path, mode: Mode) -> Vec<ErrorKind> {
    let missing = root.join("missing");
    let file = root.join("file");
    let e = |r: io::Result<()>| r.unwrap_err().kind();
    match mode {
        Mode::Spindle => vec![
            e(File::open(&missing).map(drop)),
            e(fs::read_dir(&missing).map(drop)),
            e(File::create_new(&file).map(drop)),
            e(fs::read_dir(&file).map(drop)),
            e(fs::remove_file(&missing)),
            e(fs::read_to_string(&file).map(drop)),
            e(File::create(root).map(drop)),
            e(fs::remove_dir(root)),
            e(OpenOptions::new().open(&file).map(drop)),
        ],
        Mode::Std => vec![
            e(std::fs::File::open(&missing).map(drop)),
            e(std::fs::read_dir(&missing).map(drop)),
            e(std::fs::File::create_new(&file).map(drop)),
            e(std::fs::read_dir(&file).map(drop)),
            e(std::fs::remove_file(&missing)),
            e(std::fs::read_to_string(&file).map(drop)),
            e(std::fs::File::create(root).map(drop)),
            e(std::fs::remove_dir(root)),
            e(std::fs::OpenOptions::new().open(&file).map(drop)),
        ],
    }
}

#[test]
fn a_slow_file_open_and_read_stall_only_their_fiber() -> io::Result<()> {
    // Opening a FIFO blocks until a writer shows up: a filesystem call as slow as we like.
    let dir = tempfile::tempdir()?;
    let fifo = dir.path().join("fifo");
    let c_path = CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c_path` is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let writer_path = fifo.clone();
    let writer = thread::spawn(move || -> io::Result<()> {
        thread::sleep(Duration::from_millis(300));
        let mut w = std::fs::OpenOptions::new().write(true).open(&writer_path)?;
        w.write_all(b"slow data")
    });
    let (text, ticks) = run(move || -> io::Result<_> {
        let ticks = Rc::new(Cell::new(0usize));
        let t = ticks.clone();
        let ticker = fiber::spawn(move || {
            for _ in 0..15 {
                fiber::sleep(Duration::from_millis(10));
                t.set(t.get() + 1);
            }
        });
        let mut text = String::new();
        File::open(&fifo)?.read_to_string(&mut text)?;
        let seen = ticks.get();
        ticker.join().unwrap();
        Ok((text, seen))
    })?;
    writer.join().unwrap()?;
    assert_eq!(text, "slow data");
    assert!(
        ticks >= 5,
        "the ticker ticked {ticks} times while the open blocked"
    );
    Ok(())
}

#[test]
fn open_options_ext_mode_and_custom_flags() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("m");
    let p = path.clone();
    run(move || -> io::Result<()> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .mode(0o640)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&p)
            .map(drop)
    })?;
    assert_eq!(
        std::fs::metadata(&path)?.permissions().mode() & 0o777,
        0o640 & !umask()
    );
    Ok(())
}

fn umask() -> u32 {
    // SAFETY: `umask` only swaps the process's mask; it is restored at once.
    let old = unsafe { libc::umask(0o022) };
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    old
}

#[test]
fn conversions_to_and_from_std() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("c");
    std::fs::write(&path, b"converted")?;
    let p = path.clone();
    run(move || -> io::Result<()> {
        let mut f = File::from(std::fs::File::open(&p)?);
        let mut s = String::new();
        f.read_to_string(&mut s)?;
        assert_eq!(s, "converted");
        let mut back: std::fs::File = f.into();
        back.seek(SeekFrom::Start(0))?;
        s.clear();
        back.read_to_string(&mut s)?;
        assert_eq!(s, "converted");
        Ok(())
    })
}
