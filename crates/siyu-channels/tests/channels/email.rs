//! The e-mail adapter against a real SMTP server (aiosmtpd, `tests/fixtures/smtp_server.py`,
//! installed by scripts/test) that stores what it accepts and refuses some recipients for good or
//! for now, as mail servers do.

use secrecy::SecretString;
use siyu_channels::email::{Email, EmailConfig, SmtpSecurity};
use siyu_core::{CustomerId, WorkspaceId};
use siyu_domain::channels::{ChannelAdapter, Delivery, OutgoingMessage};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running SMTP server; stopped (its standard input closed, then killed) when dropped.
struct SmtpServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpServer {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // Debian's python3-aiosmtpd is installed for the system's Python.
        let python = if std::path::Path::new("/usr/bin/python3").exists() { "/usr/bin/python3" } else { "python3" };
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/smtp_server.py");
        let mut child = Command::new(python)
            .arg(script)
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the SMTP server");
        // The server prints its port once it accepts connections.
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().parse().unwrap_or_else(|_| panic!("the SMTP server did not start: {line:?}"));
        Self { child, port, dir }
    }

    /// The messages it accepted, in order.
    fn received(&self) -> Vec<String> {
        let mut files: Vec<_> = std::fs::read_dir(self.dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect()
    }

    fn adapter(&self, allow_private_addresses: bool) -> Email {
        Email::new(EmailConfig {
            host: "127.0.0.1".into(),
            port: self.port,
            security: SmtpSecurity::Plain,
            credentials: None,
            from: "茶语 <news@brand.example>".into(),
            timeout: Duration::from_secs(5),
            allow_private_addresses,
        })
        .unwrap()
    }
}

fn message(to: &str, html: Option<&str>) -> OutgoingMessage {
    OutgoingMessage {
        idempotency_key: format!("recall:v1:send:{to}"),
        workspace: WorkspaceId(2),
        customer: Some(CustomerId(9)),
        to: to.into(),
        subject: Some("We miss you".into()),
        body: "A new season of tea is here.".into(),
        html: html.map(str::to_string),
        unsubscribe_url: Some("https://siyu.example/u/tok-9".into()),
        data: serde_json::json!({}),
        template: None,
        params: Default::default(),
    }
}

/// The value of a header in a stored message.
fn header<'a>(mail: &'a str, name: &str) -> Option<&'a str> {
    mail.lines().find_map(|line| line.strip_prefix(&format!("{name}: ")))
}

#[tokio::test]
async fn a_message_is_mailed_with_one_click_unsubscribe_and_a_stable_message_id() {
    let server = SmtpServer::start();
    let email = server.adapter(true);
    let sent = email.send(&message("li@customer.example", None)).await;
    assert_eq!(sent, Delivery::Accepted { provider_id: Some("2.0.0 queued as Q0000".into()) });
    assert!(matches!(
        email.send(&message("li@customer.example", Some("<p>A new season</p>"))).await,
        Delivery::Accepted { .. }
    ));
    let received = server.received();
    assert_eq!(received.len(), 2);
    let (text, html) = (&received[0], &received[1]);
    assert_eq!(header(text, "To"), Some("li@customer.example"));
    assert_eq!(header(text, "Subject"), Some("We miss you"));
    assert_eq!(header(text, "List-Unsubscribe"), Some("<https://siyu.example/u/tok-9>"));
    assert_eq!(header(text, "List-Unsubscribe-Post"), Some("List-Unsubscribe=One-Click"));
    assert!(text.contains("A new season of tea is here."));
    // Every attempt at one message carries the same Message-ID.
    assert!(header(text, "Message-ID").is_some_and(|id| id.ends_with("@brand.example>")));
    assert_eq!(header(text, "Message-ID"), header(html, "Message-ID"));
    assert!(html.contains("multipart/alternative") && html.contains("<p>A new season</p>"));
}

#[tokio::test]
async fn the_servers_refusals_are_told_apart_and_bad_addresses_never_sent() {
    let server = SmtpServer::start();
    let email = server.adapter(true);
    match email.send(&message("nobody@bounce.example", None)).await {
        Delivery::Rejected { reason } => {
            assert!(reason.contains("550") && reason.contains("no such mailbox"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    match email.send(&message("li@busy.example", None)).await {
        Delivery::Retry { reason, .. } => assert!(reason.contains("451"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        email.send(&message("not an address", None)).await,
        Delivery::Rejected { reason } if reason.contains("is not an e-mail address")
    ));
    assert!(server.received().is_empty());
    // A server at a private address is refused unless the channel allows it.
    assert!(matches!(
        server.adapter(false).send(&message("li@customer.example", None)).await,
        Delivery::Rejected { reason } if reason.contains("not public")
    ));
    // Nobody listening: retried.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let nowhere = Email::new(EmailConfig {
        host: "127.0.0.1".into(),
        port: closed,
        security: SmtpSecurity::Plain,
        credentials: Some(("news".into(), SecretString::from("pw"))),
        from: "news@brand.example".into(),
        timeout: Duration::from_secs(2),
        allow_private_addresses: true,
    })
    .unwrap();
    assert!(matches!(nowhere.send(&message("li@customer.example", None)).await, Delivery::Retry { .. }));
}
