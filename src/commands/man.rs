//! `vastfleet man`: the manual page, rendered from the same clap definitions as `--help`, so
//! the two cannot disagree. One page holds every command (like `man rg`), because a page per
//! command would need installing each of them for the references between them to work.

use clap::CommandFactory;
use clap_mangen::Man;
use roff::{bold, roman, Roff};

use crate::cli::Cli;
use crate::Fatal;

/// Rendered in memory first, then written like `completions`: a closed reader (`| head`) is
/// exit 0, not a panic.
pub fn run() -> Result<(), Fatal> {
    let page = render().map_err(|err| Fatal::runtime(format!("cannot render the page: {err}")))?;
    crate::stdout::print(&page)
}

/// vastfleet(1): the global options, then one subsection per command with its synopsis,
/// description and options, then the environment and exit statuses.
pub fn render() -> std::io::Result<String> {
    let mut root = Cli::command().disable_help_subcommand(true);
    root.build();
    let man = Man::new(root.clone());
    let mut page = Page::default();
    page.add(|w| man.render_title(w))?;
    page.add(|w| man.render_name_section(w))?;
    page.add(|w| man.render_synopsis_section(w))?;
    page.add(|w| man.render_description_section(w))?;
    page.add(|w| man.render_options_section(w))?;
    page.text.push_str(".SH COMMANDS\n");
    let globals: Vec<_> = root.get_arguments().map(|a| a.get_id().clone()).collect();
    for command in root.get_subcommands().filter(|c| !c.is_hide_set()) {
        // Shown once in OPTIONS above, not again under each command.
        let command = command.clone().mut_args(|arg| {
            let global = globals.contains(arg.get_id());
            arg.hide(global)
        });
        page.command(command)?;
    }
    let mut tail = Roff::default();
    environment(&mut tail);
    exit_status(&mut tail);
    page.add(|w| tail.to_writer(w))?;
    page.add(|w| man.render_version_section(w))?;
    Ok(page.text)
}

/// The page being put together from clap_mangen's sections, each of which starts with the
/// same roff preamble: it is kept once, at the top.
#[derive(Default)]
struct Page {
    text: String,
}

const PREAMBLE: [&str; 2] = [r".ie \n(.g .ds Aq \(aq", r".el .ds Aq '"];

impl Page {
    fn add(
        &mut self,
        render: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let mut bytes = Vec::new();
        render(&mut bytes)?;
        let text = String::from_utf8(bytes).map_err(std::io::Error::other)?;
        let first = self.text.is_empty();
        for line in text.lines() {
            if first || !PREAMBLE.contains(&line) {
                self.text.push_str(line);
                self.text.push('\n');
            }
        }
        Ok(())
    }

    /// One command as a subsection. A page has one level of section and the commands are
    /// all under COMMANDS, so the command's own headings become paragraph breaks.
    fn command(&mut self, command: clap::Command) -> std::io::Result<()> {
        let name = command
            .get_bin_name()
            .unwrap_or_else(|| command.get_name())
            .to_owned();
        let mut title = Roff::default();
        title.control("SS", [name.as_str()]);
        self.add(|w| title.to_writer(w))?;
        let man = Man::new(command);
        let mut sections = Vec::new();
        man.render_synopsis_section(&mut sections)?;
        man.render_description_section(&mut sections)?;
        man.render_options_section(&mut sections)?;
        let sections = String::from_utf8(sections).map_err(std::io::Error::other)?;
        let mut body = String::with_capacity(sections.len());
        for (n, line) in sections
            .lines()
            .filter(|line| line.starts_with(".SH ") || !PREAMBLE.contains(line))
            .enumerate()
        {
            match line.starts_with(".SH ") {
                true if n == 0 => continue,
                true => body.push_str(".PP"),
                false => body.push_str(line),
            }
            body.push('\n');
        }
        self.add(|w| w.write_all(body.as_bytes()))
    }
}

/// The variables vastfleet reads, with what each changes.
const ENVIRONMENT: &[(&str, &str)] = &[
    (
        crate::api::key::KEY_ENV,
        "The API key, read first (never accepted as a flag).",
    ),
    (
        "XDG_CONFIG_HOME",
        "Where the key file vastai/vast_api_key is looked for next (else ~/.config), then \
         ~/.vast_api_key.",
    ),
    (
        crate::cli::FLEET_FILE_ENV,
        "The fleet file when no FILE or -f is given (else fleet.toml).",
    ),
    (
        "VAST_URL",
        "The API base URL when neither --api-url nor [api] url gives one.",
    ),
    (
        "NO_COLOR, CLICOLOR, CLICOLOR_FORCE",
        "Colour under --color auto: NO_COLOR or CLICOLOR=0 turn it off, CLICOLOR_FORCE=1 on.",
    ),
    (
        "RUST_LOG",
        "Diagnostics filter on stderr; wins over -q and -v.",
    ),
];

fn environment(roff: &mut Roff) {
    roff.control("SH", ["ENVIRONMENT"]);
    for (name, what) in ENVIRONMENT {
        roff.control("TP", []);
        roff.text([bold(*name)]);
        roff.text([roman(*what)]);
    }
}

fn exit_status(roff: &mut Roff) {
    roff.control("SH", ["EXIT STATUS"]);
    for (code, what) in [
        (
            "0",
            "Success, also after Ctrl+C, SIGTERM or a closed stdout stopped a watch in order.",
        ),
        (
            "1",
            "A one-shot command failed (the API refused or could not be reached).",
        ),
        (
            "2",
            "Bad input at start: the fleet file, a flag, the key, a taken lock or port.",
        ),
        ("130", "A second Ctrl+C: exit at once."),
    ] {
        roff.control("TP", []);
        roff.text([bold(code)]);
        roff.text([roman(what)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_a_subsection_for_every_command_with_its_own_options() {
        let page = render().unwrap();
        assert_eq!(page.matches(".TH vastfleet 1").count(), 1, "{page}");
        assert_eq!(page.matches(PREAMBLE[0]).count(), 1, "the preamble once");
        let root = Cli::command();
        let mut names = 0;
        for command in root.get_subcommands() {
            let heading = format!(".SS \"vastfleet {}\"", command.get_name());
            assert!(page.contains(&heading), "no {heading} in the page");
            names += 1;
        }
        assert!(names >= 15, "only {names} commands");
        // Options of one command, once; the global ones once, in OPTIONS.
        assert!(
            page.contains(r"\-\-on\-complete"),
            "watch's options missing"
        );
        let color = r"\fB\-\-color\fR";
        assert_eq!(page.matches(color).count(), 2, "synopsis + OPTIONS only");
        assert!(page.contains(".SH ENVIRONMENT") && page.contains("VAST_API_KEY"));
        assert!(!page.contains(".SH SYNOPSIS\n.SH"), "an empty section");
    }
}
