//! The simulator over real loopback HTTP, with raw reqwest (not the project's client, so the
//! simulator is checked against vast-api.md on its own). Real time with short intervals.

use std::time::Duration;

use serde_json::{json, Value};
use vastfleet::sim::{
    Action, Dur, EventSpec, Fault, FaultKind, FaultSpec, Gauges, GaugesRefused, InitialState,
    InjectedStatus, InstanceSpec, Lasting, LogItem, RateModel, Scenario, SimHandle, Simulator,
    COMPLETION_LINE,
};

fn no_limits(mut scenario: Scenario) -> Scenario {
    scenario.limits.enabled = false;
    scenario
}

fn fleet(n: u64) -> Scenario {
    let instances = (1..=n)
        .map(|id| InstanceSpec {
            label: (id % 3 != 0).then(|| format!("group-{}", id % 2)),
            state: if id % 4 == 0 {
                InitialState::Stopped
            } else {
                InitialState::Running
            },
            ..InstanceSpec::new(100 + id)
        })
        .collect();
    no_limits(Scenario {
        instances,
        ..Scenario::empty()
    })
}

struct Http {
    client: reqwest::Client,
    base: String,
    key: String,
}

impl Http {
    fn new(sim: &SimHandle) -> Http {
        Http {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap(),
            base: sim.url(),
            key: sim.key().to_owned(),
        }
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key)
    }

    async fn get(&self, path: &str) -> (u16, String) {
        send(self.req(reqwest::Method::GET, path)).await
    }

    async fn put(&self, path: &str, body: Value) -> (u16, String) {
        send(self.req(reqwest::Method::PUT, path).json(&body)).await
    }

    async fn delete(&self, path: &str) -> (u16, String) {
        send(self.req(reqwest::Method::DELETE, path).json(&json!({}))).await
    }

    async fn json(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// The whole two-step protocol, polling the S3 URL until it answers 200.
    async fn logs(&self, id: u64, body: Value) -> (Vec<u16>, String) {
        let (status, reply) = self
            .put(&format!("/api/v0/instances/request_logs/{id}/"), body)
            .await;
        assert_eq!(status, 200, "{reply}");
        let reply: Value = serde_json::from_str(&reply).unwrap();
        assert_eq!(reply["success"], true, "{reply}");
        let url = reply["result_url"].as_str().unwrap().to_owned();
        assert!(
            url.starts_with(&self.base) && url.ends_with(".log"),
            "{url}"
        );
        let mut statuses = Vec::new();
        for _ in 0..10 {
            // No auth header on the S3 GET, as the official client does.
            let response = self.client.get(&url).send().await.unwrap();
            statuses.push(response.status().as_u16());
            if response.status() == 200 {
                return (statuses, response.text().await.unwrap());
            }
        }
        panic!("logs never became ready: {statuses:?}");
    }
}

async fn send(request: reqwest::RequestBuilder) -> (u16, String) {
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn query(pairs: &[(&str, &str)]) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    serializer.extend_pairs(pairs);
    serializer.finish()
}

fn ids(page: &Value) -> Vec<u64> {
    page["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn auth_by_header_or_query_and_the_401_option() {
    let sim = Simulator::start(fleet(2)).await.unwrap();
    let http = Http::new(&sim);
    let url = format!("{}/api/v0/instances/101/", sim.url());
    let bare = http.client.get(&url).send().await.unwrap();
    // As a live probe of the real API answered.
    assert_eq!(bare.status(), 404);
    let body: Value = bare.json().await.unwrap();
    assert_eq!(
        body,
        json!({"success": false, "error": "auth_error", "msg": "Invalid user key"})
    );
    let wrong = http
        .client
        .get(&url)
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 404);
    let by_query = http
        .client
        .get(format!("{url}?api_key={}", sim.key()))
        .send()
        .await
        .unwrap();
    assert_eq!(by_query.status(), 200);
    assert!(sim.stats().any_url_contains(sim.key()));
    // Both spellings of every path.
    assert_eq!(http.get("/api/v0/instances/101").await.0, 200);
    sim.shutdown().await;

    let mut scenario = fleet(1);
    scenario.switches.auth_error_status = 401;
    let sim = Simulator::start(scenario).await.unwrap();
    let response = reqwest::get(format!("{}/api/v1/instances/", sim.url()))
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "auth_error"
    );
}

