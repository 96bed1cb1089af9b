//! The test harness under the name the test files import it by
//! (`use crate::helpers::*`); it lives in [`crate::support`].

pub use crate::support::*;
