//! The two kinds of failure that end the program, and their exit codes. Everything that goes
//! wrong once watching has started is reported and survived instead; it never becomes one of
//! these.

use std::fmt;

/// A failure that ends a command. `main` prints `message` to stderr and exits with `code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fatal {
    pub code: u8,
    pub message: String,
}

impl Fatal {
    /// Bad input at start (file, flag, key location): exit 2, before anything is watched.
    pub fn input(message: impl Into<String>) -> Self {
        Fatal {
            code: 2,
            message: message.into(),
        }
    }

    /// Anything else that stops a one-shot command: exit 1.
    pub fn runtime(message: impl Into<String>) -> Self {
        Fatal {
            code: 1,
            message: message.into(),
        }
    }
}

impl Fatal {
    /// Stdout's reader went away (`| head`): the command ends quietly with status 0, as the
    /// tools people pipe from do. The message is empty, so nothing is printed.
    pub fn closed_stdout() -> Self {
        Fatal {
            code: 0,
            message: String::new(),
        }
    }
}

impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Fatal {}
