//! Email over SMTP (lettre): STARTTLS when set (trusting the web PKI, plus a private CA
//! when `ca_file` names one), optional login, a multipart message with the plain text
//! and the HTML.

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::provider::{Provider, Receipt, SendError};
use super::settings::SmtpSettings;
use crate::domain::notify::format::Body;

pub struct EmailProvider {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl EmailProvider {
    pub fn new(settings: &SmtpSettings) -> anyhow::Result<EmailProvider> {
        let tls = if settings.starttls {
            let mut parameters = TlsParameters::builder(settings.host.clone());
            if let Some(pem) = &settings.ca_pem {
                parameters = parameters.add_root_certificate(
                    Certificate::from_pem(pem)
                        .map_err(|e| anyhow::anyhow!("notify.smtp.ca_file: {e}"))?,
                );
            }
            Tls::Required(parameters.build()?)
        } else {
            Tls::None
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            .port(settings.port)
            .tls(tls)
            .timeout(Some(std::time::Duration::from_secs(20)));
        if let Some(user) = &settings.username {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                settings.password.clone().unwrap_or_default(),
            ));
        }
        Ok(EmailProvider {
            transport: builder.build(),
            from: settings
                .from
                .parse()
                .map_err(|e| anyhow::anyhow!("notify.smtp.from: {e}"))?,
        })
    }
}

#[async_trait]
impl Provider for EmailProvider {
    async fn send(&self, address: &str, body: &Body) -> Result<Receipt, SendError> {
        let Body::Email {
            subject,
            text,
            html,
        } = body
        else {
            return Err(SendError::permanent(
                "email takes a subject, text and HTML".into(),
            ));
        };
        let to: Mailbox = address
            .parse()
            .map_err(|e| SendError::permanent(format!("bad address {address:?}: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .multipart(MultiPart::alternative_plain_html(
                text.clone(),
                html.clone(),
            ))
            .map_err(|e| SendError::permanent(format!("building the mail: {e}")))?;
        match self.transport.send(message).await {
            Ok(response) => Ok(Receipt {
                http_status: 0,
                body: response.message().collect::<Vec<_>>().join(" "),
            }),
            Err(error) => Err(SendError {
                message: format!("SMTP: {error}"),
                retryable: !error.is_permanent(),
                http_status: 0,
                retry_after: None,
            }),
        }
    }
}
