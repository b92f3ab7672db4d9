//! Integration tests of the multi-group host: three hosts in one process, many groups.

mod driver;

mod cluster;
mod failure;
mod hostile;
mod lifecycle;
mod misuse;
