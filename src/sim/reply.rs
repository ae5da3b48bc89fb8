//! The shapes of the simulator's responses: JSON successes, the API's error bodies
//! (`{"success": false, "error", "msg"}`), the odd non-JSON bodies real gateways send, 429s,
//! and what each injected fault answers.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::faults::Fault;

/// A refusal in the API's own error shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiFail {
    pub status: u16,
    pub error: &'static str,
    pub msg: String,
}

impl ApiFail {
    pub fn new(status: u16, error: &'static str, msg: impl Into<String>) -> ApiFail {
        ApiFail {
            status,
            error,
            msg: msg.into(),
        }
    }

    pub fn no_such_instance(id: u64) -> ApiFail {
        ApiFail::new(404, "no_such_instance", format!("Instance {id} not found."))
    }

    pub fn invalid_args(msg: impl Into<String>) -> ApiFail {
        ApiFail::new(400, "invalid_args", msg)
    }
}

impl IntoResponse for ApiFail {
    fn into_response(self) -> Response {
        let body = json!({"success": false, "error": self.error, "msg": self.msg});
        json_response(self.status, &body)
    }
}

/// `body` as JSON with `status`.
pub(crate) fn json_response(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(body)).into_response()
}

/// `text` with a content type of our choosing (plain text, HTML, XML).
pub(crate) fn text_response(status: u16, content_type: &'static str, text: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, text).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// What a gateway in front of the API answers when the app behind it is down (or, for 404,
/// when it does not route the path).
pub(crate) fn gateway_error(status: u16) -> Response {
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    let html = format!(
        "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} \
         {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    );
    text_response(status, "text/html", html)
}

/// What S3 answers for an object that is not there yet, in a bucket one cannot list.
pub(crate) fn s3_not_ready(status: u16) -> Response {
    let (code, message) = if status == 404 {
        ("NoSuchKey", "The specified key does not exist.")
    } else {
        ("AccessDenied", "Access Denied")
    };
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}\
         </Message><RequestId>4442587FB7D0A2F9</RequestId></Error>"
    );
    text_response(status, "application/xml", xml)
}

pub(crate) fn too_many(
    threshold: Option<Duration>,
    json_body: bool,
    retry_after: Option<Duration>,
) -> Response {
    let text = match threshold {
        Some(gap) => format!(
            "API requests too frequent endpoint threshold={:.1}",
            gap.as_secs_f64()
        ),
        None => "API requests too frequent".to_owned(),
    };
    let mut response = if json_body {
        json_response(429, &json!({"detail": text}))
    } else {
        text_response(429, "text/plain; charset=utf-8", text)
    };
    if let Some(wait) = retry_after {
        let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
        if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }
    response
}

/// A response whose body fails before its first byte: hyper then closes the connection
/// without writing anything, not even the status line (the head is only buffered until the
/// first body frame). The `integration` test `a_dropped_connection_has_no_response` pins this.
fn dropped_connection() -> Response {
    let failing = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other("simulated dropped connection"))
    });
    Response::new(Body::from_stream(failing))
}

/// The response a fault makes, if it ends the call (a slow fault only delays it).
pub(crate) fn fault_response(
    fault: &Fault,
    endpoint: &str,
    gap: Option<Duration>,
) -> Option<Response> {
    Some(match fault {
        Fault::Status429 {
            retry_after,
            json_body,
        } => too_many(gap, *json_body, *retry_after),
        Fault::Status5xx(status) => gateway_error(*status),
        Fault::ProxyNotFound => gateway_error(404),
        Fault::DropConnection => dropped_connection(),
        Fault::MalformedJson => text_response(
            200,
            "application/json",
            "{\"success\": true, \"instances\": [{\"id\": 1, \"actual_status\": \"runn".to_owned(),
        ),
        Fault::SuccessFalse if endpoint == "request_logs" => json_response(
            200,
            &json!({"success": false, "error": "not_ready", "msg": "Logs are not ready yet, try again."}),
        ),
        Fault::SuccessFalse => json_response(
            200,
            &json!({"success": false, "error": "internal_error", "msg": "Something went wrong, please try again."}),
        ),
        Fault::Slow(_) | Fault::Vanish(_) => return None,
    })
}
