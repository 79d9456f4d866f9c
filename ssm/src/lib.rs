//! The door to AWS Systems Manager.
//!
//! # Layout
//!
//! - [`SsmService`]: what the SSM executor (and the patch-compliance route)
//!   needs from SSM, per tenant; the one seam tests replace with a scripted
//!   fake.
//! - [`AwsSsm`]: the real implementation on aws-sdk-ssm. For each tenant it
//!   assumes the tenant's role with its external id (STS AssumeRole) and keeps
//!   one client whose credentials the SDK caches until shortly before they
//!   expire; credentials are never stored or logged. One endpoint override
//!   points every call (STS included) at a local double such as moto.
//! - [`scripted`] (feature `scripted`): a fake whose answers a test scripts.

mod aws;
mod service;

#[cfg(feature = "scripted")]
pub mod scripted;

pub use aws::AwsSsm;
pub use service::{
    CommandRequest, InvocationReport, PatchState, SsmError, SsmService, TenantAccount,
};
