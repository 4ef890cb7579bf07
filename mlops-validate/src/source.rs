//! Streaming input: CSV (and, with feature `parquet`, Parquet) files read in chunks of rows
//! on a reader thread, so that parsing overlaps checking and memory stays constant.
//!
//! Row numbers are 1-based data rows: row 1 is the first row after the CSV header (its file
//! line is 2). Parquet nulls are read as empty cells.

use std::path::Path;

use csv::StringRecord;

use crate::error::{Error, Result};

/// Rows per chunk unless told otherwise.
pub const DEFAULT_CHUNK_ROWS: usize = 16_384;

/// A batch of rows, every one with exactly the header's number of fields.
#[derive(Debug, Default, Clone)]
pub struct Chunk {
    /// Row number of the first row (1-based).
    pub first_row: u64,
    records: Vec<StringRecord>,
    len: usize,
}

impl Chunk {
    /// An empty chunk whose first row will be `first_row`.
    pub fn new(first_row: u64) -> Self {
        Self {
            first_row,
            records: Vec::new(),
            len: 0,
        }
    }

    /// Rows in the chunk.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the chunk has no row.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Cell `column` of row `row` (0-based within the chunk); `""` past the end.
    pub fn cell(&self, row: usize, column: usize) -> &str {
        self.records
            .get(row)
            .and_then(|r| r.get(column))
            .unwrap_or("")
    }

    /// Appends a row (missing cells as `""`). The caller keeps the field count equal to the
    /// header's.
    pub fn push_row<'a>(&mut self, cells: impl IntoIterator<Item = &'a str>) {
        let rec = self.slot();
        rec.clear();
        for c in cells {
            rec.push_field(c);
        }
        self.len += 1;
    }

    fn slot(&mut self) -> &mut StringRecord {
        if self.records.len() == self.len {
            self.records.push(StringRecord::new());
        }
        // The slot exists: pushed just above when it did not.
        let len = self.len;
        &mut self.records[len]
    }

    fn clear(&mut self, first_row: u64) {
        self.first_row = first_row;
        self.len = 0;
    }
}

/// Something that yields a header and then chunks of rows.
pub trait ChunkReader: Send {
    /// Column names in file order.
    fn header(&self) -> &[String];
    /// Replaces `chunk`'s rows with up to `max_rows` next rows; `false` at the end.
    ///
    /// # Errors
    /// [`Error::Malformed`] naming the row (and the column when one is to blame).
    fn fill(&mut self, chunk: &mut Chunk, max_rows: usize) -> Result<bool>;
    /// Bytes consumed so far (for progress), when known.
    fn bytes_read(&self) -> u64 {
        0
    }
    /// The input's size in bytes, when known.
    fn total_bytes(&self) -> Option<u64> {
        None
    }
}

/// Opens a CSV or Parquet file (by extension `.parquet`/`.pq`).
///
/// # Errors
/// [`Error::Io`] when it cannot be opened; [`Error::Malformed`] for a bad header;
/// [`Error::InvalidInput`] for Parquet without feature `parquet`.
pub fn open(path: &Path) -> Result<Box<dyn ChunkReader>> {
    if mlops_drift::io::is_parquet(path) {
        #[cfg(feature = "parquet")]
        {
            return Ok(Box::new(parquet_source::ParquetReader::open(path)?));
        }
        #[cfg(not(feature = "parquet"))]
        return Err(Error::invalid(
            "input",
            format!("{}: Parquet needs feature `parquet`", path.display()),
        ));
    }
    Ok(Box::new(CsvReader::open(path)?))
}

/// Opens `path` for reading, with its size (for progress).
fn open_file(path: &Path) -> Result<(String, std::fs::File, Option<u64>)> {
    let p = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: p.clone(),
        source,
    })?;
    let total = file.metadata().ok().map(|m| m.len());
    Ok((p, file, total))
}

/// A CSV file with a header row.
pub struct CsvReader {
    path: String,
    reader: csv::Reader<std::fs::File>,
    header: Vec<String>,
    next_row: u64,
    total: Option<u64>,
}

impl std::fmt::Debug for CsvReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvReader")
            .field("path", &self.path)
            .finish()
    }
}

