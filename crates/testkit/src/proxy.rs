//! A TCP proxy a test can sever: every connection through it is cut at once, as a network
//! failure or broker restart would, without touching other tests' connections to the same server.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct TcpProxy {
    pub port: u16,
    live: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on a free loopback port and forwards to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let live: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let tracked = live.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                if let Ok(mut l) = tracked.lock() {
                    l.retain(|t| !t.is_finished());
                    l.push(task);
                }
            }
        });
        TcpProxy { port, live, accept }
    }

    /// Cuts every connection currently open through the proxy (new ones are accepted again).
    pub fn sever(&self) -> usize {
        let Ok(mut l) = self.live.lock() else {
            return 0;
        };
        let n = l.iter().filter(|t| !t.is_finished()).count();
        for t in l.drain(..) {
            t.abort();
        }
        n
    }

    /// An AMQP URL that goes through this proxy (guest/guest, default vhost).
    pub fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.sever();
    }
}
