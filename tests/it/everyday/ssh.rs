//! `ssh`: `--print` builds the command from the API's `ssh_host`/`ssh_port`; without it,
//! vastfleet becomes `ssh` (a stand-in on PATH here) with its exit status, and without the API
//! key in its environment.

use vastfleet::sim::{InstanceSpec, SimHandle};

use crate::support::{command, fleet_file, run, stopped, Account};

const BOX: u64 = 45000001;
const PARKED: u64 = 45000002;

async fn sim() -> SimHandle {
    Account::of([InstanceSpec::new(BOX), stopped(PARKED)])
        .start()
        .await
}

/// The row's ssh_host and ssh_port as the simulator serves them.
async fn address(sim: &SimHandle, id: u64) -> (String, u64) {
    let url = format!("{}/api/v0/instances/{id}/", sim.url());
    let row: serde_json::Value = reqwest::Client::new()
        .get(url)
        .bearer_auth(sim.key())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let row = &row["instances"];
    (
        row["ssh_host"].as_str().unwrap().to_owned(),
        row["ssh_port"].as_u64().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_print_names_the_proxy_and_never_the_key() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    fleet_file(
        dir.path(),
        &format!("[[instance]]\nid = {BOX}\nlabel = \"box\"\n"),
    );
    let (host, port) = address(&sim, BOX).await;
    let (code, out, err) = run(dir.path(), Some(&sim), &["ssh", "box", "--print"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("ssh -p {port} root@{host}\n"));
    let (code, out, _) = run(
        dir.path(),
        Some(&sim),
        &["ssh", "box", "--print", "--", "nvidia-smi", "-q", "a b"],
    )
    .await;
    assert_eq!(code, 0);
    assert_eq!(
        out,
        format!("ssh -p {port} root@{host} -- nvidia-smi -q 'a b'\n")
    );
    assert!(!out.contains(sim.key()) && !err.contains(sim.key()));
    assert_eq!(
        sim.stats().calls("show"),
        1,
        "only this test's own look: vastfleet uses the list, not show-one"
    );

    let (code, _, err) = run(dir.path(), Some(&sim), &["ssh", "nobox", "--print"]).await;
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(dir.path(), Some(&sim), &["ssh", "45000009", "--print"]).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no such instance"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_becomes_ssh_with_its_exit_status_and_without_the_key() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let fake = bin.join("ssh");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho \"args: $*\"\necho \"key: ${VAST_API_KEY:-none}\"\nexit 7\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (host, port) = address(&sim, PARKED).await;
    let output = command(
        dir.path(),
        Some(&sim),
        &["ssh", &PARKED.to_string(), "--", "uptime"],
    )
    .env("PATH", path)
    .output()
    .await
    .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(7), "{out}{err}");
    assert_eq!(
        out,
        format!("args: -p {port} root@{host} -- uptime\nkey: none\n")
    );
    assert!(err.contains("stopped, not running"), "{err}");
}