impl CsvReader {
    /// Opens `path` and reads its header.
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::Malformed`] for an empty file, invalid UTF-8 or a repeated
    /// column name in the header.
    pub fn open(path: &Path) -> Result<Self> {
        let (p, file, total) = open_file(path)?;
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .buffer_capacity(1 << 20)
            .from_reader(file);
        let header: Vec<String> = reader
            .headers()
            .map_err(|e| csv_error(&p, e, 0, &[]))?
            .iter()
            .map(str::to_owned)
            .collect();
        if header.is_empty() || header.iter().all(String::is_empty) {
            return Err(Error::Malformed {
                path: p,
                row: 0,
                column: None,
                reason: "the file has no header row".into(),
            });
        }
        let mut seen = std::collections::HashSet::new();
        for h in &header {
            if !seen.insert(h.as_str()) {
                return Err(Error::Malformed {
                    path: p,
                    row: 0,
                    column: Some(h.clone()),
                    reason: "the column name appears twice in the header".into(),
                });
            }
        }
        Ok(Self {
            path: p,
            reader,
            header,
            next_row: 1,
            total,
        })
    }
}

fn csv_error(path: &str, e: csv::Error, row: u64, header: &[String]) -> Error {
    match e.into_kind() {
        csv::ErrorKind::Io(source) => Error::Io {
            path: path.to_owned(),
            source,
        },
        csv::ErrorKind::Utf8 { err, .. } => Error::Malformed {
            path: path.to_owned(),
            row,
            column: header.get(err.field()).cloned(),
            reason: format!("invalid UTF-8 after byte {}", err.valid_up_to()),
        },
        other => Error::Malformed {
            path: path.to_owned(),
            row,
            column: None,
            reason: format!("{other:?}"),
        },
    }
}

impl ChunkReader for CsvReader {
    fn header(&self) -> &[String] {
        &self.header
    }

    fn fill(&mut self, chunk: &mut Chunk, max_rows: usize) -> Result<bool> {
        chunk.clear(self.next_row);
        while chunk.len < max_rows {
            let row = self.next_row;
            let rec = chunk.slot();
            let more = self
                .reader
                .read_record(rec)
                .map_err(|e| csv_error(&self.path, e, row, &self.header))?;
            if !more {
                break;
            }
            if rec.len() != self.header.len() {
                let column = self.header.get(rec.len()).cloned();
                return Err(Error::Malformed {
                    path: self.path.clone(),
                    row,
                    column,
                    reason: format!(
                        "{} field(s), the header has {}",
                        rec.len(),
                        self.header.len()
                    ),
                });
            }
            chunk.len += 1;
            self.next_row += 1;
        }
        Ok(chunk.len > 0)
    }

    fn bytes_read(&self) -> u64 {
        self.reader.position().byte()
    }

    fn total_bytes(&self) -> Option<u64> {
        self.total
    }
}

/// Rows already in memory (for windows of logged predictions, and tests).
#[derive(Debug, Clone)]
pub struct MemoryReader {
    header: Vec<String>,
    rows: std::vec::IntoIter<Vec<String>>,
    next_row: u64,
}

impl MemoryReader {
    /// A reader over `rows` (each as long as `header`; shorter rows are padded with empty
    /// cells, longer ones cut).
    pub fn new(header: Vec<String>, rows: Vec<Vec<String>>) -> Self {
        Self {
            header,
            rows: rows.into_iter(),
            next_row: 1,
        }
    }
}

impl ChunkReader for MemoryReader {
    fn header(&self) -> &[String] {
        &self.header
    }

    fn fill(&mut self, chunk: &mut Chunk, max_rows: usize) -> Result<bool> {
        chunk.clear(self.next_row);
        let width = self.header.len();
        while chunk.len < max_rows {
            let Some(row) = self.rows.next() else { break };
            let cells = row
                .iter()
                .map(String::as_str)
                .chain(std::iter::repeat(""))
                .take(width);
            chunk.push_row(cells);
            self.next_row += 1;
        }
        Ok(chunk.len > 0)
    }
}

/// Reads `reader` on a helper thread and calls `f` on each chunk, in order, on this thread.
/// At most three chunks exist at any time.
///
/// # Errors
/// The reader's error (after the chunks before it were handed to `f`), or `f`'s.
pub fn for_each_chunk(
    mut reader: Box<dyn ChunkReader>,
    chunk_rows: usize,
    mut f: impl FnMut(&Chunk, u64, Option<u64>) -> Result<()>,
) -> Result<()> {
    let chunk_rows = chunk_rows.max(1);
    let (full_tx, full_rx) = crossbeam_channel::bounded::<Result<(Chunk, u64)>>(1);
    let (empty_tx, empty_rx) = crossbeam_channel::bounded::<Chunk>(3);
    for _ in 0..2 {
        // The channel has room for three chunks; two are sent here, so this cannot fail.
        let _ = empty_tx.send(Chunk::default());
    }
    let total = reader.total_bytes();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            while let Ok(mut chunk) = empty_rx.recv() {
                match reader.fill(&mut chunk, chunk_rows) {
                    Ok(true) => {
                        let bytes = reader.bytes_read();
                        if full_tx.send(Ok((chunk, bytes))).is_err() {
                            return;
                        }
                    }
                    Ok(false) => return,
                    Err(e) => {
                        let _ = full_tx.send(Err(e));
                        return;
                    }
                }
            }
        });
        let mut result = Ok(());
        for msg in full_rx.iter() {
            match msg.and_then(|(chunk, bytes)| f(&chunk, bytes, total).map(|()| chunk)) {
                Ok(chunk) => {
                    let _ = empty_tx.send(chunk);
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        // Dropping the receivers stops the reader thread at its next send.
        drop(full_rx);
        drop(empty_tx);
        result
    })
}

#[cfg(feature = "parquet")]
mod parquet_source {
    use std::path::Path;

    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::reader::RowIter;
    use parquet::record::Field;

    use super::{Chunk, ChunkReader};
    use crate::error::{Error, Result};

    /// A flat Parquet file, read row by row.
    pub struct ParquetReader {
        path: String,
        header: Vec<String>,
        rows: RowIter<'static>,
        next_row: u64,
        total: Option<u64>,
        cells: Vec<String>,
    }

    impl ParquetReader {
        pub fn open(path: &Path) -> Result<Self> {
            let (p, file, total) = super::open_file(path)?;
            let malformed = |reason: String| Error::Malformed {
                path: p.clone(),
                row: 0,
                column: None,
                reason,
            };
            let reader = SerializedFileReader::new(file).map_err(|e| malformed(e.to_string()))?;
            let header: Vec<String> = reader
                .metadata()
                .file_metadata()
                .schema_descr()
                .columns()
                .iter()
                .map(|c| c.path().string())
                .collect();
            let rows = RowIter::from_file_into(Box::new(reader));
            Ok(Self {
                path: p,
                header,
                rows,
                next_row: 1,
                total,
                cells: Vec::new(),
            })
        }
    }

    fn text(field: &Field) -> std::result::Result<String, String> {
        Ok(match field {
            Field::Null => String::new(),
            Field::Bool(b) => b.to_string(),
            Field::Byte(x) => x.to_string(),
            Field::Short(x) => x.to_string(),
            Field::Int(x) => x.to_string(),
            Field::Long(x) => x.to_string(),
            Field::UByte(x) => x.to_string(),
            Field::UShort(x) => x.to_string(),
            Field::UInt(x) => x.to_string(),
            Field::ULong(x) => x.to_string(),
            Field::Float(x) => x.to_string(),
            Field::Double(x) => x.to_string(),
            Field::Str(s) => s.clone(),
            Field::Date(d) => crate::value::format_timestamp_ms(i64::from(*d) * 86_400_000)
                .get(..10)
                .unwrap_or_default()
                .to_owned(),
            Field::TimestampMillis(ms) => crate::value::format_timestamp_ms(*ms),
            Field::TimestampMicros(us) => crate::value::format_timestamp_ms(us.div_euclid(1000)),
            other => return Err(format!("unsupported value {other}")),
        })
    }

    impl ChunkReader for ParquetReader {
        fn header(&self) -> &[String] {
            &self.header
        }

        fn fill(&mut self, chunk: &mut Chunk, max_rows: usize) -> Result<bool> {
            chunk.clear(self.next_row);
            while chunk.len() < max_rows {
                let row_no = self.next_row;
                let Some(row) = self.rows.next() else { break };
                let row = row.map_err(|e| Error::Malformed {
                    path: self.path.clone(),
                    row: row_no,
                    column: None,
                    reason: e.to_string(),
                })?;
                self.cells.clear();
                for (name, field) in row.get_column_iter() {
                    let t = text(field).map_err(|reason| Error::Malformed {
                        path: self.path.clone(),
                        row: row_no,
                        column: Some(name.clone()),
                        reason,
                    })?;
                    self.cells.push(t);
                }
                chunk.push_row(self.cells.iter().map(String::as_str));
                self.next_row += 1;
            }
            Ok(!chunk.is_empty())
        }

        fn total_bytes(&self) -> Option<u64> {
            self.total
        }
    }
}
