//! The HTTP implementation of [`super::Api`].

/// The Vast.ai REST client.
#[derive(Debug, Clone)]
pub struct VastClient {}
