//! Where the API key comes from (the official CLI's places and order), and a type that never
//! shows it.
