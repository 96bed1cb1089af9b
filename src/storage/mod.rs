//! How the server reaches users' storage: which network addresses an
//! integration may connect to, and the HTTP client every cloud store uses.

pub mod allow_list;
pub mod connector;
