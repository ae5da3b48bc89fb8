//! `stop`/`start`/`reboot`/`destroy` by id, label or glob of the fleet file: a glob or a
//! destroy asks first (on a real pseudo-terminal here, naming label, GPU, $/hr and spend), a
//! script without `-y` is refused with exit 2 before any API call, and the simulator's counters
//! show exactly one action per chosen instance.

use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use vastfleet::sim::{InstanceSpec, SimHandle};

use crate::support::{bin, fleet_file, run, Account, PATIENCE};

const TRAIN_A: u64 = 46000001;
const TRAIN_B: u64 = 46000002;
const EVAL: u64 = 46000003;

async fn sim() -> SimHandle {
    let spec = |id, gpus| InstanceSpec {
        num_gpus: gpus,
        dph_total: 2.5,
        ..InstanceSpec::new(id)
    };
    Account::of([spec(TRAIN_A, 8), spec(TRAIN_B, 8), spec(EVAL, 1)])
        .start()
        .await
}

fn fleet(dir: &std::path::Path) {
    fleet_file(
        dir,
        &format!(
            "[[instance]]\nid = {TRAIN_A}\nlabel = \"train-a\"\n\
             [[instance]]\nid = {TRAIN_B}\nlabel = \"train-b\"\n\
             [[instance]]\nid = {EVAL}\nlabel = \"eval\"\n"
        ),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_and_globs_choose_and_a_script_needs_yes() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    fleet(dir.path());

    let (code, _, err) = run(dir.path(), Some(&sim), &["stop", "train-*"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("refusing to stop train-a (46000001), train-b (46000002)")
            && err.contains("pass -y"),
        "{err}"
    );
    assert_eq!(sim.stats().total_calls(), 0, "refused before any call");

    let (code, out, err) = run(dir.path(), Some(&sim), &["stop", "-y", "train-*"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        format!("stopped instance {TRAIN_A} (train-a)\nstopped instance {TRAIN_B} (train-b)\n")
    );
    let (code, out, err) = run(dir.path(), Some(&sim), &["reboot", "eval"]).await;
    assert_eq!(
        (code, out.as_str()),
        (0, &*format!("rebooted instance {EVAL} (eval)\n")),
        "{err}"
    );
    let stats = sim.stats();
    assert_eq!(stats.calls("reboot"), 1);
    for id in [TRAIN_A, TRAIN_B, EVAL] {
        assert_eq!(
            stats.actions_on(id).state_changes,
            1,
            "{id}: one action each"
        );
    }

    let (code, _, err) = run(dir.path(), Some(&sim), &["destroy", "eval"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("refusing to destroy eval (46000003)"), "{err}");
    let (code, _, err) = run(dir.path(), Some(&sim), &["destroy", "evl", "-y"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("matches no instance") && err.contains("train-a, train-b, eval"),
        "{err}"
    );
    assert_eq!(sim.stats().actions_on(EVAL).destroys, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_confirmation_on_a_terminal_names_what_it_costs() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    fleet(dir.path());
    for (answer, destroyed) in [("n", 0), ("y", 1)] {
        let inner = format!("exec {} destroy train-a", bin());
        let mut script = tokio::process::Command::new("script")
            .args(["-qec", &inner, "/dev/null"])
            .current_dir(dir.path())
            .env("VAST_API_KEY", sim.key())
            .env("VAST_URL", sim.url())
            .env("HOME", dir.path())
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("run script");
        let mut stdin = script.stdin.take().unwrap();
        stdin
            .write_all(format!("{answer}\n").as_bytes())
            .await
            .unwrap();
        let out = tokio::time::timeout(PATIENCE, script.wait_with_output())
            .await
            .expect("destroy in a pty ends")
            .unwrap();
        drop(stdin);
        let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
        assert!(
            text.contains("Destroy 1 instance? This deletes their disks and cannot be undone."),
            "{text}"
        );
        assert!(
            text.contains("train-a (46000001)  running  8x RTX 4090  $2.50/hr  about $"),
            "{text}"
        );
        assert!(
            text.contains("together: 1 instance (1 running) · $2.50/hr now"),
            "{text}"
        );
        assert_eq!(
            sim.stats().actions_on(TRAIN_A).destroys,
            destroyed,
            "{text}"
        );
    }
}
