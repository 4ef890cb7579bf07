//! Browser tests: generated reports and the web console, opened in a real headless Chromium
//! through ChromeDriver (`scripts/browser.sh` installs Debian's chromium and chromium-driver
//! and exports `MLOPS_CHROMEDRIVER_URL`; `./scripts/test.sh` does that first).
//!
//! What is asserted is what a person would check: the page loads with no console error and
//! no failed (or any outside) network request, tables list the real data, charts' SVG has the
//! expected series and points and is actually laid out, sorting works from the keyboard, a
//! narrow window does not overflow, and the screenshot is not blank. Screenshots are not kept.

mod common;
#[path = "browser/webdriver.rs"]
mod webdriver;

use std::path::Path;
use std::process::Command;

use mlops_registry::Registry as _;
use serde_json::{json, Value};
use webdriver::{non_blank, Browser};

fn write_csv(path: &Path, n: usize, shift: f64, seed: u64) {
    let mut x = seed;
    let mut u = move || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((x >> 11) as f64 + 0.5) / 9007199254740992.0
    };
    let mut s = String::from("age,income,city\n");
    for _ in 0..n {
        let age = 20.0 + 40.0 * u() + shift * 15.0;
        let income = if u() < 0.05 + shift * 0.1 {
            String::new()
        } else {
            format!("{:.2}", 1000.0 * (1.0 + 3.0 * u()))
        };
        let cities = if shift > 0.0 { 4 } else { 3 };
        let city = ["Tokyo", "Zürich", "Lima", "<b>Oslo</b>"]
            [((u() * cities as f64) as usize).min(cities - 1)];
        s.push_str(&format!("{age:.3},{income},{city}\n"));
    }
    std::fs::write(path, s).unwrap();
}

