//! Pull one image into a store: `pull <store-dir> <reference> [--quiet]`. Used by bench/pull.sh;
//! prints docker-like progress lines unless `--quiet`.

use image::progress::{NoProgress, Progress, ProgressEvent};
use image::{ImageService, PullOptions, ServiceConfig};
use std::sync::Arc;

struct Lines;

impl Progress for Lines {
    fn event(&self, e: ProgressEvent) {
        match e {
            ProgressEvent::Resolved { digest, .. } => println!("Digest: {digest}"),
            ProgressEvent::LayerExists { layer } => println!("{}: Already exists", layer.short()),
            ProgressEvent::LayerDone { layer } => println!("{}: Pull complete", layer.short()),
            ProgressEvent::LayerResumed { layer, offset } => {
                println!("{}: Resuming at {offset}", layer.short())
            }
            ProgressEvent::Done { reference, .. } => println!("Status: Downloaded {reference}"),
            _ => {}
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: pull <store-dir> <reference> [--quiet]");
        std::process::exit(2);
    }
    let progress: Arc<dyn Progress> = if args.iter().any(|a| a == "--quiet") {
        Arc::new(NoProgress)
    } else {
        Arc::new(Lines)
    };
    let svc = match ImageService::open(std::path::Path::new(&args[0]), ServiceConfig::default()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if let Err(e) = rt.block_on(svc.pull(&args[1], &PullOptions::default(), progress)) {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
