//! slt: the application — configs, models and data, burn training, and results folders around `slt-estimators`.

pub mod bench;
pub mod bench_device;
pub mod calibrate;
pub mod commands;
pub mod config;
pub mod data;
pub mod models;
pub mod pipeline;
pub mod report;
pub mod sweep;
pub mod train;
pub mod volume_cmd;
