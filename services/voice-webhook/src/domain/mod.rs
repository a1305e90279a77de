//! Pure rules of the voice service: webhook signatures, the Vapi message shapes we read, call
//! direction and status order, tools, opening hours, field rules, the knowledge base's chunking
//! and ranking rules, and sentences an agent can say. No I/O here.

pub mod call;
pub mod fields;
pub mod hours;
pub mod knowledge;
pub mod message;
pub mod sealing;
pub mod signature;
pub mod speak;
pub mod tool;
