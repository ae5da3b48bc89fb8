//! The v1 list's query language: URL-encoded JSON `order_by`, `select_cols` and
//! `select_filters`, `limit`, and keyset pagination behind an opaque `next_token`.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::reply::ApiFail;
use super::row::STORED_COLUMNS;

type Row = Map<String, Value>;

const MAX_LIMIT: i64 = 25;

/// One parsed request for a page.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ListRequest {
    limit: usize,
    /// The sort key of the last row of the previous page.
    after: Option<Vec<Value>>,
    /// Columns and whether descending; always ends with `id`.
    order: Vec<(String, bool)>,
    cols: Option<Vec<String>>,
    filters: Vec<(String, String, Value)>,
    /// Ties a token to the query that made it.
    fingerprint: String,
}

/// Every column a row has, from a rendered sample (computed columns included).
fn known_columns() -> &'static HashSet<String> {
    static COLUMNS: OnceLock<HashSet<String>> = OnceLock::new();
    COLUMNS.get_or_init(|| {
        let now = tokio::time::Instant::now();
        let clock = super::model::Clock::new(now);
        let sample = super::model::SimInstance::new(super::scenario::InstanceSpec::new(1), now, 1);
        super::row::render(&sample, now, &clock)
            .keys()
            .cloned()
            .collect()
    })
}

fn invalid(msg: impl Into<String>) -> ApiFail {
    ApiFail::new(400, "invalid_request", msg)
}

fn json_param(params: &BTreeMap<String, String>, name: &str) -> Result<Option<Value>, ApiFail> {
    match params.get(name) {
        None => Ok(None),
        Some(text) if text.trim().is_empty() => Ok(None),
        Some(text) => serde_json::from_str(text)
            .map(Some)
            .map_err(|err| invalid(format!("{name} is not valid JSON: {err}"))),
    }
}

impl ListRequest {
    pub fn parse(query: &str) -> Result<ListRequest, ApiFail> {
        let params: BTreeMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let limit = match params.get("limit").map(|l| l.trim().parse::<i64>()) {
            None => MAX_LIMIT,
            Some(Ok(n)) if n <= 0 => 5,
            Some(Ok(n)) => n.min(MAX_LIMIT),
            Some(Err(_)) => return Err(invalid("limit must be an integer")),
        } as usize;

        let mut order = Vec::new();
        if let Some(value) = json_param(&params, "order_by")? {
            let Value::Array(items) = value else {
                return Err(invalid("order_by must be a list of {col, dir}"));
            };
            for item in items {
                let col = item.get("col").and_then(Value::as_str).unwrap_or_default();
                if !known_columns().contains(col) {
                    return Err(invalid(format!("Unknown order_by column '{col}'")));
                }
                let desc = item.get("dir").and_then(Value::as_str) == Some("desc");
                order.push((col.to_owned(), desc));
            }
        }
        if !order.iter().any(|(col, _)| col == "id") {
            order.push(("id".to_owned(), false));
        }

        let cols = match json_param(&params, "select_cols")? {
            None => None,
            Some(Value::Array(items)) => {
                let cols: Vec<String> = items
                    .iter()
                    .filter_map(|c| c.as_str().map(str::to_owned))
                    .collect();
                (!cols.iter().any(|c| c == "*")).then_some(cols)
            }
            Some(_) => return Err(invalid("select_cols must be a list of column names")),
        };

        let mut filters = Vec::new();
        match json_param(&params, "select_filters")? {
            None => {}
            Some(Value::Object(map)) => {
                for (col, ops) in map {
                    if !STORED_COLUMNS.contains(&col.as_str()) {
                        return Err(invalid(format!(
                            "Column '{col}' cannot be filtered (it is computed or unknown)"
                        )));
                    }
                    match ops {
                        Value::Object(ops) => {
                            for (op, value) in ops {
                                check_op(&op, &value)?;
                                filters.push((col.clone(), op, value));
                            }
                        }
                        value => filters.push((col, "eq".to_owned(), value)),
                    }
                }
            }
            Some(_) => return Err(invalid("select_filters must be an object")),
        }

        let fingerprint = format!(
            "{:016x}",
            fnv1a(&serde_json::to_string(&json!([order, filters])).unwrap_or_default())
        );
        let after = match params.get("after_token").filter(|t| !t.is_empty()) {
            None => None,
            Some(token) => Some(decode_token(token, &fingerprint, order.len())?),
        };
        Ok(ListRequest {
            limit,
            after,
            order,
            cols,
            filters,
            fingerprint,
        })
    }

