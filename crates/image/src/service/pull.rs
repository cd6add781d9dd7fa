//! Pull: resolve the reference, pick the platform's manifest, fetch the config, then fetch all
//! layers in parallel, each streamed in one pass: network → blob file + digest → decompress →
//! diff-id hash → unpack into its snapshot. The blob and the snapshot become visible only when
//! both digests check out. An interrupted download resumes from its partial blob with `Range`.

use super::{blocking, now, Cause, ImageService, ServiceError};
use crate::layer::{self, ApplyOptions, WhiteoutMode};
use crate::manifest::{self, ImageManifest, Manifest, Platform};
use crate::progress::{Progress, ProgressEvent};
use crate::reference::Reference;
use crate::store::{ImageRecord, Ingest, StoreError};
use crate::Digest;
use bytes::Bytes;
use http_body_util::BodyExt;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;

/// How to pull.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// The platform to pick from an index (default: this host's).
    pub platform: Option<Platform>,
    /// Layers downloaded at once (docker's default is 3).
    pub max_concurrent: usize,
    /// The caller's credentials (docker's `X-Registry-Auth`); none: the credentials file.
    pub auth: Option<crate::registry::auth::AuthConfig>,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            platform: None,
            max_concurrent: 3,
            auth: None,
        }
    }
}

struct LayerJob {
    repo: Reference,
    blob: Digest,
    size: u64,
    diff_id: Digest,
    chain: Digest,
}

impl ImageService {
    /// Pull `reference` from its registry and unpack it, ready to run.
    pub async fn pull(
        &self,
        reference: &str,
        opts: &PullOptions,
        progress: Arc<dyn Progress>,
    ) -> Result<ImageRecord, ServiceError> {
        let r = Reference::parse(reference).map_err(|e| ServiceError::new("pull", reference, e))?;
        let auth = opts.auth.clone();
        crate::registry::auth::with_auth(auth, self.pull_ref(&r, opts, progress))
            .await
            .map_err(|c| ServiceError::new("pull", r.familiar(), c))
    }

    async fn pull_ref(
        &self,
        r: &Reference,
        opts: &PullOptions,
        progress: Arc<dyn Progress>,
    ) -> Result<ImageRecord, Cause> {
        let _gc = self.gc_lock(false).await?;
        let reg = &self.inner.registry;
        let (bytes, ct, target) = reg.get_manifest(r, &r.object()).await?;
        let (parsed, media_type) = Manifest::parse(ct.as_deref(), &bytes)?;
        self.store_small(&target, bytes).await?;
        let (manifest_digest, manifest) = match parsed {
            Manifest::Image(m) => (target.clone(), m),
            Manifest::Index(ix) => {
                let platform = opts.platform.clone().unwrap_or_else(Platform::host);
                let d = manifest::digest_of(platform.select(&ix)?)?;
                let (b, ct, _) = reg.get_manifest(r, &d.to_string()).await?;
                let Manifest::Image(m) = Manifest::parse(ct.as_deref(), &b)?.0 else {
                    return Err(manifest::ManifestError::UnsupportedMediaType(
                        "nested index".into(),
                    )
                    .into());
                };
                self.store_small(&d, b).await?;
                (d, m)
            }
        };
        progress.event(ProgressEvent::Resolved {
            reference: r.familiar(),
            digest: target.clone(),
        });
        let config_digest = manifest::digest_of(manifest.config())?;
        if !self.inner.content.contains(&config_digest) {
            let b = reg.get_small_blob(r, &config_digest).await?;
            self.store_small(&config_digest, b).await?;
        }
        let config = manifest::parse_config(&self.inner.content.read(&config_digest)?)?;
        let jobs = layer_jobs(r, &manifest, &manifest::diff_ids(&config)?)?;
        self.fetch_layers(jobs, opts.max_concurrent.max(1), progress.clone())
            .await?;
        let record = ImageRecord {
            name: r.to_string(),
            target: target.clone(),
            media_type,
            manifest: manifest_digest,
            config: config_digest,
            created: now(),
        };
        self.inner.meta.put(record.clone())?;
        progress.event(ProgressEvent::Done {
            reference: r.familiar(),
            digest: target,
        });
        Ok(record)
    }

