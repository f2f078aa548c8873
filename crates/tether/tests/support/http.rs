//! A small blocking HTTP/1.1 client for the server's tests: plain requests,
//! and server-sent-event streams read event by event with a timeout. Written
//! on `std::net` so the tests see the bytes the server sends (headers,
//! chunking, SSE framing) exactly as a browser would receive them.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Response {
    pub status: u16,
    /// Names lowercased, in the order sent.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {} {:?}\n{}", self.status, self.headers, self.body)
    }
}

fn send_head(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        head.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("write request");
    if let Some(b) = body {
        stream.write_all(b.as_bytes()).expect("write body");
    }
    stream
}

/// Status and headers; the reader is left at the body.
fn read_head(reader: &mut impl BufRead) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {line:?}"));
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).expect("header");
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    (status, headers)
}

fn is_chunked(headers: &[(String, String)]) -> bool {
    headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"))
}

/// One request on its own connection; the whole body.
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Response {
    let mut all: Vec<(&str, &str)> = vec![("Connection", "close")];
    all.extend_from_slice(headers);
    let stream = send_head(addr, method, path, &all, body);
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut reader = BufReader::new(stream);
    let (status, headers) = read_head(&mut reader);
    let mut bytes = Vec::new();
    if is_chunked(&headers) {
        Dechunk::new(reader)
            .read_to_end(&mut bytes)
            .expect("chunked body");
    } else {
        reader.read_to_end(&mut bytes).expect("body");
    }
    Response {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

pub fn get(addr: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    request(addr, "GET", path, headers, None)
}

/// `Transfer-Encoding: chunked`, decoded. A read that times out mid-chunk
/// can be retried: the position in the chunk is kept.
pub struct Dechunk<R> {
    inner: R,
    left: usize,
    done: bool,
}

impl<R: BufRead> Dechunk<R> {
    pub fn new(inner: R) -> Dechunk<R> {
        Dechunk {
            inner,
            left: 0,
            done: false,
        }
    }
}

impl<R: BufRead> Read for Dechunk<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.done {
            return Ok(0);
        }
        if self.left == 0 {
            // The size line (after the previous chunk's CRLF).
            let mut line = Vec::new();
            loop {
                line.clear();
                self.inner.read_until(b'\n', &mut line)?;
                if line.is_empty() {
                    self.done = true;
                    return Ok(0);
                }
                let text = String::from_utf8_lossy(&line);
                let text = text.trim();
                if !text.is_empty() {
                    let size = text.split(';').next().unwrap_or("");
                    self.left = usize::from_str_radix(size, 16).map_err(|_| {
                        std::io::Error::new(std::io::ErrorKind::InvalidData, "chunk size")
                    })?;
                    break;
                }
            }
            if self.left == 0 {
                self.done = true;
                return Ok(0);
            }
        }
        let n = buf.len().min(self.left);
        let n = self.inner.read(&mut buf[..n])?;
        if n == 0 {
            self.done = true;
        }
        self.left -= n;
        Ok(n)
    }
}

/// One server-sent event.
#[derive(Debug, Clone, Default)]
pub struct SseEvent {
    /// `message` when the server named none.
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

impl SseEvent {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("event {} is not JSON ({e}): {}", self.event, self.data))
    }
}

/// An open event stream.
pub struct EventStream {
    reader: BufReader<Dechunk<BufReader<TcpStream>>>,
    partial: Vec<u8>,
    current: SseEvent,
    /// Comment lines seen (keepalives).
    pub comments: usize,
    pub headers: Vec<(String, String)>,
}

impl EventStream {
    /// Open `path`; panics unless the server answers 200 with
    /// `text/event-stream`. Use [`request`] to check refusals.
    pub fn open(addr: &str, path: &str, headers: &[(&str, &str)]) -> EventStream {
        let mut all: Vec<(&str, &str)> = vec![("Accept", "text/event-stream")];
        all.extend_from_slice(headers);
        let stream = send_head(addr, "GET", path, &all, None);
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut reader = BufReader::new(stream);
        let (status, headers) = read_head(&mut reader);
        assert_eq!(status, 200, "GET {path}: {headers:?}");
        let ct = headers
            .iter()
            .find(|(k, _)| k == "content-type")
            .map(|(_, v)| v.as_str());
        assert_eq!(ct, Some("text/event-stream"), "{headers:?}");
        assert!(is_chunked(&headers), "{headers:?}");
        EventStream {
            reader: BufReader::new(Dechunk::new(reader)),
            partial: Vec::new(),
            current: SseEvent::default(),
            comments: 0,
            headers,
        }
    }

    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn socket(&self) -> &TcpStream {
        self.reader.get_ref().inner.get_ref()
    }

    /// The next event within `timeout`, or None (timed out, or the stream ended).
    pub fn next(&mut self, timeout: Duration) -> Option<SseEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.socket()
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .ok()?;
            match self.reader.read_until(b'\n', &mut self.partial) {
                Ok(0) => return None,
                Ok(_) if self.partial.ends_with(b"\n") => {
                    let line = String::from_utf8_lossy(&self.partial)
                        .trim_end_matches(['\r', '\n'])
                        .to_string();
                    self.partial.clear();
                    if let Some(event) = self.line(&line) {
                        return Some(event);
                    }
                }
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return None,
            }
        }
    }

    /// The next event named `name` within `timeout`, skipping others.
    pub fn next_named(&mut self, name: &str, timeout: Duration) -> Option<SseEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let e = self.next(left)?;
            if e.event == name {
                return Some(e);
            }
        }
    }

    /// One line of the SSE framing; an event when a blank line ends one.
    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            let mut event = std::mem::take(&mut self.current);
            if event.data.is_empty() && event.event.is_empty() {
                return None;
            }
            if event.event.is_empty() {
                event.event = "message".into();
            }
            return Some(event);
        }
        if line.starts_with(':') {
            self.comments += 1;
            return None;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.current.event = value.to_string(),
            "id" => self.current.id = Some(value.to_string()),
            "data" => {
                if !self.current.data.is_empty() {
                    self.current.data.push('\n');
                }
                self.current.data.push_str(value);
            }
            _ => {}
        }
        None
    }
}
