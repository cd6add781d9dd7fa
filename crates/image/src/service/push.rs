//! Push: for each blob (layers, config) skip it if the repository has it (HEAD), else try to
//! mount it from another repository of the same registry that a local image came from, else
//! upload it (monolithic, or chunked for blobs above the chunk size); then put the manifest.

use super::{Cause, ImageService, ServiceError};
use crate::manifest::{self, ImageManifest};
use crate::progress::{Progress, ProgressEvent};
use crate::reference::Reference;
use crate::registry::{transport, UploadStart};
use crate::Digest;
use bytes::Bytes;
use std::io::Read;
use std::sync::Arc;

/// How to push.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Blobs larger than this are uploaded in chunks of this size (`PATCH`); `None` uploads
    /// every blob in one `PUT`.
    pub chunk_size: Option<u64>,
    /// The caller's credentials (docker's `X-Registry-Auth`); none: the credentials file.
    pub auth: Option<crate::registry::auth::AuthConfig>,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            chunk_size: Some(64 << 20),
            auth: None,
        }
    }
}

impl ImageService {
    /// Push the local image `reference` to its registry; returns the manifest digest.
    pub async fn push(
        &self,
        reference: &str,
        opts: &PushOptions,
        progress: Arc<dyn Progress>,
    ) -> Result<Digest, ServiceError> {
        let r = Reference::parse(reference).map_err(|e| ServiceError::new("push", reference, e))?;
        let auth = opts.auth.clone();
        crate::registry::auth::with_auth(auth, self.push_ref(&r, opts, progress.as_ref()))
            .await
            .map_err(|c| ServiceError::new("push", r.familiar(), c))
    }

    async fn push_ref(
        &self,
        r: &Reference,
        opts: &PushOptions,
        progress: &dyn Progress,
    ) -> Result<Digest, Cause> {
        let rec = self
            .inner
            .meta
            .get(&r.to_string())?
            .ok_or(Cause::ImageNotFound)?;
        let bytes = self.inner.content.read(&rec.manifest)?;
        let m: ImageManifest =
            serde_json::from_slice(&bytes).map_err(|source| manifest::ManifestError::Json {
                what: "image manifest",
                source,
            })?;
        let mut blobs = vec![(manifest::digest_of(m.config())?, m.config().size())];
        for l in m.layers() {
            blobs.push((manifest::digest_of(l)?, l.size()));
        }
        for (d, size) in &blobs {
            self.push_blob(r, d, *size, opts, progress).await?;
        }
        let mt = m
            .media_type()
            .as_ref()
            .map(|t| t.to_string())
            .unwrap_or_else(|| manifest::media::OCI_MANIFEST.into());
        let object = r
            .tag()
            .map(str::to_string)
            .unwrap_or_else(|| rec.manifest.to_string());
        self.inner
            .registry
            .put_manifest(r, &object, &mt, Bytes::from(bytes))
            .await?;
        progress.event(ProgressEvent::Done {
            reference: r.familiar(),
            digest: rec.manifest.clone(),
        });
        Ok(rec.manifest)
    }

    async fn push_blob(
        &self,
        r: &Reference,
        d: &Digest,
        size: u64,
        opts: &PushOptions,
        progress: &dyn Progress,
    ) -> Result<(), Cause> {
        let reg = &self.inner.registry;
        if reg.blob_exists(r, d).await?.is_some() {
            progress.event(ProgressEvent::LayerExists { layer: d.clone() });
            return Ok(());
        }
        let from = self.mount_source(r, d)?;
        let start = reg
            .start_upload(r, from.as_ref().map(|f| (d, f.as_str())))
            .await?;
        let location = match start {
            UploadStart::Mounted => {
                progress.event(ProgressEvent::LayerMounted {
                    layer: d.clone(),
                    from: from.unwrap_or_default(),
                });
                return Ok(());
            }
            UploadStart::Location(l) => l,
        };
        match opts.chunk_size {
            Some(chunk) if size > chunk => {
                self.upload_chunked(r, d, size, chunk, location, progress)
                    .await?
            }
            _ => {
                let (tx, rx) = tokio::sync::mpsc::channel(8);
                let body = transport::channel(rx);
                let reader = self.spawn_reader(d, 1 << 20, tx);
                let res = reg.upload_monolithic(r, &location, d, body, size).await;
                reader.await.map_err(|e| Cause::Task(e.to_string()))??;
                res?;
            }
        }
        progress.event(ProgressEvent::LayerDone { layer: d.clone() });
        Ok(())
    }

    async fn upload_chunked(
        &self,
        r: &Reference,
        d: &Digest,
        size: u64,
        chunk: u64,
        mut location: String,
        progress: &dyn Progress,
    ) -> Result<(), Cause> {
        let (tx, mut rx) = tokio::sync::mpsc::channel(2);
        let reader = self.spawn_reader(d, chunk as usize, tx);
        let mut offset = 0u64;
        while let Some(part) = rx.recv().await {
            let part = part.map_err(|source| Cause::Io {
                op: "read",
                path: self.inner.content.path(d),
                source,
            })?;
            let len = part.len() as u64;
            location = self
                .inner
                .registry
                .upload_chunk(r, &location, part, offset)
                .await?;
            offset += len;
            progress.event(ProgressEvent::LayerProgress {
                layer: d.clone(),
                current: offset,
                total: size,
            });
        }
        reader.await.map_err(|e| Cause::Task(e.to_string()))??;
        self.inner.registry.finish_upload(r, &location, d).await?;
        Ok(())
    }

    /// Read a stored blob in pieces of `piece` bytes into `tx`, from a blocking thread.
    fn spawn_reader(
        &self,
        d: &Digest,
        piece: usize,
        tx: tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
    ) -> tokio::task::JoinHandle<Result<(), Cause>> {
        let (s, d) = (self.clone(), d.clone());
        tokio::task::spawn_blocking(move || {
            let mut f = s.inner.content.open_blob(&d)?;
            loop {
                let mut buf = vec![0u8; piece];
                let mut n = 0;
                while n < piece {
                    let k = f.read(&mut buf[n..]).map_err(|source| Cause::Io {
                        op: "read",
                        path: s.inner.content.path(&d),
                        source,
                    })?;
                    if k == 0 {
                        break;
                    }
                    n += k;
                }
                if n == 0 {
                    return Ok(());
                }
                buf.truncate(n);
                if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                    return Ok(());
                }
            }
        })
    }

    /// Another repository on the same registry that a local image of ours came from and that
    /// has blob `d`.
    fn mount_source(&self, r: &Reference, d: &Digest) -> Result<Option<String>, Cause> {
        for rec in self.inner.meta.images()? {
            let Ok(other) = Reference::parse(&rec.name) else {
                continue;
            };
            if other.domain() != r.domain() || other.path() == r.path() {
                continue;
            }
            let Ok(b) = self.inner.content.read(&rec.manifest) else {
                continue;
            };
            let Ok(m) = serde_json::from_slice::<ImageManifest>(&b) else {
                continue;
            };
            let has = m
                .layers()
                .iter()
                .chain([m.config()])
                .any(|l| manifest::digest_of(l).ok().as_ref() == Some(d));
            if has {
                return Ok(Some(other.path().to_string()));
            }
        }
        Ok(None)
    }
}
