//! Reading named columns of CSV (and, with feature `parquet`, Parquet) files into
//! numeric or categorical columns.
//!
//! This module is shared: `mlops-serve` reuses it for batch inference.
//!
//! # Column kinds
//! With [`ColumnKind::Auto`] (the default) a column is numeric when every
//! non-empty cell parses as `f64` (`nan`, `inf`, `-inf` included) and categorical
//! otherwise. Numeric columns hold `f64` with missing cells as NaN; categorical
//! columns hold `Option<String>` with empty cells as `None`. Parquet columns take
//! their kind from the physical type (integers, floats, booleans → numeric;
//! strings → categorical) unless overridden.
//!
//! ```no_run
//! use mlops_drift::io::{read_table, ReadOptions};
//! # fn main() -> mlops_drift::Result<()> {
//! let table = read_table("data.csv".as_ref(), &ReadOptions::default().with_columns(["age", "city"]))?;
//! for (name, column) in &table.columns {
//!     println!("{name}: {} rows", column.len());
//! }
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};

/// One column of a table.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// Numbers; a missing cell is NaN.
    Numeric(Vec<f64>),
    /// Text; a missing (empty) cell is `None`.
    Categorical(Vec<Option<String>>),
}

impl Column {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Column::Numeric(v) => v.len(),
            Column::Categorical(v) => v.len(),
        }
    }
    /// True when the column has no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// `"numeric"` or `"categorical"`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Column::Numeric(_) => "numeric",
            Column::Categorical(_) => "categorical",
        }
    }
}

/// Named columns, in file order (or in the order asked for).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    /// `(name, column)` pairs.
    pub columns: Vec<(String, Column)>,
}

impl Table {
    /// The column called `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|(n, _)| n == name).map(|(_, c)| c)
    }
    /// Column names.
    pub fn names(&self) -> Vec<&str> {
        self.columns.iter().map(|(n, _)| n.as_str()).collect()
    }
}

/// Forces the kind of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColumnKind {
    /// Decide from the data (see the module docs).
    #[default]
    Auto,
    /// Parse as numbers; a cell that does not parse is an error.
    Numeric,
    /// Keep as text.
    Categorical,
}

/// Options for [`read_csv`] / [`read_table`].
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Columns to read (all when `None`).
    pub columns: Option<Vec<String>>,
    /// Per-column kind overrides.
    pub kinds: BTreeMap<String, ColumnKind>,
    /// CSV delimiter (default `,`).
    pub delimiter: Option<u8>,
}

impl ReadOptions {
    /// Reads only these columns, in this order.
    pub fn with_columns<I, S>(mut self, cols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.columns = Some(cols.into_iter().map(Into::into).collect());
        self
    }
    /// Forces the kind of one column.
    pub fn with_kind(mut self, column: &str, kind: ColumnKind) -> Self {
        self.kinds.insert(column.to_string(), kind);
        self
    }
}

fn table_err(path: &Path, reason: impl Into<String>) -> Error {
    Error::Table {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

fn parse_num(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() {
        return Some(f64::NAN);
    }
    match t.to_ascii_lowercase().as_str() {
        "nan" | "na" | "null" | "none" => return Some(f64::NAN),
        _ => {}
    }
    t.parse::<f64>().ok()
}

/// Selects the wanted column indices from a header.
fn select(header: &[String], options: &ReadOptions, path: &Path) -> Result<Vec<(String, usize)>> {
    match &options.columns {
        None => Ok(header
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, n)| (n, i))
            .collect()),
        Some(cols) => cols
            .iter()
            .map(|c| {
                header
                    .iter()
                    .position(|h| h == c)
                    .map(|i| (c.clone(), i))
                    .ok_or_else(|| Error::ColumnNotFound {
                        column: c.clone(),
                        path: path.display().to_string(),
                        available: header.join(","),
                    })
            })
            .collect(),
    }
}

