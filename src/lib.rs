//! endpoint-hub: shares AWS VPC interface endpoints from one hub VPC with many spoke VPCs.
//!
//! Layers, one direction: `http -> app -> {store, workflow} -> cloud`, with `domain` types
//! everywhere.

pub mod app;
pub mod cloud;
pub mod config;
pub mod domain;
pub mod http;
pub mod metrics;
pub mod model;
pub mod store;
pub mod workflow;
