//! Certificate and private key loading (being written).
