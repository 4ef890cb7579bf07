//! Validated model and alias names, and model references (`name`, `name/7`, `name@alias`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Longest accepted model or alias name, in bytes (all accepted characters are ASCII).
pub const MAX_NAME_LEN: usize = 128;

/// Checks the shared name grammar: `[a-z0-9._-]{1,128}`, no leading `.`, no `..`.
///
/// Only ASCII lowercase letters, digits, `.`, `_` and `-` are accepted, so every
/// name is a safe single path component on every filesystem and a safe S3 key
/// segment: `/`, `\`, NUL, whitespace, unicode and upper case are all refused.
fn check_name(kind: &str, name: &str) -> Result<()> {
    let fail = |reason: String| Error::InvalidName {
        name: name.to_owned(),
        reason: format!("{kind} {reason}"),
    };
    if name.is_empty() {
        return Err(fail("must not be empty".into()));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(fail(format!(
            "is {} bytes long; the limit is {MAX_NAME_LEN}",
            name.len()
        )));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '.' | '_' | '-'))
    {
        let what = match c {
            '/' | '\\' => "a path separator".to_string(),
            '\0' => "a NUL byte".to_string(),
            c if c.is_ascii_uppercase() => format!("upper-case {c:?} (names are lower case)"),
            c => format!("the character {c:?}"),
        };
        return Err(fail(format!(
            "contains {what}; allowed are a-z, 0-9, '.', '_' and '-'"
        )));
    }
    if name.starts_with('.') {
        return Err(fail("must not start with '.'".into()));
    }
    if name.contains("..") {
        return Err(fail("must not contain '..'".into()));
    }
    Ok(())
}

/// A validated model name: 1–128 characters from `a-z 0-9 . _ -`, not starting
/// with `.` and never containing `..`.
///
/// A `ModelName` is always safe to use as one path component or key segment.
///
/// ```
/// use mlops_core::ModelName;
/// let name: ModelName = "fraud-detector.v2".parse()?;
/// assert_eq!(name.as_str(), "fraud-detector.v2");
/// assert!("../etc".parse::<ModelName>().is_err());
/// # Ok::<(), mlops_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ModelName(String);

impl ModelName {
    /// Validates `name`.
    ///
    /// # Errors
    /// [`Error::InvalidName`] when the name is empty, longer than 128 bytes, contains a
    /// character outside `a-z 0-9 . _ -` (so `/`, `\`, NUL, spaces, unicode), starts
    /// with `.` or contains `..`.
    pub fn new(name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        check_name("model name", &name)?;
        Ok(Self(name))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ModelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ModelName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::new(s)
    }
}

impl AsRef<str> for ModelName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for ModelName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::new(s).map_err(serde::de::Error::custom)
    }
}

/// A validated alias name (`champion`, `production`, …): same grammar as [`ModelName`];
/// `latest` is reserved because `name@latest` always means the newest version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct AliasName(String);

impl AliasName {
    /// The reserved alias that always resolves to the highest version number.
    pub const LATEST: &'static str = "latest";

    /// Validates an alias name.
    ///
    /// # Errors
    /// [`Error::InvalidName`] under the same rules as [`ModelName::new`], and for the
    /// reserved name `latest`.
    pub fn new(name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        check_name("alias", &name)?;
        if name == Self::LATEST {
            return Err(Error::InvalidName {
                name,
                reason: "alias 'latest' is reserved: it always means the newest version".into(),
            });
        }
        Ok(Self(name))
    }

    /// The alias as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AliasName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for AliasName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::new(s)
    }
}

impl<'de> Deserialize<'de> for AliasName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::new(s).map_err(serde::de::Error::custom)
    }
}

/// Which version of a model a [`ModelRef`] selects.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionSelector {
    /// The highest version number (`name` or `name@latest`).
    Latest,
    /// An exact version number (`name/7`); versions start at 1.
    Version(u64),
    /// The version an alias points to (`name@champion`).
    Alias(AliasName),
}

/// A reference to a model version: `name` (= latest), `name/7`, `name@alias`, `name@latest`.
///
/// `Display` writes the canonical form and `FromStr` reads it back: `name` and
/// `name@latest` both parse to [`VersionSelector::Latest`], which displays as `name@latest`.
///
/// ```
/// use mlops_core::{ModelRef, VersionSelector};
/// let r: ModelRef = "churn@champion".parse()?;
/// assert_eq!(r.name.as_str(), "churn");
/// assert_eq!(r.to_string(), "churn@champion");
/// let v: ModelRef = "churn/7".parse()?;
/// assert_eq!(v.selector, VersionSelector::Version(7));
/// # Ok::<(), mlops_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModelRef {
    /// The model.
    pub name: ModelName,
    /// Which of its versions.
    pub selector: VersionSelector,
}

impl ModelRef {
    /// A reference to an exact version.
    pub fn version(name: ModelName, version: u64) -> Self {
        Self {
            name,
            selector: VersionSelector::Version(version),
        }
    }

    /// A reference to whatever `alias` points to.
    pub fn alias(name: ModelName, alias: AliasName) -> Self {
        Self {
            name,
            selector: VersionSelector::Alias(alias),
        }
    }

