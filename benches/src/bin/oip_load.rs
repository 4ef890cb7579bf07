//! `oip_load`: a closed-loop HTTP/1.1 load generator for Open Inference Protocol `infer`
//! requests (or any fixed-body POST), using only the standard library.
//!
//! ```text
//! oip_load --url http://127.0.0.1:8080/v2/models/mlp/infer --body req.json \
//!          --concurrency 16 --duration-s 10 --warmup-s 2 [--json]
//! ```
//!
//! Each of `concurrency` threads owns one keep-alive `TcpStream` (TCP_NODELAY) and sends the
//! same `POST` as soon as the previous response has been read completely (closed loop: the
//! offered load is exactly `concurrency` outstanding requests). Responses are parsed as HTTP/1.1:
//! status line, headers, then a body delimited by `Content-Length`, `Transfer-Encoding: chunked`
//! or the end of the connection. A connection the server closes (or an I/O error) is reopened on
//! the next request; the reconnect time counts in that request's latency.
//!
//! Measurement: requests that *start* after the warm-up and *finish* before the end of the
//! measured window are counted; their latency is the wall time from writing the request (or
//! connecting, when a connection had to be opened) to reading the last byte of the body. Only 2xx
//! responses contribute latencies; non-2xx responses, I/O errors (connect, read, write,
//! timeout, early close) and malformed responses are counted separately and never panic.
//! Percentiles are `mlops_benches::percentile` (numpy's `quantile(..., method="nearest")`).
//! Exit status: 0 when at least one 2xx response was measured, 1 otherwise, 2 on bad arguments.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mlops_benches::{ms, LatencySummary};

/// Socket read/write timeout: a stuck server shows up as I/O errors, not a hung benchmark.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Upper bound on the bytes of a status line plus headers.
const MAX_HEAD: usize = 64 * 1024;
/// Upper bound on a response body (bytes are discarded, but an endless body must end).
const MAX_BODY: u64 = 256 * 1024 * 1024;
/// Pause after an I/O error, so a refused connection does not spin the CPU the server needs.
const ERROR_BACKOFF: Duration = Duration::from_millis(1);

const USAGE: &str = "usage: oip_load --url http://HOST:PORT/PATH --body FILE \
[--concurrency C (1)] [--duration-s S (10)] [--warmup-s W (2)] [--json]";

#[derive(Debug)]
struct Config {
    url: String,
    host_header: String,
    addr: SocketAddr,
    request: Vec<u8>,
    concurrency: usize,
    duration: Duration,
    warmup: Duration,
    json: bool,
}

fn parse_args(args: &[String]) -> Result<Config, String> {
    let mut url = None;
    let mut body = None;
    let mut concurrency = 1usize;
    let mut duration_s = 10.0f64;
    let mut warmup_s = 2.0f64;
    let mut json = false;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--url" => url = Some(value()?),
            "--body" => body = Some(value()?),
            "--concurrency" | "-c" => {
                let v = value()?;
                concurrency = v
                    .parse()
                    .map_err(|_| format!("--concurrency {v:?} is not a positive integer"))?;
            }
            "--duration-s" => {
                let v = value()?;
                duration_s = v
                    .parse()
                    .map_err(|_| format!("--duration-s {v:?} is not a number"))?;
            }
            "--warmup-s" => {
                let v = value()?;
                warmup_s = v
                    .parse()
                    .map_err(|_| format!("--warmup-s {v:?} is not a number"))?;
            }
            "--json" => json = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let url = url.ok_or("--url is required")?;
    let body_path = body.ok_or("--body is required")?;
    if concurrency == 0 || concurrency > 10_000 {
        return Err(format!("--concurrency {concurrency} is not in 1..=10000"));
    }
    if !(duration_s.is_finite() && duration_s > 0.0 && duration_s <= 86_400.0) {
        return Err(format!("--duration-s {duration_s} is not in (0, 86400]"));
    }
    if !(warmup_s.is_finite() && (0.0..=86_400.0).contains(&warmup_s)) {
        return Err(format!("--warmup-s {warmup_s} is not in [0, 86400]"));
    }
    let (authority, path) = split_url(&url)?;
    let addr = resolve(authority)?;
    let body = std::fs::read(&body_path).map_err(|e| format!("--body {body_path}: {e}"))?;
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n\
         Accept: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    Ok(Config {
        host_header: authority.to_owned(),
        url,
        addr,
        request,
        concurrency,
        duration: Duration::from_secs_f64(duration_s),
        warmup: Duration::from_secs_f64(warmup_s),
        json,
    })
}

