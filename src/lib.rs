//! slt: the application — configs, models and data, burn training, and results folders around `slt-estimators`.

pub mod commands;
pub mod config;
pub mod data;
pub mod error;
pub mod models;
pub mod report;
pub mod sections;
pub mod sweep;
pub mod train;
