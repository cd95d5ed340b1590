//! Hinted handoff: the writes a replica missed wait for it in Redis ([`store`]) and every
//! gateway's replay task sends them on once it answers again ([`replay`]).

pub mod replay;
pub mod store;
