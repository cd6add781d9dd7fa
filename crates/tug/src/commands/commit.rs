//! `tug commit`: a container's changes as a new image, over `POST /commit`.

use crate::client::{enc, fail, Client, Result};
use clap::Args;

#[derive(Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short, long, default_value = "")]
    author: String,
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long = "change")]
    change: Vec<String>,
    /// Commit message
    #[arg(short, long, default_value = "")]
    message: String,
    /// Pause container during commit
    #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pause: bool,
    container: String,
    /// REPOSITORY[:TAG]
    repository: Option<String>,
}

/// `repo[:tag]` split as docker's CLI does (a `:` after the last `/` starts the tag).
fn split_ref(r: &str) -> (&str, &str) {
    match r.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (r, ""),
    }
}

pub fn commit(c: &Client, a: CommitArgs) -> Result<()> {
    let (repo, tag) = a.repository.as_deref().map(split_ref).unwrap_or(("", ""));
    if a.repository.as_deref().is_some_and(|r| r.contains('@')) {
        return fail(format!(
            "invalid reference format: {}: a digest is not allowed",
            a.repository.as_deref().unwrap_or_default()
        ));
    }
    let mut q = format!(
        "/commit?container={}&repo={}&tag={}&comment={}&author={}&pause={}",
        enc(&a.container),
        enc(repo),
        enc(tag),
        enc(&a.message),
        enc(&a.author),
        a.pause
    );
    for ch in &a.change {
        q.push_str(&format!("&changes={}", enc(ch)));
    }
    let v = c.post_json(&q, &serde_json::json!({}))?;
    println!("{}", v["Id"].as_str().unwrap_or_default());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_at_the_tag() {
        assert_eq!(split_ref("img:v1"), ("img", "v1"));
        assert_eq!(split_ref("localhost:5000/img"), ("localhost:5000/img", ""));
        assert_eq!(
            split_ref("localhost:5000/img:2"),
            ("localhost:5000/img", "2")
        );
        assert_eq!(split_ref("img"), ("img", ""));
    }
}
