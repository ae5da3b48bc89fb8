//! `vastfleet status` answered by the fleet's running watcher (issue 15): its live view already
//! holds every row of its last sweep, so asking the API again would only spend the budget the
//! watcher lives on (and could earn it a 429). No key is read on this path.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use super::Line;
use crate::config::Settings;
use crate::live::snapshot::{FleetSnapshot, InstanceView};
use crate::live::{client, LiveClient};

/// The file's lines from the watcher keeping `state_path`, with its pid; `None` when no
/// watcher answers or it cannot tell the whole story (an instance of the file it does not
/// watch, as under `--only`, or one its first sweep has not reached yet): then the API is asked.
pub async fn lines(settings: &Settings, state_path: &Path, now: f64) -> Option<(Vec<Line>, u32)> {
    let live = LiveClient::new(client::locate(state_path));
    let snapshot = live.fleet().await.ok()?;
    Some((lines_from(settings, &snapshot, now)?, snapshot.pid))
}

/// The file's instances in file order, as the snapshot shows them (pure).
pub fn lines_from(settings: &Settings, snapshot: &FleetSnapshot, now: f64) -> Option<Vec<Line>> {
    let by_id: HashMap<u64, &InstanceView> = snapshot.instances.iter().map(|i| (i.id, i)).collect();
    settings
        .instances
        .iter()
        .map(|instance| {
            let view = by_id.get(&instance.id)?;
            let uptime = view
                .started_at
                .and_then(|start| Duration::try_from_secs_f64((now - start).max(0.0)).ok());
            let spend_usd = match (view.dph_total, uptime) {
                (Some(dph), Some(up)) => Some(dph * up.as_secs_f64() / 3600.0),
                _ => None,
            };
            Some(Line {
                id: instance.id,
                label: instance.label.clone(),
                status: view.status.clone()?,
                gpu: view.gpu.clone(),
                dph_total: view.dph_total,
                uptime,
                spend_usd: spend_usd.filter(|s| s.is_finite()),
                message: view.message.clone(),
                ssh: view.ssh.clone(),
                in_fleet: true,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;
    use crate::status::Status;

    const NOW: f64 = 10_000.0;

    fn settings() -> Settings {
        let text = "[[instance]]\nid = 1\nlabel = \"a\"\n[[instance]]\nid = 2\n";
        Settings::from_toml(text, Path::new("fleet.toml")).unwrap()
    }

    fn view(id: u64, status: Option<&str>) -> serde_json::Value {
        json!({
            "id": id, "label": format!("x{id}"), "status": status, "message": "ok",
            "gpu": "2x RTX 4090", "dph_total": 0.5, "spend_usd": 1.0,
            "started_at": NOW - 7200.0, "last_line": null, "last_line_at": null,
            "log_lines": 0, "completions": 0, "failed_actions": 0, "guard": null,
            "actions": [], "error": null, "ssh": "ssh4.vast.ai:18926",
        })
    }

    fn snapshot(instances: Vec<serde_json::Value>) -> FleetSnapshot {
        serde_json::from_value(json!({
            "version": crate::live::snapshot::VERSION, "pid": 7, "at": NOW,
            "started_at": NOW - 60.0, "fleet_file": "fleet.toml", "instances": instances,
            "totals": { "instances": 0, "by_status": {}, "dph_running": 0.0,
                        "spend_usd": 0.0, "completions": 0 },
            "api": { "health": { "state": "ok" }, "per_second": 2.0, "calls": 1,
                     "rate_limited": 0, "endpoints": [] },
        }))
        .unwrap()
    }

    #[test]
    fn the_files_instances_in_file_order_with_the_files_labels() {
        let snap = snapshot(vec![view(2, Some("stopped")), view(1, Some("running"))]);
        let lines = lines_from(&settings(), &snap, NOW + 3600.0).unwrap();
        assert_eq!(lines.iter().map(|l| l.id).collect::<Vec<_>>(), [1, 2]);
        let first = &lines[0];
        assert_eq!(first.label.as_deref(), Some("a"));
        assert_eq!(
            lines[1].label, None,
            "the file's label, not the watcher's display name"
        );
        assert_eq!(first.status, Status::Running);
        assert_eq!(lines[1].status, Status::Stopped);
        assert_eq!(first.gpu.as_deref(), Some("2x RTX 4090"));
        assert_eq!(first.uptime, Some(Duration::from_secs(3 * 3600)));
        assert_eq!(
            first.spend_usd,
            Some(1.5),
            "spend up to now, not the snapshot's"
        );
        assert_eq!(
            first.ssh.as_ref().unwrap().to_string(),
            "ssh4.vast.ai:18926"
        );
    }

    #[test]
    fn an_unwatched_or_unswept_instance_sends_status_to_the_api() {
        let missing = snapshot(vec![view(1, Some("running"))]);
        assert_eq!(lines_from(&settings(), &missing, NOW), None);
        let unswept = snapshot(vec![view(1, Some("running")), view(2, None)]);
        assert_eq!(lines_from(&settings(), &unswept, NOW), None);
    }

    #[test]
    fn a_hostile_ssh_address_in_a_snapshot_is_refused() {
        let mut bad = view(1, Some("running"));
        bad["ssh"] = json!("-oProxyCommand=touch /tmp/x:22");
        let text = serde_json::to_string(&bad).unwrap();
        assert!(serde_json::from_str::<InstanceView>(&text).is_err());
    }
}
