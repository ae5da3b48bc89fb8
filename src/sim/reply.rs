//! The shapes of the simulator's responses: JSON successes, the API's error bodies
//! (`{"success": false, "error", "msg"}`), and the odd non-JSON bodies real gateways send.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

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

/// What a gateway in front of the API answers when the app behind it is down.
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
