//! Batch (offline) inference over a dataset in parallel chunks, with retries and progress.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::predictor::{predict_guarded, validate_request, NonFinitePolicy, Predictor};
use crate::tensor::{Tensor, TensorData, Tensors};

/// Progress of a [`BatchJob`], passed to the progress callback after each written chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchProgress {
    /// Chunks written so far.
    pub chunks_done: usize,
    /// Chunks in the job.
    pub chunks_total: usize,
    /// Rows written so far.
    pub rows_done: usize,
    /// Rows in the job.
    pub rows_total: usize,
}

/// What a finished [`BatchJob`] did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BatchReport {
    /// Rows predicted and written (all of them: a failed chunk is an error, never a gap).
    pub rows: usize,
    /// Chunks.
    pub chunks: usize,
    /// `(chunk index, attempts)` for every chunk that needed more than one attempt.
    pub retried: Vec<(usize, usize)>,
    /// Wall time.
    pub elapsed: Duration,
}

/// Runs a predictor over every row of a dataset in parallel chunks (rayon), calling a sink
/// with each chunk's predictions **in row order**.
///
/// A failing chunk is retried `retries` times; if it still fails, the job stops with
/// [`Error::ChunkFailed`], which names the chunk, its rows and how many rows were written
/// before it — rows are never silently skipped.
#[derive(Debug, Clone)]
pub struct BatchJob {
    predictor: Arc<dyn Predictor>,
    chunk_rows: usize,
    retries: usize,
    parallel_chunks: usize,
    non_finite: NonFinitePolicy,
}

impl BatchJob {
    /// A job with 1024-row chunks, 2 retries, and as many chunks in flight as rayon threads.
    pub fn new(predictor: Arc<dyn Predictor>) -> Self {
        Self {
            predictor,
            chunk_rows: 1024,
            retries: 2,
            parallel_chunks: rayon::current_num_threads().max(1),
            non_finite: NonFinitePolicy::Reject,
        }
    }
    /// Rows per chunk (at least 1).
    pub fn with_chunk_rows(mut self, rows: usize) -> Self {
        self.chunk_rows = rows.max(1);
        self
    }
    /// Retries per failing chunk.
    pub fn with_retries(mut self, retries: usize) -> Self {
        self.retries = retries;
        self
    }
    /// Chunks computed concurrently (at least 1); bounds memory to that many chunks' outputs.
    pub fn with_parallel_chunks(mut self, n: usize) -> Self {
        self.parallel_chunks = n.max(1);
        self
    }
    /// NaN/inf policy for the rows.
    pub fn with_non_finite(mut self, p: NonFinitePolicy) -> Self {
        self.non_finite = p;
        self
    }

    /// Predicts every row of `inputs` (named tensors sharing their leading dimension).
    /// `sink(first_row, predictions)` receives chunks in order; `progress` is called after each.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `inputs` do not match the signature (checked on the whole
    /// dataset before any compute), [`Error::ChunkFailed`] when a chunk fails after its retries,
    /// or the sink's error.
    #[tracing::instrument(skip_all, fields(model = %self.predictor.identity()), err)]
    pub fn run(
        &self,
        inputs: &Tensors,
        sink: &mut dyn FnMut(usize, &Tensors) -> Result<()>,
        progress: &mut dyn FnMut(&BatchProgress),
    ) -> Result<BatchReport> {
        let started = Instant::now();
        let rows_total = validate_request(self.predictor.as_ref(), inputs, self.non_finite)?;
        let chunks: Vec<(usize, usize)> = (0..rows_total)
            .step_by(self.chunk_rows)
            .map(|s| (s, (s + self.chunk_rows).min(rows_total)))
            .collect();
        let chunks_total = chunks.len();
        let mut retried = Vec::new();
        let mut rows_done = 0;
        for (wave_idx, wave) in chunks.chunks(self.parallel_chunks).enumerate() {
            let first_chunk = wave_idx * self.parallel_chunks;
            let results: Vec<(usize, Result<Tensors>)> = wave
                .par_iter()
                .map(|&(s, e)| self.run_chunk(inputs, s, e))
                .collect();
            for (k, ((s, e), (attempts, r))) in wave.iter().zip(results).enumerate() {
                let chunk = first_chunk + k;
                if attempts > 1 {
                    retried.push((chunk, attempts));
                }
                let out = r.map_err(|err| {
                    tracing::error!(chunk, first_row = s, error = %err, "batch chunk failed after retries");
                    Error::ChunkFailed {
                        chunk,
                        first_row: *s,
                        end_row: *e,
                        attempts,
                        rows_written: rows_done,
                        reason: err.to_string(),
                    }
                })?;
                sink(*s, &out)?;
                rows_done = *e;
                progress(&BatchProgress {
                    chunks_done: chunk + 1,
                    chunks_total,
                    rows_done,
                    rows_total,
                });
            }
        }
        Ok(BatchReport {
            rows: rows_done,
            chunks: chunks_total,
            retried,
            elapsed: started.elapsed(),
        })
    }

