//! A minimal W3C WebDriver client over ChromeDriver, for the browser tests: sessions, navigation,
//! elements, scripts, screenshots, and Chrome's browser and performance logs (console errors
//! and every network request the page made).
#![allow(dead_code)]

use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The WebDriver element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One Chromium session.
pub struct Browser {
    driver: String,
    session: String,
}

/// ChromeDriver's address from `scripts/browser.sh`, or a failing test that says how to get it.
pub fn driver_addr(test: &str) -> String {
    match std::env::var("MLOPS_CHROMEDRIVER_URL") {
        Ok(v) if !v.is_empty() => v
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned(),
        _ => panic!(
            "{test}: MLOPS_CHROMEDRIVER_URL is not set: run ./scripts/test.sh (or \
             `source scripts/browser.sh` first), which installs Debian's chromium and \
             chromium-driver and starts chromedriver"
        ),
    }
}

/// One request to ChromeDriver, reading exactly `Content-Length` bytes of the answer
/// (ChromeDriver keeps connections open, so reading to the end would wait forever).
fn http(driver: &str, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut s = std::net::TcpStream::connect(driver).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {driver}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status: u16 = line.split(' ').nth(1).unwrap_or("0").parse().unwrap_or(0);
    let mut len = None;
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                len = v.trim().parse::<usize>().ok();
            }
        }
    }
    let mut out = Vec::new();
    match len {
        Some(n) => {
            out.resize(n, 0);
            r.read_exact(&mut out).unwrap();
        }
        None => {
            r.read_to_end(&mut out).unwrap();
        }
    }
    (status, out)
}

