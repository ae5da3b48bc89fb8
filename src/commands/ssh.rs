//! `vastfleet ssh ID|LABEL [-- CMD…]`: a shell on an instance through its SSH proxy, built from
//! the API's `ssh_host` and `ssh_port` (the address `status --wide` shows). vastfleet holds no
//! SSH key: `ssh` uses the user's own agent and keys, as with `vastai ssh-url`.

use std::fmt;

use crate::api::base_url::BaseUrl;
use crate::api::{Api, Instance};
use crate::cli::SshArgs;
use crate::commands::{connect, select};
use crate::status::Status;
use crate::Fatal;

/// The ssh program, found on `PATH` as a shell would find it.
const SSH_PROGRAM: &str = "ssh";

pub async fn run(args: SshArgs) -> Result<(), Fatal> {
    let fleet = select::Fleet::read(&args.file.fleet());
    let target = select::select_one(&fleet, &args.instance)?;
    let site = BaseUrl::from_env(args.api.api_url.as_deref(), fleet.url());
    let api = connect::client(&site)?;
    // The list with an id filter: one call, and not show-one's 2 s gap.
    let listing = connect::patiently(|| api.list_all(Some(vec![target.id])))
        .await
        .map_err(|err| connect::failure("cannot list the instance", &site, err))?;
    let Some(row) = listing.instances.iter().find(|r| r.id == Some(target.id)) else {
        return Err(Fatal::runtime(format!(
            "{}: the account has no such instance (`vastfleet status --all` lists it)",
            target.name()
        )));
    };
    let status = Status::of(Some(row));
    let Some(ssh) = SshTarget::of(row) else {
        return Err(Fatal::runtime(format!(
            "{}: the API gives no usable SSH address for it (status {status})",
            target.name()
        )));
    };
    if args.print {
        return crate::outln!("{}", ssh.command_line(&args.command));
    }
    if status != Status::Running {
        eprintln!(
            "vastfleet: {} is {status}, not running: ssh will probably not get in \
             (`vastfleet start {}`)",
            target.name(),
            target.id
        );
    }
    exec(&ssh, &args.command)
}

/// Becomes `ssh`, so its exit status, its terminal and Ctrl+C are the user's, unchanged. The
/// API key is taken out of its environment: nothing on the far side needs it.
fn exec(ssh: &SshTarget, command: &[String]) -> Result<(), Fatal> {
    let mut child = std::process::Command::new(SSH_PROGRAM);
    child
        .args(ssh.args(command))
        .env_remove(crate::api::key::KEY_ENV);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let err = child.exec();
        Err(Fatal::runtime(format!("cannot run {SSH_PROGRAM}: {err}")))
    }
    #[cfg(not(unix))]
    {
        let status = child
            .status()
            .map_err(|err| Fatal::runtime(format!("cannot run {SSH_PROGRAM}: {err}")))?;
        match status.code() {
            Some(0) => Ok(()),
            code => Err(Fatal {
                code: code.map_or(1, |c| u8::try_from(c).unwrap_or(1)),
                message: String::new(),
            }),
        }
    }
}

/// The user every Vast.ai container's SSH server lets in.
const SSH_USER: &str = "root";
/// Longest DNS name.
const MAX_HOST: usize = 253;

/// Where to reach an instance's SSH server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    pub host: String,
    pub port: u16,
}

impl SshTarget {
    /// The row's SSH address, if it has a usable one. The host comes from the API, so it is
    /// checked to be a plain host name or address: a value such as `-oProxyCommand=…` would
    /// otherwise reach `ssh` as an option and run a command on this machine.
    pub fn of(row: &Instance) -> Option<SshTarget> {
        let host = row.ssh_host.as_deref()?.trim();
        let port = u16::try_from(row.ssh_port?).ok().filter(|&p| p > 0)?;
        plain_host(host).then(|| SshTarget {
            host: host.to_owned(),
            port,
        })
    }

    /// The arguments after `ssh`: `-p PORT root@HOST`, then the remote command, if any.
    pub fn args(&self, command: &[String]) -> Vec<String> {
        let mut args = vec![
            "-p".to_owned(),
            self.port.to_string(),
            format!("{SSH_USER}@{}", self.host),
        ];
        if !command.is_empty() {
            // After `--`, nothing the remote command says can be read as an option of ssh.
            args.push("--".to_owned());
            args.extend(command.iter().cloned());
        }
        args
    }

    /// The command line as a shell would need it typed, for `--print`.
    pub fn command_line(&self, command: &[String]) -> String {
        std::iter::once("ssh".to_owned())
            .chain(self.args(command).iter().map(|a| shell_quote(a)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// `host:port`, as `status --wide` shows it.
impl fmt::Display for SshTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// As `host:port` in the live view's snapshot (`status --wide` answered from the watcher); read
/// back through the same host check as a row from the API.
impl serde::Serialize for SshTarget {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for SshTarget {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.rsplit_once(':')
            .and_then(|(host, port)| {
                let port = port.parse::<u16>().ok().filter(|&p| p > 0)?;
                plain_host(host).then(|| SshTarget {
                    host: host.to_owned(),
                    port,
                })
            })
            .ok_or_else(|| serde::de::Error::custom(format!("not an SSH address: {text:?}")))
    }
}

/// Letters, digits, dots, dashes and colons (IPv6), not starting with a dash.
fn plain_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= MAX_HOST
        && !host.starts_with('-')
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'))
}

/// Single quotes around anything a POSIX shell would treat specially.
fn shell_quote(arg: &str) -> String {
    let safe = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c));
    if safe {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(host: Option<&str>, port: Option<u64>) -> Instance {
        Instance {
            ssh_host: host.map(str::to_owned),
            ssh_port: port,
            ..Instance::default()
        }
    }

    #[test]
    fn the_address_comes_from_ssh_host_and_ssh_port() {
        let target = SshTarget::of(&row(Some(" ssh4.vast.ai "), Some(18926))).unwrap();
        assert_eq!(target.to_string(), "ssh4.vast.ai:18926");
        assert_eq!(target.args(&[]), ["-p", "18926", "root@ssh4.vast.ai"]);
        assert_eq!(
            target.command_line(&["nvidia-smi".into(), "-L".into()]),
            "ssh -p 18926 root@ssh4.vast.ai -- nvidia-smi -L"
        );
        assert_eq!(
            target.command_line(&["echo it's $HOME".into()]),
            r"ssh -p 18926 root@ssh4.vast.ai -- 'echo it'\''s $HOME'"
        );
    }

    #[test]
    fn a_hostile_or_missing_address_is_no_address() {
        for (host, port) in [
            (Some("-oProxyCommand=touch /tmp/x"), Some(22)),
            (Some("ssh4.vast.ai; rm -rf ~"), Some(22)),
            (Some("host name"), Some(22)),
            (Some(""), Some(22)),
            (Some("ssh4.vast.ai"), Some(0)),
            (Some("ssh4.vast.ai"), Some(70_000)),
            (None, Some(22)),
            (Some("ssh4.vast.ai"), None),
        ] {
            assert_eq!(SshTarget::of(&row(host, port)), None, "{host:?} {port:?}");
        }
        assert!(SshTarget::of(&row(Some("2001:db8::1"), Some(22))).is_some());
    }
}
