//! ragmesh CLI library
