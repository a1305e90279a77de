//! The real local API gateway in front of a test's services: `deploy/local/nginx.conf` (the file
//! `make run` uses, routing unchanged) rendered with the test's ports and run by Debian's `nginx`
//! (installed by `deploy/local/setup.sh`) in a temporary `-p` prefix; stopped on drop.
//!
//! Only three kinds of lines are rewritten: the `listen 127.0.0.1:8080;` of the server (a free
//! loopback port) and the `server 127.0.0.1:<port>;` of each `upstream <name>` (the spawned
//! service's address, or a closed port for a service the test did not spawn). Everything else —
//! locations, limits, headers, the gateway's own problem+json answers — is the product's file.
//!
//! ```ignore
//! let auth = spawn_app::<AuthService>().await;
//! let gw = Gateway::start(&[("auth", &auth.address)]).await;
//! reqwest::get(gw.url("/api/auth/settings")).await?;
//! ```
//! Pass `app.address` (the conformance proxy), so responses through the gateway are checked
//! against the service's OpenAPI document as well.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The gateway configuration of the repository.
pub fn config_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/local/nginx.conf")
}

/// The upstream names of `deploy/local/nginx.conf` (one per service).
pub const UPSTREAMS: [&str; 5] = [
    "auth",
    "voice_webhook",
    "calendar",
    "messaging",
    "lead_scoring",
];

/// Where an upstream the test did not spawn points: nothing listens on port 1, so a request
/// routed there gets the gateway's own 502 problem+json.
const CLOSED: &str = "127.0.0.1:1";

/// A running gateway. `address` is `http://127.0.0.1:<port>`.
pub struct Gateway {
    pub port: u16,
    pub address: String,
    /// The temporary `-p` prefix (rendered config, pid file, access.log, temp dirs).
    pub prefix: PathBuf,
    child: Option<Child>,
}

/// `host:port` of an address given as `http://host:port[/...]` or `host:port`.
fn host_port(address: &str) -> String {
    let rest = address
        .split_once("://")
        .map_or(address, |(_, r)| r)
        .trim_end_matches('/');
    rest.split('/').next().unwrap_or(rest).to_string()
}

/// `conf` with the server listening on `listen_port` and each upstream of `upstreams`
/// (`(name, address)`) pointing at that address; the other upstreams at a closed port. Panics
/// when the file no longer has the lines this rewrites, or names an unknown upstream.
pub fn render(conf: &str, listen_port: u16, upstreams: &[(&str, &str)]) -> String {
    for (name, _) in upstreams {
        assert!(
            UPSTREAMS.contains(name),
            "unknown upstream {name:?}; deploy/local/nginx.conf has {UPSTREAMS:?}"
        );
    }
    let mut listens = 0;
    let mut servers = 0;
    let out: Vec<String> = conf
        .lines()
        .map(|line| {
            let t = line.trim_start();
            if t.starts_with("listen 127.0.0.1:") && t.ends_with(';') {
                listens += 1;
                let indent = &line[..line.len() - t.len()];
                return format!("{indent}listen 127.0.0.1:{listen_port};");
            }
            if let Some(rest) = t.strip_prefix("upstream ") {
                let name = rest.split_whitespace().next().unwrap_or_default();
                if let Some(start) = line.find("server 127.0.0.1:") {
                    let after = &line[start..];
                    let end = after.find(';').expect("`server host:port;` ends with `;`");
                    let target = upstreams
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map_or_else(|| CLOSED.to_string(), |(_, a)| host_port(a));
                    servers += 1;
                    return format!("{}server {target}{}", &line[..start], &after[end..]);
                }
            }
            line.to_string()
        })
        .collect();
    assert_eq!(
        listens, 1,
        "deploy/local/nginx.conf: expected one `listen 127.0.0.1:<port>;`"
    );
    assert_eq!(
        servers,
        UPSTREAMS.len(),
        "deploy/local/nginx.conf: expected one `upstream <name> {{ server 127.0.0.1:<port>; … }}` line per service"
    );
    out.join("\n") + "\n"
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn nginx_binary() -> PathBuf {
    ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("nginx"))
}

