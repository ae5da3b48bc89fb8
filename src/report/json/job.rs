//! The fields of a job's outcome: completions and failures, with what the GPU cost.

use serde_json::{json, Value};

use super::cents;
use crate::report::event::{EventKind, RunCost};
use crate::report::sanitize::without_line_end;

pub(super) fn completion(kind: &EventKind) -> Value {
    let EventKind::Completion {
        count,
        result_url,
        gpu,
        dph_total,
        run,
        ..
    } = kind
    else {
        return json!({});
    };
    let mut fields = json!({
        "count": count,
        "result_url": result_url,
        "gpu": gpu,
        // serde_json writes a non-finite float as null.
        "dph_total": dph_total,
    });
    add_run(&mut fields, *run);
    fields
}

pub(super) fn failure(kind: &EventKind) -> Value {
    let EventKind::Failure {
        reason,
        count,
        line,
        context,
        gpu,
        dph_total,
        run,
        ..
    } = kind
    else {
        return json!({});
    };
    let mut fields = json!({
        "reason": reason.as_str(),
        "count": count,
        "line": line.as_deref().map(without_line_end),
        "context": context.iter().map(|l| without_line_end(l)).collect::<Vec<_>>(),
        "gpu": gpu,
        "dph_total": dph_total,
    });
    add_run(&mut fields, *run);
    fields
}

/// A job's `duration_s` and `cost_usd`, when the row had a start date.
fn add_run(fields: &mut Value, run: Option<RunCost>) {
    if let (Some(run), Value::Object(map)) = (run, fields) {
        map.insert("duration_s".into(), run.duration.as_secs().into());
        map.insert("cost_usd".into(), json!(run.cost_usd.map(cents)));
    }
}