    /// The model's only input, for the entry points that feed a single matrix.
    fn single_input(&self, entry: &str) -> Result<&mlops_core::TensorSpec> {
        let fields = &self.predictor.signature().inputs.fields;
        match fields.as_slice() {
            [spec] => Ok(spec),
            _ => Err(Error::invalid(
                "<dataset>",
                format!(
                    "{entry} needs a one-input model; this one has {}",
                    fields.len()
                ),
            )),
        }
    }

    /// Predicts every row of an `f32` matrix for a model with one input.
    ///
    /// # Errors
    /// As [`BatchJob::run`], plus [`Error::InvalidInput`] when the model has more than one input.
    pub fn run_array(
        &self,
        rows: ndarray::ArrayView2<'_, f32>,
        sink: &mut dyn FnMut(usize, &Tensors) -> Result<()>,
        progress: &mut dyn FnMut(&BatchProgress),
    ) -> Result<BatchReport> {
        let spec = self.single_input("run_array")?;
        let data: Vec<f32> = rows.iter().copied().collect();
        let t = Tensor::f32(vec![rows.nrows(), rows.ncols()], data)?;
        self.run(&Tensors::from([(spec.name.clone(), t)]), sink, progress)
    }

    /// Predicts every row of a CSV file (or, with feature `parquet`, a Parquet file) read with
    /// the same reader as `mlops-drift` (`mlops_drift::io::read_table`), for a model with one
    /// `f32` input `[-1, n]`. The input's `feature_names` pick and order the columns; without
    /// names, the file must hold exactly `n` numeric columns, taken in file order.
    ///
    /// # Errors
    /// [`Error::Load`] when the file cannot be read or parsed; [`Error::InvalidInput`] naming
    /// the column that is missing, not numeric, or has a missing/NaN/inf cell (unless the
    /// non-finite policy allows it); otherwise as [`BatchJob::run`].
    #[cfg(feature = "data")]
    #[tracing::instrument(skip_all, fields(path = %path.display()), err)]
    pub fn run_file(
        &self,
        path: &std::path::Path,
        sink: &mut dyn FnMut(usize, &Tensors) -> Result<()>,
        progress: &mut dyn FnMut(&BatchProgress),
    ) -> Result<BatchReport> {
        use mlops_drift::io::{read_table, Column, ReadOptions};
        let spec = self.single_input("run_file")?;
        let width = match spec.shape.as_slice() {
            [_, n] if *n > 0 => *n as usize,
            other => {
                return Err(Error::invalid(
                    &spec.name,
                    format!("run_file needs an input of shape [-1, n], not {other:?}"),
                ))
            }
        };
        let options = match &spec.feature_names {
            Some(names) => ReadOptions::default().with_columns(names.iter().cloned()),
            None => ReadOptions::default(),
        };
        let table = read_table(path, &options).map_err(|e| Error::load(path, e))?;
        if table.columns.len() != width {
            return Err(Error::invalid(
                &spec.name,
                format!(
                    "{} has {} columns {:?}; the model takes {width} features",
                    path.display(),
                    table.columns.len(),
                    table.names()
                ),
            ));
        }
        let rows = table.columns.first().map_or(0, |(_, c)| c.len());
        let mut data = vec![0f32; rows * width];
        for (j, (name, col)) in table.columns.iter().enumerate() {
            let Column::Numeric(values) = col else {
                return Err(Error::invalid(
                    name,
                    format!("column is {}, not numeric", col.kind_name()),
                ));
            };
            for (r, v) in values.iter().enumerate() {
                if !v.is_finite() && self.non_finite == NonFinitePolicy::Reject {
                    return Err(Error::invalid(
                        name,
                        format!("row {} is missing, NaN or infinite", r + 1),
                    ));
                }
                data[r * width + j] = *v as f32;
            }
        }
        let t = Tensor::f32(vec![rows, width], data)?;
        self.run(&Tensors::from([(spec.name.clone(), t)]), sink, progress)
    }

