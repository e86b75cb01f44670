//! The commands' work, one file per command.

pub mod llc;
