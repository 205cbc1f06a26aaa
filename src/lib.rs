pub mod cli;
pub mod facts;
pub mod model;
pub mod spec;
