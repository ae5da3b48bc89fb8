//! Serde models of the Vast.ai API's JSON, shared by the client and the simulator.
//!
//! The real API returns almost any field as null, sometimes a string where a number is
//! documented, and adds fields without notice. Every field is therefore optional and parsed
//! leniently: an odd value becomes `None`, never an error.

use serde::{Deserialize, Deserializer, Serialize};

/// One instance as the list and show-one endpoints return it. Only the fields vastfleet reads
/// are typed; everything else is ignored on input.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Instance {
    #[serde(deserialize_with = "lenient_u64")]
    pub id: Option<u64>,
    #[serde(deserialize_with = "lenient_string")]
    pub actual_status: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub intended_status: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub cur_state: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub next_state: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub status_msg: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub label: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub gpu_name: Option<String>,
    #[serde(deserialize_with = "lenient_u64")]
    pub num_gpus: Option<u64>,
    #[serde(deserialize_with = "lenient_f64")]
    pub gpu_util: Option<f64>,
    #[serde(deserialize_with = "lenient_f64")]
    pub cpu_util: Option<f64>,
    /// GB used on the instance's disk; -1 when unknown.
    #[serde(deserialize_with = "lenient_f64")]
    pub disk_usage: Option<f64>,
    #[serde(deserialize_with = "lenient_f64")]
    pub dph_total: Option<f64>,
    #[serde(deserialize_with = "lenient_f64")]
    pub start_date: Option<f64>,
    #[serde(deserialize_with = "lenient_f64")]
    pub end_date: Option<f64>,
    #[serde(deserialize_with = "lenient_f64")]
    pub uptime_mins: Option<f64>,
    #[serde(deserialize_with = "lenient_string")]
    pub image_uuid: Option<String>,
    /// The SSH proxy's host and port (`ssh -p PORT root@HOST`), for `ssh` and `status --wide`.
    #[serde(deserialize_with = "lenient_string")]
    pub ssh_host: Option<String>,
    #[serde(deserialize_with = "lenient_u64")]
    pub ssh_port: Option<u64>,
}

impl Instance {
    /// "2x RTX 4090" from `gpu_name` and `num_gpus`.
    pub fn gpu_label(&self) -> Option<String> {
        let name = self
            .gpu_name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())?;
        Some(match self.num_gpus {
            Some(n) if n > 0 => format!("{n}x {name}"),
            _ => name.to_string(),
        })
    }

    /// Time since `start_date` at `now` (seconds since the epoch).
    pub fn uptime(&self, now: f64) -> Option<std::time::Duration> {
        let seconds = (now - self.start_date?).max(0.0);
        std::time::Duration::try_from_secs_f64(seconds).ok()
    }

    /// Dollars spent since `start_date`, unbounded, for the `max_cost` guard
    /// ([`crate::cost::spend_unbounded`]).
    pub fn spend_estimate(&self, now: f64) -> Option<f64> {
        crate::cost::spend_unbounded(self.dph_total, self.start_date, now)
    }

    /// Dollars spent since `start_date` at the current price ([`crate::cost::estimate_spend`]).
    pub fn spend_usd(&self, now: f64) -> Option<f64> {
        crate::cost::estimate_spend(self.dph_total, self.start_date, now)
    }
}

/// The v1 list endpoint's page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListPage {
    pub success: Option<bool>,
    #[serde(deserialize_with = "lenient_u64")]
    pub instances_found: Option<u64>,
    #[serde(deserialize_with = "lenient_u64")]
    pub total_instances: Option<u64>,
    #[serde(deserialize_with = "lenient_string")]
    pub next_token: Option<String>,
    #[serde(deserialize_with = "lenient_instances")]
    pub instances: Vec<Instance>,
}

/// Show-one: `{"instances": {...}}`, or `{"instances": null}` for an unknown or destroyed id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShowOne {
    #[serde(deserialize_with = "lenient_instance")]
    pub instances: Option<Instance>,
}

