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

/// Prints `value` as pretty JSON on stdout.
///
/// # Errors
/// When serialisation fails (non-string map keys) — never for the types used here.
pub fn print_json<T: Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