    /// One page of `rows` (the whole account), in the v1 list's response shape.
    pub fn page(&self, rows: Vec<Row>) -> Value {
        let mut label_counts: BTreeMap<String, u64> = BTreeMap::new();
        for row in &rows {
            let label = row.get("label").and_then(Value::as_str).unwrap_or_default();
            *label_counts.entry(label.to_owned()).or_default() += 1;
        }
        let mut matching: Vec<Row> = rows.into_iter().filter(|r| self.matches(r)).collect();
        matching.sort_by(|a, b| self.compare(&self.key(a), &self.key(b)));
        let total = matching.len();
        let rest: Vec<Row> = match &self.after {
            None => matching,
            Some(after) => matching
                .into_iter()
                .filter(|r| self.compare(&self.key(r), after) == Ordering::Greater)
                .collect(),
        };
        let more = rest.len() > self.limit;
        let page: Vec<Row> = rest.into_iter().take(self.limit).collect();
        let next_token = match page.last() {
            Some(last) if more => Value::String(encode_token(&self.key(last), &self.fingerprint)),
            _ => Value::Null,
        };
        let instances: Vec<Value> = page
            .into_iter()
            .map(|r| Value::Object(self.select(r)))
            .collect();
        json!({
            "success": true,
            "instances_found": instances.len(),
            "total_instances": total,
            "label_counts": label_counts,
            "next_token": next_token,
            "instances": instances,
        })
    }

    fn matches(&self, row: &Row) -> bool {
        self.filters.iter().all(|(col, op, want)| {
            let have = row.get(col).unwrap_or(&Value::Null);
            match op.as_str() {
                "eq" => same(have, want),
                "neq" => !same(have, want),
                "gt" => order_of(have, want) == Some(Ordering::Greater),
                "gte" => matches!(
                    order_of(have, want),
                    Some(Ordering::Greater | Ordering::Equal)
                ),
                "lt" => order_of(have, want) == Some(Ordering::Less),
                "lte" => matches!(order_of(have, want), Some(Ordering::Less | Ordering::Equal)),
                "in" => list(want).iter().any(|w| same(have, w)),
                "notin" => !list(want).iter().any(|w| same(have, w)),
                _ => false,
            }
        })
    }

    fn key(&self, row: &Row) -> Vec<Value> {
        self.order
            .iter()
            .map(|(col, _)| row.get(col).cloned().unwrap_or(Value::Null))
            .collect()
    }

    fn compare(&self, a: &[Value], b: &[Value]) -> Ordering {
        for (((_, desc), x), y) in self.order.iter().zip(a).zip(b) {
            let ord = sort_order(x, y);
            let ord = if *desc { ord.reverse() } else { ord };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        Ordering::Equal
    }

    fn select(&self, row: Row) -> Row {
        match &self.cols {
            None => row,
            Some(cols) => cols
                .iter()
                .map(|c| (c.clone(), row.get(c).cloned().unwrap_or(Value::Null)))
                .collect(),
        }
    }
}

fn check_op(op: &str, value: &Value) -> Result<(), ApiFail> {
    match op {
        "eq" | "neq" | "gt" | "gte" | "lt" | "lte" => Ok(()),
        "in" | "notin" if value.is_array() => Ok(()),
        "in" | "notin" => Err(invalid(format!("operator '{op}' needs a list"))),
        _ => Err(invalid(format!("Unknown filter operator '{op}'"))),
    }
}

fn list(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or_default()
}

/// Numbers compare as numbers (also when one side is a numeric string, as query strings
/// often carry ids); everything else by JSON equality.
fn same(a: &Value, b: &Value) -> bool {
    match (number(a), number(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Comparison for `gt`/`lt` filters: none with null, as in SQL.
fn order_of(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Null, _) | (_, Value::Null) => None,
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => Some(number(a)?.total_cmp(&number(b)?)),
    }
}

/// A total order for sorting, with nulls last as PostgreSQL sorts ascending.
fn sort_order(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Bool(_) => 0,
            Value::Number(_) => 1,
            Value::String(_) => 2,
            Value::Array(_) | Value::Object(_) => 3,
            Value::Null => 4,
        }
    }
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => number(a)
            .unwrap_or(0.0)
            .total_cmp(&number(b).unwrap_or(0.0)),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Tokens are base64 JSON, as the real API's are (`eyJ2YWx1ZXMiOi…`). The first field's text
/// and the padding spaces are chosen so every token holds `/`, `+` and a trailing `=`: a client
/// that does not URL-encode the token (a `+` read back as a space) gets `invalid_token`.
fn encode_token(key: &[Value], fingerprint: &str) -> String {
    // `{"p":"` is 6 bytes, so "???" and ">>>" each fill one 3-byte group: "Pz8/" and "Pj4+".
    let mut inner = format!(
        "{{\"p\":\"???>>>\",\"q\":{},\"after\":{}",
        json!(fingerprint),
        Value::Array(key.to_vec())
    );
    while inner.len() % 3 != 1 {
        inner.push(' ');
    }
    inner.push('}');
    BASE64.encode(inner)
}

fn decode_token(token: &str, fingerprint: &str, key_len: usize) -> Result<Vec<Value>, ApiFail> {
    let bad = || ApiFail::new(400, "invalid_token", "Invalid or expired pagination token.");
    let bytes = BASE64.decode(token).map_err(|_| bad())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if value.get("q").and_then(Value::as_str) != Some(fingerprint) {
        return Err(bad());
    }
    match value.get("after") {
        Some(Value::Array(key)) if key.len() == key_len => Ok(key.clone()),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: u64) -> Vec<Row> {
        (1..=n)
            .map(|id| {
                let label = if id % 2 == 0 {
                    json!("even")
                } else {
                    Value::Null
                };
                let status = if id % 3 == 0 { "stopped" } else { "running" };
                json!({"id": id, "label": label, "actual_status": status, "dph_total": id as f64})
                    .as_object()
                    .cloned()
                    .unwrap()
            })
            .collect()
    }

    fn q(pairs: &[(&str, &str)]) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    }

