//! Comment-preserving edits of the fleet file (`add`, `remove`), written atomically.
