//! One module per command group.

pub mod build;
pub mod commit;
pub mod container;
pub mod cp;
pub mod daemon;
pub mod images;
pub mod init;
pub mod login;
pub mod network;
pub mod registry;
pub mod runtime;
pub mod shim;
pub mod system;
pub mod volume;

use crate::client::{Fail, Result};
use crate::format::{self, Template};

/// Write command output to stdout.
pub fn out(s: &str) -> Result<()> {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    o.write_all(s.as_bytes())
        .and_then(|_| o.flush())
        .map_err(|e| Fail(format!("write: {e}")))
}

/// An ID as tables show it: without `sha256:`, 12 characters.
pub fn short_id(id: &str) -> String {
    let s = id.strip_prefix("sha256:").unwrap_or(id);
    s.chars().take(12).collect()
}

/// What `inspect` verbs print: each object through the template (a line each), or all of
/// them as an indented JSON array; then the errors, a line each, and exit status 1.
pub fn print_inspected(raws: &[String], tmpl: Option<&Template>, errors: &[String]) -> Result<()> {
    let text = match tmpl {
        Some(t) => {
            let mut s = String::new();
            for raw in raws {
                let v: serde_json::Value = serde_json::from_str(raw)
                    .map_err(|e| Fail(format!("error decoding response: {e}")))?;
                s.push_str(&t.render(&v).map_err(|e| Fail(format!("template: {e}")))?);
                s.push('\n');
            }
            s
        }
        None if raws.is_empty() => "[]\n".to_string(),
        None => {
            let items: Vec<String> = raws
                .iter()
                .map(|r| format!("    {}", format::indent_json(r.trim(), 1)))
                .collect();
            format!("[\n{}\n]\n", items.join(",\n"))
        }
    };
    out(&text)?;
    if errors.is_empty() {
        return Ok(());
    }
    for e in errors {
        eprintln!("{e}");
    }
    Err(Fail(String::new()))
}

/// Docker's prompt before a prune: the warning, then true only for a yes on stdin.
pub fn confirm(warning: &str) -> bool {
    use std::io::Write;
    eprint!("{warning}\nAre you sure you want to continue? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().read_line(&mut answer);
    matches!(answer.trim(), "y" | "Y" | "yes" | "Yes")
}
