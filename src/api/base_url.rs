//! The API base URL a command calls and the setting it came from: `--api-url`, then the fleet
//! file's `[api] url`, then `VAST_URL`, then the real API. The one place that precedence is
//! written; the environment is read by the command, once, and handed in.

use std::fmt;

/// The API's home when neither `--api-url`, `[api] url` nor `VAST_URL` says otherwise.
pub const DEFAULT_API_URL: &str = "https://console.vast.ai";

/// The variable the official client reads the base URL from.
pub const URL_VAR: &str = "VAST_URL";

/// Which setting chose the base URL, so a message can say what to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlOrigin {
    Flag,
    File,
    Env,
    Default,
}

impl UrlOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            UrlOrigin::Flag => "--api-url",
            UrlOrigin::File => "[api] url in the fleet file",
            UrlOrigin::Env => URL_VAR,
            UrlOrigin::Default => "the default",
        }
    }
}

impl fmt::Display for UrlOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A resolved base URL: without a trailing `/`, never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    pub url: String,
    pub origin: UrlOrigin,
}

impl BaseUrl {
    /// The first of `flag`, `file` and `env` that says something; blank values count as unset.
    pub fn resolve(flag: Option<&str>, file: Option<&str>, env: Option<&str>) -> BaseUrl {
        [
            (flag, UrlOrigin::Flag),
            (file, UrlOrigin::File),
            (env, UrlOrigin::Env),
        ]
        .into_iter()
        .find_map(|(value, origin)| {
            let url = value?.trim().trim_end_matches('/');
            (!url.is_empty()).then(|| BaseUrl {
                url: url.to_owned(),
                origin,
            })
        })
        .unwrap_or_else(|| BaseUrl {
            url: DEFAULT_API_URL.to_owned(),
            origin: UrlOrigin::Default,
        })
    }

    /// [`BaseUrl::resolve`] with `VAST_URL` as the process has it: for a command's edge only.
    pub fn from_env(flag: Option<&str>, file: Option<&str>) -> BaseUrl {
        let env = std::env::var(URL_VAR).ok();
        BaseUrl::resolve(flag, file, env.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_url_comes_from_flag_then_file_then_env_then_default() {
        let r = |flag, file, env| BaseUrl::resolve(flag, file, env).url;
        assert_eq!(
            r(
                Some("http://flag/"),
                Some("http://file"),
                Some("http://env")
            ),
            "http://flag"
        );
        assert_eq!(
            r(None, Some("http://file//"), Some("http://env")),
            "http://file"
        );
        assert_eq!(r(Some(" "), None, Some("http://env/")), "http://env");
        assert_eq!(r(None, Some(""), None), DEFAULT_API_URL);
    }
}
