//! A minimal browser over the real router: keeps cookies, parses the real HTML
//! forms of the pages, and submits them as a browser would.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{Method, Request};
use scraper::{Html, Selector};

use crate::helpers::{TestApp, TestResponse};

pub struct Browser<'a> {
    pub app: &'a TestApp,
    pub cookies: BTreeMap<String, String>,
    /// The peer address requests come from (none: "unknown").
    pub peer: Option<std::net::SocketAddr>,
}

/// A form as found on a page.
#[derive(Debug, Clone)]
pub struct Form {
    pub action: String,
    pub fields: Vec<(String, String)>,
    /// Checkbox name/value pairs and whether each is checked.
    pub checkboxes: Vec<(String, String, bool)>,
    /// Submit buttons: name/value.
    pub buttons: Vec<(String, String)>,
}

impl Form {
    pub fn set(&mut self, name: &str, value: &str) {
        match self.fields.iter_mut().find(|(n, _)| n == name) {
            Some(f) => f.1 = value.to_owned(),
            None => self.fields.push((name.to_owned(), value.to_owned())),
        }
    }

    pub fn untick(&mut self, value: &str) {
        let b = self
            .checkboxes
            .iter_mut()
            .find(|(_, v, _)| v == value)
            .expect("checkbox on the page");
        b.2 = false;
    }

    /// The body a browser sends when `button` (by value) is pressed.
    pub fn body(&self, button: Option<&str>) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (n, v) in &self.fields {
            s.append_pair(n, v);
        }
        for (n, v, checked) in &self.checkboxes {
            if *checked {
                s.append_pair(n, v);
            }
        }
        if let Some(b) = button {
            let (n, v) = self
                .buttons
                .iter()
                .find(|(_, v)| v == b)
                .expect("button on the page");
            s.append_pair(n, v);
        }
        s.finish()
    }
}

pub fn forms(html: &str) -> Vec<Form> {
    let doc = Html::parse_document(html);
    let form_sel = Selector::parse("form").unwrap();
    let input_sel = Selector::parse("input").unwrap();
    let button_sel = Selector::parse("button[type=submit], button:not([type])").unwrap();
    doc.select(&form_sel)
        .map(|f| {
            let mut form = Form {
                action: f.value().attr("action").unwrap_or("").to_owned(),
                fields: vec![],
                checkboxes: vec![],
                buttons: vec![],
            };
            for i in f.select(&input_sel) {
                let e = i.value();
                let (Some(name), value) = (e.attr("name"), e.attr("value").unwrap_or("")) else {
                    continue;
                };
                match e.attr("type").unwrap_or("text") {
                    "checkbox" => form.checkboxes.push((
                        name.into(),
                        value.into(),
                        e.attr("checked").is_some(),
                    )),
                    "submit" => form.buttons.push((name.into(), value.into())),
                    _ => form.fields.push((name.into(), value.into())),
                }
            }
            for b in f.select(&button_sel) {
                if let Some(name) = b.value().attr("name") {
                    form.buttons
                        .push((name.into(), b.value().attr("value").unwrap_or("").into()));
                }
            }
            form
        })
        .collect()
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            cookies: BTreeMap::new(),
            peer: None,
        }
    }

    /// A browser whose requests come from `ip` (as a real connection's
    /// peer address, which per-IP limits read).
    pub fn from_ip(app: &'a TestApp, ip: &str) -> Self {
        let mut b = Self::new(app);
        b.peer = Some(std::net::SocketAddr::new(ip.parse().unwrap(), 40_000));
        b
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, method: Method, uri: &str, body: Option<String>) -> TestResponse {
        let mut req = Request::builder().method(method).uri(uri);
        if !self.cookies.is_empty() {
            req = req.header("cookie", self.cookie_header());
        }
        if body.is_some() {
            req = req.header("content-type", "application/x-www-form-urlencoded");
        }
        if let Some(peer) = self.peer {
            req = req.extension(axum::extract::ConnectInfo(peer));
        }
        let res = self
            .app
            .send(req.body(Body::from(body.unwrap_or_default())).unwrap())
            .await;
        for v in res.headers.get_all("set-cookie") {
            let c = cookie::Cookie::parse(v.to_str().unwrap().to_owned()).unwrap();
            self.cookies
                .insert(c.name().to_owned(), c.value().to_owned());
        }
        res
    }

    pub async fn get(&mut self, uri: &str) -> TestResponse {
        self.send(Method::GET, uri, None).await
    }

    pub async fn submit(&mut self, form: &Form, button: Option<&str>) -> TestResponse {
        self.send(Method::POST, &form.action.clone(), Some(form.body(button)))
            .await
    }

    pub fn page_form(res: &TestResponse) -> Form {
        let html = String::from_utf8(res.body.clone()).unwrap();
        forms(&html)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no form on the page: {html}"))
    }
}
