//! Table tests of the fleet file: validation errors with their exact place and help, the
//! merge of defaults, overrides, and the comment-preserving edits.

mod describe;
mod edit;
mod errors;
mod validate;
