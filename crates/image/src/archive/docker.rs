//! docker-archive save/load.