fn call(driver: &str, method: &str, path: &str, body: &Value) -> Value {
    let raw = if method == "GET" || method == "DELETE" {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    if std::env::var_os("MLOPS_WEBDRIVER_TRACE").is_some() {
        eprintln!("webdriver {method} {path}");
    }
    let (status, body) = http(driver, method, path, &raw);
    let v: Value = serde_json::from_slice(&body).unwrap_or_else(|e| {
        panic!(
            "webdriver {method} {path}: {e}: {}",
            String::from_utf8_lossy(&body)
        )
    });
    assert!(status < 300, "webdriver {method} {path} -> {status}: {v}");
    v["value"].clone()
}

impl Browser {
    /// A fresh headless Chromium (new empty profile, no background networking) of
    /// `width × height`, with the browser log (console) and the performance log (network
    /// events) recorded.
    pub fn start(test: &str, width: u32, height: u32) -> Self {
        let driver = driver_addr(test);
        let binary = std::env::var("MLOPS_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let profile = tempfile::tempdir().unwrap().keep();
        let args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": binary, "args": args},
            "goog:loggingPrefs": {"browser": "ALL", "performance": "ALL"},
        }}});
        let v = call(&driver, "POST", "/session", &caps);
        let session = v["sessionId"].as_str().unwrap().to_owned();
        let b = Self { driver, session };
        b.set_window(width, height);
        // Leave Chromium's own start page, and forget what it loaded.
        b.goto("about:blank");
        let _ = b.logs("performance");
        let _ = b.logs("browser");
        b
    }

    fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        call(
            &self.driver,
            method,
            &format!("/session/{}{path}", self.session),
            &body,
        )
    }

    /// Sets the window's outer size.
    pub fn set_window(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/window/rect",
            json!({"width": width, "height": height}),
        );
    }

    /// Cuts the browser off every network (Chrome's network emulation: offline).
    pub fn go_offline(&self) {
        self.cmd(
            "POST",
            "/chromium/network_conditions",
            json!({"network_conditions": {"offline": true, "latency": 0, "download_throughput": 0, "upload_throughput": 0}}),
        );
    }

    /// Navigates and waits for the load event.
    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", json!({"url": url}));
    }

    /// Every element matching `css`.
    pub fn find_all(&self, css: &str) -> Vec<String> {
        let v = self.cmd(
            "POST",
            "/elements",
            json!({"using": "css selector", "value": css}),
        );
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| {
                e[ELEMENT]
                    .as_str()
                    .unwrap_or_else(|| panic!("not an element: {e}"))
                    .to_owned()
            })
            .collect()
    }

    /// The one element matching `css` (fails the test otherwise).
    pub fn find(&self, css: &str) -> String {
        let all = self.find_all(css);
        assert_eq!(
            all.len(),
            1,
            "expected one element for {css:?}, found {}",
            all.len()
        );
        all[0].clone()
    }

    /// Rendered text of an element.
    pub fn text(&self, el: &str) -> String {
        self.cmd("GET", &format!("/element/{el}/text"), Value::Null)
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// An attribute of an element.
    pub fn attr(&self, el: &str, name: &str) -> Option<String> {
        self.cmd(
            "GET",
            &format!("/element/{el}/attribute/{name}"),
            Value::Null,
        )
        .as_str()
        .map(str::to_owned)
    }

    /// Clicks an element.
    pub fn click(&self, el: &str) {
        self.cmd("POST", &format!("/element/{el}/click"), json!({}));
    }

    /// Types into an element (WebDriver key codes allowed, e.g. `"\u{E007}"` for Enter).
    pub fn send_keys(&self, el: &str, text: &str) {
        self.cmd(
            "POST",
            &format!("/element/{el}/value"),
            json!({"text": text}),
        );
    }

    /// Clears an input.
    pub fn clear(&self, el: &str) {
        self.cmd("POST", &format!("/element/{el}/clear"), json!({}));
    }

    /// Runs a synchronous script; `arguments` are available to it.
    pub fn exec(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": args}),
        )
    }

    /// An element reference as a script argument.
    pub fn el_arg(el: &str) -> Value {
        json!({ ELEMENT: el })
    }

    /// The viewport as PNG bytes.
    pub fn screenshot(&self) -> Vec<u8> {
        let b64 = self.cmd("GET", "/screenshot", Value::Null);
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap()
    }

    /// Drains Chrome's log of `kind` (`browser` or `performance`).
    pub fn logs(&self, kind: &str) -> Vec<Value> {
        self.cmd("POST", "/se/log", json!({"type": kind}))
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Console messages at level SEVERE (errors, failed loads, CSP violations).
    pub fn console_errors(&self) -> Vec<String> {
        self.logs("browser")
            .into_iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or("").to_owned())
            .collect()
    }

    /// Every network request since the last call, as (url, outcome): `ok STATUS`, `failed
    /// REASON`, or `pending`.
    pub fn network(&self) -> Vec<(String, String)> {
        let mut urls: Vec<(String, String)> = Vec::new();
        let mut by_id: std::collections::HashMap<String, usize> = Default::default();
        for e in self.logs("performance") {
            let Ok(m) = serde_json::from_str::<Value>(e["message"].as_str().unwrap_or("{}")) else {
                continue;
            };
            let m = &m["message"];
            let id = m["params"]["requestId"].as_str().unwrap_or("").to_owned();
            match m["method"].as_str().unwrap_or("") {
                "Network.requestWillBeSent" => {
                    let url = m["params"]["request"]["url"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned();
                    by_id.insert(id, urls.len());
                    urls.push((url, "pending".into()));
                }
                "Network.responseReceived" => {
                    if let Some(&i) = by_id.get(&id) {
                        urls[i].1 = format!("ok {}", m["params"]["response"]["status"]);
                    }
                }
                "Network.loadingFailed" => {
                    if let Some(&i) = by_id.get(&id) {
                        urls[i].1 = format!("failed {}", m["params"]["errorText"]);
                    }
                }
                _ => {}
            }
        }
        urls
    }

    /// Waits until `script` returns `true`.
    pub fn wait_for(&self, what: &str, timeout: Duration, script: &str) {
        let start = Instant::now();
        while self.exec(script, json!([])) != Value::Bool(true) {
            assert!(start.elapsed() < timeout, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = http(
            &self.driver,
            "DELETE",
            &format!("/session/{}", self.session),
            &[],
        );
    }
}

/// Share of pixels that differ from the most common colour, and the number of distinct
/// colours: a blank page scores 0 and 1.
pub fn non_blank(png_bytes: &[u8]) -> (f64, usize) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let px = info.color_type.samples();
    let mut counts: std::collections::HashMap<[u8; 3], usize> = Default::default();
    for p in buf[..info.buffer_size()].chunks(px) {
        *counts.entry([p[0], p[1], p[2]]).or_default() += 1;
    }
    let total: usize = counts.values().sum();
    let top = counts.values().copied().max().unwrap_or(0);
    ((total - top) as f64 / total.max(1) as f64, counts.len())
}