    /// A reference to the newest version.
    pub fn latest(name: ModelName) -> Self {
        Self {
            name,
            selector: VersionSelector::Latest,
        }
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.selector {
            VersionSelector::Latest => write!(f, "{}@latest", self.name),
            VersionSelector::Version(v) => write!(f, "{}/{v}", self.name),
            VersionSelector::Alias(a) => write!(f, "{}@{a}", self.name),
        }
    }
}

impl FromStr for ModelRef {
    type Err = Error;

    /// Parses `name`, `name/VERSION`, `name@ALIAS` or `name@latest`.
    ///
    /// # Errors
    /// [`Error::InvalidRef`] when the version is not a positive integer, a part is
    /// missing, or the name or alias is invalid (the reason carries the name error).
    fn from_str(s: &str) -> Result<Self> {
        let bad = |reason: String| Error::InvalidRef {
            input: s.to_owned(),
            reason,
        };
        let name_of = |n: &str| ModelName::new(n).map_err(|e| bad(e.to_string()));
        if let Some((name, alias)) = s.split_once('@') {
            let name = name_of(name)?;
            if alias == AliasName::LATEST {
                return Ok(Self::latest(name));
            }
            let alias = AliasName::new(alias).map_err(|e| bad(e.to_string()))?;
            return Ok(Self::alias(name, alias));
        }
        if let Some((name, version)) = s.split_once('/') {
            let name = name_of(name)?;
            if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(format!(
                    "version {version:?} is not a positive integer"
                )));
            }
            let v: u64 = version
                .parse()
                .map_err(|e| bad(format!("version {version:?}: {e}")))?;
            if v == 0 {
                return Err(bad("versions start at 1".into()));
            }
            return Ok(Self::version(name, v));
        }
        Ok(Self::latest(name_of(s)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_the_grammar() {
        for ok in [
            "a",
            "fraud-detector",
            "m.v2",
            "x_y",
            "0",
            &"a".repeat(128),
            "a.b.c",
        ] {
            assert!(ModelName::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_path_tricks_and_bad_characters() {
        let too_long = "a".repeat(129);
        for bad in [
            "",
            "..",
            ".",
            "../etc",
            "a/../b",
            "a..b",
            "a/b",
            "/abs",
            "a\\b",
            "..\\x",
            "a\0b",
            "\0",
            ".hidden",
            "Upper",
            "with space",
            "tab\t",
            "naïve",
            "模型",
            "a\nb",
            too_long.as_str(),
            "a@b",
            "a:b",
        ] {
            let err = ModelName::new(bad).unwrap_err();
            assert!(matches!(err, Error::InvalidName { .. }), "{bad:?}: {err}");
        }
    }

    #[test]
    fn alias_latest_is_reserved() {
        assert!(AliasName::new("latest").is_err());
        assert!(AliasName::new("production").is_ok());
    }

    #[test]
    fn refs_parse() {
        let r: ModelRef = "m".parse().unwrap();
        assert_eq!(r.selector, VersionSelector::Latest);
        let r: ModelRef = "m@latest".parse().unwrap();
        assert_eq!(r.selector, VersionSelector::Latest);
        let r: ModelRef = "m/12".parse().unwrap();
        assert_eq!(r.selector, VersionSelector::Version(12));
        let r: ModelRef = "m@prod".parse().unwrap();
        assert_eq!(r.to_string(), "m@prod");
        for bad in [
            "m/0",
            "m/",
            "m/-1",
            "m/+1",
            "m/1.5",
            "m@",
            "@a",
            "/1",
            "m/1/2",
            "m@A",
            "../m/1",
            "m/x",
            "m/99999999999999999999999",
        ] {
            assert!(
                matches!(bad.parse::<ModelRef>(), Err(Error::InvalidRef { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn deserialize_validates() {
        assert!(serde_json::from_str::<ModelName>("\"../x\"").is_err());
        assert!(serde_json::from_str::<ModelName>("\"ok\"").is_ok());
    }

    fn name_strategy() -> impl Strategy<Value = String> {
        "[a-z0-9_-][a-z0-9._-]{0,40}".prop_filter("no ..", |s| !s.contains(".."))
    }

    proptest! {
        #[test]
        fn model_ref_round_trips(name in name_strategy(), v in 1u64.., alias in name_strategy(), kind in 0u8..3) {
            prop_assume!(alias != "latest");
            let name = ModelName::new(name).unwrap();
            let r = match kind {
                0 => ModelRef::latest(name),
                1 => ModelRef::version(name, v),
                _ => ModelRef::alias(name, AliasName::new(alias).unwrap()),
            };
            let text = r.to_string();
            prop_assert_eq!(text.parse::<ModelRef>().unwrap(), r.clone());
            let json = serde_json::to_string(&r).unwrap();
            prop_assert_eq!(serde_json::from_str::<ModelRef>(&json).unwrap(), r.clone());
            let bin = bincode::serialize(&r).unwrap();
            prop_assert_eq!(bincode::deserialize::<ModelRef>(&bin).unwrap(), r);
        }

        #[test]
        fn parsing_arbitrary_text_never_panics(s in "\\PC{0,64}") {
            let _ = s.parse::<ModelRef>();
            if let Ok(n) = ModelName::new(s.clone()) {
                prop_assert!(!n.as_str().contains(".."));
                prop_assert!(!n.as_str().contains('/'));
            }
        }
    }
}
