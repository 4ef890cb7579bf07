//! `oip_grpc_load`: a closed-loop load generator for the Open Inference Protocol gRPC
//! `inference.GRPCInferenceService/ModelInfer`, the gRPC sibling of `benches/src/bin/oip_load.rs`.
//!
//! ```text
//! cargo run --release -p mlops-benches --features grpc --bin oip_grpc_load -- \
//!     --addr 127.0.0.1:8001 --model mlp --body req.json \
//!     --concurrency 16 --duration-s 10 --warmup-s 2 [--json] [--print-response]
//! ```
//!
//! `--body` is the same OIP REST `infer` JSON body the HTTP load generator posts (`inputs` with
//! `name`, `shape`, `datatype`, `data`; optional `outputs` with `name`): it becomes one
//! `ModelInferRequest` for model `--model` whose tensors travel in `raw_input_contents`
//! (little-endian, FP32 / FP64 / INT32 / INT64 / UINT8 / BOOL). The request is encoded once.
//!
//! Transport: HTTP/2 over cleartext TCP ("h2c", prior knowledge), written here on std sockets.
//! This crate's `tonic` has the `server` feature only (no `channel`, no hyper client), and an
//! example cannot add dependencies, so the client side of HTTP/2 is the few frames gRPC needs:
//! the preface, SETTINGS (+ ACK), PING ACK, WINDOW_UPDATE (flow control both ways), one
//! HEADERS (HPACK literals without indexing, so no table state) + DATA per request, and the
//! response's DATA / trailing HEADERS / RST_STREAM. Response headers are not HPACK-decoded:
//! a request succeeds when its stream ends carrying exactly one uncompressed gRPC message that
//! decodes as a `ModelInferResponse` with at least one output; a stream that ends without one
//! (a trailers-only gRPC error such as NOT_FOUND) or is reset counts as a gRPC error.
//!
//! Like `oip_load`: `concurrency` threads, each with one connection (TCP_NODELAY) and one
//! request in flight (closed loop); requests that *start* after the warm-up and *finish* before
//! the end of the measured window count; latency is from writing the request (or connecting) to
//! the end of its stream; percentiles are numpy's `quantile(..., method="nearest")`. An I/O
//! error, a GOAWAY or a malformed frame drops the connection; the next request reconnects.
//! Exit status: 0 when at least one response was measured, 1 otherwise, 2 on bad arguments.
//!
//! `--print-response` sends one request and prints the decoded outputs as JSON
//! (`{"outputs":[{"name","datatype","shape","data"}]}`), for a correctness check.