    fn ids(page: &Value) -> Vec<u64> {
        page["instances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_u64().unwrap())
            .collect()
    }

    #[test]
    fn pages_follow_tokens_to_the_end() {
        let mut seen = Vec::new();
        let mut token = String::new();
        loop {
            let query = q(&[("limit", "4"), ("after_token", &token)]);
            let page = ListRequest::parse(&query).unwrap().page(rows(10));
            assert_eq!(page["total_instances"], 10);
            seen.extend(ids(&page));
            match page["next_token"].as_str() {
                Some(t) => token = t.to_owned(),
                None => break,
            }
        }
        assert_eq!(seen, (1..=10).collect::<Vec<_>>());
    }

    #[test]
    fn tokens_are_base64_json_with_the_characters_that_need_encoding() {
        let page = ListRequest::parse(&q(&[("limit", "2")]))
            .unwrap()
            .page(rows(5));
        let token = page["next_token"].as_str().unwrap();
        assert!(
            token.contains('+') && token.contains('/') && token.ends_with('='),
            "{token}"
        );
        let inner: Value = serde_json::from_slice(&BASE64.decode(token).unwrap()).unwrap();
        assert_eq!(inner["after"], json!([2]));
        // Sent without URL-encoding, its `+` arrives as a space: refused, as a real one is.
        let raw = format!("limit=2&after_token={token}");
        let err = ListRequest::parse(&raw).unwrap_err();
        assert_eq!(err.error, "invalid_token");
    }

    #[test]
    fn limits_filters_order_and_labels() {
        let page = ListRequest::parse(&q(&[("limit", "0")]))
            .unwrap()
            .page(rows(30));
        assert_eq!(ids(&page).len(), 5);
        let page = ListRequest::parse(&q(&[("limit", "100")]))
            .unwrap()
            .page(rows(30));
        assert_eq!(ids(&page).len(), 25);
        assert_eq!(page["label_counts"], json!({"": 15, "even": 15}));

        let f = r#"{"actual_status": {"eq": "stopped"}, "id": {"notin": [3]}}"#;
        let o = r#"[{"col": "dph_total", "dir": "desc"}]"#;
        let page = ListRequest::parse(&q(&[("select_filters", f), ("order_by", o)]))
            .unwrap()
            .page(rows(10));
        assert_eq!(ids(&page), [9, 6]);

        let f = r#"{"label": {"in": [null]}, "id": {"lte": 5}}"#;
        let page = ListRequest::parse(&q(&[
            ("select_filters", f),
            ("select_cols", r#"["id","nope"]"#),
        ]))
        .unwrap()
        .page(rows(10));
        assert_eq!(ids(&page), [1, 3, 5]);
        assert_eq!(page["instances"][0], json!({"id": 1, "nope": null}));
    }

    #[test]
    fn bad_requests_are_refused() {
        let cases = [
            q(&[("select_filters", r#"{"dph_total": {"gt": 1}}"#)]),
            q(&[("select_filters", r#"{"id": {"like": 1}}"#)]),
            q(&[("order_by", r#"[{"col": "nope"}]"#)]),
            q(&[("limit", "many")]),
            q(&[("select_filters", "{not json")]),
        ];
        for query in cases {
            assert_eq!(
                ListRequest::parse(&query).unwrap_err().error,
                "invalid_request",
                "{query}"
            );
        }
        let err = ListRequest::parse(&q(&[("after_token", "zz")])).unwrap_err();
        assert_eq!((err.status, err.error), (400, "invalid_token"));
        // A token from another query is refused too.
        let page = ListRequest::parse(&q(&[("limit", "2")]))
            .unwrap()
            .page(rows(5));
        let token = page["next_token"].as_str().unwrap();
        let other = q(&[("after_token", token), ("order_by", r#"[{"col":"label"}]"#)]);
        assert_eq!(
            ListRequest::parse(&other).unwrap_err().error,
            "invalid_token"
        );
    }
}
