//! placeholder (helper S)
