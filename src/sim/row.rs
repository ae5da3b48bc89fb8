//! An instance as the API shows it: every field of vast-api.md §3, so the official client's
//! tables and `--raw` output work, plus which columns the v1 list can filter on.

use serde_json::{json, Map, Value};
use tokio::time::Instant;

use super::model::{Clock, Phase, SimInstance};

/// Columns stored in the database: `select_filters` may use them. Every other column of a
/// row is computed when it is read, and filtering on it is a 400.
pub(crate) const STORED_COLUMNS: &[&str] = &[
    "id",
    "actual_status",
    "intended_status",
    "cur_state",
    "next_state",
    "status_msg",
    "label",
    "gpu_name",
    "verification",
    "machine_id",
    "host_id",
    "bundle_id",
    "template_id",
    "image_uuid",
    "geolocation",
    "start_date",
    "end_date",
    "ssh_host",
    "ssh_port",
    "public_ipaddr",
    "disk_space",
    "is_bid",
    "static_ip",
];

/// A stable pseudo-random number in `0..modulo` per instance and purpose, so that machine ids,
/// ports and the like look real and never change between reads.
fn pick(id: u64, salt: u64, modulo: u64) -> u64 {
    let mut x = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt.wrapping_mul(0xD1B5_4A32_D192_ED03);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 29;
    x % modulo.max(1)
}

const PLACES: [&str; 5] = [
    "Washington, US",
    "Quebec, CA",
    "Bavaria, DE",
    "Ontario, CA",
    "Texas, US",
];

/// The full row of one instance at `now`: its state, hardware and gauges, prices, times,
/// image, how to reach it, and the host it runs on, in that order.
pub(crate) fn render(inst: &SimInstance, now: Instant, clock: &Clock) -> Map<String, Value> {
    let now_epoch = clock.epoch(now);
    let mut map = Map::new();
    for part in [
        state(inst, now),
        hardware(inst, now, now_epoch),
        prices(inst),
        times(inst, now, clock.epoch(inst.created_at()), now_epoch),
        image(inst),
        access(inst),
        host(inst),
    ] {
        if let Value::Object(fields) = part {
            map.extend(fields);
        }
    }
    map
}

fn state(inst: &SimInstance, now: Instant) -> Value {
    json!({
        "id": inst.spec.id,
        "actual_status": inst.actual_status(),
        "intended_status": inst.intended_status(),
        "cur_state": inst.cur_state(),
        "next_state": inst.intended_status(),
        "status_msg": inst.status_msg(now),
        "label": inst.label,
    })
}

/// The GPUs and machine, with live gauges while it runs (set from outside or scripted, else a
/// little wobble so a table that refreshes looks alive).
fn hardware(inst: &SimInstance, now: Instant, now_epoch: f64) -> Value {
    let spec = &inst.spec;
    let gpus = u64::from(spec.num_gpus);
    let running = *inst.phase() == Phase::Running;
    let wobble = ((now_epoch / 7.0 + spec.id as f64).sin() + 1.0) / 2.0;
    let (gpu_script, cpu_script) = inst.gauges(now);
    let gpu_util = running.then(|| gpu_script.unwrap_or((70.0 + 29.0 * wobble).round()));
    let cpu_util = if running {
        cpu_script.unwrap_or(0.3 + 0.5 * wobble)
    } else {
        0.0
    };
    let gpu_temp = running.then(|| (55.0 + 20.0 * wobble).round());
    json!({
        "gpu_name": spec.gpu_name,
        "num_gpus": gpus,
        "gpu_util": gpu_util,
        "gpu_temp": gpu_temp,
        "gpu_ram": 24_564 * gpus,
        "gpu_totalram": 24_564 * gpus,
        "cpu_ram": 64_000 * gpus,
        "cpu_cores_effective": 8.0 * gpus as f64,
        "cpu_util": cpu_util,
        "disk_space": 50.0,
        "disk_usage": if inst.has_container() { 12.5 } else { -1.0 },
        "disk_util": if inst.has_container() { 0.25 } else { -1.0 },
        "mem_usage": running.then_some(4.1 + wobble),
        "mem_limit": running.then_some(64.0),
        "vmem_usage": running.then_some(10.0 + 8.0 * wobble),
    })
}

/// The base price under the total (the host's share).
fn dph_base(inst: &SimInstance) -> f64 {
    inst.spec.dph_total * 0.9
}

fn prices(inst: &SimInstance) -> Value {
    json!({
        "dph_total": inst.spec.dph_total,
        "dph_base": dph_base(inst),
        "storage_cost": 0.1,
        "inet_up_cost": 0.005,
        "inet_down_cost": 0.005,
    })
}