fn mlops(args: &[&str]) -> std::process::Output {
    let out = Command::new(common::BIN)
        .args(args)
        .env("MLOPS_LOG", "error")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mlops {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Every request the page made stayed on `allowed` prefixes and none failed; `expected`
/// was requested (so the log is really recording).
fn assert_network_clean(b: &Browser, allowed: &[&str], expected: &str) {
    let requests = b.network();
    assert!(
        requests.iter().any(|(u, _)| u.contains(expected)),
        "{expected} not in the network log: {requests:?}"
    );
    for (url, outcome) in requests {
        assert!(
            allowed.iter().any(|p| url.starts_with(p)),
            "request outside the page's origin: {url} ({outcome})"
        );
        assert!(!outcome.starts_with("failed"), "{url}: {outcome}");
        assert!(
            !outcome.starts_with("ok 4") && !outcome.starts_with("ok 5"),
            "{url}: {outcome}"
        );
    }
}

fn assert_not_blank(b: &Browser, what: &str) {
    let (share, colours) = non_blank(&b.screenshot());
    assert!(
        share > 0.02 && colours > 16,
        "{what}: the screenshot looks blank ({share:.4} non-background, {colours} colours)"
    );
}

#[test]
fn drift_report_renders_offline_with_its_plots() {
    let dir = tempfile::tempdir().unwrap();
    let (r, c, out) = (
        dir.path().join("ref.csv"),
        dir.path().join("cur.csv"),
        dir.path().join("drift.html"),
    );
    write_csv(&r, 4000, 0.0, 1);
    write_csv(&c, 3000, 0.5, 2);
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    mlops(&[
        "drift",
        "--reference",
        &s(&r),
        "--current",
        &s(&c),
        "--format",
        "html",
        "-o",
        &s(&out),
    ]);
    let j: Value = serde_json::from_slice(
        &mlops(&[
            "drift",
            "--reference",
            &s(&r),
            "--current",
            &s(&c),
            "--format",
            "json",
        ])
        .stdout,
    )
    .unwrap();

    let b = Browser::start("drift_report_renders_offline_with_its_plots", 1280, 800);
    b.go_offline();
    b.goto(&format!("file://{}", out.display()));
    assert_eq!(
        b.exec("return document.title", json!([])),
        "Data drift report"
    );

    // The table lists every column with the JSON report's verdict.
    let rows = b.find_all("table#columns tbody tr");
    assert_eq!(rows.len(), j["columns"].as_array().unwrap().len());
    for c in j["columns"].as_array().unwrap() {
        let name = c["column"].as_str().unwrap();
        let verdict = b.exec(
            "const r = [...document.querySelectorAll('table#columns tbody tr')].find(r => r.dataset.column === arguments[0]); return r.children[6].textContent",
            json!([name]),
        );
        assert_eq!(
            verdict,
            if c["drifted"].as_bool().unwrap() {
                "drift"
            } else {
                "ok"
            },
            "{name}"
        );
    }
    // A hostile category name is shown as text, never as markup.
    assert_eq!(
        b.exec(
            "return [...document.querySelectorAll('b')].some(e => e.textContent === 'Oslo')",
            json!([])
        ),
        false
    );
    assert_eq!(
        b.exec(
            "return document.body.textContent.includes('<b>Oslo</b>')",
            json!([])
        ),
        true
    );

    // Charts: the numeric column's histogram has one bar per reference bin for both series,
    // its ECDFs have their points, and the KS marker sits at the JSON report's KS distance.
    let age = j["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["column"] == "age")
        .unwrap();
    let bins = age["tests"]["psi"]["ref_counts"].as_array().unwrap().len();
    let counts = b.exec(
        "const d = document.querySelector('details[data-column=\"age\"]');
         const q = s => [...d.querySelectorAll(s)];
         const hist = d.querySelector('svg.chart');
         return {ref: hist.querySelectorAll('g.bars[data-series=\"reference\"] rect').length, cur: hist.querySelectorAll('g.bars[data-series=\"current\"] rect').length,
                 steps: q('g.step').length, ks: q('g[data-series=\"KS distance\"] path').map(p => Math.abs(p.dataset.y1 - p.dataset.y0))}",
        json!([]),
    );
    assert_eq!(counts["ref"], bins);
    assert_eq!(counts["cur"], bins);
    assert_eq!(counts["steps"], 2);
    let ks = counts["ks"][0].as_f64().unwrap();
    assert!(
        (ks - age["tests"]["ks"]["statistic"].as_f64().unwrap()).abs() < 1e-9,
        "{counts}"
    );
    // The category chart marks the category that the reference never saw.
    let unseen = b.exec("return [...document.querySelectorAll('details[data-column=\"city\"] rect.highlight')].map(r => r.dataset.category)", json!([]));
    let city = j["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["column"] == "city")
        .unwrap();
    assert_eq!(unseen, city["unseen_categories"]);
    assert_eq!(unseen, json!(["<b>Oslo</b>"]));
    // Plots are laid out (non-zero boxes), not just present in the markup.
    let laid_out = b.exec("return [...document.querySelectorAll('details[open] svg.chart')].every(s => { const r = s.getBoundingClientRect(); return r.width > 100 && r.height > 50; })", json!([]));
    assert_eq!(laid_out, true);

    // Sorting by the statistic, from the keyboard (focus the header button, press Enter).
    let btn = b.find_all("table#columns thead th button.sort")[3].clone();
    b.exec("arguments[0].focus()", json!([Browser::el_arg(&btn)]));
    b.send_keys(&btn, "\u{E007}");
    let sorted = b.exec("return [...document.querySelectorAll('table#columns tbody tr')].map(r => Number(r.children[3].dataset.v))", json!([]));
    let v: Vec<f64> = sorted
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert!(
        v.windows(2).all(|w| w[0] <= w[1]),
        "not ascending after one sort: {v:?}"
    );

    assert_not_blank(&b, "drift report");
    // A narrow window: the page itself does not scroll sideways (tables scroll in their box).
    b.set_window(420, 800);
    let overflow = b.exec(
        "return document.documentElement.scrollWidth - window.innerWidth",
        json!([]),
    );
    assert!(
        overflow.as_f64().unwrap() <= 1.0,
        "horizontal overflow at 420 px: {overflow}"
    );

    assert_eq!(b.console_errors(), Vec::<String>::new());
    assert_network_clean(&b, &["file://"], "drift.html");
}

#[test]
fn version_comparison_report_renders_offline() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _reg) = common::store_with(dir.path(), &[[1.0, 0.0], [0.0, 1.0]]);
    let out = dir.path().join("cmp.html");
    mlops(&[
        "registry",
        "--store",
        store.to_str().unwrap(),
        "compare",
        "scorer/1",
        "scorer@production",
        "--format",
        "html",
        "-o",
        out.to_str().unwrap(),
    ]);
    let b = Browser::start("version_comparison_report_renders_offline", 1280, 800);
    b.go_offline();
    b.goto(&format!("file://{}", out.display()));
    let h1 = b.text(&b.find("h1"));
    assert!(
        h1.contains("scorer/1")
            || b.exec(
                "return document.body.textContent.includes('scorer/1')",
                json!([])
            ) == true,
        "{h1}"
    );
    // Both versions' artifacts are listed with their digests.
    let digests = b.exec(
        "return document.body.textContent.match(/[0-9a-f]{64}/g).length",
        json!([]),
    );
    assert!(digests.as_u64().unwrap() >= 2, "{digests}");
    assert_not_blank(&b, "comparison report");
    assert_eq!(b.console_errors(), Vec::<String>::new());
    assert_network_clean(&b, &["file://"], "cmp.html");
}

/// Every console page a person opens: loads with no console error and no failed request,
/// shows the registry's real versions, and the UI's canary weight form moves the split that
/// the OIP API answers with.
#[test]
fn console_pages_and_the_canary_weight_form() {
    let dir = tempfile::tempdir().unwrap();
    let (store, reg) = common::store_with(dir.path(), &[[1.0, 0.0], [0.0, 1.0]]);
    reg.set_alias(&common::name(), &common::alias("canary"), 2, &common::ci())
        .unwrap();
    let log = dir.path().join("log");
    let server = common::start(
        &store,
        &[
            "--ui",
            "--canary",
            "scorer@canary",
            "--canary-weight",
            "0",
            "--admin-token-env",
            "MLOPS_TEST_TOKEN",
            "--log-predictions",
            log.to_str().unwrap(),
            "--log-flush-ms",
            "50",
            "--window-rows",
            "4",
        ],
    );
    for i in 0..8 {
        assert_eq!(common::infer(&server.addr, [i as f32, 1.0]).status, 200);
    }
    let base = format!("http://{}", server.addr);
    // Wait until the canary is deployed.
    common::wait_until("the canary", std::time::Duration::from_secs(20), || {
        let r = common::http(
            &server.addr,
            "GET",
            "/v2/admin/models/scorer",
            &[("authorization", "Bearer s3cret-token")],
            &[],
        );
        r.status == 200 && r.json()["candidate"]["version"] == 2
    });

    let b = Browser::start("console_pages_and_the_canary_weight_form", 1280, 800);
    for path in [
        "/ui",
        "/ui/models",
        "/ui/models/scorer",
        "/ui/models/scorer/versions/2",
        "/ui/models/scorer/compare?a=1&b=2",
        "/ui/deployments",
        "/ui/deployments/scorer",
        "/ui/monitoring",
        "/ui/pipelines",
    ] {
        b.goto(&format!("{base}{path}"));
        assert_eq!(b.console_errors(), Vec::<String>::new(), "{path}");
        assert_network_clean(&b, &[&base], path.split('?').next().unwrap());
        assert!(b.find_all("h1").len() == 1, "{path}: one h1");
        assert_not_blank(&b, path);
    }

    // The monitoring page charts the live log: its label-coverage line has one point per
    // window the page reports, drawn with a real size.
    let start = std::time::Instant::now();
    loop {
        let r = common::http(&server.addr, "GET", "/ui/monitoring", &[], &[]);
        let page = String::from_utf8_lossy(&r.body).into_owned();
        if page.contains(r#"id="monitor-summary" data-windows="2""#) {
            break;
        }
        assert!(
            start.elapsed().as_secs() < 10,
            "no two windows on the monitoring page: {page}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    b.goto(&format!("{base}/ui/monitoring"));
    let m = b.exec(
        "const g = document.querySelector('g[data-series=\"label_coverage\"]');
         const svg = g.closest('svg').getBoundingClientRect();
         return {points: Number(g.dataset.points), circles: g.querySelectorAll('circle').length, w: svg.width,
                 windows: Number(document.querySelector('[data-windows]').dataset.windows)}",
        json!([]),
    );
    assert_eq!(m["points"], m["windows"], "{m}");
    assert_eq!(m["circles"], m["windows"], "{m}");
    assert!(m["w"].as_f64().unwrap() > 100.0, "{m}");

    // The versions table lists the registry's versions.
    b.goto(&format!("{base}/ui/models/scorer"));
    let listed = b.exec("return [...document.querySelectorAll('table tbody tr')].map(r => r.children[0].textContent.trim())", json!([]));
    let listed: Vec<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    for v in ["1", "2"] {
        assert!(
            listed
                .iter()
                .any(|l| l == v || l.ends_with(&format!("v{v}")) || l.contains(v)),
            "version {v} not in {listed:?}"
        );
    }

    // Set the canary weight to 100 % through the UI's form, with the admin token typed in.
    b.goto(&format!("{base}/ui/deployments/scorer"));
    let token = b.find("input#admin-token");
    b.send_keys(&token, "s3cret-token");
    b.exec(
        "arguments[0].dispatchEvent(new Event('change'))",
        json!([Browser::el_arg(&token)]),
    );
    let form = b.find("form[data-admin=\"strategy\"]");
    b.exec(
        "const f = arguments[0]; f.querySelector('[name=mode]').value = 'canary'; f.querySelector('[name=weight]').value = '100';",
        json!([Browser::el_arg(&form)]),
    );
    let submit = b.find("form[data-admin=\"strategy\"] button[type=submit]");
    b.click(&submit);
    b.wait_for("the admin call's answer", std::time::Duration::from_secs(10), "return document.querySelector('form[data-admin=\"strategy\"] output').textContent.startsWith('done')");
    // The OIP API now answers every request from the candidate, version 2.
    for _ in 0..20 {
        let r = common::infer(&server.addr, [1.0, 2.0]);
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["model_version"], "2", "{}", r.json());
    }
    // And the page's split, once it refreshes, shows it.
    b.goto(&format!("{base}/ui/deployments/scorer"));
    let share = b.exec("const s = document.querySelector('.split .arm-candidate'); return s ? Number(s.dataset.share) : null", json!([]));
    assert!(
        (share.as_f64().unwrap() - 1.0).abs() < 1e-9,
        "candidate share {share}"
    );
    assert_eq!(b.console_errors(), Vec::<String>::new());
}