/// Splits `http://authority/path` into the authority and the path (default `/`).
fn split_url(url: &str) -> Result<(&str, &str), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("--url {url:?}: only http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(format!("--url {url:?} has no host"));
    }
    if path
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(format!("--url {url:?}: the path contains whitespace"));
    }
    Ok((authority, path))
}

fn resolve(authority: &str) -> Result<SocketAddr, String> {
    let with_port = if authority.starts_with('[') {
        if authority.contains("]:") {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        }
    } else if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {authority:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority:?} resolves to no address"))
}

/// What went wrong with one request.
#[derive(Debug)]
enum Failure {
    /// Connect, read, write, timeout, or the connection closed before the response ended.
    Io,
    /// The bytes received are not a valid HTTP/1.1 response.
    Protocol,
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::InvalidData {
            Failure::Protocol
        } else {
            Failure::Io
        }
    }
}

fn bad(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// One parsed response: the status and whether the server keeps the connection open.
struct Response {
    status: u16,
    keep_alive: bool,
}

/// Reads one line ending in `\n` into `line` (cleared first), counting it against `budget`.
fn read_line(r: &mut impl BufRead, line: &mut Vec<u8>, budget: &mut usize) -> io::Result<()> {
    line.clear();
    let n = r
        .by_ref()
        .take(*budget as u64 + 1)
        .read_until(b'\n', line)?;
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before the response",
        ));
    }
    if n > *budget {
        return Err(bad("response head too large"));
    }
    *budget -= n;
    if line.last() != Some(&b'\n') {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed inside the response head",
        ));
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    Ok(())
}

/// Discards exactly `n` bytes of body.
fn skip_exact(r: &mut impl Read, n: u64) -> io::Result<()> {
    let copied = io::copy(&mut r.take(n), &mut io::sink())?;
    if copied != n {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed inside the body",
        ));
    }
    Ok(())
}

fn read_chunked(r: &mut impl BufRead, line: &mut Vec<u8>) -> io::Result<()> {
    let mut total = 0u64;
    loop {
        let mut budget = MAX_HEAD;
        read_line(r, line, &mut budget)?;
        let size_text = line.split(|&b| b == b';').next().unwrap_or_default();
        let size_text = std::str::from_utf8(size_text)
            .map_err(|_| bad("chunk size is not ASCII"))?
            .trim();
        let size = u64::from_str_radix(size_text, 16).map_err(|_| bad("bad chunk size"))?;
        total = total.saturating_add(size);
        if total > MAX_BODY {
            return Err(bad("chunked body too large"));
        }
        if size == 0 {
            // Trailer fields, up to the empty line.
            loop {
                read_line(r, line, &mut budget)?;
                if line.is_empty() {
                    return Ok(());
                }
            }
        }
        skip_exact(r, size)?;
        read_line(r, line, &mut budget)?;
        if !line.is_empty() {
            return Err(bad("chunk not followed by CRLF"));
        }
    }
}

/// Reads one complete response (skipping any 1xx interim responses).
fn read_response(r: &mut impl BufRead, line: &mut Vec<u8>) -> io::Result<Response> {
    loop {
        let mut budget = MAX_HEAD;
        read_line(r, line, &mut budget)?;
        let (http10, status) = {
            let text = std::str::from_utf8(line).map_err(|_| bad("status line is not UTF-8"))?;
            let mut parts = text.split_ascii_whitespace();
            let version = parts.next().unwrap_or_default();
            if !version.starts_with("HTTP/1.") {
                return Err(bad("not an HTTP/1.x status line"));
            }
            let status: u16 = parts
                .next()
                .and_then(|s| s.parse().ok())
                .filter(|s| (100..1000).contains(s))
                .ok_or_else(|| bad("bad status code"))?;
            (version == "HTTP/1.0", status)
        };
        let mut content_length: Option<u64> = None;
        let mut chunked = false;
        let mut close = http10;
        loop {
            read_line(r, line, &mut budget)?;
            if line.is_empty() {
                break;
            }
            let text = std::str::from_utf8(line).map_err(|_| bad("header is not UTF-8"))?;
            let (name, value) = text
                .split_once(':')
                .ok_or_else(|| bad("header without ':'"))?;
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                let n: u64 = value.parse().map_err(|_| bad("bad Content-Length"))?;
                if content_length.is_some_and(|m| m != n) {
                    return Err(bad("conflicting Content-Length headers"));
                }
                content_length = Some(n);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value
                    .rsplit(',')
                    .next()
                    .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
            } else if name.eq_ignore_ascii_case("connection") {
                for token in value.split(',').map(str::trim) {
                    if token.eq_ignore_ascii_case("close") {
                        close = true;
                    } else if token.eq_ignore_ascii_case("keep-alive") && http10 {
                        close = false;
                    }
                }
            }
        }
        if (100..200).contains(&status) {
            continue; // interim response; the final one follows
        }
        if status == 204 || status == 304 {
            // No body, whatever the headers say.
        } else if chunked {
            read_chunked(r, line)?;
        } else if let Some(n) = content_length {
            if n > MAX_BODY {
                return Err(bad("body too large"));
            }
            skip_exact(r, n)?;
        } else {
            // Delimited by the end of the connection.
            let n = io::copy(&mut r.take(MAX_BODY + 1), &mut io::sink())?;
            if n > MAX_BODY {
                return Err(bad("body too large"));
            }
            close = true;
        }
        return Ok(Response {
            status,
            keep_alive: !close,
        });
    }
}

