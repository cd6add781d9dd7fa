//! tug registry: an OCI distribution server.