/// The reply of PUT request_logs (and of other `{success, msg, error}` calls).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Reply {
    pub success: Option<bool>,
    #[serde(deserialize_with = "lenient_string")]
    pub result_url: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub error: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub msg: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub message: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub detail: Option<String>,
}

impl Reply {
    /// The human text of the reply, whichever key the server used for it.
    pub fn text(&self) -> Option<&str> {
        self.msg
            .as_deref()
            .or(self.message.as_deref())
            .or(self.detail.as_deref())
    }
}

/// The longest text field kept from a reply: far above any real label, status message or
/// signed URL, far below a 50 MB label copied into every sweep and every event.
pub const TEXT_FIELD_CAP: usize = 64 * 1024;

fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Some(capped_field(s)),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    })
}

fn capped_field(mut text: String) -> String {
    if text.len() > TEXT_FIELD_CAP {
        let end = (0..=TEXT_FIELD_CAP)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        text.truncate(end);
        text.push('…');
    }
    text
}

fn lenient_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|v| v.is_finite()))
}

/// 2^64, the first float past every u64.
const U64_END: f64 = 18_446_744_073_709_551_616.0;

fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                // `as` saturates: 1.8e22 would become u64::MAX, a real-looking id.
                .filter(|f| (0.0..U64_END).contains(f) && f.fract() == 0.0)
                .map(|f| f as u64)
        }),
        serde_json::Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    })
}

fn lenient_instance<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Instance>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(match value {
        serde_json::Value::Object(_) => serde_json::from_value(value).ok(),
        _ => None,
    })
}

fn lenient_instances<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Instance>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Array(items) => items
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect(),
        _ => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_values_become_none_instead_of_errors() {
        let json = r#"{"id": "42", "actual_status": null, "num_gpus": "two", "dph_total": "0.5",
                       "gpu_util": "n/a", "start_date": 1761008618.225, "extra": [1,2]}"#;
        let inst: Instance = serde_json::from_str(json).unwrap();
        assert_eq!(inst.id, Some(42));
        assert_eq!(inst.actual_status, None);
        assert_eq!(inst.num_gpus, None);
        assert_eq!(inst.dph_total, Some(0.5));
        assert_eq!(inst.gpu_util, None);
        assert_eq!(inst.start_date, Some(1761008618.225));
    }

    #[test]
    fn ids_outside_u64_are_missing_not_saturated() {
        for id in ["1.8e22", "-1", "18446744073709551616", "2.5"] {
            let inst: Instance = serde_json::from_str(&format!(r#"{{"id": {id}}}"#)).unwrap();
            assert_eq!(inst.id, None, "id {id}");
        }
        let inst: Instance = serde_json::from_str(r#"{"id": 4.2e1}"#).unwrap();
        assert_eq!(inst.id, Some(42));
    }

    #[test]
    fn huge_text_fields_are_cut_at_the_cap() {
        let label = "é".repeat(TEXT_FIELD_CAP);
        let json = serde_json::json!({ "id": 1, "label": label }).to_string();
        let inst: Instance = serde_json::from_str(&json).unwrap();
        let kept = inst.label.unwrap();
        assert!(kept.len() <= TEXT_FIELD_CAP + '…'.len_utf8());
        assert!(kept.ends_with('…'));
    }

    #[test]
    fn null_show_one_means_gone() {
        let gone: ShowOne = serde_json::from_str(r#"{"instances": null}"#).unwrap();
        assert_eq!(gone.instances, None);
        let here: ShowOne = serde_json::from_str(r#"{"instances": {"id": 7}}"#).unwrap();
        assert_eq!(here.instances.unwrap().id, Some(7));
    }

    #[test]
    fn a_list_page_skips_rows_that_are_not_objects() {
        let page: ListPage =
            serde_json::from_str(r#"{"instances": [{"id": 1}, 5, null], "next_token": null}"#)
                .unwrap();
        assert_eq!(page.instances.len(), 1);
        assert_eq!(page.next_token, None);
    }
}