fn connect(addr: SocketAddr) -> io::Result<BufReader<TcpStream>> {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(BufReader::with_capacity(64 * 1024, stream))
}

/// One request on `conn` (opened first when `None`); the connection is kept when the server
/// allows it.
fn one_request(
    conn: &mut Option<BufReader<TcpStream>>,
    cfg: &Config,
    line: &mut Vec<u8>,
    connects: &mut u64,
) -> Result<u16, Failure> {
    let mut c = match conn.take() {
        Some(c) => c,
        None => {
            *connects += 1;
            connect(cfg.addr)?
        }
    };
    c.get_mut().write_all(&cfg.request)?;
    let resp = read_response(&mut c, line)?;
    if resp.keep_alive {
        *conn = Some(c);
    }
    Ok(resp.status)
}

#[derive(Debug, Default)]
struct WorkerStats {
    latencies: Vec<Duration>,
    non_2xx: u64,
    io_errors: u64,
    protocol_errors: u64,
    connects: u64,
    /// Requests sent during the whole run (warm-up and tail included), answered or not.
    sent: u64,
}

fn worker(cfg: &Config, measure_start: Instant, end: Instant, stop: &AtomicBool) -> WorkerStats {
    let mut stats = WorkerStats::default();
    let mut conn: Option<BufReader<TcpStream>> = None;
    let mut line = Vec::with_capacity(256);
    while !stop.load(Ordering::Relaxed) {
        let t0 = Instant::now();
        if t0 >= end {
            break;
        }
        stats.sent += 1;
        let result = one_request(&mut conn, cfg, &mut line, &mut stats.connects);
        let t1 = Instant::now();
        let measured = t0 >= measure_start && t1 <= end;
        match result {
            Ok(status) if (200..300).contains(&status) => {
                if measured {
                    stats.latencies.push(t1 - t0);
                }
            }
            Ok(_) => {
                if measured {
                    stats.non_2xx += 1;
                }
            }
            Err(f) => {
                conn = None;
                if measured {
                    match f {
                        Failure::Io => stats.io_errors += 1,
                        Failure::Protocol => stats.protocol_errors += 1,
                    }
                }
                std::thread::sleep(ERROR_BACKOFF);
            }
        }
    }
    stats
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cfg = match parse_args(&args) {
        Ok(c) => Arc::new(c),
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("oip_load: {msg}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let measure_start = start + cfg.warmup;
    let end = measure_start + cfg.duration;
    let mut handles = Vec::with_capacity(cfg.concurrency);
    for i in 0..cfg.concurrency {
        let (worker_cfg, worker_stop) = (Arc::clone(&cfg), Arc::clone(&stop));
        let spawned = std::thread::Builder::new()
            .name(format!("oip-load-{i}"))
            .stack_size(256 * 1024)
            .spawn(move || worker(&worker_cfg, measure_start, end, &worker_stop));
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => {
                eprintln!("oip_load: cannot start worker thread {i}: {e}");
                stop.store(true, Ordering::Relaxed);
                break;
            }
        }
    }
    let mut total = WorkerStats::default();
    let mut panicked = 0usize;
    for h in handles {
        match h.join() {
            Ok(s) => {
                total.latencies.extend(s.latencies);
                total.non_2xx += s.non_2xx;
                total.io_errors += s.io_errors;
                total.protocol_errors += s.protocol_errors;
                total.connects += s.connects;
                total.sent += s.sent;
            }
            Err(_) => panicked += 1,
        }
    }
    if stop.load(Ordering::Relaxed) || panicked > 0 {
        eprintln!("oip_load: the run was incomplete ({panicked} worker(s) panicked)");
        return ExitCode::from(1);
    }
    let secs = cfg.duration.as_secs_f64();
    let LatencySummary {
        requests: ok,
        rps,
        mean,
        p50,
        p90,
        p99,
        max,
    } = LatencySummary::new(total.latencies, secs);
    let errors = total.non_2xx + total.io_errors + total.protocol_errors;
    if cfg.json {
        println!(
            "{{\"url\":{},\"host\":{},\"concurrency\":{},\"duration_s\":{},\"warmup_s\":{},\
             \"requests\":{ok},\"rps\":{rps:.3},\"mean_ms\":{:.4},\"p50_ms\":{:.4},\
             \"p90_ms\":{:.4},\"p99_ms\":{:.4},\"max_ms\":{:.4},\"errors\":{errors},\
             \"non_2xx\":{},\"io_errors\":{},\"protocol_errors\":{},\"connects\":{},\"sent\":{}}}",
            json_string(&cfg.url),
            json_string(&cfg.host_header),
            cfg.concurrency,
            secs,
            cfg.warmup.as_secs_f64(),
            ms(mean),
            ms(p50),
            ms(p90),
            ms(p99),
            ms(max),
            total.non_2xx,
            total.io_errors,
            total.protocol_errors,
            total.connects,
            total.sent,
        );
    } else {
        println!(
            "{}  concurrency {}  {:.1} s (after {:.1} s warm-up)",
            cfg.url,
            cfg.concurrency,
            secs,
            cfg.warmup.as_secs_f64()
        );
        println!("  2xx responses {ok}  ->  {rps:.1} req/s");
        println!(
            "  latency ms: mean {:.3}  p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}",
            ms(mean),
            ms(p50),
            ms(p90),
            ms(p99),
            ms(max)
        );
        println!(
            "  errors {errors}: non-2xx {}  io {}  protocol {}   (connections opened {})",
            total.non_2xx, total.io_errors, total.protocol_errors, total.connects
        );
    }
    if ok == 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> io::Result<(Response, Vec<u8>)> {
        let mut r = BufReader::new(raw.as_bytes());
        let mut line = Vec::new();
        let resp = read_response(&mut r, &mut line)?;
        let mut rest = Vec::new();
        r.read_to_end(&mut rest)?;
        Ok((resp, rest))
    }

    #[test]
    fn content_length_then_next_response_is_left_unread() {
        let (r, rest) = parse("HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabcHTTP/1.1").unwrap();
        assert_eq!((r.status, r.keep_alive), (200, true));
        assert_eq!(rest, b"HTTP/1.1");
    }

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                   3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: v\r\n\r\nNEXT";
        let (r, rest) = parse(raw).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(rest, b"NEXT");
    }

    #[test]
    fn interim_close_and_eof_delimited() {
        let raw = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Busy\r\nConnection: close\r\n\
                   Content-Length: 0\r\n\r\n";
        let (r, _) = parse(raw).unwrap();
        assert_eq!((r.status, r.keep_alive), (503, false));
        let (r, _) = parse("HTTP/1.0 200 OK\r\n\r\nbody until eof").unwrap();
        assert_eq!((r.status, r.keep_alive), (200, false));
    }

    #[test]
    fn malformed_responses_are_errors_not_panics() {
        for raw in [
            "",
            "garbage\r\n\r\n",
            "HTTP/1.1 abc OK\r\n\r\n",
            "HTTP/1.1 200 OK\r\nno-colon\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX",
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            "HTTP/1.1 200 OK\r\nContent-",
        ] {
            assert!(parse(raw).is_err(), "{raw:?} parsed");
        }
    }

    #[test]
    fn urls() {
        assert_eq!(
            split_url("http://127.0.0.1:8080/v2/models/m/infer").unwrap(),
            ("127.0.0.1:8080", "/v2/models/m/infer")
        );
        assert_eq!(split_url("http://h:1").unwrap(), ("h:1", "/"));
        assert!(split_url("https://h/x").is_err());
        assert!(split_url("http:///x").is_err());
        assert_eq!(json_string("a\"b\\\n"), "\"a\\\"b\\\\\\u000a\"");
    }
}
