//! How the server reaches users' storage: which network addresses an
//! integration may connect to, the HTTP client every cloud store uses, and
//! ranged reads from servers that ignore ranges.

pub mod allow_list;
pub mod connector;
pub mod ranges;
