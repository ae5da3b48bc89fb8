//! The fields of a job's outcome: completions and failures, with what the GPU cost.

use serde_json::{json, Value};

use super::cents;
use crate::report::event::{Completion, Failure, JobCost};
use crate::report::sanitize::without_line_end;

pub(super) fn completion(completion: &Completion) -> Value {
    let fields = json!({
        "count": completion.count,
        "result_url": completion.result_url,
    });
    with_cost(fields, &completion.cost)
}

pub(super) fn failure(failure: &Failure) -> Value {
    let context = failure.context.iter().map(|l| without_line_end(l));
    let fields = json!({
        "reason": failure.reason.as_str(),
        "count": failure.count,
        "line": failure.line.as_deref().map(without_line_end),
        "context": context.collect::<Vec<_>>(),
    });
    with_cost(fields, &failure.cost)
}

/// `fields` and then the machine, its price, and the job's `duration_s` and `cost_usd` when
/// the row had a start date.
fn with_cost(mut fields: Value, cost: &JobCost) -> Value {
    if let Value::Object(map) = &mut fields {
        map.insert("gpu".into(), json!(cost.gpu));
        // serde_json writes a non-finite float as null.
        map.insert("dph_total".into(), json!(cost.dph_total));
        if let Some(run) = cost.run {
            map.insert("duration_s".into(), run.duration.as_secs().into());
            map.insert("cost_usd".into(), json!(run.cost_usd.map(cents)));
        }
    }
    fields
}