use std::io::{self, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mlops_benches::{ms, LatencySummary};
use mlops_serve::grpc::proto::model_infer_request::{InferInputTensor, InferRequestedOutputTensor};
use mlops_serve::grpc::proto::{ModelInferRequest, ModelInferResponse};
use prost::Message;
use serde_json::Value;

const PATH: &str = "/inference.GRPCInferenceService/ModelInfer";
/// Socket read/write timeout: a stuck server shows up as I/O errors, not a hung benchmark.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after an I/O error, so a refused connection does not spin the CPU the server needs.
const ERROR_BACKOFF: Duration = Duration::from_millis(1);
/// Largest response body accepted per request.
const MAX_BODY: usize = 64 * 1024 * 1024;
/// Largest frame we announce and accept (HTTP/2's default SETTINGS_MAX_FRAME_SIZE).
const MAX_FRAME: usize = 16_384;
/// Our receive windows (stream and connection): the largest HTTP/2 allows.
const RECV_WINDOW: u32 = (1 << 31) - 1;

const USAGE: &str = "usage: oip_grpc_load --addr HOST:PORT --model NAME --body FILE \
[--concurrency C (1)] [--duration-s S (10)] [--warmup-s W (2)] [--json] [--print-response]";

// HTTP/2 frame types and flags (RFC 9113).
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;

struct Config {
    addr: SocketAddr,
    authority: String,
    model: String,
    /// The gRPC message: 5-byte prefix + encoded `ModelInferRequest`.
    message: Vec<u8>,
    concurrency: usize,
    duration: Duration,
    warmup: Duration,
    json: bool,
    print_response: bool,
}

fn parse_args(args: &[String]) -> Result<Config, String> {
    let (mut addr, mut model, mut body) = (None, None, None);
    let (mut concurrency, mut duration_s, mut warmup_s) = (1usize, 10.0f64, 2.0f64);
    let (mut json, mut print_response) = (false, false);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--addr" => addr = Some(value()?),
            "--model" => model = Some(value()?),
            "--body" => body = Some(value()?),
            "--concurrency" | "-c" => {
                let v = value()?;
                concurrency = v
                    .parse()
                    .ok()
                    .filter(|c| *c >= 1)
                    .ok_or_else(|| format!("--concurrency {v:?} is not a positive integer"))?;
            }
            "--duration-s" => {
                let v = value()?;
                duration_s = v
                    .parse()
                    .ok()
                    .filter(|d: &f64| d.is_finite() && *d > 0.0)
                    .ok_or_else(|| format!("--duration-s {v:?} is not a positive number"))?;
            }
            "--warmup-s" => {
                let v = value()?;
                warmup_s = v
                    .parse()
                    .ok()
                    .filter(|d: &f64| d.is_finite() && *d >= 0.0)
                    .ok_or_else(|| format!("--warmup-s {v:?} is not a number >= 0"))?;
            }
            "--json" => json = true,
            "--print-response" => print_response = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let authority = addr.ok_or("--addr is required")?;
    let model = model.ok_or("--model is required")?;
    let body = body.ok_or("--body is required")?;
    let addr = authority
        .to_socket_addrs()
        .map_err(|e| format!("--addr {authority:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("--addr {authority:?} resolves to no address"))?;
    let text = std::fs::read_to_string(&body).map_err(|e| format!("--body {body}: {e}"))?;
    let json_body: Value =
        serde_json::from_str(&text).map_err(|e| format!("--body {body}: not JSON: {e}"))?;
    let request = build_request(&model, &json_body).map_err(|e| format!("--body {body}: {e}"))?;
    let encoded = request.encode_to_vec();
    let len = u32::try_from(encoded.len()).map_err(|_| "the request is over 4 GiB".to_string())?;
    let mut message = Vec::with_capacity(5 + encoded.len());
    message.push(0); // not compressed
    message.extend_from_slice(&len.to_be_bytes());
    message.extend_from_slice(&encoded);
    Ok(Config {
        addr,
        authority,
        model,
        message,
        concurrency,
        duration: Duration::from_secs_f64(duration_s),
        warmup: Duration::from_secs_f64(warmup_s),
        json,
        print_response,
    })
}

/// The OIP REST body as a `ModelInferRequest` with `raw_input_contents`.
fn build_request(model: &str, body: &Value) -> Result<ModelInferRequest, String> {
    let inputs = body
        .get("inputs")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or("no \"inputs\" array")?;
    let mut req = ModelInferRequest {
        model_name: model.to_string(),
        ..Default::default()
    };
    for (i, input) in inputs.iter().enumerate() {
        let field = |k: &str| input.get(k).ok_or(format!("inputs[{i}] has no {k:?}"));
        let name = field("name")?.as_str().ok_or("name: not a string")?;
        let datatype = field("datatype")?
            .as_str()
            .ok_or("datatype: not a string")?;
        let shape = field("shape")?
            .as_array()
            .ok_or("shape: not an array")?
            .iter()
            .map(|d| {
                d.as_i64()
                    .ok_or(format!("inputs[{i}].shape: {d} is not an integer"))
            })
            .collect::<Result<Vec<i64>, _>>()?;
        let mut flat = Vec::new();
        flatten(field("data")?, &mut flat);
        let raw = encode_raw(datatype, &flat).map_err(|e| format!("inputs[{i}]: {e}"))?;
        req.inputs.push(InferInputTensor {
            name: name.to_string(),
            datatype: datatype.to_string(),
            shape,
            ..Default::default()
        });
        req.raw_input_contents.push(raw);
    }
    if let Some(outputs) = body.get("outputs").and_then(Value::as_array) {
        for (i, o) in outputs.iter().enumerate() {
            let name = o
                .get("name")
                .and_then(Value::as_str)
                .ok_or(format!("outputs[{i}] has no string \"name\""))?;
            req.outputs.push(InferRequestedOutputTensor {
                name: name.to_string(),
                ..Default::default()
            });
        }
    }
    Ok(req)
}

fn flatten<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| flatten(x, out)),
        other => out.push(other),
    }
}

