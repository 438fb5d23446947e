//! The `notify` step: a webhook POST through the same request path as `http` steps (timeouts,
//! size limit, egress check, `Idempotency-Key`), or an email through the SMTP relay configured in
//! `[workflows.smtp]` (lettre; TLS by rustls on aws-lc-rs). Output `{delivered: true, status?}`.

use auterity_config::{SmtpConfig, SmtpTls};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::{Value, json};
use std::time::Duration;

use super::outcome::Outcome;
use crate::definition::{ErrorClass, HttpMethod, HttpStep, NotifyChannel, NotifyStep};
use crate::expr::{EvalContext, Template, ValueTemplate};

pub async fn run(
    outbound: &crate::outbound::Outbound,
    deny_private: bool,
    smtp: Option<&SmtpConfig>,
    step: &NotifyStep,
    context: &EvalContext,
    idempotency_key: &str,
    timeout: Duration,
) -> Outcome {
    match step.channel {
        NotifyChannel::Webhook => {
            let Some(url) = &step.url else {
                return Outcome::failed(ErrorClass::Internal, "a webhook notify needs a url");
            };
            let request = HttpStep {
                method: HttpMethod::Post,
                url: url.clone(),
                headers: step.headers.clone(),
                body: Some(step.body.clone()),
                expect_status: None,
            };
            match super::http::run_http(outbound, deny_private, &request, context, idempotency_key, timeout).await {
                Outcome::Completed { output, .. } => {
                    Outcome::Completed { output: json!({"delivered": true, "status": output["status"]}), next: None }
                }
                other => other,
            }
        }
        NotifyChannel::Email => match smtp {
            Some(smtp) => email(smtp, step, context, timeout).await,
            None => Outcome::failed(
                ErrorClass::Internal,
                "email notify needs an SMTP relay: configure [workflows.smtp] (host, from)",
            ),
        },
    }
}

fn render(source: &str, context: &EvalContext, field: &str) -> Result<Value, Outcome> {
    Template::parse(source)
        .and_then(|t| t.render(context))
        .map_err(|e| Outcome::failed(ErrorClass::Expression, format!("{field}: {e}")))
}

fn mailbox(address: &str, field: &str) -> Result<Mailbox, Outcome> {
    address
        .parse::<Mailbox>()
        .map_err(|e| Outcome::failed(ErrorClass::Expression, format!("{field}: {address:?} is not an address: {e}")))
}

/// The message of an email notify, rendered: recipients, subject, plain-text body.
fn message(from: &str, step: &NotifyStep, context: &EvalContext) -> Result<(Message, Vec<String>), Outcome> {
    let mut recipients = Vec::new();
    for (index, template) in step.to.iter().enumerate() {
        match render(template, context, &format!("to/{index}"))? {
            Value::Array(items) => {
                recipients.extend(items.into_iter().map(|v| v.as_str().map(str::to_owned).unwrap_or(v.to_string())))
            }
            Value::String(one) => recipients.push(one),
            other => recipients.push(other.to_string()),
        }
    }
    if recipients.is_empty() {
        return Err(Outcome::failed(ErrorClass::Expression, "an email notify needs at least one recipient"));
    }
    let subject = match &step.subject {
        Some(source) => Template::parse(source)
            .and_then(|t| t.render_string(context))
            .map_err(|e| Outcome::failed(ErrorClass::Expression, format!("subject: {e}")))?,
        None => String::new(),
    };
    let body = match ValueTemplate::compile(&step.body).and_then(|t| t.render(context)) {
        Ok(Value::String(text)) => text,
        Ok(other) => other.to_string(),
        Err(e) => return Err(Outcome::failed(ErrorClass::Expression, format!("body: {e}"))),
    };
    let mut builder = Message::builder().from(mailbox(from, "from")?).subject(subject).header(ContentType::TEXT_PLAIN);
    for recipient in &recipients {
        builder = builder.to(mailbox(recipient, "to")?);
    }
    let message =
        builder.body(body).map_err(|e| Outcome::failed(ErrorClass::Expression, format!("building the email: {e}")))?;
    Ok((message, recipients))
}

fn transport(smtp: &SmtpConfig, timeout: Duration) -> Result<AsyncSmtpTransport<Tokio1Executor>, Outcome> {
    let tls_parameters = || {
        TlsParameters::new(smtp.host.clone())
            .map_err(|e| Outcome::failed(ErrorClass::Internal, format!("SMTP TLS setup: {e}")))
    };
    let (tls, default_port) = match smtp.tls {
        SmtpTls::None => (Tls::None, 25),
        SmtpTls::Starttls => (Tls::Required(tls_parameters()?), 587),
        SmtpTls::Tls => (Tls::Wrapper(tls_parameters()?), 465),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.clone())
        .port(smtp.port.unwrap_or(default_port))
        .tls(tls)
        .timeout(Some(timeout));
    if let Some(username) = &smtp.username {
        let password = smtp.password.as_ref().map(|p| p.expose().to_owned()).unwrap_or_default();
        builder = builder.credentials(Credentials::new(username.clone(), password));
    }
    Ok(builder.build())
}

async fn email(smtp: &SmtpConfig, step: &NotifyStep, context: &EvalContext, timeout: Duration) -> Outcome {
    let (message, recipients) = match message(&smtp.from, step, context) {
        Ok(parts) => parts,
        Err(outcome) => return outcome,
    };
    let transport = match transport(smtp, timeout) {
        Ok(transport) => transport,
        Err(outcome) => return outcome,
    };
    match transport.send(message).await {
        Ok(response) => Outcome::Completed {
            output: json!({"delivered": true, "recipients": recipients, "status": u16::from(response.code())}),
            next: None,
        },
        Err(error) if error.is_timeout() => Outcome::failed(ErrorClass::Timeout, format!("SMTP timed out: {error}")),
        Err(error) if error.is_permanent() => {
            Outcome::failed(ErrorClass::Internal, format!("the SMTP relay refused the message: {error}"))
        }
        Err(error) => Outcome::failed(ErrorClass::Unavailable, format!("SMTP delivery failed: {error}")),
    }
}
