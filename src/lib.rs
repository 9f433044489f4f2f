pub mod diameter;