fn encode_raw(datatype: &str, values: &[&Value]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for v in values {
        let bad = || format!("{v} is not a {datatype} value");
        match datatype {
            "FP32" => out.extend_from_slice(&(v.as_f64().ok_or_else(bad)? as f32).to_le_bytes()),
            "FP64" => out.extend_from_slice(&v.as_f64().ok_or_else(bad)?.to_le_bytes()),
            "INT32" => {
                let x = v.as_i64().and_then(|x| i32::try_from(x).ok());
                out.extend_from_slice(&x.ok_or_else(bad)?.to_le_bytes());
            }
            "INT64" => out.extend_from_slice(&v.as_i64().ok_or_else(bad)?.to_le_bytes()),
            "UINT8" => {
                let x = v.as_u64().and_then(|x| u8::try_from(x).ok());
                out.push(x.ok_or_else(bad)?);
            }
            "BOOL" => out.push(u8::from(v.as_bool().ok_or_else(bad)?)),
            other => return Err(format!("datatype {other:?} is not supported here")),
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// HTTP/2 client, one stream at a time.

#[derive(Debug)]
enum Failure {
    /// Connect, read, write, timeout, GOAWAY or early close: the connection is dropped.
    Io,
    /// A frame or message this client cannot make sense of: the connection is dropped.
    Protocol(String),
    /// The stream ended without a `ModelInferResponse` (gRPC error status) or was reset.
    Grpc,
}

impl From<io::Error> for Failure {
    fn from(_: io::Error) -> Self {
        Failure::Io
    }
}

struct Conn {
    reader: BufReader<TcpStream>,
    next_stream: u32,
    /// What we may still send on the connection (the server's window).
    send_window: i64,
    /// The server's SETTINGS_INITIAL_WINDOW_SIZE: each new stream's send window.
    stream_initial_window: i64,
    /// DATA bytes received since our last connection WINDOW_UPDATE.
    unacked_recv: u64,
    /// The request's HPACK block (literals without indexing: identical for every request).
    header_block: Vec<u8>,
    buf: Vec<u8>,
    payload: Vec<u8>,
}

fn frame_header(out: &mut Vec<u8>, len: usize, kind: u8, flags: u8, stream: u32) {
    out.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
}

/// HPACK integer with an `n`-bit prefix (RFC 7541 §5.1); `first` holds the pattern bits.
fn hpack_int(out: &mut Vec<u8>, first: u8, n: u32, mut v: usize) {
    let max = (1usize << n) - 1;
    if v < max {
        out.push(first | v as u8);
        return;
    }
    out.push(first | max as u8);
    v -= max;
    while v >= 128 {
        out.push((v % 128) as u8 | 0x80);
        v /= 128;
    }
    out.push(v as u8);
}

/// "Literal header field without indexing — new name", no Huffman coding.
fn hpack_literal(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(0x00);
    hpack_int(out, 0, 7, name.len());
    out.extend_from_slice(name.as_bytes());
    hpack_int(out, 0, 7, value.len());
    out.extend_from_slice(value.as_bytes());
}

impl Conn {
    fn open(cfg: &Config) -> Result<Conn, Failure> {
        let stream = TcpStream::connect_timeout(&cfg.addr, IO_TIMEOUT)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        let mut header_block = Vec::new();
        for (k, v) in [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", PATH),
            (":authority", cfg.authority.as_str()),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
            ("user-agent", "oip_grpc_load"),
        ] {
            hpack_literal(&mut header_block, k, v);
        }
        let mut hello = Vec::with_capacity(64);
        hello.extend_from_slice(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        frame_header(&mut hello, 12, SETTINGS, 0, 0);
        hello.extend_from_slice(&[0x00, 0x02, 0, 0, 0, 0]); // ENABLE_PUSH 0
        hello.extend_from_slice(&[0x00, 0x04]); // INITIAL_WINDOW_SIZE
        hello.extend_from_slice(&RECV_WINDOW.to_be_bytes());
        frame_header(&mut hello, 4, WINDOW_UPDATE, 0, 0);
        hello.extend_from_slice(&(RECV_WINDOW - 65_535).to_be_bytes());
        let mut conn = Conn {
            reader: BufReader::with_capacity(64 * 1024, stream),
            next_stream: 1,
            send_window: 65_535,
            stream_initial_window: 65_535,
            unacked_recv: 0,
            header_block,
            buf: Vec::with_capacity(1024),
            payload: Vec::with_capacity(1024),
        };
        conn.reader.get_mut().write_all(&hello)?;
        Ok(conn)
    }

    /// Reads one frame into `self.payload`: (type, flags, stream).
    fn read_frame(&mut self) -> Result<(u8, u8, u32), Failure> {
        let mut h = [0u8; 9];
        self.reader.read_exact(&mut h)?;
        let len = u32::from_be_bytes([0, h[0], h[1], h[2]]) as usize;
        if len > MAX_FRAME {
            return Err(Failure::Protocol(format!(
                "a {len}-byte frame, over SETTINGS_MAX_FRAME_SIZE"
            )));
        }
        let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
        self.payload.resize(len, 0);
        self.reader.read_exact(&mut self.payload)?;
        Ok((h[3], h[4], stream))
    }

    /// Handles a connection-level frame (stream 0). Returns Err on GOAWAY.
    fn connection_frame(&mut self, kind: u8, flags: u8) -> Result<(), Failure> {
        match kind {
            SETTINGS if flags & ACK == 0 => {
                if self.payload.len() % 6 != 0 {
                    return Err(Failure::Protocol("a SETTINGS frame of odd size".into()));
                }
                for s in self.payload.chunks_exact(6) {
                    let id = u16::from_be_bytes([s[0], s[1]]);
                    let v = u32::from_be_bytes([s[2], s[3], s[4], s[5]]);
                    if id == 0x4 {
                        self.stream_initial_window = i64::from(v);
                    }
                }
                let mut ack = Vec::with_capacity(9);
                frame_header(&mut ack, 0, SETTINGS, ACK, 0);
                self.reader.get_mut().write_all(&ack)?;
            }
            PING if flags & ACK == 0 => {
                let mut pong = Vec::with_capacity(17);
                frame_header(&mut pong, self.payload.len(), PING, ACK, 0);
                pong.extend_from_slice(&self.payload);
                self.reader.get_mut().write_all(&pong)?;
            }
            WINDOW_UPDATE if self.payload.len() == 4 => {
                let p = &self.payload;
                self.send_window +=
                    i64::from(u32::from_be_bytes([p[0], p[1], p[2], p[3]]) & 0x7fff_ffff);
            }
            GOAWAY => return Err(Failure::Io),
            _ => {}
        }
        Ok(())
    }

    /// One ModelInfer call; returns the response body (the gRPC message, prefix included).
    fn call(&mut self, message: &[u8]) -> Result<&[u8], Failure> {
        let stream = self.next_stream;
        if stream > 0x7fff_0000 {
            return Err(Failure::Io); // stream ids exhausted: reconnect
        }
        self.next_stream += 2;
        let len = message.len() as i64;
        if len > self.stream_initial_window {
            return Err(Failure::Protocol(format!(
                "the request ({len} bytes) exceeds the server's stream window"
            )));
        }
        while self.send_window < len {
            let (kind, flags, id) = self.read_frame()?;
            if id == 0 {
                self.connection_frame(kind, flags)?;
            }
        }
        self.send_window -= len;
        let mut out = Vec::with_capacity(9 + self.header_block.len() + message.len() + 18);
        frame_header(
            &mut out,
            self.header_block.len(),
            HEADERS,
            END_HEADERS,
            stream,
        );
        out.extend_from_slice(&self.header_block);
        let chunks: Vec<&[u8]> = message.chunks(MAX_FRAME).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let flags = if i + 1 == chunks.len() { END_STREAM } else { 0 };
            frame_header(&mut out, chunk.len(), DATA, flags, stream);
            out.extend_from_slice(chunk);
        }
        self.reader.get_mut().write_all(&out)?;

        self.buf.clear();
        let (mut ended, mut in_headers, mut reset) = (false, false, false);
        while !ended || in_headers {
            let (kind, flags, id) = self.read_frame()?;
            if kind == DATA {
                self.unacked_recv += self.payload.len() as u64;
            }
            if id == 0 {
                self.connection_frame(kind, flags)?;
                continue;
            }
            if id != stream {
                continue; // an older stream's leftovers
            }
            match kind {
                DATA => {
                    let body = unpad(&self.payload, flags)?;
                    if self.buf.len() + body.len() > MAX_BODY {
                        return Err(Failure::Protocol("response body too large".into()));
                    }
                    self.buf.extend_from_slice(body);
                    ended |= flags & END_STREAM != 0;
                }
                HEADERS => {
                    ended |= flags & END_STREAM != 0;
                    in_headers = flags & END_HEADERS == 0; // the header block is ignored
                }
                CONTINUATION => in_headers = flags & END_HEADERS == 0,
                RST_STREAM => {
                    reset = true;
                    ended = true;
                    in_headers = false;
                }
                _ => {}
            }
        }
        if self.unacked_recv > u64::from(RECV_WINDOW / 2) {
            let mut wu = Vec::with_capacity(13);
            frame_header(&mut wu, 4, WINDOW_UPDATE, 0, 0);
            wu.extend_from_slice(&(self.unacked_recv as u32).to_be_bytes());
            self.reader.get_mut().write_all(&wu)?;
            self.unacked_recv = 0;
        }
        if reset {
            return Err(Failure::Grpc);
        }
        Ok(&self.buf)
    }
}

fn unpad(payload: &[u8], flags: u8) -> Result<&[u8], Failure> {
    if flags & PADDED == 0 {
        return Ok(payload);
    }
    let pad = *payload
        .first()
        .ok_or_else(|| Failure::Protocol("a padded frame without pad length".into()))?
        as usize;
    if pad + 1 > payload.len() {
        return Err(Failure::Protocol("padding longer than the frame".into()));
    }
    Ok(&payload[1..payload.len() - pad])
}

/// The response body as a `ModelInferResponse` (exactly one uncompressed message).
fn decode_response(body: &[u8]) -> Result<ModelInferResponse, Failure> {
    if body.is_empty() {
        return Err(Failure::Grpc); // trailers-only: a gRPC error status
    }
    if body.len() < 5 || body[0] != 0 {
        return Err(Failure::Protocol(
            "response is not one uncompressed gRPC message".into(),
        ));
    }
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    if len != body.len() - 5 {
        return Err(Failure::Protocol(format!(
            "gRPC message of {len} bytes in a {}-byte body",
            body.len()
        )));
    }
    let resp = ModelInferResponse::decode(&body[5..])
        .map_err(|e| Failure::Protocol(format!("not a ModelInferResponse: {e}")))?;
    if resp.outputs.is_empty() {
        return Err(Failure::Protocol(
            "a ModelInferResponse without outputs".into(),
        ));
    }
    Ok(resp)
}

fn one_request(conn: &mut Option<Conn>, cfg: &Config, connects: &mut u64) -> Result<(), Failure> {
    if conn.is_none() {
        *connects += 1;
        *conn = Some(Conn::open(cfg)?);
    }
    let c = conn
        .as_mut()
        .ok_or_else(|| Failure::Protocol("no connection".into()))?;
    let body = c.call(&cfg.message)?;
    // Checking the message costs a decode per request, the same for every server.
    decode_response(body).map(|_| ())
}

#[derive(Debug, Default)]
struct WorkerStats {
    latencies: Vec<Duration>,
    grpc_errors: u64,
    io_errors: u64,
    protocol_errors: u64,
    connects: u64,
    sent: u64,
    first_protocol_error: Option<String>,
}

fn worker(cfg: &Config, measure_start: Instant, end: Instant) -> WorkerStats {
    let mut stats = WorkerStats::default();
    let mut conn: Option<Conn> = None;
    loop {
        let t0 = Instant::now();
        if t0 >= end {
            break;
        }
        stats.sent += 1;
        let result = one_request(&mut conn, cfg, &mut stats.connects);
        let t1 = Instant::now();
        let measured = t0 >= measure_start && t1 <= end;
        match result {
            Ok(()) => {
                if measured {
                    stats.latencies.push(t1 - t0);
                }
            }
            Err(Failure::Grpc) => {
                if measured {
                    stats.grpc_errors += 1;
                }
            }
            Err(f) => {
                conn = None;
                if measured {
                    match f {
                        Failure::Protocol(msg) => {
                            stats.protocol_errors += 1;
                            stats.first_protocol_error.get_or_insert(msg);
                        }
                        _ => stats.io_errors += 1,
                    }
                }
                std::thread::sleep(ERROR_BACKOFF);
            }
        }
    }
    stats
}

fn tensor_values(
    datatype: &str,
    raw: Option<&Vec<u8>>,
    contents: Option<&mlops_serve::grpc::proto::InferTensorContents>,
) -> Vec<Value> {
    if let Some(raw) = raw {
        return match datatype {
            "FP32" => raw
                .chunks_exact(4)
                .map(|b| Value::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64))
                .collect(),
            "FP64" => raw
                .chunks_exact(8)
                .map(|b| {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    Value::from(f64::from_le_bytes(a))
                })
                .collect(),
            _ => raw.iter().map(|b| Value::from(*b)).collect(),
        };
    }
    let Some(c) = contents else {
        return Vec::new();
    };
    let mut v: Vec<Value> = Vec::new();
    v.extend(c.fp32_contents.iter().map(|x| Value::from(*x as f64)));
    v.extend(c.fp64_contents.iter().map(|x| Value::from(*x)));
    v.extend(c.int_contents.iter().map(|x| Value::from(*x)));
    v.extend(c.int64_contents.iter().map(|x| Value::from(*x)));
    v.extend(c.uint_contents.iter().map(|x| Value::from(*x)));
    v.extend(c.uint64_contents.iter().map(|x| Value::from(*x)));
    v.extend(c.bool_contents.iter().map(|x| Value::from(*x)));
    v
}

fn print_response(cfg: &Config) -> ExitCode {
    let mut conn = None;
    let mut connects = 0;
    if let Err(f) = one_request(&mut conn, cfg, &mut connects) {
        eprintln!(
            "oip_grpc_load: ModelInfer on {} failed: {}",
            cfg.addr,
            match f {
                Failure::Io => "I/O error (connect, read, write, timeout or GOAWAY)".to_string(),
                Failure::Protocol(m) => format!("protocol error: {m}"),
                Failure::Grpc =>
                    "the call ended with a gRPC error status (e.g. unknown model, bad input)"
                        .to_string(),
            }
        );
        return ExitCode::from(1);
    }
    let Some(c) = conn.as_ref() else {
        return ExitCode::from(1);
    };
    let resp = match decode_response(&c.buf) {
        Ok(r) => r,
        Err(_) => return ExitCode::from(1),
    };
    let outputs: Vec<Value> = resp
        .outputs
        .iter()
        .enumerate()
        .map(|(i, o)| {
            serde_json::json!({
                "name": o.name,
                "datatype": o.datatype,
                "shape": o.shape,
                "data": tensor_values(&o.datatype, resp.raw_output_contents.get(i), o.contents.as_ref()),
            })
        })
        .collect();
    println!(
        "{}",
        serde_json::json!({"model_name": resp.model_name, "outputs": outputs})
    );
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cfg = match parse_args(&args) {
        Ok(c) => Arc::new(c),
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("oip_grpc_load: {msg}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    if cfg.print_response {
        return print_response(&cfg);
    }
    let start = Instant::now();
    let measure_start = start + cfg.warmup;
    let end = measure_start + cfg.duration;
    let mut handles = Vec::with_capacity(cfg.concurrency);
    for i in 0..cfg.concurrency {
        let worker_cfg = Arc::clone(&cfg);
        let spawned = std::thread::Builder::new()
            .name(format!("oip-grpc-load-{i}"))
            .stack_size(256 * 1024)
            .spawn(move || worker(&worker_cfg, measure_start, end));
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => {
                eprintln!("oip_grpc_load: cannot start worker thread {i}: {e}");
                return ExitCode::from(1);
            }
        }
    }
    let mut total = WorkerStats::default();
    let mut panicked = 0usize;
    for h in handles {
        match h.join() {
            Ok(s) => {
                total.latencies.extend(s.latencies);
                total.grpc_errors += s.grpc_errors;
                total.io_errors += s.io_errors;
                total.protocol_errors += s.protocol_errors;
                total.connects += s.connects;
                total.sent += s.sent;
                if total.first_protocol_error.is_none() {
                    total.first_protocol_error = s.first_protocol_error;
                }
            }
            Err(_) => panicked += 1,
        }
    }
    if panicked > 0 {
        eprintln!("oip_grpc_load: the run was incomplete ({panicked} worker(s) panicked)");
        return ExitCode::from(1);
    }
    if let Some(m) = &total.first_protocol_error {
        eprintln!("oip_grpc_load: first protocol error: {m}");
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
    let errors = total.grpc_errors + total.io_errors + total.protocol_errors;
    let r3 = |x: f64| (x * 1e4).round() / 1e4;
    if cfg.json {
        println!(
            "{}",
            serde_json::json!({
                "addr": cfg.authority, "model": cfg.model, "concurrency": cfg.concurrency,
                "duration_s": secs, "warmup_s": cfg.warmup.as_secs_f64(), "requests": ok,
                "rps": (rps * 1e3).round() / 1e3, "mean_ms": r3(ms(mean)), "p50_ms": r3(ms(p50)),
                "p90_ms": r3(ms(p90)), "p99_ms": r3(ms(p99)), "max_ms": r3(ms(max)),
                "errors": errors, "grpc_errors": total.grpc_errors, "io_errors": total.io_errors,
                "protocol_errors": total.protocol_errors, "connects": total.connects,
                "sent": total.sent,
            })
        );
    } else {
        println!(
            "grpc://{}{PATH} model {}  concurrency {}  {secs:.1} s (after {:.1} s warm-up)",
            cfg.authority,
            cfg.model,
            cfg.concurrency,
            cfg.warmup.as_secs_f64()
        );
        println!("  responses {ok}  ->  {rps:.1} req/s");
        println!(
            "  latency ms: mean {:.3}  p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}",
            ms(mean),
            ms(p50),
            ms(p90),
            ms(p99),
            ms(max)
        );
        println!(
            "  errors {errors}: grpc {}  io {}  protocol {}   (connections opened {})",
            total.grpc_errors, total.io_errors, total.protocol_errors, total.connects
        );
    }
    if ok == 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
