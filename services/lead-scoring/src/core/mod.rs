//! lead-scoring's use cases: `scoring` (an event in, the contact re-folded, re-scored and
//! re-staged; also `rescore`), `leads` (what the API reads and changes).

pub mod scoring;
pub mod leads;
pub mod rescore;
