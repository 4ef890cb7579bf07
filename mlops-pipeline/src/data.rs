//! Tabular data the built-in steps and the gate read and write: CSV (or Parquet) files with a
//! header row.
//!
//! Reading goes through [`mlops_drift::io::read_table`]: a column whose every non-empty cell is a
//! number is numeric (an empty cell, `nan`, `na`, `null`, `none` are NaN, a missing value);
//! any other column is text (an empty cell is a missing value, `None`). Writing keeps the
//! input's cells byte for byte ([`split_csv`] copies records, it does not re-format numbers).

use std::path::Path;

use mlops_core::transform::{ColumnValues, RawColumn, RawFrame};
use mlops_drift::io::{read_table, Column, ReadOptions, Table};

use crate::error::{Error, Result};

/// Reads a table (CSV or Parquet) with every column's kind inferred.
///
/// # Errors
/// [`Error::Drift`] when the file cannot be read or parsed (ragged rows, invalid UTF-8,
/// duplicate header names).
pub fn read(path: &Path) -> Result<Table> {
    Ok(read_table(path, &ReadOptions::default())?)
}

/// The table as a [`RawFrame`] (numeric and text columns, in file order).
///
/// # Errors
/// [`Error::Core`] when the table has no column or columns of different lengths (not possible
/// for a table [`read`] returns).
pub fn to_frame(table: &Table) -> Result<RawFrame> {
    let cols = table
        .columns
        .iter()
        .map(|(name, c)| match c {
            Column::Numeric(v) => RawColumn::num(name.clone(), v.clone()),
            Column::Categorical(v) => RawColumn::str(name.clone(), v.clone()),
        })
        .collect();
    Ok(RawFrame::new(cols)?)
}

/// The frame without the columns in `drop` (label, segment, id columns).
///
/// # Errors
/// [`Error::InvalidInput`] when nothing is left; [`Error::Core`] as [`RawFrame::new`].
pub fn without(frame: &RawFrame, drop: &[&str]) -> Result<RawFrame> {
    let cols: Vec<RawColumn> = frame
        .columns()
        .iter()
        .filter(|c| !drop.contains(&c.name.as_str()))
        .cloned()
        .collect();
    if cols.is_empty() {
        return Err(Error::invalid(
            "frame",
            format!("no feature column is left after removing {drop:?}"),
        ));
    }
    Ok(RawFrame::new(cols)?)
}

/// The frame's columns as a row-major `rows × columns` matrix, with the column names.
///
/// # Errors
/// [`Error::InvalidInput`] naming the first text column.
pub fn numeric_matrix(frame: &RawFrame) -> Result<(Vec<f64>, usize, Vec<String>)> {
    let n = frame.n_rows();
    let k = frame.n_columns();
    let mut x = vec![0.0; n * k];
    let mut names = Vec::with_capacity(k);
    for (j, c) in frame.columns().iter().enumerate() {
        let ColumnValues::Num(v) = &c.values else {
            return Err(Error::invalid(
                format!("column {:?}", c.name),
                "is text: add a fit_transform step (one-hot encoding) or drop it",
            ));
        };
        names.push(c.name.clone());
        for (i, &val) in v.iter().enumerate() {
            x[i * k + j] = val;
        }
    }
    Ok((x, k, names))
}

/// Binary labels `0`/`1` from a column: numeric `0`/`1`, or text `0`/`1`/`false`/`true`.
///
/// # Errors
/// [`Error::InvalidInput`] naming the column when it is missing, or a value is missing or is
/// not one of those.
pub fn binary_labels(table: &Table, column: &str) -> Result<Vec<f64>> {
    let col = table.column(column).ok_or_else(|| {
        Error::invalid(
            format!("label column {column:?}"),
            format!("not in the table (columns: {})", table.names().join(", ")),
        )
    })?;
    let bad = |i: usize, v: &str| {
        Error::invalid(
            format!("label column {column:?}"),
            format!("row {}: {v:?} is not a binary label (0/1)", i + 1),
        )
    };
    match col {
        Column::Numeric(v) => v
            .iter()
            .enumerate()
            .map(|(i, &y)| {
                if y == 0.0 || y == 1.0 {
                    Ok(y)
                } else {
                    Err(bad(i, &y.to_string()))
                }
            })
            .collect(),
        Column::Categorical(v) => v
            .iter()
            .enumerate()
            .map(|(i, y)| match y.as_deref().map(str::trim) {
                Some("1") | Some("true") | Some("True") => Ok(1.0),
                Some("0") | Some("false") | Some("False") => Ok(0.0),
                other => Err(bad(i, other.unwrap_or("<missing>"))),
            })
            .collect(),
    }
}

