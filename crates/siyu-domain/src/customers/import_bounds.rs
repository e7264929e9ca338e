//! Bounds on what one CSV import may hold in memory: a reader that watches the CSV structure as
//! it streams and stops at a field longer than [`MAX_FIELD_BYTES`] or a row longer than
//! [`MAX_ROW_BYTES`], naming the line and column, before the CSV parser buffers either.

use std::io::Read;

/// Longest field (cell) an import accepts, in bytes.
pub const MAX_FIELD_BYTES: usize = 64 * 1024;
/// Longest row an import accepts, in bytes.
pub const MAX_ROW_BYTES: usize = 1024 * 1024;

/// A field or row over its bound; travels inside the `std::io::Error` the CSV parser reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TooLong {
    /// Line in the file where the row starts (the header is line 1).
    pub(crate) line: u64,
    /// Column (0-based) of the field that was being read.
    pub(crate) column: usize,
    /// Whether the row, rather than one field, went over its bound.
    pub(crate) row: bool,
}

impl std::fmt::Display for TooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.row {
            write!(f, "the row is longer than {MAX_ROW_BYTES} bytes; the import stopped here")
        } else {
            write!(f, "the field is longer than {MAX_FIELD_BYTES} bytes; the import stopped here")
        }
    }
}

impl std::error::Error for TooLong {}

/// Where the reader is in the CSV grammar (RFC 4180 as the `csv` crate reads it: a quote opens a
/// quoted field only at the field's start, and `""` inside one is an escaped quote).
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    FieldStart,
    Unquoted,
    Quoted,
    QuoteInQuoted,
}

/// Wraps a CSV byte stream and fails with [`TooLong`] as soon as a field or a row exceeds its bound.
pub(crate) struct BoundedCsv<R> {
    inner: R,
    state: State,
    line: u64,
    row_line: u64,
    column: usize,
    field_bytes: usize,
    row_bytes: usize,
}

impl<R: Read> BoundedCsv<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self { inner, state: State::FieldStart, line: 1, row_line: 1, column: 0, field_bytes: 0, row_bytes: 0 }
    }

    fn end_field(&mut self) {
        self.column += 1;
        self.field_bytes = 0;
        self.state = State::FieldStart;
    }

    fn end_row(&mut self) {
        self.line += 1;
        self.row_line = self.line;
        self.column = 0;
        self.field_bytes = 0;
        self.row_bytes = 0;
        self.state = State::FieldStart;
    }

    fn check(&self) -> Result<(), TooLong> {
        let too_long = |row| TooLong { line: self.row_line, column: self.column, row };
        if self.field_bytes > MAX_FIELD_BYTES {
            return Err(too_long(false));
        }
        if self.row_bytes > MAX_ROW_BYTES {
            return Err(too_long(true));
        }
        Ok(())
    }

    fn step(&mut self, byte: u8) -> Result<(), TooLong> {
        let state = if self.state == State::QuoteInQuoted {
            if byte == b'"' {
                // An escaped quote: still inside the quoted field.
                self.state = State::Quoted;
                self.field_bytes += 1;
                self.row_bytes += 1;
                return self.check();
            }
            State::Unquoted
        } else {
            self.state
        };
        self.state = state;
        match (state, byte) {
            (State::Quoted, b'"') => self.state = State::QuoteInQuoted,
            (State::Quoted, b'\n') => {
                self.line += 1;
                self.field_bytes += 1;
            }
            (State::Quoted, _) => self.field_bytes += 1,
            (_, b',') => {
                self.row_bytes += 1;
                self.end_field();
                return self.check();
            }
            (_, b'\n') => {
                self.end_row();
                return Ok(());
            }
            (State::FieldStart, b'"') => self.state = State::Quoted,
            (_, _) => {
                self.state = State::Unquoted;
                self.field_bytes += 1;
            }
        }
        self.row_bytes += 1;
        self.check()
    }
}

impl<R: Read> Read for BoundedCsv<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        for &byte in &buf[..read] {
            self.step(byte).map_err(std::io::Error::other)?;
        }
        Ok(read)
    }
}

/// Returns the bound a CSV reading error broke, if that is what stopped it.
pub(crate) fn too_long(error: &csv::Error) -> Option<TooLong> {
    match error.kind() {
        csv::ErrorKind::Io(io) => io.get_ref().and_then(|inner| inner.downcast_ref::<TooLong>()).cloned(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(text: &[u8]) -> Result<(), TooLong> {
        let mut reader = BoundedCsv::new(text);
        let mut sink = Vec::new();
        match reader.read_to_end(&mut sink) {
            Ok(_) => Ok(()),
            Err(error) => Err(error.into_inner().and_then(|e| e.downcast::<TooLong>().ok()).map(|e| *e).unwrap()),
        }
    }

    #[test]
    fn import_refuses_a_field_longer_than_64_kib_naming_its_line_and_column() {
        let mut csv = b"phone,name\n13800000000,ok\n13800000001,".to_vec();
        csv.extend(std::iter::repeat_n(b'x', MAX_FIELD_BYTES + 1));
        assert_eq!(read_all(&csv), Err(TooLong { line: 3, column: 1, row: false }));
        // Quoted fields count too, and their newlines do not end the row.
        let mut csv = b"phone,name\n\"1\n2\",\"".to_vec();
        csv.extend(std::iter::repeat_n(b'y', MAX_FIELD_BYTES + 1));
        assert_eq!(read_all(&csv), Err(TooLong { line: 2, column: 1, row: false }));
    }

    #[test]
    fn import_refuses_a_row_longer_than_1_mib() {
        let field = vec![b'z'; MAX_FIELD_BYTES];
        let mut csv = b"phone\n".to_vec();
        for _ in 0..(MAX_ROW_BYTES / MAX_FIELD_BYTES + 1) {
            csv.extend_from_slice(&field);
            csv.push(b',');
        }
        assert!(matches!(read_all(&csv), Err(TooLong { line: 2, row: true, .. })));
    }

    #[test]
    fn import_bounds_leave_ordinary_files_alone() {
        let mut csv = b"phone,note\n".to_vec();
        for i in 0..2000 {
            csv.extend_from_slice(format!("1380000{i:04},\"said \"\"hi\"\", twice\"\r\n").as_bytes());
        }
        // Many small fields add up to far more than one field's bound without tripping it.
        assert!(csv.len() > MAX_FIELD_BYTES);
        assert_eq!(read_all(&csv), Ok(()));
    }
}
