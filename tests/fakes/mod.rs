//! Local stand-ins for the providers, speaking their wire formats on loopback: a Slack
//! Web API that checks the token and Block Kit limits and can be told to fail, a Twilio
//! REST API, a Teams/webhook sink that checks oncall's HMAC signature, and an SMTP sink.

#![allow(dead_code)] // each test uses the fakes it needs

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

pub const SLACK_TOKEN: &str = "xoxb-test-token";
pub const TWILIO_SID: &str = "AC0123456789abcdef";
pub const TWILIO_TOKEN: &str = "twilio-auth-token";
pub const WEBHOOK_SECRET: &str = "webhook-signing-secret";

/// One request a fake received.
#[derive(Clone, Debug)]
pub struct Hit {
    pub at: Instant,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// What the fake answered.
    pub status: u16,
}

impl Hit {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }

    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }
}

/// A scripted failure: the status and Retry-After to answer the next request with.
#[derive(Clone, Debug)]
pub struct Failure {
    pub status: u16,
    pub retry_after: Option<u64>,
    /// Only for requests whose body contains this.
    pub when_body_contains: Option<String>,
}

#[derive(Clone, Default)]
pub struct Fake {
    pub hits: Arc<Mutex<Vec<Hit>>>,
    pub failures: Arc<Mutex<VecDeque<Failure>>>,
    /// Answer every matching request with this status, for ever.
    pub always: Arc<Mutex<Option<Failure>>>,
}

impl Fake {
    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    pub fn fail_next(
        &self,
        status: u16,
        retry_after: Option<u64>,
        when_body_contains: Option<&str>,
    ) {
        self.failures.lock().unwrap().push_back(Failure {
            status,
            retry_after,
            when_body_contains: when_body_contains.map(str::to_string),
        });
    }

    fn scripted(&self, body: &[u8]) -> Option<Failure> {
        let text = String::from_utf8_lossy(body);
        let applies = |f: &Failure| {
            f.when_body_contains
                .as_ref()
                .is_none_or(|s| text.contains(s.as_str()))
        };
        if let Some(always) = self.always.lock().unwrap().clone()
            && applies(&always)
        {
            return Some(always);
        }
        let mut failures = self.failures.lock().unwrap();
        let index = failures.iter().position(applies)?;
        failures.remove(index)
    }

    fn record(&self, path: &str, headers: &HeaderMap, body: &Bytes, status: u16) {
        self.hits.lock().unwrap().push(Hit {
            at: Instant::now(),
            path: path.to_string(),
            headers: headers.clone(),
            body: body.clone(),
            status,
        });
    }
}

fn failure_response(failure: &Failure) -> Response {
    let mut response = (
        StatusCode::from_u16(failure.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        "scripted failure",
    )
        .into_response();
    if let Some(seconds) = failure.retry_after {
        response
            .headers_mut()
            .insert("retry-after", seconds.to_string().parse().unwrap());
    }
    response
}

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind fake");
    let address = listener.local_addr().expect("fake address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

/// Slack's Web API: `POST /api/chat.postMessage`. Checks the bot token and Block Kit's
/// limits (at most 50 blocks, section text at most 3000 characters) like Slack does.
pub async fn slack() -> (String, Fake) {
    let fake = Fake::default();
    let app = axum::Router::new()
        .route(
            "/api/chat.postMessage",
            axum::routing::post(
                |State(fake): State<Fake>, headers: HeaderMap, body: Bytes| async move {
                    if let Some(failure) = fake.scripted(&body) {
                        fake.record("/api/chat.postMessage", &headers, &body, failure.status);
                        return failure_response(&failure);
                    }
                    let ok = |error: Option<&str>| match error {
                        None => serde_json::json!({"ok": true, "ts": "1700000000.000100"}),
                        Some(e) => serde_json::json!({"ok": false, "error": e}),
                    };
                    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
                    let answer = if auth != Some(&format!("Bearer {SLACK_TOKEN}")) {
                        ok(Some("invalid_auth"))
                    } else {
                        let message: serde_json::Value =
                            serde_json::from_slice(&body).unwrap_or_default();
                        let blocks = message["blocks"].as_array().cloned().unwrap_or_default();
                        let too_long = blocks.iter().any(|b| {
                            b["text"]["text"]
                                .as_str()
                                .is_some_and(|t| t.chars().count() > 3000)
                        });
                        if message["channel"].as_str().is_none_or(str::is_empty) {
                            ok(Some("channel_not_found"))
                        } else if blocks.len() > 50 || too_long {
                            ok(Some("invalid_blocks"))
                        } else {
                            ok(None)
                        }
                    };
                    fake.record("/api/chat.postMessage", &headers, &body, 200);
                    axum::Json(answer).into_response()
                },
            ),
        )
        .with_state(fake.clone());
    (format!("{}/api", serve(app).await), fake)
}

/// Twilio's REST API: Messages.json and Calls.json under an account, basic auth.
pub async fn twilio() -> (String, Fake) {
    let fake = Fake::default();
    let handler = |State(fake): State<Fake>,
                   uri: axum::http::Uri,
                   headers: HeaderMap,
                   body: Bytes| async move {
        let path = uri.path().to_string();
        if let Some(failure) = fake.scripted(&body) {
            fake.record(&path, &headers, &body, failure.status);
            return failure_response(&failure);
        }
        use base64::Engine as _;
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{TWILIO_SID}:{TWILIO_TOKEN}"))
        );
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
            fake.record(&path, &headers, &body, 401);
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(serde_json::json!({"code": 20003, "message": "Authenticate"})),
            )
                .into_response();
        }
        fake.record(&path, &headers, &body, 201);
        (
            StatusCode::CREATED,
            axum::Json(serde_json::json!({"sid": "SM0123", "status": "queued"})),
        )
            .into_response()
    };
    let app = axum::Router::new()
        .route(
            &format!("/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"),
            axum::routing::post(handler),
        )
        .route(
            &format!("/2010-04-01/Accounts/{TWILIO_SID}/Calls.json"),
            axum::routing::post(handler),
        )
        .with_state(fake.clone());
    (serve(app).await, fake)
}

