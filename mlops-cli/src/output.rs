//! The shared `--format` convention.

use anyhow::{bail, Result};
use serde::Serialize;

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Human-readable text (the default).
    #[default]
    Text,
    /// One JSON document on stdout.
    Json,
}

/// The words given to the global `--format` flag, before a subcommand interprets them.
///
/// Every command understands `json` and `text`; `mlops registry register` also takes
/// an artifact format (`onnx`, `safetensors`, …) through the same flag.
#[derive(Debug, Clone, Default)]
pub struct FormatWords(Vec<String>);

impl FormatWords {
    /// Wraps the raw flag values.
    pub fn new(words: Vec<String>) -> Self {
        Self(words)
    }

    /// Splits the words into the output format and the other (non-output) words.
    ///
    /// # Errors
    /// When both `json` and `text` were given.
    pub fn split(&self) -> Result<(Format, Vec<String>)> {
        let mut out: Option<Format> = None;
        let mut other = Vec::new();
        for w in &self.0 {
            let f = match w.as_str() {
                "json" => Format::Json,
                "text" => Format::Text,
                _ => {
                    other.push(w.clone());
                    continue;
                }
            };
            if out.is_some_and(|o| o != f) {
                bail!("--format json and --format text were both given");
            }
            out = Some(f);
        }
        Ok((out.unwrap_or_default(), other))
    }

    /// The output format, refusing any word other than `json`/`text`.
    ///
    /// # Errors
    /// For an unknown word, or for both `json` and `text`.
    pub fn output_only(&self) -> Result<Format> {
        let (f, other) = self.split()?;
        if let Some(w) = other.first() {
            bail!("invalid --format {w:?}: expected json or text");
        }
        Ok(f)
    }
}

/// What a command that can also draw a report prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Human-readable text.
    Text,
    /// One JSON document.
    Json,
    /// One self-contained HTML file (inline SVG plots, no network loads).
    Html,
}

impl FormatWords {
    /// The output format for commands that also render HTML (`--format html`).
    ///
    /// # Errors
    /// For an unknown word, or for two different formats.
    pub fn output_or_html(&self) -> Result<Output> {
        let (f, other) = self.split()?;
        match other.as_slice() {
            [] => Ok(match f {
                Format::Text => Output::Text,
                Format::Json => Output::Json,
            }),
            [w] if w == "html" && self.0.len() == 1 => Ok(Output::Html),
            [w] if w == "html" => {
                let other = self
                    .0
                    .iter()
                    .find(|x| *x != "html")
                    .map_or("html", String::as_str);
                bail!("--format html and --format {other} were both given")
            }
            [w, ..] => bail!("invalid --format {w:?}: expected json, text or html"),
        }
    }
}

/// Writes a rendered report to `path` (through a temporary file in the same directory,
/// renamed into place, so a reader never sees half a report), or to stdout without a path.
///
/// # Errors
/// When the file cannot be written or renamed.
pub fn write_report(path: Option<&std::path::Path>, content: &str) -> Result<()> {
    use anyhow::Context as _;
    use std::io::Write as _;
    let Some(path) = path else {
        let mut out = std::io::stdout().lock();
        out.write_all(content.as_bytes())?;
        return Ok(out.flush()?);
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        // A report is for reading: the usual 0644 (before the umask), not tempfile's 0600.
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    let mut tmp = builder
        .prefix(".mlops-report")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(content.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Prints `value` as pretty JSON on stdout.
///
/// # Errors
/// When serialisation fails (non-string map keys) — never for the types used here.
pub fn print_json<T: Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
