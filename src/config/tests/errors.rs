//! Every validation error, with its exact line:col and help, one table row each.

use std::path::Path;

use crate::config::Settings;

fn error(text: &str) -> String {
    match Settings::from_toml(text, Path::new("fleet.toml")) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(err) => err.to_string(),
    }
}

const DURATION_HELP: &str =
    "  help: write a number and a unit, e.g. \"500ms\", \"5s\", \"20m\", \"1h30m\"";
const REGEX_HELP: &str = "  help: patterns use Rust regex syntax (https://docs.rs/regex/#syntax); escape ( ) [ ] . * + ? with a backslash";

#[test]
fn every_error_names_its_place_and_the_fix() {
    let policy_keys = "id, label, interval, max_backoff, tail, history, completion, result, \
        on_complete, failure, on_failure, on_exit, max_runtime, max_cost, idle, stuck, silent, destroy_after_stop, \
        contract_warning, on_guard";
    let cases: Vec<(&str, String)> = vec![
        (
            "[[instance]]\nid = 28421359\n\n[[instance]]\nid = 28421359\n",
            "fleet.toml:5:6: duplicate instance id 28421359 (first at line 2)\n  help: remove one of the two [[instance]] tables".into(),
        ),
        (
            "[[instance]]\nid = 0\n",
            "fleet.toml:2:6: instance id 0 is not a positive number\n  help: instance ids are the numbers `vastai show instances` lists".into(),
        ),
        (
            "[[instance]]\nid = -7\n",
            "fleet.toml:2:6: instance id -7 is not a positive number\n  help: instance ids are the numbers `vastai show instances` lists".into(),
        ),
        (
            "[[instance]]\nlabel = \"x\"\n",
            "fleet.toml:1:1: [[instance]] without `id`\n  help: every [[instance]] needs `id = NUMBER`".into(),
        ),
        (
            "[[instance]]\nid = 1\nintervall = \"5s\"\n",
            format!("fleet.toml:3:1: unknown key `intervall`\n  help: did you mean `interval`? valid keys here: {policy_keys}"),
        ),
        (
            "[default]\ntail = 5\n",
            "fleet.toml:1:2: unknown key `default`\n  help: did you mean `defaults`? valid keys here: api, defaults, instance, discover, notify, budget".into(),
        ),
        (
            "[api]\nrate_limit = { per_second = 2, bursts = 4 }\n",
            "fleet.toml:2:32: unknown key `bursts`\n  help: did you mean `burst`? valid keys here: per_second, burst".into(),
        ),
        (
            "[defaults]\non_complete = \"halt\"\n",
            "fleet.toml:2:15: unknown value `halt`\n  help: valid values: none, stop, destroy".into(),
        ),
        (
            "[defaults]\ninterval = \"5\"\n",
            format!("fleet.toml:2:12: invalid duration \"5\" for `interval`: time unit needed, for example 5sec or 5ms\n{DURATION_HELP}"),
        ),
        (
            "[defaults]\ninterval = \"50ms\"\n",
            "fleet.toml:2:12: `interval` must be at least 100ms\n  help: polling faster only queues calls behind the shared rate limiter".into(),
        ),
        (
            "[defaults]\ninterval = \"10s\"\nmax_backoff = \"5s\"\n",
            "fleet.toml:3:15: `max_backoff` (5s) is shorter than `interval` (10s)\n  help: the backoff cap must be at least the normal poll period".into(),
        ),
        (
            "[defaults]\nmax_backoff = \"20s\"\n[[instance]]\nid = 1\ninterval = \"1m\"\n",
            "fleet.toml:2:15: `max_backoff` (20s) is shorter than `interval` (1m)\n  help: the backoff cap must be at least the normal poll period".into(),
        ),
        ("[defaults]\ntail = 0\n", "fleet.toml:2:8: `tail` is 0; it must be between 1 and 10000".into()),
        ("[[instance]]\nid = 1\ntail = 10001\n", "fleet.toml:3:8: `tail` is 10001; it must be between 1 and 10000".into()),
        ("[defaults]\nhistory = -1\n", "fleet.toml:2:11: `history` is -1; it must be between 0 and 10000".into()),
        (
            "[defaults]\ntail = \"200\"\n",
            "fleet.toml:2:8: `tail` must be a whole number, like tail = 200\n  help: numbers are written without quotes".into(),
        ),
        (
            "[defaults]\ncompletion = '(done'\n",
            format!("fleet.toml:2:14: invalid regex in `completion`: unclosed group\n{REGEX_HELP}"),
        ),
        (
            "[defaults]\ncompletion = ''\n",
            "fleet.toml:2:14: `completion` matches an empty line, so every line would match\n  help: make the pattern require at least one character".into(),
        ),
        (
            "[[instance]]\nid = 1\nresult = 'x*'\n",
            "fleet.toml:3:10: `result` matches an empty line, so every line would match\n  help: make the pattern require at least one character".into(),
        ),
        (
            "[defaults]\nresult = \"https?://\\S+\"\n",
            "fleet.toml:2:21: missing escaped value, expected `b`, `e`, `f`, `n`, `r`, `\\`, `\"`, `x`, `u`, `U`\n  help: in \"…\" strings a backslash starts an escape: write regexes in single quotes, e.g. result = 'https?://\\S+'".into(),
        ),
        (
            "[defaults\ntail = 1\n",
            "fleet.toml:1:10: unclosed table, expected `]`\n  help: this is not valid TOML; see https://toml.io for the syntax".into(),
        ),
        (
            "[defaults]\nmax_cost = 0\n",
            "fleet.toml:2:12: `max_cost` is 0; it must be more than 0 dollars\n  help: remove the key to turn the cost guard off".into(),
        ),
        (
            "[defaults]\nidle = { gpu_util_below = 150, for = \"20m\" }\n",
            "fleet.toml:2:27: `gpu_util_below` is 150; it must be a percentage in (0, 100]".into(),
        ),
        ("[defaults]\nidle = { gpu_util_below = 5 }\n", "fleet.toml:2:8: missing key `for`".into()),
        (
            "[defaults]\nidle = { gpu_util_below = 5, for = \"soon\" }\n",
            format!("fleet.toml:2:36: invalid duration \"soon\" for `for`: expected number at 0\n{DURATION_HELP}"),
        ),
        (
            "[defaults]\nstuck = \"0s\"\n",
            format!("fleet.toml:2:9: `stuck` must be longer than zero\n{DURATION_HELP}"),
        ),
        (
            "[defaults]\non_guard = \"pause\"\n",
            "fleet.toml:2:12: unknown value `pause`\n  help: valid values: none, stop, destroy".into(),
        ),
        (
            "[api]\nurl = \"ftp://example.com\"\n",
            "fleet.toml:2:7: `url` must be an http or https URL, not ftp:\n  help: write a full http(s) URL, e.g. url = \"https://console.vast.ai\"".into(),
        ),
        (
            "[api]\nurl = \"console.vast.ai\"\n",
            "fleet.toml:2:7: invalid URL in `url`: relative URL without a base\n  help: write a full http(s) URL, e.g. url = \"https://console.vast.ai\"".into(),
        ),
        (
            "[api]\nrate_limit = { per_second = 0 }\n",
            "fleet.toml:2:29: `per_second` is 0; it must be more than 0\n  help: e.g. rate_limit = { per_second = 2, burst = 4 }".into(),
        ),
        ("[api]\nrate_limit = { burst = 0 }\n", "fleet.toml:2:24: `burst` is 0; it must be between 1 and 4294967295".into()),
        (
            "[api]\napi_down_after = \"0s\"\n",
            format!("fleet.toml:2:18: `api_down_after` must be longer than zero\n{DURATION_HELP}"),
        ),
        (
            "[discover]\nall = true\nlabel = \"a*\"\n",
            "fleet.toml:3:9: [discover] has both `all = true` and `label`\n  help: use `all = true` (every instance of the account) or `label = \"glob*\"`, not both".into(),
        ),
        (
            "[discover]\nall = false\n",
            "fleet.toml:1:1: [discover] selects nothing\n  help: use `all = true` (every instance of the account) or `label = \"glob*\"`, not both".into(),
        ),
        (
            "[discover]\nlabel = \"train-[a\"\n",
            "fleet.toml:2:9: invalid glob in `label`: unclosed character class; missing ']'\n  help: globs use * ? [abc] {a,b}, e.g. label = \"train-*\"".into(),
        ),
        (
            "[[notify]]\nurl = \"hooks.slack.com\"\n",
            "fleet.toml:2:7: invalid URL in `url`: relative URL without a base\n  help: write a full http(s) URL, e.g. url = \"https://ntfy.sh/my-fleet\"".into(),
        ),
        (
            "[[notify]]\nurl = \"https://ntfy.sh/x\"\nevents = [\"completion\", \"done\"]\n",
            "fleet.toml:3:25: unknown event \"done\"\n  help: valid events: completion, failure, action, guard, budget, gone, api_down".into(),
        ),
        (
            "[[notify]]\nurl = \"https://ntfy.sh/x\"\nevents = []\n",
            "fleet.toml:3:10: `events` is empty, so this webhook would never be called\n  help: remove `events` for the default (completion, failure, action, guard, budget, gone, api_down)".into(),
        ),
        (
            "[[notify]]\nurl = \"https://x.io\"\nformat = \"teams\"\n",
            "fleet.toml:3:10: unknown value `teams`\n  help: valid values: json, slack, discord, ntfy".into(),
        ),
        (
            "[[instance]]\nid = 1\nlabel = \" \"\n",
            "fleet.toml:3:9: a label must not be empty\n  help: remove `label` to prefix the lines with the id".into(),
        ),
        (
            "[[instance]]\nid = 1\nlabel = \"a\\tb\"\n",
            "fleet.toml:3:9: a label must fit on one line, without tabs or control characters\n  help: remove `label` to prefix the lines with the id".into(),
        ),
    ];
    let wrong: Vec<String> = cases
        .iter()
        .filter_map(|(text, expected)| {
            let actual = error(text);
            (actual != *expected)
                .then(|| format!("for {text:?}\n  expected {expected:?}\n  actual   {actual:?}"))
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// serde's type errors in the user's words (issue 14), each naming the key, what it must be
/// and an example: the user's own value made right when it converts, else examples/fleet.toml's.
#[test]
fn type_errors_say_what_the_key_must_be_with_an_example() {
    const QUOTES: &str = "  help: numbers are written without quotes";
    const BARE: &str = "  help: text goes in quotes: \"…\", or '…' for a regex";
    const SEE: &str = "  help: examples/fleet.toml shows every key with an example";
    let cases: Vec<(&str, String)> = vec![
        (
            "[[instance]]\nid = \"1002\"\n",
            format!("fleet.toml:2:6: `id` must be a number, like id = 1002\n{QUOTES}"),
        ),
        (
            "[[instance]]\nid = 1002.0\n",
            format!("fleet.toml:2:6: `id` must be a number, like id = 1002\n{SEE}"),
        ),
        (
            "[[instance]]\nid = \"abc\"\n",
            format!("fleet.toml:2:6: `id` must be a number, like id = 28421359\n{QUOTES}"),
        ),
        (
            "[defaults]\ninterval = 5\n",
            format!("fleet.toml:2:12: `interval` must be a duration in quotes, like interval = \"5s\"\n{BARE}"),
        ),
        (
            "[[instance]]\nid = 1\nlabel = 7\n",
            format!("fleet.toml:3:9: `label` must be text in quotes, like label = \"7\"\n{BARE}"),
        ),
        (
            "[api]\nrate_limit = { per_second = \"2\", burst = 4 }\n",
            format!("fleet.toml:2:29: `per_second` must be a number, like per_second = 2\n{QUOTES}"),
        ),
        (
            "[api]\nrate_limit = { burst = \"four\" }\n",
            format!("fleet.toml:2:24: `burst` must be a whole number, like burst = 4\n{QUOTES}"),
        ),
        (
            "[discover]\nall = \"true\"\n",
            "fleet.toml:2:7: `all` must be true or false, like all = true\n  help: true and false are written without quotes".into(),
        ),
        (
            "[defaults]\nidle = \"20m\"\n",
            format!("fleet.toml:2:8: `idle` must be a table, like idle = {{ gpu_util_below = 5, for = \"20m\" }}\n{SEE}"),
        ),
        (
            "[[notify]]\nurl = \"https://ntfy.sh/x\"\nevents = \"completion\"\n",
            format!("fleet.toml:3:10: `events` must be a list, like events = [\"completion\", \"guard\", \"api_down\"]\n{SEE}"),
        ),
        (
            "[budget]\nmax_spend = \"$500\"\n",
            format!("fleet.toml:2:13: `max_spend` must be a number, like max_spend = 500.0\n{QUOTES}"),
        ),
        (
            "[defaults]\non_complete = \"destory\"\n",
            "fleet.toml:2:15: unknown value `destory`\n  help: did you mean `destroy`? valid values: none, stop, destroy".into(),
        ),
        (
            "[defaults]\non_completion = \"stop\"\n",
            "fleet.toml:2:1: unknown key `on_completion`\n  help: did you mean `on_complete`? valid keys here: interval, max_backoff, tail, history, completion, result, on_complete, failure, on_failure, on_exit, max_runtime, max_cost, idle, stuck, silent, destroy_after_stop, contract_warning, on_guard".into(),
        ),
    ];
    let wrong: Vec<String> = cases
        .iter()
        .filter_map(|(text, expected)| {
            let actual = error(text);
            (actual != *expected)
                .then(|| format!("for {text:?}\n  expected {expected:?}\n  actual   {actual:?}"))
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
