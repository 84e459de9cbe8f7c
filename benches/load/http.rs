//! The load generator's HTTP side: one keep-alive HTTP/1.1 connection per
//! virtual user (hyper's client connection, no pool, no redirects, no cookie
//! jar), plus the little a browser does that the scenarios need: remembering
//! the session cookie and reading the hidden fields of a form.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;

/// The session cookie of the authorization server.
pub const SESSION_COOKIE: &str = "tessera_session";

/// A response, fully read.
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_slice(&self.body)
            .map_err(|e| format!("body is not JSON ({e}): {}", self.text()))
    }

    /// The value of the session cookie this response sets, if any.
    pub fn session_cookie(&self) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .find_map(|v| {
                let pair = v.to_str().ok()?.split(';').next()?;
                let (name, value) = pair.split_once('=')?;
                (name.trim() == SESSION_COOKIE)
                    .then(|| format!("{SESSION_COOKIE}={}", value.trim()))
            })
    }

    /// Fails unless the status is `expected`, quoting the body.
    pub fn expect(self, expected: u16, what: &str) -> Result<Self, String> {
        if self.status.as_u16() == expected {
            Ok(self)
        } else {
            let body: String = self.text().chars().take(300).collect();
            Err(format!(
                "{what}: expected {expected}, got {}: {body}",
                self.status
            ))
        }
    }
}

/// One keep-alive connection to the server; reopened if the server closes it.
pub struct Conn {
    addr: SocketAddr,
    host: HeaderValue,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Self {
        let host = HeaderValue::from_str(&addr.to_string())
            .unwrap_or(HeaderValue::from_static("127.0.0.1"));
        Self {
            addr,
            host,
            sender: None,
        }
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|e| format!("connect {}: {e}", self.addr))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("TCP_NODELAY: {e}"))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake: {e}"))?;
        tokio::spawn(connection);
        Ok(sender)
    }

    /// A ready sender: the current connection, or a new one.
    async fn ready(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, String> {
        let alive = match self.sender.as_mut() {
            Some(s) => s.ready().await.is_ok(),
            None => false,
        };
        if !alive {
            self.sender = Some(self.connect().await?);
        }
        self.sender
            .as_mut()
            .ok_or_else(|| "no connection".to_owned())
    }

    /// Send one request and read the whole answer.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(header::HeaderName, &str)],
        body: Option<(&'static str, Bytes)>,
    ) -> Result<Response, String> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, self.host.clone());
        for (name, value) in headers {
            req = req.header(name, *value);
        }
        let body = match body {
            Some((content_type, bytes)) => {
                req = req.header(header::CONTENT_TYPE, content_type);
                bytes
            }
            None => Bytes::new(),
        };
        let req = req
            .body(Full::new(body))
            .map_err(|e| format!("bad request {path}: {e}"))?;
        let sender = self.ready().await?;
        let res = match sender.send_request(req).await {
            Ok(r) => r,
            Err(e) => {
                self.sender = None;
                return Err(format!("{path}: {e}"));
            }
        };
        let (parts, body) = res.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("{path}: reading the body: {e}"))?
            .to_bytes();
        Ok(Response {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    pub async fn get(&mut self, path: &str, cookie: Option<&str>) -> Result<Response, String> {
        let headers: Vec<_> = cookie.map(|c| (header::COOKIE, c)).into_iter().collect();
        self.send(Method::GET, path, &headers, None).await
    }

    /// POST an `application/x-www-form-urlencoded` body.
    pub async fn post_form(
        &mut self,
        path: &str,
        body: String,
        headers: &[(header::HeaderName, &str)],
    ) -> Result<Response, String> {
        let body = Some(("application/x-www-form-urlencoded", Bytes::from(body)));
        self.send(Method::POST, path, headers, body).await
    }

    pub async fn post_json(
        &mut self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<Response, String> {
        let bytes = Bytes::from(serde_json::to_vec(body).map_err(|e| e.to_string())?);
        self.send(Method::POST, path, &[], Some(("application/json", bytes)))
            .await
    }
}

/// `application/x-www-form-urlencoded` from pairs.
pub fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// The value of `<input name="NAME" value="…">` on a page (hidden fields).
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(unescape_attr(&html[start..end]))
}

/// Undo the HTML escaping of an attribute value (askama escapes `&<>"'`).
fn unescape_attr(s: &str) -> String {
    s.replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A query parameter of a redirect's `Location`.
pub fn location_param(res: &Response, name: &str) -> Option<String> {
    let location = res.header("location")?;
    let url = url::Url::parse(location).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The path (and query) of a redirect's `Location`, which may be absolute.
pub fn location_path(res: &Response) -> Option<String> {
    let location = res.header("location")?;
    match url::Url::parse(location) {
        Ok(url) => Some(match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }),
        Err(_) => Some(location.to_owned()),
    }
}
