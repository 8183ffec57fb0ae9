//! What the `saasql` command, `saasql serve` and the cluster share, below all
//! three: the one error type with its exit codes and one-line wording
//! ([`error`]), the object stores behind `s3://`, `gs://`, `az://` and
//! `http(s)://` locations ([`storage`]), secrets read from files
//! ([`private_files`]), listening addresses on the command line ([`args`]) and
//! the row count of a write ([`results`]).

pub mod args;
pub mod error;
pub mod private_files;
pub mod results;
pub mod storage;
