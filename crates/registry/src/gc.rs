//! Garbage collection, safe while the registry serves: retention rules first (keep the N most
//! recently pushed tags, delete manifests no tag reaches), then mark every blob a remaining
//! manifest references and sweep the rest. Anything written or used within the grace period
//! is kept (blobs pushed before their manifest, uploads in progress), so a concurrent push
//! never loses a blob; inside the server, collection also holds the lock that pushes share.

use crate::config::{glob_match, Config, RetentionRule};
use crate::digest::Digest;
use crate::manifest::{self, Manifest};
use crate::server::Registry;
use crate::storage::{list_names, Result, Store};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// What a collection deleted (or, dry, would delete).
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub tags: Vec<String>,
    pub manifests: Vec<String>,
    pub blob_links: Vec<String>,
    pub blobs: Vec<String>,
    pub bytes: u64,
    pub uploads: Vec<String>,
}

/// Whether the file at `p` was last modified more than `age` ago (a missing file is old).
fn older_than(p: &Path, age: Duration, now: SystemTime) -> bool {
    match std::fs::metadata(p).and_then(|m| m.modified()) {
        Ok(t) => now.duration_since(t).map(|d| d >= age).unwrap_or(false),
        Err(_) => true,
    }
}

struct Gc<'a> {
    store: &'a Store,
    config: &'a Config,
    dry_run: bool,
    now: SystemTime,
    report: Report,
    /// Blobs (and manifests) something still references.
    marked: HashSet<Digest>,
}

/// Collects garbage in `store` as `config` says; with `dry_run`, only reports.
pub fn collect(store: &Store, config: &Config, dry_run: bool) -> Result<Report> {
    let mut gc = Gc {
        store,
        config,
        dry_run,
        now: SystemTime::now(),
        report: Report::default(),
        marked: HashSet::new(),
    };
    for repo in store.repositories()? {
        gc.repository(&repo)?;
    }
    gc.sweep_blobs()?;
    gc.sweep_uploads()?;
    Ok(gc.report)
}

