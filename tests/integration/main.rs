//! hale's integration tests, in one binary so that every area links the dependencies once.
//!
//! One module per area; [`common`] is the shared harness (the hale binary with a clean
//! environment, temporary folders, and the real services `scripts/test-env.sh` starts).
#[macro_use]
mod common;

mod build;
mod build_engine;
mod canary;
mod ci;
mod cli;
mod deploy;
mod fleet;
mod fleet_docker;
mod grpc;
mod grpc_load;
mod grpc_node;
mod hostile;
mod kube;
mod kube_node;
mod load;
mod load_cluster;
mod new;
mod parsers;
mod push;
mod registry;
mod reports;
mod smoke;
mod traffic_gateway;
mod upgrade;