/// A sink for webhooks and Teams cards: records every POST; webhooks' signatures are
/// checked by the tests with `signature_ok`.
pub async fn sink() -> (String, Fake) {
    let fake = Fake::default();
    let app = axum::Router::new()
        .route(
            "/{*path}",
            axum::routing::post(
                |State(fake): State<Fake>,
                 uri: axum::http::Uri,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    if let Some(failure) = fake.scripted(&body) {
                        fake.record(uri.path(), &headers, &body, failure.status);
                        return failure_response(&failure);
                    }
                    fake.record(uri.path(), &headers, &body, 200);
                    "1".into_response()
                },
            ),
        )
        .with_state(fake.clone());
    (serve(app).await, fake)
}

/// Checks `X-Oncall-Signature` against `X-Oncall-Timestamp` and the body, as a receiver
/// would.
pub fn signature_ok(hit: &Hit, secret: &str) -> bool {
    use hmac::{Hmac, Mac};
    let header = |name: &str| {
        hit.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let timestamp = header("x-oncall-timestamp");
    let Some(given) = header("x-oncall-signature")
        .strip_prefix("sha256=")
        .map(str::to_string)
    else {
        return false;
    };
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(&hit.body);
    let fresh = timestamp
        .parse::<i64>()
        .is_ok_and(|t| (chrono::Utc::now().timestamp() - t).abs() < 300);
    fresh && hex::decode(given).is_ok_and(|g| mac.verify_slice(&g).is_ok())
}

/// A received mail: envelope, the DATA as sent, and whether the session was encrypted.
#[derive(Clone, Debug)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
    pub tls: bool,
}

pub type Mails = Arc<Mutex<Vec<Mail>>>;

/// An SMTP server on loopback (RFC 5321): EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT.
/// Returns its port and what it received.
pub async fn smtp() -> (u16, Mails) {
    smtp_server(None).await
}

/// The same, offering STARTTLS (RFC 3207) under a self-signed certificate for 127.0.0.1;
/// also returns that certificate, as PEM, for the client to trust.
pub async fn smtp_starttls() -> (u16, Mails, String) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).expect("certificate");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(vec![certified.cert.der().clone()], key)
    .expect("server certificate");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let (port, mails) = smtp_server(Some(acceptor)).await;
    (port, mails, certified.cert.pem())
}

async fn smtp_server(tls: Option<tokio_rustls::TlsAcceptor>) -> (u16, Mails) {
    let mails: Mails = Default::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind smtp");
    let port = listener.local_addr().expect("smtp address").port();
    let store = mails.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (store, tls) = (store.clone(), tls.clone());
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                let _ = stream.write_all(b"220 fake-smtp ESMTP ready\r\n").await;
                if smtp_session(&mut stream, tls.is_some(), false, &store)
                    .await
                    .is_some()
                    && let Some(acceptor) = tls
                    && let Ok(secure) = acceptor.accept(stream.into_inner()).await
                {
                    let mut secure = BufReader::new(secure);
                    smtp_session(&mut secure, false, true, &store).await;
                }
            });
        }
    });
    (port, mails)
}

/// Runs the dialogue until QUIT or a hang-up (None), or until the client asks for
/// STARTTLS (Some: the plain stream, to be wrapped).
async fn smtp_session<S>(
    stream: &mut BufReader<S>,
    offer_tls: bool,
    tls: bool,
    store: &Mails,
) -> Option<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
            return None;
        }
        let command = line.trim_end().to_string();
        let upper = command.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            if offer_tls {
                b"250-fake-smtp\r\n250-8BITMIME\r\n250-STARTTLS\r\n250 SMTPUTF8\r\n"
            } else {
                b"250-fake-smtp\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
            }
        } else if upper == "STARTTLS" && offer_tls {
            let _ = stream.write_all(b"220 Ready to start TLS\r\n").await;
            return Some(());
        } else if upper.starts_with("HELO")
            || upper.starts_with("NOOP")
            || upper.starts_with("RSET")
        {
            b"250 OK\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            from = command[10..].trim().to_string();
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            to.push(command[8..].trim().to_string());
            b"250 OK\r\n"
        } else if upper == "DATA" {
            let _ = stream
                .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                .await;
            let mut data = String::new();
            loop {
                line.clear();
                if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return None;
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                data.push_str(
                    line.strip_prefix('.')
                        .filter(|_| line.starts_with(".."))
                        .unwrap_or(&line),
                );
            }
            store.lock().unwrap().push(Mail {
                from: std::mem::take(&mut from),
                to: std::mem::take(&mut to),
                data,
                tls,
            });
            b"250 OK queued\r\n"
        } else if upper == "QUIT" {
            let _ = stream.write_all(b"221 Bye\r\n").await;
            return None;
        } else {
            b"502 Command not implemented\r\n"
        };
        if stream.write_all(reply).await.is_err() {
            return None;
        }
    }
}

