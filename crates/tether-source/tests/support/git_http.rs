//! A tiny HTTP/1.1 Git server for tests: each request runs `git http-backend` as a CGI program.
//!
//! Self-contained (std and tokio only) so other crates' tests can include it with
//! `#[path = "../../tether-source/tests/support/git_http.rs"] mod git_http;`.
//! It runs on its own thread and tokio runtime, so it works from sync and async tests alike, and
//! stops when dropped. Needs the `git` and (for gzip-encoded request bodies) `gzip` binaries.
//!
//! Counters tell what a client did: how many requests, ref advertisements (`info/refs`),
//! `git-upload-pack` POSTs, which protocol-v2 commands they carried, and how many responses
//! carried a packfile. Tests use them to prove a poll was cheap.
#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// What the server has seen so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Every HTTP request, including refused ones.
    pub requests: u64,
    /// `GET .../info/refs?service=...` (the handshake / ref advertisement).
    pub info_refs: u64,
    /// `POST .../git-upload-pack`.
    pub upload_pack_posts: u64,
    /// Upload-pack POSTs carrying the protocol-v2 `ls-refs` command.
    pub ls_refs_commands: u64,
    /// Upload-pack POSTs asking for objects: v2 `command=fetch`, or v0/v1 `want` lines.
    pub fetch_commands: u64,
    /// Upload-pack responses that contained a packfile.
    pub packfiles_sent: u64,
    /// Requests answered 401 for missing or wrong credentials.
    pub unauthorized: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    info_refs: AtomicU64,
    upload_pack_posts: AtomicU64,
    ls_refs_commands: AtomicU64,
    fetch_commands: AtomicU64,
    packfiles_sent: AtomicU64,
    unauthorized: AtomicU64,
}

struct Shared {
    project_root: PathBuf,
    /// The exact `Authorization` header value required, if any.
    required_authorization: Option<String>,
    counters: Counters,
}

/// A running server; dropping it stops it.
pub struct GitHttpServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GitHttpServer {
    /// Serve every repository under `project_root` (`<url>/<name>` is `project_root/<name>`, bare
    /// or not) on 127.0.0.1 at a free port. With `basic_auth`, every request must carry those
    /// credentials or is answered `401` with a `WWW-Authenticate: Basic` challenge.
    pub fn start(project_root: &Path, basic_auth: Option<(&str, &str)>) -> GitHttpServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared {
            project_root: project_root.to_path_buf(),
            required_authorization: basic_auth.map(|(user, password)| {
                format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
            }),
            counters: Counters::default(),
        });
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("git-http-test-server".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("test server runtime");
                runtime.block_on(async move {
                    let listener = TcpListener::from_std(listener).expect("tokio listener");
                    tokio::pin!(stop);
                    loop {
                        tokio::select! {
                            _ = &mut stop => break,
                            accepted = listener.accept() => {
                                let Ok((stream, _)) = accepted else { continue };
                                let shared = thread_shared.clone();
                                tokio::spawn(async move {
                                    let _ = serve_connection(stream, shared).await;
                                });
                            }
                        }
                    }
                });
                // CGI children run on the blocking pool; give them a moment, then let go.
                runtime.shutdown_timeout(Duration::from_secs(5));
            })
            .expect("spawn test server thread");
        GitHttpServer {
            addr,
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// The clone URL of `repo_name` (a directory under the project root).
    pub fn url(&self, repo_name: &str) -> String {
        format!("http://{}/{}", self.addr, repo_name.trim_start_matches('/'))
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A snapshot of the counters.
    pub fn counts(&self) -> Counts {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::SeqCst);
        Counts {
            requests: get(&c.requests),
            info_refs: get(&c.info_refs),
            upload_pack_posts: get(&c.upload_pack_posts),
            ls_refs_commands: get(&c.ls_refs_commands),
            fetch_commands: get(&c.fetch_commands),
            packfiles_sent: get(&c.packfiles_sent),
            unauthorized: get(&c.unauthorized),
        }
    }
}