/// Reads named columns of a CSV file with a header row.
///
/// # Errors
/// [`Error::Io`] when the file cannot be opened; [`Error::Table`] for malformed
/// CSV (ragged rows, invalid UTF-8 — with the line number), duplicate header
/// names, or a non-numeric cell in a column forced numeric;
/// [`Error::ColumnNotFound`] for an unknown column.
#[tracing::instrument(skip_all, fields(path = %path.display()), err)]
pub fn read_csv(path: &Path, options: &ReadOptions) -> Result<Table> {
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(options.delimiter.unwrap_or(b','))
        .has_headers(true)
        .flexible(false)
        .from_reader(std::io::BufReader::new(file));
    let header: Vec<String> = rdr
        .headers()
        .map_err(|e| table_err(path, e.to_string()))?
        .iter()
        .map(|s| s.trim_start_matches('\u{feff}').to_string())
        .collect();
    {
        let mut seen = std::collections::BTreeSet::new();
        for h in &header {
            if !seen.insert(h) {
                return Err(table_err(path, format!("duplicate column name {h:?}")));
            }
        }
    }
    let wanted = select(&header, options, path)?;
    let mut raw: Vec<Vec<Option<String>>> = vec![Vec::new(); wanted.len()];
    for rec in rdr.records() {
        let rec = rec.map_err(|e| table_err(path, e.to_string()))?;
        for (slot, (_, idx)) in raw.iter_mut().zip(&wanted) {
            let cell = rec.get(*idx).unwrap_or("");
            slot.push(if cell.is_empty() {
                None
            } else {
                Some(cell.to_string())
            });
        }
    }
    let mut columns = Vec::with_capacity(wanted.len());
    for ((name, _), cells) in wanted.into_iter().zip(raw) {
        let kind = options.kinds.get(&name).copied().unwrap_or_default();
        let col = match kind {
            ColumnKind::Categorical => Column::Categorical(cells),
            ColumnKind::Numeric | ColumnKind::Auto => {
                let parsed: Option<Vec<f64>> = cells
                    .iter()
                    .map(|c| c.as_deref().map_or(Some(f64::NAN), parse_num))
                    .collect();
                match (parsed, kind) {
                    (Some(v), _) => Column::Numeric(v),
                    (None, ColumnKind::Auto) => Column::Categorical(cells),
                    (None, _) => {
                        let (row, bad) = cells
                            .iter()
                            .enumerate()
                            .find(|(_, c)| c.as_deref().is_some_and(|s| parse_num(s).is_none()))
                            .map(|(i, c)| (i, c.clone().unwrap_or_default()))
                            .unwrap_or((0, String::new()));
                        return Err(table_err(
                            path,
                            format!("column {name:?} row {}: {bad:?} is not a number", row + 1),
                        ));
                    }
                }
            }
        };
        columns.push((name, col));
    }
    Ok(Table { columns })
}

/// Reads a CSV or (with feature `parquet`) Parquet file, chosen by extension
/// (`.parquet`/`.pq` → Parquet, anything else → CSV).
///
/// # Errors
/// As [`read_csv`] / `read_parquet`; [`Error::InvalidInput`] for a Parquet file when
/// the `parquet` feature is off.
pub fn read_table(path: &Path, options: &ReadOptions) -> Result<Table> {
    if is_parquet(path) {
        #[cfg(feature = "parquet")]
        {
            return read_parquet(path, options);
        }
        #[cfg(not(feature = "parquet"))]
        {
            return Err(crate::error::invalid(
                "file",
                format!(
                    "{} is Parquet but mlops-drift was built without feature `parquet`",
                    path.display()
                ),
            ));
        }
    }
    read_csv(path, options)
}

/// True for `.parquet` / `.pq` paths.
pub fn is_parquet(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet") || e.eq_ignore_ascii_case("pq"))
}

#[cfg(feature = "parquet")]
pub use self::pq::{read_parquet, write_parquet};

#[cfg(feature = "parquet")]
mod pq {
    use std::path::Path;
    use std::sync::Arc;

    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;

    use super::{select, table_err, Column, ColumnKind, ReadOptions, Table};
    use crate::error::{Error, Result};