#[tokio::test]
async fn the_v1_list_pages_filters_and_counts_labels() {
    let sim = Simulator::start(fleet(30)).await.unwrap();
    let http = Http::new(&sim);
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut pairs = vec![("limit", "12".to_owned())];
        pairs.extend(token.clone().map(|t| ("after_token", t)));
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = http
            .json(&format!("/api/v1/instances/?{}", query(&pairs)))
            .await;
        pages += 1;
        assert_eq!(page["success"], true);
        assert_eq!(page["total_instances"], 30);
        assert_eq!(
            page["label_counts"],
            json!({"": 10, "group-0": 10, "group-1": 10})
        );
        seen.extend(ids(&page));
        match page["next_token"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, (101..=130).collect::<Vec<_>>());

    let (status, body) = http.get("/api/v1/instances/?after_token=garbage").await;
    assert_eq!(status, 400);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"],
        "invalid_token"
    );

    let filters = r#"{"id": {"in": [101, 104, 108, 999]}, "actual_status": {"eq": "stopped"}}"#;
    let page = http
        .json(&format!(
            "/api/v1/instances?{}",
            query(&[("select_filters", filters)])
        ))
        .await;
    assert_eq!(ids(&page), [104, 108]);
    assert_eq!(page["total_instances"], 2);

    let computed = r#"{"dph_total": {"lt": 1}}"#;
    let (status, _) = http
        .get(&format!(
            "/api/v1/instances/?{}",
            query(&[("select_filters", computed)])
        ))
        .await;
    assert_eq!(status, 400);
    let page = http.json("/api/v1/instances/?limit=0").await;
    assert_eq!(ids(&page).len(), 5);
}

/// The gauges a show-one read reports for `id` now.
async fn gauges_of(http: &Http, id: u64) -> (Value, Value) {
    let row = &http.json(&format!("/api/v0/instances/{id}/")).await["instances"];
    (row["gpu_util"].clone(), row["cpu_util"].clone())
}

