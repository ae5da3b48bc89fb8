//! Serde structs that mirror the fleet file exactly (`deny_unknown_fields`).