impl Counts {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &Counts) -> Counts {
        Counts {
            requests: self.requests - earlier.requests,
            info_refs: self.info_refs - earlier.info_refs,
            upload_pack_posts: self.upload_pack_posts - earlier.upload_pack_posts,
            ls_refs_commands: self.ls_refs_commands - earlier.ls_refs_commands,
            fetch_commands: self.fetch_commands - earlier.fetch_commands,
            packfiles_sent: self.packfiles_sent - earlier.packfiles_sent,
            unauthorized: self.unauthorized - earlier.unauthorized,
        }
    }
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Request {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Serve requests on one connection until the client closes it (HTTP/1.1 keep-alive).
async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let mut stream = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        let mut parts = line.split(' ');
        let method = parts.next().unwrap_or_default().to_owned();
        let target = parts.next().unwrap_or_default().to_owned();
        let mut headers = Vec::new();
        loop {
            let mut header = String::new();
            if stream.read_line(&mut header).await? == 0 {
                return Ok(());
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
        }
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let mut request = Request {
            method,
            path: path.to_owned(),
            query: query.to_owned(),
            headers,
            body: Vec::new(),
        };

        if request
            .header("Expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        {
            stream
                .get_mut()
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await?;
        }
        if request
            .header("Transfer-Encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            request.body = read_chunked(&mut stream).await?;
        } else if let Some(len) = request
            .header("Content-Length")
            .and_then(|v| v.parse::<usize>().ok())
        {
            let mut body = vec![0; len];
            stream.read_exact(&mut body).await?;
            request.body = body;
        }
        let close = request
            .header("Connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));

        let response = handle(&shared, request).await;
        let mut head = format!(
            "HTTP/1.1 {} {}\r\n",
            response.status,
            reason(response.status)
        );
        for (name, value) in &response.headers {
            if !name.eq_ignore_ascii_case("Content-Length") && !name.eq_ignore_ascii_case("Status")
            {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", response.body.len()));
        let out = stream.get_mut();
        out.write_all(head.as_bytes()).await?;
        out.write_all(&response.body).await?;
        out.flush().await?;
        if close {
            return Ok(());
        }
    }
}

async fn read_chunked(stream: &mut BufReader<TcpStream>) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size_line = String::new();
        stream.read_line(&mut size_line).await?;
        let size_hex = size_line.trim().split(';').next().unwrap_or_default();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        if size == 0 {
            // Trailers, then the blank line that ends the body.
            loop {
                let mut trailer = String::new();
                if stream.read_line(&mut trailer).await? == 0 || trailer.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        stream.read_exact(&mut body[start..]).await?;
        let mut crlf = [0u8; 2];
        stream.read_exact(&mut crlf).await?;
    }
}

async fn handle(shared: &Arc<Shared>, request: Request) -> Response {
    let counters = &shared.counters;
    counters.requests.fetch_add(1, Ordering::SeqCst);

    if let Some(required) = &shared.required_authorization
        && request.header("Authorization") != Some(required.as_str())
    {
        counters.unauthorized.fetch_add(1, Ordering::SeqCst);
        return Response {
            status: 401,
            headers: vec![("WWW-Authenticate".into(), "Basic realm=\"git\"".into())],
            body: b"authentication required\n".to_vec(),
        };
    }

    let upload_pack_post = request.method == "POST" && request.path.ends_with("/git-upload-pack");
    if request.path.ends_with("/info/refs") {
        counters.info_refs.fetch_add(1, Ordering::SeqCst);
    }
    if upload_pack_post {
        counters.upload_pack_posts.fetch_add(1, Ordering::SeqCst);
        let gzip = request
            .header("Content-Encoding")
            .is_some_and(|v| v.contains("gzip"));
        let body = if gzip {
            gunzip(&request.body)
        } else {
            request.body.clone()
        };
        if contains(&body, b"command=ls-refs") {
            counters.ls_refs_commands.fetch_add(1, Ordering::SeqCst);
        }
        if contains(&body, b"command=fetch") || contains(&body, b"want ") {
            counters.fetch_commands.fetch_add(1, Ordering::SeqCst);
        }
    }

    let user = shared
        .required_authorization
        .as_ref()
        .and_then(|_| request.header("Authorization"))
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| String::from_utf8(unbase64(b)).ok())
        .and_then(|pair| pair.split_once(':').map(|(u, _)| u.to_owned()));
    let project_root = shared.project_root.clone();
    let response =
        tokio::task::spawn_blocking(move || run_cgi(&project_root, &request, user.as_deref()))
            .await
            .unwrap_or_else(|e| error_response(&format!("CGI task failed: {e}")));

    if upload_pack_post
        && response.status == 200
        && (contains(&response.body, b"packfile\n") || contains(&response.body, b"PACK\0\0\0"))
    {
        counters.packfiles_sent.fetch_add(1, Ordering::SeqCst);
    }
    response
}

/// Run `git http-backend` for one request, as a web server runs a CGI program.
fn run_cgi(project_root: &Path, request: &Request, remote_user: Option<&str>) -> Response {
    let mut command = Command::new("git");
    command
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", project_root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("PATH_INFO", &request.path)
        .env("QUERY_STRING", &request.query)
        .env("REQUEST_METHOD", &request.method)
        .env("CONTENT_LENGTH", request.body.len().to_string())
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(content_type) = request.header("Content-Type") {
        command.env("CONTENT_TYPE", content_type);
    }
    // http-backend decompresses gzip bodies itself when told the encoding.
    if let Some(encoding) = request.header("Content-Encoding") {
        command.env("HTTP_CONTENT_ENCODING", encoding);
    }
    // Protocol v2 is negotiated through this header, which http-backend reads from the CGI env.
    if let Some(protocol) = request.header("Git-Protocol") {
        command
            .env("HTTP_GIT_PROTOCOL", protocol)
            .env("GIT_PROTOCOL", protocol);
    }
    if let Some(user) = remote_user {
        command.env("REMOTE_USER", user);
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => return error_response(&format!("cannot run git http-backend: {e}")),
    };
    // Write the body on another thread: a large response could fill stdout while we write.
    let mut stdin = child.stdin.take().expect("piped stdin");
    let body = request.body.clone();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let output = match child.wait_with_output() {
        Ok(output) => output,
        Err(e) => return error_response(&format!("git http-backend failed: {e}")),
    };
    let _ = writer.join();
    parse_cgi_output(&output.stdout).unwrap_or_else(|| {
        error_response(&format!(
            "git http-backend gave no CGI headers (exit {}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    })
}

/// Split CGI output into its headers (`Status:` gives the code) and the body.
fn parse_cgi_output(out: &[u8]) -> Option<Response> {
    let (head_len, sep_len) = find(out, b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| find(out, b"\n\n").map(|i| (i, 2)))?;
    let head = String::from_utf8_lossy(&out[..head_len]);
    let mut status = 200;
    let mut headers = Vec::new();
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("Status") {
            status = value
                .split(' ')
                .next()
                .and_then(|c| c.parse().ok())
                .unwrap_or(500);
        } else {
            headers.push((name.to_owned(), value.to_owned()));
        }
    }
    Some(Response {
        status,
        headers,
        body: out[head_len + sep_len..].to_vec(),
    })
}

fn error_response(message: &str) -> Response {
    Response {
        status: 500,
        headers: vec![("Content-Type".into(), "text/plain".into())],
        body: message.as_bytes().to_vec(),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Status",
    }
}

/// Decompress a gzip body for inspection with the system `gzip` (keeps this module dependency-free).
fn gunzip(data: &[u8]) -> Vec<u8> {
    let Ok(mut child) = Command::new("gzip")
        .arg("-dc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    else {
        return Vec::new();
    };
    let mut stdin = child.stdin.take().expect("piped stdin");
    let data = data.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let mut out = Vec::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_end(&mut out);
    }
    let _ = writer.join();
    let _ = child.wait();
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn unbase64(text: &str) -> Vec<u8> {
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes() {
        let Some(v) = B64.iter().position(|&b| b == c) else {
            continue;
        };
        bits = (bits << 6) | v as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

#[test]
fn base64_round_trips() {
    assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
    assert_eq!(base64(b"a"), "YQ==");
    assert_eq!(unbase64("dXNlcjpwYXNz"), b"user:pass");
}