impl Gateway {
    /// Starts nginx with the repository's gateway configuration in front of `upstreams`
    /// (`(upstream name, service address)`, e.g. `("auth", &auth.address)`), and waits until it
    /// accepts connections.
    pub async fn start(upstreams: &[(&str, &str)]) -> Gateway {
        let conf = std::fs::read_to_string(config_path()).expect("read deploy/local/nginx.conf");
        let mut last_error = String::new();
        // The port is free when picked; another process may take it before nginx binds it.
        for _ in 0..5 {
            let port = free_port();
            let prefix =
                std::env::temp_dir().join(format!("voxanne-gateway-{}", crate::unique_name("gw")));
            std::fs::create_dir_all(&prefix).expect("create the gateway prefix");
            let config = prefix.join("nginx.conf");
            std::fs::write(&config, render(&conf, port, upstreams))
                .expect("write the gateway config");
            let stderr = prefix.join("stderr.log");
            let child = Command::new(nginx_binary())
                .arg("-p")
                .arg(format!("{}/", prefix.display()))
                .arg("-c")
                .arg(&config)
                .args(["-e", "stderr", "-g", "daemon off;"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&stderr).expect("gateway stderr file"))
                .spawn()
                .expect("nginx is installed (deploy/local/setup.sh installs it)");
            let mut gw = Gateway {
                port,
                address: format!("http://127.0.0.1:{port}"),
                prefix,
                child: Some(child),
            };
            match gw.wait_ready().await {
                Ok(()) => return gw,
                Err(e) => last_error = e,
            }
        }
        #[allow(clippy::panic)] // a gateway that cannot start must fail the test loudly
        {
            panic!("the nginx gateway did not start: {last_error}");
        }
    }

    /// Up when the port accepts a connection; an exited nginx is an error (with its stderr).
    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(format!("nginx exited ({status}): {}", self.stderr()));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("not listening after 15 s: {}", self.stderr()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What nginx wrote to stderr so far (its error log).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.prefix.join("stderr.log")).unwrap_or_default()
    }

    /// The gateway's access log (one line per request, `deploy/local/nginx.conf`'s format).
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.prefix.join("access.log")).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // TERM lets the master stop its worker (a KILLed master would leave it serving).
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.prefix);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_rewrites_only_the_listen_port_and_the_upstreams() {
        let conf = std::fs::read_to_string(config_path()).unwrap();
        let out = render(
            &conf,
            40123,
            &[
                ("auth", "http://127.0.0.1:50001"),
                ("lead_scoring", "127.0.0.1:50005"),
            ],
        );
        assert!(out.contains("listen 127.0.0.1:40123;"));
        // The header comment keeps the product's ports; the directives do not.
        let directives: String = out
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(!directives.contains("8080"));
        assert!(out.contains("upstream auth          { server 127.0.0.1:50001; keepalive 16; }"));
        assert!(out.contains("server 127.0.0.1:50005;"));
        assert_eq!(out.matches("server 127.0.0.1:1;").count(), 3, "{out}");
        for p in 8081..=8085 {
            assert!(
                !directives.contains(&format!("127.0.0.1:{p}")),
                "{p} left in"
            );
        }
        // Nothing else changed.
        assert_eq!(out.lines().count(), conf.lines().count());
        let changed = conf
            .lines()
            .zip(out.lines())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(changed, 6);
    }

    /// The real nginx with the product's routing: a spawned upstream is reached (with the
    /// gateway's headers), one not spawned is the gateway's 502, an unknown route its 404.
    #[tokio::test]
    async fn nginx_routes_to_the_given_upstreams() {
        use wiremock::matchers::{header_exists, method, path};
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let auth = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/api/auth/settings"))
            .and(header_exists("x-forwarded-for"))
            .and(header_exists("x-request-id"))
            .respond_with(ResponseTemplate::new(200).set_body_string("from auth"))
            .mount(&auth)
            .await;
        let gw = Gateway::start(&[("auth", &auth.uri())]).await;
        let c = reqwest::Client::new();
        let r = c.get(gw.url("/api/auth/settings")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), "from auth");
        let r = c.get(gw.url("/api/leads")).send().await.unwrap();
        assert_eq!(r.status(), 502);
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let r = c.get(gw.url("/nowhere")).send().await.unwrap();
        assert_eq!(r.status(), 404);
        let prefix = gw.prefix.clone();
        assert!(gw.access_log().contains("GET /api/auth/settings"));
        let port = gw.port;
        drop(gw);
        assert!(!prefix.exists(), "the prefix is removed");
        assert!(
            TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err(),
            "nginx stopped (workers included)"
        );
    }

    #[test]
    #[should_panic(expected = "unknown upstream")]
    fn an_unknown_upstream_is_refused() {
        let conf = std::fs::read_to_string(config_path()).unwrap();
        render(&conf, 1, &[("billing", "127.0.0.1:2")]);
    }
}
