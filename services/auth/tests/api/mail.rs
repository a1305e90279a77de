//! The mail outbox is sent over SMTP when `AUTH_SMTP_URL` is set (a local fake SMTP server that
//! speaks the protocol records what it received), and an SMTP outage loses nothing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::helpers::*;

#[derive(Default)]
struct Received {
    rcpt: Vec<String>,
    data: Vec<String>,
}

/// A minimal SMTP server (RFC 5321 happy path) on a random port.
async fn fake_smtp() -> (u16, Arc<Mutex<Received>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Received::default()));
    let g = got.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let g = g.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut lines = BufReader::new(r).lines();
                w.write_all(b"220 fake.smtp ESMTP\r\n").await.unwrap();
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        b"250 fake.smtp\r\n"
                    } else if upper.starts_with("RCPT TO") {
                        g.lock().unwrap().rcpt.push(line.clone());
                        b"250 OK\r\n"
                    } else if upper.starts_with("DATA") {
                        w.write_all(b"354 end with .\r\n").await.unwrap();
                        let mut body = String::new();
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            body.push_str(&l);
                            body.push('\n');
                        }
                        g.lock().unwrap().data.push(body);
                        b"250 queued\r\n"
                    } else if upper.starts_with("QUIT") {
                        let _ = w.write_all(b"221 bye\r\n").await;
                        break;
                    } else {
                        b"250 OK\r\n"
                    };
                    if w.write_all(reply).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (port, got)
}

#[tokio::test]
async fn outbox_mail_is_sent_over_smtp() {
    let (port, got) = fake_smtp().await;
    let url = format!("smtp://127.0.0.1:{port}");
    let app = spawn_with(&[
        ("AUTH_SMTP_URL", url.as_str()),
        ("AUTH_MAIL_FROM", "Voxanne <no-reply@voxanne.test>"),
    ])
    .await;
    let s = signup(&app).await; // queues the verification mail
    post(&app, "/api/auth/recover", None, json!({"email": s.email})).await;
    let mut sent = 0;
    for _ in 0..100 {
        sent = count(
            &app,
            "SELECT count(*) AS n FROM auth.mail_outbox WHERE sent_at IS NOT NULL",
        )
        .await;
        if sent == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(sent, 2);
    let got = got.lock().unwrap();
    assert_eq!(got.rcpt.len(), 2);
    assert!(
        got.rcpt.iter().all(|r| r.contains(&s.email)),
        "{:?}",
        got.rcpt
    );
    assert!(
        got.data
            .iter()
            .any(|d| d.contains("Subject: Reset your Voxanne password")),
        "{:?}",
        got.data
    );
    assert!(got.data.iter().all(|d| d.contains("no-reply@voxanne.test")));
}

#[tokio::test]
async fn an_smtp_outage_keeps_the_mail_for_later() {
    // Nothing listens on this port: sending fails, the row stays unsent with its error.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    let url = format!("smtp://127.0.0.1:{port}");
    let app = spawn_with(&[("AUTH_SMTP_URL", url.as_str())]).await;
    let s = signup(&app).await;
    let mut failed = 0;
    for _ in 0..100 {
        failed = count(&app, "SELECT count(*) AS n FROM auth.mail_outbox WHERE sent_at IS NULL AND attempts >= 1 AND last_error IS NOT NULL").await;
        if failed == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(failed, 1, "the mail is kept, with its error, for a retry");
    assert!(
        last_mail(&app, &s.email)
            .await
            .contains("verify-email#token=")
    );
}