/// A kneutral-api: the directory.v1 UserService with one user and their methods,
/// counting the lookups it answers and checking the bearer token.
#[derive(Clone)]
pub struct Kneutral {
    pub user: oncall::pb::directory::v1::User,
    pub methods: Vec<oncall::pb::directory::v1::ContactMethod>,
    pub token: String,
    pub get_user_calls: Arc<std::sync::atomic::AtomicUsize>,
    pub list_methods_calls: Arc<std::sync::atomic::AtomicUsize>,
}

pub async fn kneutral(directory: Kneutral) -> String {
    use oncall::pb::directory::v1::user_service_server::UserServiceServer;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind kneutral");
    let address = listener.local_addr().expect("kneutral address");
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(UserServiceServer::new(directory))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
    });
    format!("http://{address}")
}

mod kneutral_impl {
    use std::sync::atomic::Ordering;

    use oncall::pb::directory::v1 as dir;
    use oncall::pb::directory::v1::user_service_server::UserService;
    use tonic::{Request, Response, Status};

    use super::Kneutral;

    fn unimplemented<T>() -> Result<Response<T>, Status> {
        Err(Status::unimplemented("not part of the fake"))
    }

    impl Kneutral {
        fn check<T>(&self, request: &Request<T>) -> Result<(), Status> {
            let given = request
                .metadata()
                .get("authorization")
                .and_then(|v| v.to_str().ok());
            if given == Some(format!("Bearer {}", self.token).as_str()) {
                Ok(())
            } else {
                Err(Status::unauthenticated("bad token"))
            }
        }
    }

    #[tonic::async_trait]
    impl UserService for Kneutral {
        async fn create_user(
            &self,
            _: Request<dir::CreateUserRequest>,
        ) -> Result<Response<dir::User>, Status> {
            unimplemented()
        }
        async fn get_user(
            &self,
            request: Request<dir::GetUserRequest>,
        ) -> Result<Response<dir::User>, Status> {
            self.check(&request)?;
            self.get_user_calls.fetch_add(1, Ordering::SeqCst);
            // Slow enough that concurrent lookups overlap.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            if request.get_ref().id == self.user.id {
                Ok(Response::new(self.user.clone()))
            } else {
                Err(Status::not_found("no such user"))
            }
        }
        async fn update_user(
            &self,
            _: Request<dir::UpdateUserRequest>,
        ) -> Result<Response<dir::User>, Status> {
            unimplemented()
        }
        async fn list_users(
            &self,
            _: Request<dir::ListUsersRequest>,
        ) -> Result<Response<dir::ListUsersResponse>, Status> {
            unimplemented()
        }
        async fn create_api_token(
            &self,
            _: Request<dir::CreateApiTokenRequest>,
        ) -> Result<Response<dir::ApiToken>, Status> {
            unimplemented()
        }
        async fn list_api_tokens(
            &self,
            _: Request<dir::ListApiTokensRequest>,
        ) -> Result<Response<dir::ListApiTokensResponse>, Status> {
            unimplemented()
        }
        async fn revoke_api_token(
            &self,
            _: Request<dir::RevokeApiTokenRequest>,
        ) -> Result<Response<dir::ApiToken>, Status> {
            unimplemented()
        }
        async fn add_contact_method(
            &self,
            _: Request<dir::AddContactMethodRequest>,
        ) -> Result<Response<dir::ContactMethod>, Status> {
            unimplemented()
        }
        async fn verify_contact_method(
            &self,
            _: Request<dir::VerifyContactMethodRequest>,
        ) -> Result<Response<dir::ContactMethod>, Status> {
            unimplemented()
        }
        async fn list_contact_methods(
            &self,
            request: Request<dir::ListContactMethodsRequest>,
        ) -> Result<Response<dir::ListContactMethodsResponse>, Status> {
            self.check(&request)?;
            self.list_methods_calls.fetch_add(1, Ordering::SeqCst);
            Ok(Response::new(dir::ListContactMethodsResponse {
                methods: self.methods.clone(),
            }))
        }
        async fn delete_contact_method(
            &self,
            _: Request<dir::DeleteContactMethodRequest>,
        ) -> Result<Response<dir::DeleteContactMethodResponse>, Status> {
            unimplemented()
        }
    }
}
