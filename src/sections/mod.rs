//! The config's leaf sections and shared rules ([data], [train], the device and precision choices, `ConfigError`), below both `config` and `models` so that neither imports the other's root.

pub mod choices;
pub mod data;
pub mod rules;
pub mod tagged;
pub mod train;
