//! Files and folders that hold personal data are private to the account siyu runs as: folders 0700,
//! files 0600, set when they are created and tightened when an older install made them wider.

use std::path::Path;

/// Creates `dir` (and missing parents) with mode 0700; an existing `dir` is tightened to 0700.
pub fn create_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        tighten(dir, 0o700)?;
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)?;
    Ok(())
}

/// Returns open options that create a file with mode 0600.
pub fn options() -> std::fs::OpenOptions {
    #[allow(unused_mut)]
    let mut options = std::fs::OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// Creates (or truncates) a file to write whole, with mode 0600; an existing wider file is
/// tightened (an export, which holds personal data).
pub fn create(path: &Path) -> std::io::Result<std::fs::File> {
    let file = options().write(true).create(true).truncate(true).open(path)?;
    tighten(path, 0o600)?;
    Ok(file)
}

/// Creates an empty file with mode 0600 unless it exists, and tightens it to 0600 if it does.
pub fn ensure_file(path: &Path) -> std::io::Result<()> {
    match options().write(true).create_new(true).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => tighten(path, 0o600),
        Err(e) => Err(e),
    }
}

/// Removes group and other permission bits from an existing file or folder (never widens).
pub fn tighten(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let current = std::fs::metadata(path)?.permissions().mode() & 0o777;
        if current & !mode != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(current & mode))?;
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// Tightens every file (0600) and folder (0700) below `dir`, for data written by older versions.
pub fn tighten_tree(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            tighten(&entry.path(), 0o700)?;
            tighten_tree(&entry.path())?;
        } else {
            tighten(&entry.path(), 0o600)?;
        }
    }
    Ok(())
}