impl Gc<'_> {
    fn grace(&self) -> Duration {
        Duration::from_secs(self.config.gc.grace_secs)
    }

    fn repository(&mut self, repo: &str) -> Result<()> {
        let rule = self
            .config
            .retention
            .iter()
            .find(|r| glob_match(&r.repository, repo))
            .cloned();
        let tags = self.retain_tags(repo, rule.as_ref())?;
        let mut manifests: HashMap<Digest, Option<Manifest>> = HashMap::new();
        for d in self.store.manifests(repo)? {
            let parsed = self
                .store
                .get_manifest(repo, &d)
                .ok()
                .and_then(|(data, mt)| manifest::parse(&data, Some(&mt)).ok());
            manifests.insert(d, parsed);
        }
        if rule.is_some_and(|r| r.delete_untagged) {
            self.delete_untagged(repo, &tags, &mut manifests)?;
        }
        let mut referenced = HashSet::new();
        for (d, m) in &manifests {
            referenced.insert(d.clone());
            if let Some(m) = m {
                referenced.extend(m.blobs.iter().cloned());
            }
        }
        for b in self.store.repo_blobs(repo)? {
            let link = self.store.link_path(repo, &b, false);
            if !referenced.contains(&b) && older_than(&link, self.grace(), self.now) {
                self.report.blob_links.push(format!("{repo}@{b}"));
                if !self.dry_run {
                    self.store.unlink_blob(repo, &b)?;
                }
            } else {
                self.marked.insert(b);
            }
        }
        self.marked.extend(referenced);
        Ok(())
    }

    /// Applies `keep_tags`; returns the digests the remaining tags point at.
    fn retain_tags(&mut self, repo: &str, rule: Option<&RetentionRule>) -> Result<Vec<Digest>> {
        let mut tags: Vec<(String, Option<SystemTime>)> = self
            .store
            .tags(repo)?
            .unwrap_or_default()
            .into_iter()
            .map(|t| {
                let time = self.store.tag_time(repo, &t);
                (t, time)
            })
            .collect();
        tags.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let keep = rule.and_then(|r| r.keep_tags).unwrap_or(usize::MAX);
        let mut targets = Vec::new();
        for (i, (tag, _)) in tags.iter().enumerate() {
            if i >= keep {
                self.report.tags.push(format!("{repo}:{tag}"));
                if !self.dry_run {
                    self.store.delete_tag(repo, tag)?;
                }
            } else if let Some(d) = self.store.tag(repo, tag)? {
                targets.push(d);
            }
        }
        Ok(targets)
    }

    /// Deletes manifests that no tag reaches (through indexes, or as a referrer of one that is
    /// reached), unless they are younger than the grace period.
    fn delete_untagged(
        &mut self,
        repo: &str,
        tags: &[Digest],
        manifests: &mut HashMap<Digest, Option<Manifest>>,
    ) -> Result<()> {
        let mut reached: HashSet<Digest> = tags.iter().cloned().collect();
        loop {
            let before = reached.len();
            for (d, m) in manifests.iter() {
                let Some(m) = m else { continue };
                if reached.contains(d) {
                    reached.extend(m.children.iter().cloned());
                } else if m.subject.as_ref().is_some_and(|s| reached.contains(s)) {
                    reached.insert(d.clone());
                }
            }
            if reached.len() == before {
                break;
            }
        }
        let doomed: Vec<Digest> = manifests
            .keys()
            .filter(|d| !reached.contains(*d))
            .filter(|d| older_than(&self.store.link_path(repo, d, true), self.grace(), self.now))
            .cloned()
            .collect();
        for d in doomed {
            let m = manifests.remove(&d).flatten();
            self.report.manifests.push(format!("{repo}@{d}"));
            if !self.dry_run {
                self.store
                    .delete_manifest(repo, &d, m.and_then(|m| m.subject).as_ref())?;
            }
        }
        Ok(())
    }

    fn sweep_blobs(&mut self) -> Result<()> {
        for (d, path) in self.store.all_blobs()? {
            if self.marked.contains(&d) || !older_than(&path, self.grace(), self.now) {
                continue;
            }
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            self.report.blobs.push(d.to_string());
            self.report.bytes += size;
            if !self.dry_run {
                crate::storage::remove_file(&path)?;
            }
        }
        Ok(())
    }

    /// Removes uploads (and stray temporary files) untouched for the upload expiry.
    fn sweep_uploads(&mut self) -> Result<()> {
        let expiry = Duration::from_secs(self.config.gc.upload_expiry_secs);
        let base = self.store.root().join("uploads");
        for id in list_names(&base)? {
            let dir = base.join(&id);
            if older_than(&dir.join("data"), expiry, self.now) && older_than(&dir, expiry, self.now)
            {
                self.report.uploads.push(id);
                if !self.dry_run {
                    let _ = std::fs::remove_dir_all(&dir);
                }
            }
        }
        let tmp = self.store.root().join("tmp");
        for name in list_names(&tmp)? {
            let p = tmp.join(name);
            if !self.dry_run && older_than(&p, expiry, self.now) {
                let _ = std::fs::remove_file(&p);
            }
        }
        Ok(())
    }
}

/// Collects garbage every `secs` seconds while the server runs.
pub async fn periodic(reg: Arc<Registry>, secs: u64) {
    loop {
        tokio::time::sleep(Duration::from_secs(secs.max(1))).await;
        run_locked(&reg, false).await.ok();
    }
}

/// One collection inside the server, holding the lock pushes share.
pub async fn run_locked(reg: &Arc<Registry>, dry_run: bool) -> Result<Report> {
    let _exclusive = reg.gc_lock.write().await;
    let r = reg.clone();
    crate::storage::upload::blocking(move || collect(&r.store, &r.config, dry_run)).await
}