    fn run_chunk(&self, inputs: &Tensors, s: usize, e: usize) -> (usize, Result<Tensors>) {
        let mut slice = Tensors::new();
        for (name, t) in inputs {
            match t.slice_rows(s..e) {
                Ok(c) => {
                    slice.insert(name.clone(), c);
                }
                Err(err) => return (1, Err(err)),
            }
        }
        let mut attempts = 0;
        loop {
            attempts += 1;
            match predict_guarded(self.predictor.as_ref(), &slice, e - s) {
                Ok(out) => return (attempts, Ok(out)),
                Err(err) if attempts > self.retries => return (attempts, Err(err)),
                Err(err) => {
                    tracing::warn!(first_row = s, attempt = attempts, error = %err, "batch chunk failed; retrying");
                }
            }
        }
    }
}

/// Writes predictions as CSV: a `row` column, then one column per output element
/// (`name` for one value per row, `name_0`, `name_1`, … otherwise), outputs in name order.
#[derive(Debug)]
pub struct CsvPredictionWriter<W: Write> {
    out: W,
    path: PathBuf,
    header_written: bool,
}

impl<W: Write> CsvPredictionWriter<W> {
    /// Wraps a writer; `path` is only used in error messages.
    pub fn new(out: W, path: impl Into<PathBuf>) -> Self {
        Self {
            out,
            path: path.into(),
            header_written: false,
        }
    }

    /// Appends one chunk of predictions whose first row is `first_row`.
    ///
    /// # Errors
    /// [`Error::Io`] when writing fails; [`Error::InvalidInput`] when outputs differ in row count.
    pub fn write_chunk(&mut self, first_row: usize, preds: &Tensors) -> Result<()> {
        let io = |source| Error::Io {
            path: self.path.clone(),
            source,
        };
        let rows = preds.values().next().map_or(0, Tensor::rows);
        if preds.values().any(|t| t.rows() != rows) {
            return Err(Error::invalid("<output>", "outputs differ in row count"));
        }
        let mut line = String::new();
        if !self.header_written {
            line.push_str("row");
            for (name, t) in preds {
                let width = t.shape().iter().skip(1).product::<usize>();
                if width == 1 {
                    line.push(',');
                    line.push_str(name);
                } else {
                    for j in 0..width {
                        line.push_str(&format!(",{name}_{j}"));
                    }
                }
            }
            line.push('\n');
            self.out.write_all(line.as_bytes()).map_err(io)?;
            self.header_written = true;
        }
        for r in 0..rows {
            line.clear();
            line.push_str(&(first_row + r).to_string());
            for t in preds.values() {
                let width = t.shape().iter().skip(1).product::<usize>();
                let range = r * width..(r + 1) * width;
                match t.data() {
                    TensorData::Bytes(v) => v[range].iter().for_each(|b| {
                        // A CSV field: quoted, inner quotes doubled; bytes that are not
                        // UTF-8 become U+FFFD.
                        let text = String::from_utf8_lossy(b).replace('"', "\"\"");
                        line.push_str(&format!(",\"{text}\""));
                    }),
                    TensorData::F32(v) => v[range]
                        .iter()
                        .for_each(|x| line.push_str(&format!(",{x}"))),
                    TensorData::F64(v) => v[range]
                        .iter()
                        .for_each(|x| line.push_str(&format!(",{x}"))),
                    TensorData::I64(v) => v[range]
                        .iter()
                        .for_each(|x| line.push_str(&format!(",{x}"))),
                    TensorData::U64(v) => v[range]
                        .iter()
                        .for_each(|x| line.push_str(&format!(",{x}"))),
                    TensorData::Bool(v) => v[range]
                        .iter()
                        .for_each(|x| line.push_str(&format!(",{x}"))),
                    // The narrower integers and FP16 are exact as f64.
                    d => range.for_each(|i| match d.get_f64(i) {
                        Some(x) => line.push_str(&format!(",{x}")),
                        None => line.push(','),
                    }),
                }
            }
            line.push('\n');
            self.out.write_all(line.as_bytes()).map_err(io)?;
        }
        Ok(())
    }

    /// Flushes and returns the writer.
    ///
    /// # Errors
    /// [`Error::Io`] when flushing fails.
    pub fn finish(mut self) -> Result<W> {
        self.out.flush().map_err(|source| Error::Io {
            path: self.path.clone(),
            source,
        })?;
        Ok(self.out)
    }
}
