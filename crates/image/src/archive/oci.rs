//! OCI image layout export/import.