    /// Reads named columns of a Parquet file (flat schemas; nested columns are
    /// refused).
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be opened; [`Error::Table`] for a corrupt or
    /// truncated file or a nested/unsupported column type;
    /// [`Error::ColumnNotFound`] for an unknown column.
    #[tracing::instrument(skip_all, fields(path = %path.display()), err)]
    pub fn read_parquet(path: &Path, options: &ReadOptions) -> Result<Table> {
        let file = std::fs::File::open(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        let reader = SerializedFileReader::new(file).map_err(|e| table_err(path, e.to_string()))?;
        let schema = reader.metadata().file_metadata().schema_descr_ptr();
        let header: Vec<String> = schema.columns().iter().map(|c| c.path().string()).collect();
        let wanted = select(&header, options, path)?;
        let mut numeric: Vec<Vec<f64>> = vec![Vec::new(); wanted.len()];
        let mut text: Vec<Vec<Option<String>>> = vec![Vec::new(); wanted.len()];
        let mut is_text = vec![false; wanted.len()];
        let iter = reader
            .get_row_iter(None)
            .map_err(|e| table_err(path, e.to_string()))?;
        for row in iter {
            let row = row.map_err(|e| table_err(path, e.to_string()))?;
            let fields: Vec<(&String, &Field)> = row.get_column_iter().collect();
            for (k, (name, _)) in wanted.iter().enumerate() {
                let field = fields
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, f)| *f)
                    .unwrap_or(&Field::Null);
                let num = match field {
                    Field::Null => None,
                    Field::Bool(b) => Some(f64::from(u8::from(*b))),
                    Field::Byte(x) => Some(f64::from(*x)),
                    Field::Short(x) => Some(f64::from(*x)),
                    Field::Int(x) => Some(f64::from(*x)),
                    Field::Long(x) => Some(*x as f64),
                    Field::UByte(x) => Some(f64::from(*x)),
                    Field::UShort(x) => Some(f64::from(*x)),
                    Field::UInt(x) => Some(f64::from(*x)),
                    Field::ULong(x) => Some(*x as f64),
                    Field::Float(x) => Some(f64::from(*x)),
                    Field::Double(x) => Some(*x),
                    Field::Str(s) => {
                        is_text[k] = true;
                        text[k].push(Some(s.clone()));
                        numeric[k].push(f64::NAN);
                        continue;
                    }
                    other => {
                        return Err(table_err(
                            path,
                            format!("column {name:?}: unsupported value {other}"),
                        ))
                    }
                };
                numeric[k].push(num.unwrap_or(f64::NAN));
                text[k].push(num.map(|v| v.to_string()));
            }
        }
        let mut columns = Vec::new();
        for (k, (name, _)) in wanted.into_iter().enumerate() {
            let kind = options.kinds.get(&name).copied().unwrap_or_default();
            let col = match (kind, is_text[k]) {
                (ColumnKind::Categorical, _) | (ColumnKind::Auto, true) => {
                    Column::Categorical(std::mem::take(&mut text[k]))
                }
                (ColumnKind::Numeric, true) => {
                    return Err(table_err(
                        path,
                        format!("column {name:?} holds text, not numbers"),
                    ))
                }
                _ => Column::Numeric(std::mem::take(&mut numeric[k])),
            };
            columns.push((name, col));
        }
        let _ = Arc::clone(&schema);
        Ok(Table { columns })
    }

    /// Writes a table as an uncompressed Parquet file (numeric → optional DOUBLE,
    /// categorical → optional UTF-8 BYTE_ARRAY). Handy for tests and for exporting.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Table`]; [`Error::InvalidInput`] when column lengths differ.
    #[tracing::instrument(skip_all, fields(path = %path.display()), err)]
    pub fn write_parquet(path: &Path, table: &Table) -> Result<()> {
        use parquet::data_type::{ByteArray, ByteArrayType, DoubleType};
        use parquet::file::properties::WriterProperties;
        use parquet::file::writer::SerializedFileWriter;
        use parquet::schema::parser::parse_message_type;

        let rows = table.columns.first().map_or(0, |(_, c)| c.len());
        if table.columns.iter().any(|(_, c)| c.len() != rows) {
            return Err(crate::error::invalid("table", "columns differ in length"));
        }
        let mut msg = String::from("message schema {\n");
        for (name, col) in &table.columns {
            if name.chars().any(|c| !(c.is_alphanumeric() || c == '_')) {
                return Err(crate::error::invalid(
                    "column name",
                    format!("{name:?}: only letters, digits and _ can be written to Parquet here"),
                ));
            }
            match col {
                Column::Numeric(_) => msg.push_str(&format!("  OPTIONAL DOUBLE {name};\n")),
                Column::Categorical(_) => {
                    msg.push_str(&format!("  OPTIONAL BYTE_ARRAY {name} (UTF8);\n"))
                }
            }
        }
        msg.push('}');
        let pe = |e: parquet::errors::ParquetError| table_err(path, e.to_string());
        let schema = Arc::new(parse_message_type(&msg).map_err(pe)?);
        let file = std::fs::File::create(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        let props = Arc::new(WriterProperties::builder().build());
        let mut writer = SerializedFileWriter::new(file, schema, props).map_err(pe)?;
        let mut rg = writer.next_row_group().map_err(pe)?;
        for (_, col) in &table.columns {
            let Some(mut cw) = rg.next_column().map_err(pe)? else {
                return Err(table_err(path, "schema has fewer columns than the table"));
            };
            match col {
                Column::Numeric(v) => {
                    let def: Vec<i16> = v.iter().map(|x| i16::from(!x.is_nan())).collect();
                    let vals: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
                    cw.typed::<DoubleType>()
                        .write_batch(&vals, Some(&def), None)
                        .map_err(pe)?;
                }
                Column::Categorical(v) => {
                    let def: Vec<i16> = v.iter().map(|x| i16::from(x.is_some())).collect();
                    let vals: Vec<ByteArray> = v
                        .iter()
                        .flatten()
                        .map(|s| ByteArray::from(s.as_str()))
                        .collect();
                    cw.typed::<ByteArrayType>()
                        .write_batch(&vals, Some(&def), None)
                        .map_err(pe)?;
                }
            }
            cw.close().map_err(pe)?;
        }
        rg.close().map_err(pe)?;
        writer.close().map_err(pe)?;
        Ok(())
    }
}
