//! The page shell shared by reports and the console: escaping, the embedded stylesheet and
//! script, and a Content-Security-Policy that forbids every network load.

use maud::{html, Markup, PreEscaped, DOCTYPE};

/// The stylesheet (system fonts only).
pub const CSS: &str = include_str!("assets/style.css");
/// The script: sortable tables, self-refreshing panels, admin forms. About 100 lines, ours.
pub const JS: &str = include_str!("assets/ui.js");

/// The policy of a self-contained report: nothing may be fetched, inline style and script
/// only. A browser enforces it, so a report cannot phone home even if a value in it tried.
pub const REPORT_CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:";

/// The console's policy (sent as a header): its own origin only, no inline script.
pub const CONSOLE_CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'";

/// Escapes text for HTML or XML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Where a page's stylesheet and script come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assets<'a> {
    /// Inlined into the file (reports: one self-contained file).
    Inline,
    /// Linked from `{prefix}/style.css` and `{prefix}/ui.js` (the console).
    Linked(&'a str),
}

/// A whole HTML document: `<head>` with the CSP, title and assets, a top bar with `nav`, and
/// `body` inside `<main>`.
pub fn document(title: &str, assets: Assets<'_>, nav: Markup, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                // A report's policy travels in the file; the console's comes as a header
                // (`frame-ancestors` only works there).
                @if assets == Assets::Inline {
                    meta http-equiv="Content-Security-Policy" content=(REPORT_CSP);
                }
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                @match assets {
                    Assets::Inline => {
                        style { (PreEscaped(CSS)) }
                        script { (PreEscaped(JS)) }
                    }
                    Assets::Linked(prefix) => {
                        link rel="stylesheet" href={ (prefix) "/style.css" };
                        script src={ (prefix) "/ui.js" } defer {}
                    }
                }
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    span.brand { "mlops" }
                    (nav)
                }
                main id="main" { (body) }
            }
        }
    }
    .into_string()
}

/// A sortable table header cell: a button so that the keyboard can sort too.
pub fn sort_th(label: &str, numeric: bool) -> Markup {
    html! {
        th scope="col" class=[numeric.then_some("num")] { button.sort type="button" { (label) } }
    }
}

/// A numeric table cell whose sort key is the exact value (`–` for NaN, sorted first).
pub fn num_td(v: f64) -> Markup {
    html! {
        @if v.is_nan() {
            td.num data-v="" { "–" }
        } @else {
            td.num data-v=(v) { (crate::svg::fmt_num(v)) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_controls() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("a\u{0}b"), "a\u{fffd}b");
        assert_eq!(escape("日本語"), "日本語");
    }

    #[test]
    fn inline_documents_forbid_network_loads() {
        let d = document("t<", Assets::Inline, html! {}, html! { p { "x" } });
        assert!(d.starts_with("<!DOCTYPE html>"));
        assert!(d.contains("default-src &#39;none&#39;") || d.contains("default-src 'none'"));
        assert!(!d.contains("http://") && !d.contains("https://"));
        assert!(d.contains("<title>t&lt;</title>"));
    }
}
