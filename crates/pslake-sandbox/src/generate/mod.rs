//! placeholder (helper G)
