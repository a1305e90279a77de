//! Pure rules of the voice service: webhook signatures, the Vapi message shapes we read, call
//! status order, and sentences an agent can say. No I/O here.

pub mod hours;
pub mod message;
pub mod signature;
pub mod speak;
pub mod status;