/// Text labels of a column (segments, row ids): numbers are written as they print.
///
/// # Errors
/// [`Error::InvalidInput`] when the column is missing or holds a missing value.
pub fn text_column(table: &Table, column: &str) -> Result<Vec<String>> {
    let col = table.column(column).ok_or_else(|| {
        Error::invalid(
            format!("column {column:?}"),
            format!("not in the table (columns: {})", table.names().join(", ")),
        )
    })?;
    match col {
        Column::Numeric(v) => v
            .iter()
            .enumerate()
            .map(|(i, x)| {
                if x.is_nan() {
                    Err(Error::invalid(
                        format!("column {column:?}"),
                        format!("row {} is missing", i + 1),
                    ))
                } else {
                    Ok(x.to_string())
                }
            })
            .collect(),
        Column::Categorical(v) => v
            .iter()
            .enumerate()
            .map(|(i, x)| {
                x.clone().ok_or_else(|| {
                    Error::invalid(
                        format!("column {column:?}"),
                        format!("row {} is missing", i + 1),
                    )
                })
            })
            .collect(),
    }
}

/// How many rows [`split_csv`] put in each part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitCounts {
    /// Rows in the first output.
    pub train: usize,
    /// Rows in the second output.
    pub holdout: usize,
}

/// Splits a CSV file's records into `train` and `holdout` (both with the header), copying
/// records unchanged. Row `i` (0-based, or its `id_column` value when given) goes to the
/// holdout when `SHA-256(seed ‖ key)`, read as a number in `[0, 1)`, is below `fraction`: the
/// split of a row never depends on the other rows, so appending data keeps old rows where
/// they were (when keyed by id).
///
/// # Errors
/// [`Error::InvalidInput`] for a fraction outside `(0, 1)`, an unknown id column, or a split
/// that leaves a part empty; [`Error::Io`] when a file cannot be read or written;
/// [`Error::InvalidInput`] for malformed CSV (with its line).
pub fn split_csv(
    input: &Path,
    train: &Path,
    holdout: &Path,
    fraction: f64,
    seed: u64,
    id_column: Option<&str>,
) -> Result<SplitCounts> {
    use sha2::{Digest, Sha256};
    let _span = tracing::info_span!("split_csv", input = %input.display()).entered();
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(Error::invalid(
            "holdout_fraction",
            format!("{fraction} is not in (0, 1)"),
        ));
    }
    let csv_err = |e: csv::Error| {
        Error::invalid(
            format!("{}", input.display()),
            format!("malformed CSV: {e}"),
        )
    };
    let mut rd = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(input)
        .map_err(|e| match e.kind() {
            csv::ErrorKind::Io(_) => Error::io(input, std::io::Error::other(e.to_string())),
            _ => csv_err(e),
        })?;
    let header = rd.headers().map_err(csv_err)?.clone();
    let id_idx = match id_column {
        None => None,
        Some(c) => Some(header.iter().position(|h| h == c).ok_or_else(|| {
            Error::invalid(
                "id_column",
                format!("{c:?} is not a column of {}", input.display()),
            )
        })?),
    };
    let tmp = |p: &Path| p.with_extension("csv.tmp");
    let open = |p: &Path| -> Result<csv::Writer<std::fs::File>> {
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let f = std::fs::File::create(tmp(p)).map_err(|e| Error::io(tmp(p), e))?;
        Ok(csv::Writer::from_writer(f))
    };
    let (mut wt, mut wh) = (open(train)?, open(holdout)?);
    let werr = |p: &Path, e: csv::Error| Error::io(p, std::io::Error::other(e.to_string()));
    wt.write_record(&header).map_err(|e| werr(train, e))?;
    wh.write_record(&header).map_err(|e| werr(holdout, e))?;
    let mut counts = SplitCounts {
        train: 0,
        holdout: 0,
    };
    for (i, rec) in rd.records().enumerate() {
        let rec = rec.map_err(csv_err)?;
        let mut h = Sha256::new();
        h.update(seed.to_le_bytes());
        match id_idx {
            Some(j) => h.update(rec.get(j).unwrap_or("").as_bytes()),
            None => h.update((i as u64).to_le_bytes()),
        }
        let d = h.finalize();
        let mut b = [0u8; 8];
        b.copy_from_slice(&d[..8]);
        let u = (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64;
        if u < fraction {
            wh.write_record(&rec).map_err(|e| werr(holdout, e))?;
            counts.holdout += 1;
        } else {
            wt.write_record(&rec).map_err(|e| werr(train, e))?;
            counts.train += 1;
        }
    }
    if counts.train == 0 || counts.holdout == 0 {
        return Err(Error::invalid(
            "split",
            format!(
                "{} rows of {} split into {} train and {} holdout rows: a part is empty",
                counts.train + counts.holdout,
                input.display(),
                counts.train,
                counts.holdout
            ),
        ));
    }
    for (w, p) in [(wt, train), (wh, holdout)] {
        let f = w
            .into_inner()
            .map_err(|e| Error::io(p, std::io::Error::other(e.to_string())))?;
        f.sync_all().map_err(|e| Error::io(p, e))?;
        std::fs::rename(tmp(p), p).map_err(|e| Error::io(p, e))?;
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_per_row_and_keeps_cells() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let input = dir.path().join("in.csv");
        let mut text = String::from("id,x,city\n");
        for i in 0..200 {
            text.push_str(&format!("r{i},{}.50,\"Zürich, CH\"\n", i));
        }
        std::fs::write(&input, &text)?;
        let (t, h) = (dir.path().join("t.csv"), dir.path().join("h.csv"));
        let c = split_csv(&input, &t, &h, 0.25, 7, Some("id"))?;
        assert_eq!(c.train + c.holdout, 200);
        assert!(c.holdout > 25 && c.holdout < 75, "{c:?}");
        let ht = std::fs::read_to_string(&h)?;
        assert!(ht.contains("\"Zürich, CH\""));
        // Keyed by id: the same row goes the same way in a longer file.
        text.push_str("r999,1.0,x\n");
        std::fs::write(&input, &text)?;
        let (t2, h2) = (dir.path().join("t2.csv"), dir.path().join("h2.csv"));
        split_csv(&input, &t2, &h2, 0.25, 7, Some("id"))?;
        let h2t = std::fs::read_to_string(&h2)?;
        for line in ht.lines() {
            assert!(h2t.lines().any(|l| l == line), "{line}");
        }
        assert!(split_csv(&input, &t, &h, 1.0, 7, None).is_err());
        assert!(split_csv(&input, &t, &h, f64::NAN, 7, None).is_err());
        assert!(split_csv(&input, &t, &h, 0.2, 7, Some("nope")).is_err());
        Ok(())
    }

    #[test]
    fn labels_and_frames() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let p = dir.path().join("d.csv");
        std::fs::write(&p, "x,plan,y\n1.5,basic,1\n,pro,0\n2,,1\n")?;
        let t = read(&p)?;
        assert_eq!(binary_labels(&t, "y")?, vec![1.0, 0.0, 1.0]);
        assert!(binary_labels(&t, "x").is_err());
        assert!(binary_labels(&t, "nope").is_err());
        let f = without(&to_frame(&t)?, &["y"])?;
        assert_eq!(f.n_columns(), 2);
        assert!(
            text_column(&t, "plan").is_err(),
            "a missing segment is an error"
        );
        assert!(without(&f, &["x", "plan"]).is_err());
        Ok(())
    }
}