#[tokio::test]
async fn gauges_change_at_run_time_in_process_and_over_http_and_are_no_api_calls() {
    let sim = Simulator::start(fleet(3)).await.unwrap();
    let http = Http::new(&sim);
    let (gpu, _) = gauges_of(&http, 101).await;
    assert!(gpu.as_f64().unwrap() >= 70.0, "busy by default: {gpu}");

    // A job that ends: the GPU drops, the CPU with it; the next read shows both.
    let control = sim.control();
    control
        .set_gauges(
            101,
            Gauges {
                gpu_util: Some(0.0),
                cpu_util: Some(0.02),
            },
        )
        .unwrap();
    assert_eq!(gauges_of(&http, 101).await, (json!(0.0), json!(0.02)));
    // One gauge at a time: the other keeps what was set.
    control
        .set_gauges(
            101,
            Gauges {
                gpu_util: Some(88.0),
                cpu_util: None,
            },
        )
        .unwrap();
    assert_eq!(gauges_of(&http, 101).await, (json!(88.0), json!(0.02)));
    let list = http.json("/api/v1/instances/").await;
    let row = list["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == 101)
        .unwrap();
    assert_eq!(
        (&row["gpu_util"], &row["cpu_util"]),
        (&json!(88.0), &json!(0.02))
    );
    assert_eq!(
        control.set_gauges(999, Gauges::default()),
        Err(GaugesRefused::NoInstance)
    );
    assert!(matches!(
        control.set_gauges(
            101,
            Gauges {
                gpu_util: Some(150.0),
                cpu_util: None
            }
        ),
        Err(GaugesRefused::Invalid(_))
    ));

    // The same over HTTP, for a simulator in another process.
    let client = reqwest::Client::new();
    let put = |path: &str, body: Value| {
        client
            .put(format!("{}/__sim/gauges/{path}", sim.url()))
            .json(&body)
            .send()
    };
    let ok = put("102", json!({"gpu_util": 3, "cpu_util": 0.01}))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(gauges_of(&http, 102).await, (json!(3.0), json!(0.01)));
    let missing = put("999", json!({"gpu_util": 0})).await.unwrap();
    assert_eq!(missing.status(), 404);
    for bad in [
        json!({"gpu_util": -1}),
        json!({"cpu_util": -0.5}),
        json!({"gpu": 0}),
    ] {
        let refused = put("102", bad.clone()).await.unwrap();
        assert_eq!(refused.status(), 400, "{bad}");
    }
    assert_eq!(gauges_of(&http, 102).await, (json!(3.0), json!(0.01)));
    // A stopped instance reports no GPU load, whatever was set.
    assert!(control.stop(102));
    let (gpu, cpu) = gauges_of(&http, 102).await;
    assert!(gpu.is_null() && cpu == json!(0.0), "{gpu} {cpu}");
    // Control is not traffic: only the reads above were counted.
    let stats = sim.stats();
    assert!(stats.requests.iter().all(|r| !r.path.starts_with("/__sim")));
    assert_eq!(stats.calls("show"), 6);
}

#[tokio::test]
async fn show_one_destroy_labels_and_the_v0_list() {
    let sim = Simulator::start(fleet(3)).await.unwrap();
    let http = Http::new(&sim);
    let one = http.json("/api/v0/instances/101/?owner=me").await;
    let row = &one["instances"];
    for field in [
        "actual_status",
        "intended_status",
        "dph_total",
        "gpu_name",
        "num_gpus",
        "start_date",
        "gpu_util",
    ] {
        assert!(row.get(field).is_some(), "{field} missing");
    }
    assert!(row["start_date"].as_f64().unwrap() > 1.7e9);

    let (status, _) = http
        .put("/api/v0/instances/101/", json!({"label": "renamed"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        http.json("/api/v0/instances/101/").await["instances"]["label"],
        "renamed"
    );
    let (status, body) = http
        .put("/api/v0/instances/102/", json!({"label": "x".repeat(1025)}))
        .await;
    assert_eq!(
        (
            status,
            serde_json::from_str::<Value>(&body).unwrap()["error"].clone()
        ),
        (400, json!("label_too_long"))
    );

    let (status, body) = http.delete("/api/v0/instances/101/").await;
    assert_eq!((status, body.as_str()), (200, r#"{"success":true}"#));
    assert_eq!(
        http.json("/api/v0/instances/101/").await,
        json!({"instances": null})
    );
    assert_eq!(ids(&http.json("/api/v1/instances/").await), [102, 103]);
    let (status, body) = http.delete("/api/v0/instances/101/").await;
    assert_eq!(
        (
            status,
            serde_json::from_str::<Value>(&body).unwrap()["error"].clone()
        ),
        (404, json!("no_such_instance"))
    );
    assert_eq!(sim.stats().actions_on(101).destroys, 1);

    let (status, body) = http.get("/api/v0/instances/").await;
    assert_eq!(status, 410);
    assert!(body.contains("deprecated_endpoint"));
    sim.shutdown().await;

    let mut scenario = fleet(2);
    scenario.switches.v0_list = true;
    scenario.switches.show_missing_as_404 = true;
    let sim = Simulator::start(scenario).await.unwrap();
    let http = Http::new(&sim);
    let legacy = http.json("/api/v0/instances/?owner=me").await;
    assert_eq!(legacy["instances_found"], 2);
    assert_eq!(http.get("/api/v0/instances/999/").await.0, 404);
}

#[tokio::test]
async fn logs_come_through_the_s3_object_after_it_is_ready() {
    let mut scenario = no_limits(Scenario::empty());
    scenario.logs.not_ready_polls = 2;
    scenario.instances.push(InstanceSpec {
        history: (1..=50).map(|n| format!("old line {n}")).collect(),
        complete_at: Some(Dur::millis(100)),
        ..InstanceSpec::new(7)
    });
    scenario.instances.push(InstanceSpec {
        state: InitialState::Booting,
        timing: vastfleet::sim::Timing {
            provisioning: Dur::secs(60),
            ..Default::default()
        },
        ..InstanceSpec::new(8)
    });
    let sim = Simulator::start(scenario).await.unwrap();
    let http = Http::new(&sim);
    tokio::time::sleep(Duration::from_millis(150)).await;

    let (polls, text) = http.logs(7, json!({"tail": "3"})).await;
    assert_eq!(polls, [403, 403, 200]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "old line 50");
    assert_eq!(lines[1], COMPLETION_LINE);
    assert!(lines[2].starts_with("https://"));

    let (_, text) = http
        .logs(7, json!({"filter": "old line 4[0-9]", "tail": "1000"}))
        .await;
    assert_eq!(text.lines().count(), 10);
    let (_, text) = http.logs(7, json!({"daemon_logs": "true"})).await;
    assert!(text.contains("C.7"), "{text}");
    let (_, text) = http.logs(8, json!({})).await;
    assert_eq!(text, "Error response from daemon: No such container: C.8\n");

    let (status, body) = http
        .put("/api/v0/instances/request_logs/999/", json!({}))
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"],
        "invalid_id"
    );
    let stats = sim.stats();
    assert_eq!(stats.count("log_result", 403), 8);
    // The S3 GET carries no key.
    assert!(stats
        .header_values("log_result", "authorization")
        .iter()
        .all(Option::is_none));
}

#[tokio::test]
async fn strict_gaps_answer_429_in_plain_text_until_the_gap_passed() {
    let mut scenario = fleet(1);
    scenario.limits.enabled = true;
    scenario.limits.model = RateModel::Strict;
    scenario.limits.gaps.show = Dur::millis(300);
    let sim = Simulator::start(scenario).await.unwrap();
    let http = Http::new(&sim);
    assert_eq!(http.get("/api/v0/instances/101/").await.0, 200);
    let response = http
        .req(reqwest::Method::GET, "/api/v0/instances/101/")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert!(response.headers().get("retry-after").is_none());
    assert_eq!(
        response.text().await.unwrap(),
        "API requests too frequent endpoint threshold=0.3"
    );
    // Another endpoint has its own gap.
    assert_eq!(http.get("/api/v1/instances/").await.0, 200);
    tokio::time::sleep(Duration::from_millis(320)).await;
    assert_eq!(http.get("/api/v0/instances/101/").await.0, 200);
    assert_eq!(sim.stats().total_429, 1);

    let mut limits = vastfleet::sim::Limits {
        model: RateModel::Strict,
        json_body: true,
        retry_after: Some(true),
        ..Default::default()
    };
    limits.gaps.show = Dur::millis(300);
    sim.control().set_limits(limits);
    let response = http
        .req(reqwest::Method::GET, "/api/v0/instances/101/")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    assert!(response.json::<Value>().await.unwrap()["detail"]
        .as_str()
        .unwrap()
        .contains("too frequent"));
}

#[tokio::test]
async fn buckets_take_a_burst_back_to_back_then_name_the_refill_in_retry_after() {
    let mut scenario = fleet(1);
    scenario.limits.enabled = true;
    let burst = scenario.limits.burst;
    let sim = Simulator::start(scenario).await.unwrap();
    let http = Http::new(&sim);
    for _ in 0..burst {
        assert_eq!(http.get("/api/v1/instances/").await.0, 200);
    }
    let response = http
        .req(reqwest::Method::GET, "/api/v1/instances/")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(
        response.text().await.unwrap(),
        "API requests too frequent endpoint threshold=1.0"
    );
    // Show-one has its own bucket.
    assert_eq!(http.get("/api/v0/instances/101/").await.0, 200);
    tokio::time::sleep(Duration::from_millis(1020)).await;
    assert_eq!(http.get("/api/v1/instances/").await.0, 200);
    assert_eq!(sim.stats().total_429, 1);
}

#[tokio::test]
async fn the_overall_bucket_limits_below_the_gaps() {
    let mut scenario = fleet(1);
    scenario.limits.enabled = true;
    scenario.limits.gaps = vastfleet::sim::Gaps {
        show: Dur::millis(0),
        list: Dur::millis(0),
        ..Default::default()
    };
    scenario.limits.overall_per_second = Some(5.0);
    scenario.limits.overall_burst = Some(2);
    let sim = Simulator::start(scenario).await.unwrap();
    let http = Http::new(&sim);
    assert_eq!(http.get("/api/v0/instances/101/").await.0, 200);
    assert_eq!(http.get("/api/v1/instances/").await.0, 200);
    let (status, body) = http.get("/api/v0/instances/101/").await;
    assert_eq!((status, body.as_str()), (429, "API requests too frequent"));
    tokio::time::sleep(Duration::from_millis(230)).await;
    assert_eq!(http.get("/api/v1/instances/").await.0, 200);
}

#[tokio::test]
async fn every_fault_kind() {
    let mut scenario = fleet(3);
    scenario.faults.push(FaultSpec {
        kind: FaultKind::BadGateway,
        from: Dur::millis(0),
        until: Some(Dur::millis(200)),
        endpoints: vec!["list".into()],
        retry_after: None,
        json_body: false,
        delay: None,
        ids: vec![],
    });
    let sim = Simulator::start(scenario).await.unwrap();
    let http = Http::new(&sim);
    let control = sim.control();
    let (status, body) = http.get("/api/v1/instances/").await;
    assert_eq!(status, 502);
    assert!(body.contains("<html>"));
    tokio::time::sleep(Duration::from_millis(220)).await;
    assert_eq!(http.get("/api/v1/instances/").await.0, 200);

    let show = "/api/v0/instances/101/";
    let limited = Fault::Status429 {
        retry_after: Some(Duration::from_secs(3)),
        json_body: false,
    };
    control.inject(limited, Lasting::Requests(1));
    let response = http.req(reqwest::Method::GET, show).send().await.unwrap();
    assert_eq!(
        (
            response.status().as_u16(),
            response.headers()["retry-after"].to_str().unwrap()
        ),
        (429, "3")
    );
    assert_eq!(http.get(show).await.0, 200);

    for status in [502, 503, 504] {
        control.inject(Fault::Status5xx(status), Lasting::Requests(1));
        assert_eq!(http.get(show).await.0, status);
    }

    control.inject(
        Fault::Slow(Duration::from_millis(600)),
        Lasting::Requests(1),
    );
    let impatient = http
        .req(reqwest::Method::GET, show)
        .timeout(Duration::from_millis(200));
    assert!(impatient.send().await.unwrap_err().is_timeout());

    control.inject(Fault::DropConnection, Lasting::Requests(1));
    let err = http
        .req(reqwest::Method::GET, show)
        .send()
        .await
        .unwrap_err();
    assert!(err.status().is_none(), "{err:?}");

    control.inject(Fault::MalformedJson, Lasting::Requests(1));
    let (status, body) = http.get(show).await;
    assert_eq!(status, 200);
    assert!(serde_json::from_str::<Value>(&body).is_err());

    control.inject_on(
        &["request_logs"],
        Fault::SuccessFalse,
        Lasting::For(Duration::from_secs(5)),
    );
    let (status, body) = http
        .put("/api/v0/instances/request_logs/101/", json!({}))
        .await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (body["success"].clone(), body["error"].clone()),
        (json!(false), json!("not_ready"))
    );

    control.inject(Fault::Vanish(vec![102]), Lasting::Forever);
    assert_eq!(ids(&http.json("/api/v1/instances/").await), [101, 103]);
    assert_eq!(
        http.json("/api/v0/instances/102/").await,
        json!({"instances": null})
    );
    control.clear_faults();
    assert_eq!(ids(&http.json("/api/v1/instances/").await), [101, 102, 103]);

    let stats = sim.stats();
    assert_eq!(
        stats.count("show", 0),
        1,
        "the dropped connection is counted with status 0"
    );
    assert_eq!(stats.count("show", 503), 1);
    assert_eq!(stats.count("list", 502), 1);
}

#[tokio::test]
async fn lifecycle_transitions_over_real_time() {
    let ms = Dur::millis;
    let timing = vastfleet::sim::Timing {
        provisioning: ms(100),
        created: ms(100),
        loading: ms(100),
        stopping: ms(100),
        scheduling: ms(150),
        rebooting: ms(100),
    };
    let mut scenario = no_limits(Scenario::empty());
    scenario.instances.push(InstanceSpec {
        state: InitialState::Booting,
        timing: timing.clone(),
        log: vec![LogItem {
            at: ms(0),
            every: Some(ms(50)),
            count: None,
            text: "tick {n}".into(),
        }],
        events: vec![EventSpec {
            at: ms(450),
            action: Action::Stop,
            text: None,
        }],
        ..InstanceSpec::new(5)
    });
    scenario.instances.push(InstanceSpec {
        timing,
        ..InstanceSpec::new(6)
    });
    let sim = Simulator::start(scenario).await.unwrap();
    let http = Http::new(&sim);
    let status = |v: Value| {
        (
            v["instances"]["actual_status"].clone(),
            v["instances"]["intended_status"].clone(),
        )
    };

    // Each phase is seen on the way, in order, however late the polls come on a busy machine.
    let phases = phases_until(&http, 5, ("stopped", "stopped")).await;
    let loading = &phases.iter().find(|(s, _)| s.0 == "loading").unwrap().1;
    assert!(loading["status_msg"]
        .as_str()
        .unwrap()
        .contains("Downloading"));
    let boot: Vec<(Value, Value)> = phases.into_iter().map(|(s, _)| s).collect();
    assert_eq!(
        boot,
        [
            (Value::Null, json!("running")),
            (json!("created"), json!("running")),
            (json!("loading"), json!("running")),
            (json!("running"), json!("running")),
            // Stopped by the scenario at 450 ms: intended first, actual 100 ms later.
            (json!("running"), json!("stopped")),
            (json!("stopped"), json!("stopped")),
        ]
    );
    let printed = sim.control().log_lines(5).unwrap().len();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        sim.control().log_lines(5).unwrap().len(),
        printed,
        "a stopped instance prints nothing"
    );

    // Started through the API: scheduling, then running, and the log continues.
    assert_eq!(
        http.put("/api/v0/instances/5/", json!({"state": "running"}))
            .await
            .0,
        200
    );
    assert_eq!(
        status(http.json("/api/v0/instances/5/").await),
        (json!("stopped"), json!("running"))
    );
    let start = statuses_until(&http, 5, ("running", "running")).await;
    assert_eq!(start.last().unwrap().0, "running");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let lines = sim.control().log_lines(5).unwrap();
        if lines.len() > printed {
            break lines;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the log never went on"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(lines[printed], format!("tick {}", printed + 1));
    assert_eq!(sim.stats().actions_on(5).state_changes, 1);

    assert_eq!(
        http.put("/api/v0/instances/reboot/6/", json!({})).await.0,
        200
    );
    assert_eq!(
        status(http.json("/api/v0/instances/6/").await).0,
        "rebooting"
    );
    let reboot = statuses_until(&http, 6, ("running", "running")).await;
    assert_eq!(reboot.last().unwrap().0, "running");
    let control = sim.control();
    assert!(control.set_status(6, InjectedStatus::Exited));
    assert_eq!(status(http.json("/api/v0/instances/6/").await).0, "exited");
    assert!(control.set_status(
        6,
        InjectedStatus::Failed("OCI runtime create failed".into())
    ));
    let failed = http.json("/api/v0/instances/6/").await["instances"].clone();
    assert_eq!(
        (
            failed["actual_status"].clone(),
            failed["intended_status"].clone()
        ),
        (json!("created"), json!("stopped"))
    );
    assert_eq!(failed["status_msg"], "OCI runtime create failed");
    assert!(control.burst(6, 500, "burst {n}"));
    assert_eq!(control.log_lines(6).unwrap().last().unwrap(), "burst 500");
    assert!(control.destroy(6));
    assert_eq!(
        http.json("/api/v0/instances/6/").await,
        json!({"instances": null})
    );
    assert_eq!(
        sim.stats().actions_on(6).destroys,
        0,
        "someone else's destroy is not an API call"
    );
}

/// The (actual, intended) statuses of `id`, each once in the order seen, polled every 10 ms
/// until `until` (bounded: a lifecycle of a few hundred milliseconds, given 10 s); with each,
/// the instance as first seen in it.
async fn statuses_until(http: &Http, id: u64, until: (&str, &str)) -> Vec<(Value, Value)> {
    phases_until(http, id, until)
        .await
        .into_iter()
        .map(|(status, _)| status)
        .collect()
}

async fn phases_until(http: &Http, id: u64, until: (&str, &str)) -> Vec<((Value, Value), Value)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let path = format!("/api/v0/instances/{id}/");
    let mut seen: Vec<((Value, Value), Value)> = Vec::new();
    loop {
        let instance = http.json(&path).await["instances"].clone();
        let now = (
            instance["actual_status"].clone(),
            instance["intended_status"].clone(),
        );
        if seen.last().map(|(status, _)| status) != Some(&now) {
            seen.push((now.clone(), instance));
        }
        if now == (json!(until.0), json!(until.1)) {
            return seen;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} never reached {until:?}: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn stats_are_served_without_auth_and_the_key_stays_out_of_urls() {
    let sim = Simulator::start(fleet(2)).await.unwrap();
    let http = Http::new(&sim);
    http.get("/api/v1/instances/").await;
    http.put("/api/v0/instances/101/", json!({"state": "stopped"}))
        .await;
    http.put(
        "/api/v0/instances/",
        json!({"state": "running", "ids": [101, 102]}),
    )
    .await;
    let stats: vastfleet::sim::SimStats = reqwest::get(format!("{}/__sim/stats", sim.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats.count("list", 200), 1);
    assert_eq!(stats.count("set_state", 200), 1);
    assert_eq!(stats.calls("bulk"), 1);
    assert_eq!(stats.actions_on(101).state_changes, 2);
    assert!(!stats.any_url_contains(sim.key()));
    let put = stats
        .requests
        .iter()
        .find(|r| r.endpoint == "set_state")
        .unwrap();
    assert_eq!(
        (put.method.as_str(), put.body.as_str()),
        ("PUT", r#"{"state":"stopped"}"#)
    );
    assert_eq!(stats, sim.stats());
}

#[test]
fn the_sim_command_rejects_a_bad_scenario_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.toml");
    std::fs::write(&path, "key = \"k\"\n[[instance]]\nid = \"x\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vastfleet"))
        .args(["sim", "--scenario"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken.toml") && err.contains("line 3"),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn the_sim_command_serves_until_sigterm() {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vastfleet"))
        .args(["sim", "--port", "0", "--key", "test-key"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut first).unwrap();
    let url = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let body = reqwest::blocking_free_get(&format!("{url}/__sim/stats"));
    assert!(body.contains("\"counts\""), "{body}");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(killed.unwrap().success());
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let mut rest = String::new();
    stdout.read_line(&mut rest).unwrap();
    assert!(rest.contains("VAST_API_KEY=test-key"), "{rest}");
}

/// A plain HTTP GET over std's TcpStream (reqwest's blocking client is not enabled).
mod reqwest {
    pub use ::reqwest::*;

    pub fn blocking_free_get(url: &str) -> String {
        use std::io::{Read, Write};
        let rest = url.strip_prefix("http://").unwrap();
        let (host, path) = rest
            .split_once('/')
            .map(|(h, p)| (h, format!("/{p}")))
            .unwrap();
        let mut stream = std::net::TcpStream::connect(host).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text
    }
}
