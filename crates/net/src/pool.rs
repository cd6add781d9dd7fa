//! Network namespaces made ahead of time: creating a namespace and a veth pair are the two
//! slow steps of a container's network setup (a few milliseconds each), so a few of them wait
//! here ready, each with loopback up and its veth pair (`eth0` inside, a temporary name on
//! the host, down and on no bridge). A container start takes one and only configures it;
//! a background thread makes the next one.
//!
//! The pool lives in its own directory; whatever is found there at start (a daemon that
//! crashed) is removed, and unmounting a namespace removes its veth pair with it.

use crate::netlink::{self, Netlink};
use crate::netns;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// One ready namespace.
#[derive(Debug)]
pub struct Slot {
    /// Where the namespace is bound now.
    pub path: PathBuf,
    /// The host end of its veth pair (down, temporary name).
    pub host_veth: String,
}

struct Inner {
    dir: PathBuf,
    size: usize,
    ready: Mutex<Vec<Slot>>,
    seq: AtomicU32,
    filling: AtomicBool,
}

/// The pool; cloning shares it.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

impl Pool {
    /// A pool of up to `size` namespaces under `dir` (0: no pool), emptied of leftovers.
    /// Nothing is made before the first [`Pool::take`].
    pub fn new(dir: PathBuf, size: usize) -> Pool {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let _ = netns::delete(&e.path());
        }
        Pool {
            inner: Arc::new(Inner {
                dir,
                size,
                ready: Mutex::new(Vec::new()),
                seq: AtomicU32::new(0),
                filling: AtomicBool::new(false),
            }),
        }
    }

    /// A ready namespace, if one is; the pool refills in the background either way.
    pub fn take(&self) -> Option<Slot> {
        if self.inner.size == 0 {
            return None;
        }
        let slot = self
            .inner
            .ready
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop();
        self.refill();
        slot
    }

    /// How many are ready now.
    pub fn ready(&self) -> usize {
        self.inner
            .ready
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    fn refill(&self) {
        if self.inner.filling.swap(true, Ordering::SeqCst) {
            return;
        }
        let inner = self.inner.clone();
        let spawned = std::thread::Builder::new()
            .name("netns pool".into())
            .spawn(move || {
                while inner.ready.lock().unwrap_or_else(|p| p.into_inner()).len() < inner.size {
                    match make(&inner) {
                        Ok(slot) => inner
                            .ready
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(slot),
                        Err(e) => {
                            eprintln!("tug daemon: network namespace pool: {e}");
                            break;
                        }
                    }
                }
                inner.filling.store(false, Ordering::SeqCst);
            });
        if spawned.is_err() {
            self.inner.filling.store(false, Ordering::SeqCst);
        }
    }

    /// Remove every ready namespace (and its veth pair).
    pub fn drain(&self) {
        let all = std::mem::take(&mut *self.inner.ready.lock().unwrap_or_else(|p| p.into_inner()));
        for s in all {
            let _ = netns::delete(&s.path);
        }
    }
}

fn make(inner: &Inner) -> Result<Slot, crate::bridge::Error> {
    let n = inner.seq.fetch_add(1, Ordering::SeqCst);
    let path = inner.dir.join(n.to_string());
    // Unique on the host: daemons differ by pid. "tp" + ≤ 6 + ≤ 7 hex digits.
    let host_veth = format!("tp{:x}{:x}", std::process::id(), n);
    netns::create(&path)?;
    let peer = host_veth.clone();
    let made = netns::run_in(&path, move |host| -> netlink::Result<()> {
        let mut nl = Netlink::open()?;
        nl.link_up("lo", None, None)?;
        nl.create_veth("eth0", &peer, host.as_raw_fd(), None)
    })
    .map_err(crate::bridge::Error::from)
    .and_then(|r| {
        r.map_err(|err| crate::bridge::Error::Attach {
            bridge: "(pool)".into(),
            err,
        })
    });
    if let Err(e) = made {
        let _ = netns::delete(&path);
        return Err(e);
    }
    Ok(Slot { path, host_veth })
}

/// Bind the namespace of `slot` on `path` too and drop its pool path.
pub fn adopt(slot: &Slot, path: &Path) -> netns::Result<()> {
    netns::bind(&slot.path, path)?;
    netns::delete(&slot.path)
}