    async fn store_small(&self, d: &Digest, bytes: Bytes) -> Result<(), Cause> {
        let s = self.clone();
        let d = d.clone();
        blocking(move || Ok(s.inner.content.write_all(Some(&d), &bytes).map(|_| ())?)).await
    }

    async fn fetch_layers(
        &self,
        jobs: Vec<LayerJob>,
        max: usize,
        progress: Arc<dyn Progress>,
    ) -> Result<(), Cause> {
        let sem = Arc::new(tokio::sync::Semaphore::new(max));
        let mut set = tokio::task::JoinSet::new();
        for job in jobs {
            progress.event(ProgressEvent::LayerWaiting {
                layer: job.blob.clone(),
            });
            let (s, sem, p) = (self.clone(), sem.clone(), progress.clone());
            let auth = crate::registry::auth::current();
            set.spawn(crate::registry::auth::with_auth(auth, async move {
                let _permit = sem
                    .acquire_owned()
                    .await
                    .map_err(|e| Cause::Task(e.to_string()))?;
                s.fetch_layer(&job, p.as_ref()).await
            }));
        }
        let mut first_err = None;
        while let Some(res) = set.join_next().await {
            let res = res.map_err(|e| Cause::Task(e.to_string())).and_then(|r| r);
            if let (Err(e), None) = (res, &first_err) {
                first_err = Some(e);
                set.abort_all();
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Make sure one layer's snapshot exists, downloading its blob if needed.
    async fn fetch_layer(&self, job: &LayerJob, progress: &dyn Progress) -> Result<(), Cause> {
        let s = self.clone();
        let chain = job.chain.clone();
        let Some(pending) = blocking(move || Ok(s.inner.snapshots.prepare(&chain)?)).await? else {
            progress.event(ProgressEvent::LayerExists {
                layer: job.blob.clone(),
            });
            return Ok(());
        };
        let s = self.clone();
        let (blob, size) = (job.blob.clone(), job.size);
        let ingest = blocking(move || Ok(s.inner.content.ingest(&blob, Some(size))?)).await?;
        match ingest {
            Ingest::Present => {
                let (s, blob, diff_id) = (self.clone(), job.blob.clone(), job.diff_id.clone());
                blocking(move || {
                    let f = s.inner.content.open_blob(&blob)?;
                    let mut r = crate::digest::HashingReader::new(f, blob.algorithm());
                    unpack(&mut r, &pending.fs(), &blob, &diff_id)?;
                    let (actual, _) = r.finish().map_err(layer::LayerError::Read)?;
                    if actual != blob {
                        return Err(StoreError::DigestMismatch {
                            expected: blob,
                            actual,
                        }
                        .into());
                    }
                    Ok(pending.commit()?)
                })
                .await?;
            }
            Ingest::Write(writer) => {
                let mut writer = Some(writer);
                let mut pending = Some(pending);
                for attempt in 0..2 {
                    let w = writer.take().expect("one writer per attempt");
                    let resumed = w.offset() > 0;
                    let p = pending.take().expect("one snapshot per attempt");
                    match self.download_and_unpack(job, w, p, progress).await {
                        Err(Cause::Store(StoreError::DigestMismatch { .. }))
                            if resumed && attempt == 0 =>
                        {
                            // The partial blob was bad: start again from zero, once.
                            let (s, j) = (
                                self.clone(),
                                (job.blob.clone(), job.size, job.chain.clone()),
                            );
                            let (w, p) = blocking(move || {
                                let w = match s.inner.content.ingest(&j.0, Some(j.1))? {
                                    Ingest::Write(w) => Some(w),
                                    Ingest::Present => None,
                                };
                                Ok((w, s.inner.snapshots.prepare(&j.2)?))
                            })
                            .await?;
                            match (w, p) {
                                (Some(w), Some(p)) => {
                                    writer = Some(w);
                                    pending = Some(p);
                                }
                                _ => return Err(Cause::Task("layer changed under a retry".into())),
                            }
                        }
                        Err(e) => return Err(e),
                        Ok(()) => break,
                    }
                }
            }
        }
        progress.event(ProgressEvent::LayerDone {
            layer: job.blob.clone(),
        });
        Ok(())
    }

    async fn download_and_unpack(
        &self,
        job: &LayerJob,
        mut writer: crate::store::BlobWriter,
        pending: crate::snapshot::Pending,
        progress: &dyn Progress,
    ) -> Result<(), Cause> {
        let offset = writer.offset();
        let resp = self
            .inner
            .registry
            .get_blob(&job.repo, &job.blob, offset)
            .await?;
        if offset > 0 && resp.partial {
            progress.event(ProgressEvent::LayerResumed {
                layer: job.blob.clone(),
                offset,
            });
        } else if offset > 0 {
            writer.restart()?;
        }
        let start = writer.offset();
        let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(32);
        let (blob, diff_id) = (job.blob.clone(), job.diff_id.clone());
        let unpacker = tokio::task::spawn_blocking(move || -> Result<(), Cause> {
            let mut tee = writer.tee(ChanReader::new(rx));
            match unpack(&mut tee, &pending.fs(), &blob, &diff_id) {
                Ok(()) => {
                    tee.finish()?;
                    Ok(pending.commit()?)
                }
                // A broken download keeps its partial blob for the next pull to resume.
                Err(_) if tee.get_mut().failed.is_some() => Err(Cause::Interrupted {
                    blob: blob.clone(),
                    detail: tee.get_mut().failed.clone().unwrap_or_default(),
                }),
                // A corrupt stream shows best as the digest mismatch it causes.
                Err(e) => Err(match tee.finish() {
                    Err(mismatch @ StoreError::DigestMismatch { .. }) => mismatch.into(),
                    _ => e,
                }),
            }
        });
        let mut body = resp.body;
        let mut current = start;
        while let Some(frame) = body.frame().await {
            let chunk = match frame {
                Ok(f) => match f.into_data() {
                    Ok(d) => Ok(d),
                    Err(_) => continue,
                },
                Err(e) => Err(io::Error::other(e.to_string())),
            };
            let failed = chunk.is_err();
            if let Ok(d) = &chunk {
                current += d.len() as u64;
                progress.event(ProgressEvent::LayerProgress {
                    layer: job.blob.clone(),
                    current,
                    total: job.size,
                });
            }
            if tx.send(chunk).await.is_err() || failed {
                break;
            }
        }
        drop(tx);
        unpacker.await.map_err(|e| Cause::Task(e.to_string()))?
    }
}

/// Decompress and unpack `src` into `dest`, checking the diff ID.
fn unpack(src: &mut dyn Read, dest: &Path, blob: &Digest, diff_id: &Digest) -> Result<(), Cause> {
    let (_, dec) = layer::decompress(src).map_err(layer::LayerError::Read)?;
    let opts = ApplyOptions {
        whiteouts: WhiteoutMode::Overlay,
        ..ApplyOptions::default()
    };
    let applied = layer::apply(dec, dest, &opts)?;
    if &applied.diff_id != diff_id {
        return Err(Cause::DiffIdMismatch {
            layer: blob.clone(),
            expected: diff_id.clone(),
            actual: applied.diff_id,
        });
    }
    Ok(())
}

fn layer_jobs(
    r: &Reference,
    m: &ImageManifest,
    diff_ids: &[Digest],
) -> Result<Vec<LayerJob>, Cause> {
    if m.layers().len() != diff_ids.len() {
        return Err(manifest::ManifestError::LayerCount {
            layers: m.layers().len(),
            diff_ids: diff_ids.len(),
        }
        .into());
    }
    let chains = manifest::chain_ids(diff_ids);
    m.layers()
        .iter()
        .zip(diff_ids.iter().zip(chains))
        .map(|(d, (diff_id, chain))| {
            Ok(LayerJob {
                repo: r.clone(),
                blob: manifest::digest_of(d)?,
                size: d.size(),
                diff_id: diff_id.clone(),
                chain,
            })
        })
        .collect()
}

/// A blocking reader over chunks sent from an async task.
pub(crate) struct ChanReader {
    rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
    cur: Bytes,
    /// The sender reported an error (the download broke): what it said.
    pub(crate) failed: Option<String>,
}

impl ChanReader {
    pub(crate) fn new(rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>) -> Self {
        ChanReader {
            rx,
            cur: Bytes::new(),
            failed: None,
        }
    }
}

impl Read for ChanReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.cur = b,
                Some(Err(e)) => {
                    self.failed = Some(e.to_string());
                    return Err(e);
                }
                None if self.failed.is_some() => return Err(io::Error::other("download broke")),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        bytes::Buf::advance(&mut self.cur, n);
        Ok(n)
    }
}
