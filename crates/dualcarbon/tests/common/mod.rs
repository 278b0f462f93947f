//! What the CLI tests that talk to a platform share: one HTTP client (ureq, as the gateway uses;
//! no proxy: the platform is on 127.0.0.1) and `dualcarbon serve` started and stopped as a process.

#![allow(dead_code)] // Each test binary uses part of it.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};

/// One exchange with the platform at `base` (`http://host:port`): status and body as text.
pub fn http(base: &str, method: &str, path: &str, token: Option<&str>, ctype: &str, body: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).proxy(None).build().into();
    let mut req =
        ureq::http::Request::builder().method(method).uri(format!("{base}{path}")).header("content-type", ctype);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let mut res = agent.run(req.body(body.to_string()).unwrap()).unwrap();
    let status = res.status().as_u16();
    (status, res.body_mut().read_to_string().unwrap())
}

/// A JSON exchange: status and the answer parsed (a JSON string of the text when it is not JSON).
pub fn call(base: &str, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let (status, text) = http(base, method, path, token, "application/json", &body);
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Logs `user` in; the bearer token.
pub fn login(base: &str, user: &str, password: &str) -> String {
    let (s, v) = call(base, "POST", "/api/v1/auth/login", None, Some(json!({"username": user, "password": password})));
    assert_eq!(s, 200, "{v}");
    v["token"].as_str().unwrap().to_string()
}

/// A `dualcarbon serve` process.
pub struct Served {
    pub child: Child,
    /// Its stdout lines up to the one with its URL.
    pub lines: Vec<String>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Served {
    /// The admin password a first start prints.
    pub fn password(&self) -> String {
        self.lines
            .iter()
            .find_map(|l| l.split("with password ").nth(1).map(|p| p.trim().to_string()))
            .expect("first start prints the admin password")
    }
}

/// Starts `dualcarbon serve --listen 127.0.0.1:0 ARGS` with its stderr as given (piped: [`stop`]
/// returns it); waits for the URL it prints.
pub fn serve(args: &[&str], stderr: Stdio) -> Served {
    serve_env(args, &[], stderr)
}

/// [`serve`] with environment variables set (webhook targets, MQTT, ...).
pub fn serve_env(args: &[&str], env: &[(&str, &str)], stderr: Stdio) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dualcarbon"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    for _ in 0..20 {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            break;
        }
        lines.push(line.clone());
        if let Some(a) = line.split("platform on http://").nth(1) {
            let base = format!("http://{}", a.split('/').next().unwrap());
            child.stdout = Some(out.into_inner());
            return Served { child, lines, base };
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("serve did not print its URL: {lines:?}");
}

/// SIGTERM, then waits: how the process ended and its stderr when it was piped.
pub fn terminate(mut child: Child) -> (std::process::ExitStatus, String) {
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    let mut log = String::new();
    if let Some(mut e) = child.stderr.take() {
        e.read_to_string(&mut log).unwrap();
    }
    (status, log)
}

/// SIGTERM: the process must exit cleanly; its stderr when it was piped.
pub fn stop(child: Child) -> String {
    let (status, log) = terminate(child);
    assert!(status.success(), "exit status {status:?}");
    log
}
