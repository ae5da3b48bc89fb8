//! Unit tests of the client: paths and queries as the official client builds them, and that the key shows up in no error, no config and no client output.

use super::*;
use crate::api::key::KeySource;

const SECRET: &str = "sk-SECRET-123";

fn key() -> ApiKey {
    ApiKey::new(SECRET, KeySource::Env("VAST_API_KEY".into()))
}

fn base(raw: &str) -> Url {
    parse_base(raw).unwrap()
}

#[test]
fn bad_base_urls_are_refused_at_build_time() {
    for raw in [
        "console.vast.ai",
        "ftp://x",
        "http://h/?a=1",
        "http://u:p@h",
    ] {
        assert!(
            matches!(parse_base(raw), Err(ClientBuildError::BaseUrl { .. })),
            "{raw} was accepted"
        );
    }
    assert!(parse_base("http://127.0.0.1:8080").is_ok());
}

#[test]
fn show_and_action_paths_match_the_official_client() {
    let b = base("https://console.vast.ai");
    let show = endpoint_url(&b, &instance_path(42), &[("owner", "me".into())]).unwrap();
    assert_eq!(
        show.as_str(),
        "https://console.vast.ai/api/v0/instances/42/?owner=me"
    );
    let destroy = endpoint_url(&b, &instance_path(42), &[]).unwrap();
    assert_eq!(
        destroy.as_str(),
        "https://console.vast.ai/api/v0/instances/42/"
    );
    let prefixed = base("http://127.0.0.1:9/sim/");
    let logs = endpoint_url(&prefixed, "/api/v0/instances/request_logs/7/", &[]).unwrap();
    assert_eq!(
        logs.as_str(),
        "http://127.0.0.1:9/sim/api/v0/instances/request_logs/7/"
    );
}

#[test]
fn the_list_query_url_encodes_its_json_filter() {
    let b = base("https://console.vast.ai/");
    let query = list_query(Some("tok/en+1"), Some(&[1, 22]));
    let url = endpoint_url(&b, "/api/v1/instances/", &query).unwrap();
    assert_eq!(
        url.as_str(),
        "https://console.vast.ai/api/v1/instances/?limit=25&after_token=tok%2Fen%2B1\
         &select_filters=%7B%22id%22%3A%7B%22in%22%3A%5B1%2C22%5D%7D%7D"
    );
    let decoded: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert_eq!(decoded[2].1, r#"{"id":{"in":[1,22]}}"#);
}

#[test]
fn the_first_page_has_only_the_limit() {
    assert_eq!(list_query(None, None), [("limit", "25".to_owned())]);
    assert_eq!(list_query(Some(""), None), [("limit", "25".to_owned())]);
}

#[test]
fn the_key_must_be_sendable_as_a_header() {
    let bad = ApiKey::new("line\nbreak", KeySource::Given("test".into()));
    let err = VastClient::new(
        ClientConfig::new("http://127.0.0.1:1", bad),
        Throttle::unlimited(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        ClientBuildError::KeyNotSendable {
            key_source: "test".into()
        }
    );
}

#[test]
fn slow_operations_get_the_long_timeout_and_reads_the_short_one() {
    let config = ClientConfig::new("http://127.0.0.1:1", key());
    let secs = Duration::from_secs;
    assert_eq!(config.timeout_for(Endpoint::RequestLogs), secs(120));
    assert_eq!(config.timeout_for(Endpoint::Destroy), secs(120));
    for read in [Endpoint::List, Endpoint::ShowOne, Endpoint::SetState] {
        assert_eq!(config.timeout_for(read), secs(30), "{read:?}");
    }
}

#[test]
fn echoed_keys_are_scrubbed_from_error_text() {
    let client = VastClient::new(
        ClientConfig::new("http://127.0.0.1:1", key()),
        Throttle::unlimited(),
    )
    .unwrap();
    let echoed = ApiError::Other {
        status: Some(400),
        message: format!("bad key {SECRET} in request"),
    };
    assert_eq!(
        client.scrub(echoed).to_string(),
        "API error (HTTP 400): bad key <redacted> in request"
    );
}

/// Nothing listens on port 1, so every call fails fast with "connection refused".
fn refused_client() -> VastClient {
    let mut config = ClientConfig::new("http://127.0.0.1:1", key());
    config.log_poll = LogPollConfig {
        attempts: 3,
        delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(1),
    };
    VastClient::new(config, Throttle::unlimited()).unwrap()
}

#[tokio::test]
async fn the_key_appears_in_no_error_client_or_config_output() {
    let client = refused_client();
    let config = ClientConfig::new("http://127.0.0.1:1", key());
    let errors = [
        client
            .list_page(Some("tok".into()), Some(vec![1, 2]))
            .await
            .unwrap_err(),
        client.show(5).await.unwrap_err(),
        client.destroy(5).await.unwrap_err(),
    ];
    let mut shown = vec![
        format!("{client:?}"),
        format!("{config:?}"),
        format!("{:?}", config.key),
        format!("{}", config.key),
    ];
    for err in &errors {
        assert!(matches!(err, ApiError::Transient(_)), "{err:?}");
        shown.push(format!("{err}"));
        shown.push(format!("{err:?}"));
    }
    for text in &shown {
        assert!(!text.contains("SECRET"), "key leaked: {text}");
        assert!(!text.contains("select_filters"), "query leaked: {text}");
        assert!(!text.contains("?owner"), "query leaked: {text}");
    }
    let list = errors[0].to_string();
    assert!(
        list.contains("GET /api/v1/instances/: could not connect"),
        "{list}"
    );
}

#[tokio::test]
async fn an_unreachable_log_result_gives_up_after_the_configured_polls() {
    let client = refused_client();
    let url = Url::parse("http://127.0.0.1:1/s3/x.log?X-Amz-Signature=abc").unwrap();
    let inner = &*client.inner;
    let err = logs::fetch_result(
        &inner.http,
        &url,
        inner.config.log_poll,
        inner.config.timeout,
        1 << 20,
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        ApiError::Transient("log result not ready after 3 polls".into())
    );
}
