//! The project's client against the simulator over real loopback HTTP: every call, every error
//! class the engine acts on, and the key kept out of URLs and error text.

use std::time::Duration;

use vastfleet::api::client::ClientConfig;
use vastfleet::api::key::{ApiKey, KeySource};
use vastfleet::api::{Api, ApiError, VastClient};
use vastfleet::sim::{Fault, InitialState, InstanceSpec, Lasting, SimHandle};
use vastfleet::throttle::Throttle;

use crate::support::Account;

const KEY_SOURCE: &str = "the test's key";

/// `n` instances with two lines of history each, the last one stopped. These tests are about
/// answers, not pacing: the gaps have their own tests.
fn account(n: u64) -> Account {
    Account::of((1..=n).map(|i| InstanceSpec {
        label: Some(format!("job-{i}")),
        history: vec![format!("line one of {i}"), format!("line two of {i}")],
        state: if i == n {
            InitialState::Stopped
        } else {
            InitialState::Running
        },
        ..InstanceSpec::new(1000 + i)
    }))
    .unlimited()
}

fn client(sim: &SimHandle, key: &str) -> VastClient {
    let key = ApiKey::new(key, KeySource::Given(KEY_SOURCE.to_owned()));
    VastClient::new(ClientConfig::new(sim.url(), key), Throttle::unlimited()).unwrap()
}

#[tokio::test]
async fn every_call_round_trips_through_the_simulator() {
    let sim = account(30).start().await;
    let api = client(&sim, sim.key());

    let all = api.list_all(None).await.unwrap();
    assert_eq!(all.instances.len(), 30, "two pages of the v1 list, joined");
    assert_eq!(sim.stats().calls("list"), 2);
    let row = all.instances.iter().find(|i| i.id == Some(1001)).unwrap();
    assert_eq!(row.actual_status.as_deref(), Some("running"));
    assert_eq!(row.label.as_deref(), Some("job-1"));
    assert!(row.dph_total.is_some() && row.gpu_name.is_some() && row.start_date.is_some());

    let some = api.list_all(Some(vec![1002, 1030])).await.unwrap();
    let mut ids: Vec<u64> = some.instances.iter().filter_map(|i| i.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, [1002, 1030]);

    let one = api.show(1003).await.unwrap().unwrap();
    assert_eq!(one.id, Some(1003));

    let lines = api.logs(1001, 50).await.unwrap().lines;
    assert_eq!(lines, ["line one of 1", "line two of 1"]);

    api.stop(1001).await.unwrap();
    api.start(1030).await.unwrap();
    let stopped = api.show(1001).await.unwrap().unwrap();
    assert_eq!(stopped.intended_status.as_deref(), Some("stopped"));
    assert_eq!(sim.stats().actions_on(1001).state_changes, 1);
    assert_eq!(sim.stats().actions_on(1030).state_changes, 1);

    api.destroy(1002).await.unwrap();
    assert_eq!(sim.stats().actions_on(1002).destroys, 1);
    assert!(
        api.show(1002).await.unwrap().is_none(),
        "gone: a null instance"
    );
    assert!(!sim.stats().any_url_contains(sim.key()));
}

#[tokio::test]
async fn rate_limits_are_told_apart_with_and_without_retry_after() {
    let sim = account(2).start().await;
    let api = client(&sim, sim.key());
    let storm = |retry_after, json_body| Fault::Status429 {
        retry_after,
        json_body,
    };

    sim.control()
        .inject(storm(None, false), Lasting::Requests(1));
    match api.show(1001).await {
        Err(ApiError::RateLimited { retry_after, .. }) => assert_eq!(retry_after, None),
        other => panic!("expected a 429, got {other:?}"),
    }
    sim.control().inject(
        storm(Some(Duration::from_secs(3)), true),
        Lasting::Requests(1),
    );
    match api.list_all(None).await {
        Err(ApiError::RateLimited { retry_after, .. }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(3)))
        }
        other => panic!("expected a 429 with Retry-After, got {other:?}"),
    }
    assert!(api.show(1001).await.is_ok(), "the storm is over");
}

#[tokio::test]
async fn gateway_errors_broken_bodies_and_dropped_connections_are_transient() {
    let sim = account(2).start().await;
    let api = client(&sim, sim.key());
    for fault in [
        Fault::Status5xx(502),
        Fault::Status5xx(503),
        Fault::MalformedJson,
        Fault::DropConnection,
    ] {
        sim.control().inject(fault.clone(), Lasting::Requests(1));
        match api.list_all(None).await {
            Err(ApiError::Transient(_)) => {}
            other => panic!("{fault:?} should be transient, got {other:?}"),
        }
    }
    assert_eq!(api.list_all(None).await.unwrap().instances.len(), 2);
}

#[tokio::test]
async fn a_refused_server_is_transient() {
    let sim = account(1).start().await;
    let url = sim.url();
    sim.shutdown().await;
    let key = ApiKey::new("k", KeySource::Given(KEY_SOURCE.to_owned()));
    let api = VastClient::new(ClientConfig::new(url, key), Throttle::unlimited()).unwrap();
    assert!(matches!(api.show(1).await, Err(ApiError::Transient(_))));
}

#[tokio::test]
async fn a_bad_key_is_unauthorized_names_its_source_and_never_shows_itself() {
    const WRONG: &str = "wrong-key-7f3a9c";
    for status in [404, 401] {
        let sim = account(1).auth_error_status(status).start().await;
        let api = client(&sim, WRONG);
        let error = api.list_all(None).await.unwrap_err();
        let ApiError::Unauthorized { key_source, .. } = &error else {
            panic!("expected unauthorized (HTTP {status}), got {error:?}");
        };
        assert_eq!(key_source, KEY_SOURCE);
        for text in [error.to_string(), format!("{error:?}"), format!("{api:?}")] {
            assert!(!text.contains(WRONG), "the key leaked: {text}");
        }
        assert!(!sim.stats().any_url_contains(WRONG));
    }
}

#[tokio::test]
async fn acting_on_an_unknown_instance_is_not_found() {
    let sim = account(1).start().await;
    let api = client(&sim, sim.key());
    assert!(api.show(424242).await.unwrap().is_none());
    assert!(matches!(
        api.destroy(424242).await,
        Err(ApiError::NotFound(_))
    ));
    assert!(matches!(
        api.logs(424242, 10).await,
        Err(ApiError::NotFound(_))
    ));
}
