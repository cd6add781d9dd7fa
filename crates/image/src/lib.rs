//! tug images: references, content store, registry client, layers, snapshots, archives.
