//! History in the state file (version 3): the buckets as flat records, remotes and places
//! listed once and referred to by index.
