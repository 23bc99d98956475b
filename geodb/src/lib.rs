//! connmap-geodb as a library: the pieces of the `connmap-geodb` tool (reading full
//! databases, error-bounded merging, the MaxMind DB writer, the accuracy comparison).
//! Host-only; the router binary does not link any of it.

pub mod compare;
pub mod input;
pub mod merge;
pub mod record;
pub mod trim;
pub mod writer;