fn times(inst: &SimInstance, now: Instant, start_date: f64, now_epoch: f64) -> Value {
    json!({
        "start_date": start_date,
        "end_date": start_date + 30.0 * 86_400.0,
        "duration": now_epoch - start_date,
        "uptime_mins": inst.uptime_mins(now),
    })
}

fn image(inst: &SimInstance) -> Value {
    json!({
        "image_uuid": inst.spec.image,
        "image_runtype": "ssh ssh_direc ssh_proxy",
        "image_args": [],
        "extra_env": [["VASTFLEET_SIM", "1"]],
        "onstart": "entrypoint.sh",
        "jupyter_token": format!("{:016x}", pick(inst.spec.id, 6, u64::MAX)),
    })
}

/// SSH through the proxy, the direct ports (published only while it runs) and the address.
fn access(inst: &SimInstance) -> Value {
    let id = inst.spec.id;
    let running = *inst.phase() == Phase::Running;
    let ssh_idx = 1 + pick(id, 2, 9);
    let direct_start = 20_000 + pick(id, 4, 30_000);
    let ports = running.then(
        || json!({ "22/tcp": [{"HostIp": "0.0.0.0", "HostPort": direct_start.to_string()}] }),
    );
    json!({
        "ssh_host": format!("ssh{ssh_idx}.vast.ai"),
        "ssh_port": 10_000 + pick(id, 3, 50_000),
        "ssh_idx": ssh_idx.to_string(),
        "public_ipaddr": format!("203.0.113.{}", 1 + pick(id, 5, 250)),
        "local_ipaddrs": "172.17.0.2 10.0.0.5\n",
        "ports": ports,
        "direct_port_start": direct_start,
        "direct_port_end": direct_start + 10,
    })
}

/// The machine and host behind the instance, and the offer it was rented on.
fn host(inst: &SimInstance) -> Value {
    let id = inst.spec.id;
    json!({
        "machine_id": 10_000 + pick(id, 1, 40_000),
        "host_id": 100_000 + pick(id, 7, 900_000),
        "bundle_id": 500_000_000 + pick(id, 8, 100_000_000),
        "template_id": null,
        "template_hash_id": null,
        "template_name": null,
        "geolocation": PLACES[pick(id, 9, PLACES.len() as u64) as usize],
        "verification": "verified",
        "reliability2": 0.99 - 0.01 * pick(id, 10, 5) as f64,
        "inet_up": 800.0 + pick(id, 11, 400) as f64,
        "inet_down": 900.0 + pick(id, 12, 600) as f64,
        "is_bid": false,
        "min_bid": dph_base(inst) * 0.5,
        "static_ip": false,
        "volume_info": [],
        "logo": "/static/logos/pytorch.png",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scenario::InstanceSpec;

    #[test]
    fn rows_carry_every_documented_field_and_are_stable() {
        let t0 = Instant::now();
        let clock = Clock::new(t0);
        let inst = SimInstance::new(InstanceSpec::new(42), t0, 10);
        let row = render(&inst, t0, &clock);
        for field in [
            "id",
            "actual_status",
            "start_date",
            "dph_total",
            "gpu_util",
            "extra_env",
        ] {
            assert!(row.contains_key(field), "{field}");
        }
        for col in STORED_COLUMNS {
            assert!(row.contains_key(*col), "{col}");
        }
        assert_eq!(row["actual_status"], "running");
        assert!(row["start_date"].as_f64().unwrap() > 1.7e9);
        assert_eq!(render(&inst, t0, &clock)["ssh_port"], row["ssh_port"]);
        // The model is shared with the client: the row must parse with it.
        let parsed: crate::api::models::Instance =
            serde_json::from_value(Value::Object(row)).unwrap();
        assert_eq!(parsed.id, Some(42));
    }

    #[test]
    fn scripted_gauges_follow_the_running_time() {
        let t0 = Instant::now();
        let clock = Clock::new(t0);
        let spec = InstanceSpec {
            gauges: vec![crate::sim::scenario::GaugeItem {
                at: crate::sim::scenario::Dur::secs(60),
                gpu_util: Some(0.0),
                cpu_util: Some(0.01),
            }],
            ..InstanceSpec::new(42)
        };
        let mut inst = SimInstance::new(spec, t0, 10);
        let busy = render(&inst, t0 + std::time::Duration::from_secs(59), &clock);
        assert!(busy["gpu_util"].as_f64().unwrap() >= 70.0);
        let later = t0 + std::time::Duration::from_secs(61);
        inst.advance(later);
        let idle = render(&inst, later, &clock);
        assert_eq!(idle["gpu_util"], 0.0);
        assert_eq!(idle["cpu_util"], 0.01);
    }
}
